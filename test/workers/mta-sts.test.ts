import { SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";

const URL_POLICY = "https://mta-sts.example.org/.well-known/mta-sts.txt";

describe("MTA-STS policy (RFC 8461 §3.2)", () => {
  it("serves the configured policy as text/plain with CRLF lines", async () => {
    const res = await SELF.fetch(URL_POLICY, { redirect: "manual" });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/plain/);
    const body = await res.text();
    expect(body).toBe("version: STSv1\r\nmode: testing\r\nmx: mx.example.org\r\nmax_age: 86401\r\n");
  });

  it("answers HEAD without a body", async () => {
    const res = await SELF.fetch(URL_POLICY, { method: "HEAD" });
    expect(res.status).toBe(200);
    expect(await res.text()).toBe("");
  });

  it("refuses other methods with 405 and an Allow header", async () => {
    const res = await SELF.fetch(URL_POLICY, { method: "POST", body: "x" });
    expect(res.status).toBe(405);
    expect(res.headers.get("allow")).toBe("GET, HEAD");
  });

  it("gives a plain 404 for an unknown path or domain", async () => {
    const path = await SELF.fetch("https://mta-sts.example.org/mta-sts.txt");
    expect(path.status).toBe(404);
    expect(await path.text()).toMatch(/no such path/);
    const host = await SELF.fetch("https://mta-sts.example.com/.well-known/mta-sts.txt");
    expect(host.status).toBe(404);
    expect(await host.text()).toMatch(/not a configured mail domain/);
  });
});
