import { RECURSION_DESIRED, encode } from "dns-packet";
import { describe, expect, it } from "vitest";
import { DOH_DEFAULTS, base64UrlEncode, dohRequest, unusableResponse } from "../../core/dns/doh.ts";

const bytes = (text: string) => new TextEncoder().encode(text);

describe("base64UrlEncode (RFC 4648 §5, no padding)", () => {
  it("encodes the RFC 4648 §10 test vectors without padding", () => {
    const vectors = { "": "", f: "Zg", fo: "Zm8", foo: "Zm9v", foob: "Zm9vYg", fooba: "Zm9vYmE", foobar: "Zm9vYmFy" };
    for (const [text, encoded] of Object.entries(vectors)) expect(base64UrlEncode(bytes(text))).toBe(encoded);
  });

  it("uses - and _ for 62 and 63", () => {
    expect(base64UrlEncode(new Uint8Array([0xfb, 0xff, 0xbf]))).toBe("-_-_");
  });

  it("matches the GET example of RFC 8484 §4.1.1", () => {
    const query = encode({ type: "query", id: 0, flags: RECURSION_DESIRED, questions: [{ type: "A", name: "www.example.com" }] });
    expect(base64UrlEncode(query)).toBe("AAABAAABAAAAAAAAA3d3dwdleGFtcGxlA2NvbQAAAQAB");
  });
});

describe("dohRequest (RFC 8484 §4.1)", () => {
  const message = new Uint8Array([0, 1, 2, 3, 250, 251]);

  it("POSTs the message as application/dns-message", async () => {
    const request = dohRequest({ ...DOH_DEFAULTS, url: "https://doh.example/dns-query" }, message);
    expect(request.method).toBe("POST");
    expect(request.url).toBe("https://doh.example/dns-query");
    expect(request.headers.get("content-type")).toBe("application/dns-message");
    expect(request.headers.get("accept")).toBe("application/dns-message");
    expect(new Uint8Array(await request.arrayBuffer())).toEqual(message);
  });

  it("GETs it base64url-encoded in the dns parameter, keeping the URL's own parameters", () => {
    const request = dohRequest({ ...DOH_DEFAULTS, method: "GET", url: "https://doh.example/q?ct" }, message);
    expect(request.method).toBe("GET");
    expect(request.url).toBe("https://doh.example/q?ct=&dns=AAECA_r7");
  });
});

describe("unusableResponse (RFC 8484 §4.2.1)", () => {
  it("accepts a 200 carrying application/dns-message", () => {
    expect(unusableResponse(new Response("", { headers: { "content-type": "application/dns-message" } }))).toBeUndefined();
  });

  it("refuses another status or another media type", () => {
    expect(unusableResponse(new Response("", { status: 502 }))).toMatch(/HTTP 502/);
    expect(unusableResponse(new Response("<html>", { headers: { "content-type": "text/html; charset=utf-8" } }))).toMatch(/text\/html/);
  });
});
