// The Worker's DNS is real: inside workerd, the DoH client fetches the harness's HTTP/1.1 bridge, which
// forwards to unbound validating the Knot-served test zones.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { dohResolver } from "../../core/dns/doh.ts";
import { isolateResolver } from "../../workers/src/runtime/resolver.ts";
import { mailauthResolver } from "../../core/dns/mailauth.ts";
import { checkSpf } from "../../core/mailauth/internals.ts";
import { TEST_DNS } from "../harness/zones.ts";

const { sender } = TEST_DNS;

describe("DoH from inside workerd", () => {
  const resolver = dohResolver({ url: env.HARNESS_DOH_URL });

  it("answers MX and TXT of a signed zone with AD set", async () => {
    expect(await resolver.query(sender.domain, "MX")).toMatchObject({
      status: "ok",
      answers: [{ preference: 10, exchange: sender.mx }],
      authenticated: true,
    });
    expect((await resolver.query(sender.domain, "TXT")).answers).toEqual([[`v=spf1 ip4:${sender.authorizedIp} mx -all`]]);
  });

  it("keeps NXDOMAIN, NODATA and SERVFAIL apart", async () => {
    expect((await resolver.query(sender.nxdomain, "A")).status).toBe("nxdomain");
    expect((await resolver.query(sender.domain, "AAAA")).status).toBe("nodata");
    expect((await resolver.query(TEST_DNS.bogus, "A")).status).toBe("servfail");
  });

  it("speaks GET too", async () => {
    const viaGet = dohResolver({ url: env.HARNESS_DOH_URL, method: "GET" });
    expect(await viaGet.query(sender.mx, "A")).toMatchObject({ status: "ok", answers: [sender.mxAddress] });
  });

  it("times out against a server that never answers", async () => {
    const silent = dohResolver({ url: env.HARNESS_BLACKHOLE_URL, timeoutMs: 300 });
    expect(await silent.query(sender.domain, "A")).toMatchObject({ status: "timeout" });
  });

  it("shares one cached resolver per DoH setting across the isolate", async () => {
    const options = { url: env.HARNESS_DOH_URL };
    expect(isolateResolver(options)).toBe(isolateResolver({ ...options }));
    const first = await isolateResolver(options).query(sender.mailHost, "A");
    const again = await isolateResolver(options).query(sender.mailHost, "A");
    expect(again).toMatchObject({ status: "ok", answers: first.answers, authenticated: true });
    expect(again.ttl).toBeLessThanOrEqual(first.ttl);
  });

  it("lets mailauth's SPF pass an authorized IP and fail another", async () => {
    const check = (ip: string) =>
      checkSpf({ sender: `someone@${sender.domain}`, ip, helo: "client.test", mta: "mx.edgemx.test", resolver: mailauthResolver(resolver) });
    expect((await check(sender.authorizedIp)).status.result).toBe("pass");
    expect((await check(sender.unauthorizedIp)).status.result).toBe("fail");
  });
});
