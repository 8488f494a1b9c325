// The Worker's DNS path in Node against real DNS: the DoH client → the harness's HTTP/1.1 bridge →
// unbound validating → Knot serving the signed test zones.
import { describe, expect, inject, it } from "vitest";
import { cachingResolver } from "../../core/dns/cache.ts";
import { dohResolver } from "../../core/dns/doh.ts";
import { mailauthResolver } from "../../core/dns/mailauth.ts";
import type { RecordType, Resolver } from "../../core/dns/resolver.ts";
import { checkSpf } from "../../core/mailauth/internals.ts";
import { DKIM_PUBLIC_KEY_BASE64 } from "../harness/dkim-key.ts";
import { DEFAULT_TTL, NEGATIVE_TTL } from "../harness/zone-file.ts";
import { TEST_DNS } from "../harness/zones.ts";

const harness = inject("harness");
const resolver = dohResolver({ url: harness.dohUrl, timeoutMs: 2_000 });
const { sender } = TEST_DNS;

describe("DoH client against the harness", () => {
  it("answers A, MX and TXT of a signed zone with AD set", async () => {
    const address = await resolver.query(sender.domain, "A");
    expect(address).toMatchObject({ status: "ok", answers: [sender.authorizedIp], authenticated: true, detail: "" });
    expect(address.ttl).toBeGreaterThan(0);
    expect(address.ttl).toBeLessThanOrEqual(DEFAULT_TTL);
    expect(await resolver.query(sender.domain, "MX")).toMatchObject({
      status: "ok",
      answers: [{ preference: 10, exchange: sender.mx }],
      authenticated: true,
    });
    const spfRecord = await resolver.query(sender.domain, "TXT");
    expect(spfRecord.answers).toEqual([[`v=spf1 ip4:${sender.authorizedIp} mx -all`]]);
    expect(spfRecord.authenticated).toBe(true);
  });

  it("returns a DKIM key split into 255-octet strings, which join to the key record", async () => {
    const key = await resolver.query(`${sender.dkimSelector}._domainkey.${sender.domain}`, "TXT");
    expect(key.answers[0]!.length).toBeGreaterThan(1);
    expect(key.answers[0]!.join("")).toBe(`v=DKIM1; k=rsa; p=${DKIM_PUBLIC_KEY_BASE64}`);
  });

  it("follows a CNAME, reads a Null MX, a PTR and a DNSBL entry", async () => {
    expect((await resolver.query(sender.alias, "A")).answers).toEqual([sender.authorizedIp]);
    expect((await resolver.query(TEST_DNS.nullMx, "MX")).answers).toEqual([{ preference: 0, exchange: "" }]);
    expect((await resolver.query("11.0.0.127.in-addr.arpa", "PTR")).answers).toEqual([sender.mailHost]);
    expect((await resolver.query(`2.0.0.127.${TEST_DNS.dnsbl.zone}`, "A")).answers).toEqual([TEST_DNS.dnsbl.listedAnswer]);
    expect((await resolver.query(`1.0.0.127.${TEST_DNS.dnsbl.zone}`, "A")).status).toBe("nxdomain");
  });

  it("keeps NXDOMAIN, NODATA and SERVFAIL apart", async () => {
    // The negative TTL is min(SOA TTL 300, MINIMUM 60) (RFC 2308 §5), less what unbound's cache counted down.
    const nxdomain = await resolver.query(sender.nxdomain, "A");
    expect(nxdomain).toMatchObject({ status: "nxdomain", answers: [], authenticated: true });
    expect(nxdomain.ttl).toBeGreaterThan(0);
    expect(nxdomain.ttl).toBeLessThanOrEqual(NEGATIVE_TTL);
    const nodata = await resolver.query(sender.domain, "AAAA");
    expect(nodata).toMatchObject({ status: "nodata", answers: [], authenticated: true });
    expect(nodata.ttl).toBeLessThanOrEqual(NEGATIVE_TTL);
    const bogus = await resolver.query(TEST_DNS.bogus, "A");
    expect(bogus).toMatchObject({ status: "servfail", answers: [], authenticated: false });
    expect(bogus.detail).toMatch(/^SERVFAIL \(EDE \d+/); // unbound says why (RFC 8914)
  });

  it("answers an unsigned zone without AD, and names outside the test zones with REFUSED", async () => {
    expect(await resolver.query(TEST_DNS.insecure.domain, "MX")).toMatchObject({ status: "ok", authenticated: false });
    expect(await resolver.query("example.com", "A")).toMatchObject({ status: "servfail", detail: "REFUSED" });
  });

  it("speaks GET too (RFC 8484 §4.1)", async () => {
    const viaGet = dohResolver({ url: harness.dohUrl, method: "GET" });
    expect(await viaGet.query(sender.mx, "A")).toMatchObject({ status: "ok", answers: [sender.mxAddress], authenticated: true });
  });

  it("times out against a server that accepts and never answers", async () => {
    const silent = dohResolver({ url: harness.blackholeUrl, timeoutMs: 300 });
    const started = performance.now();
    const lookup = await silent.query(sender.domain, "A");
    expect(lookup).toMatchObject({ status: "timeout", detail: "no DoH reply within 300 ms" });
    expect(performance.now() - started).toBeLessThan(1_500);
  });

  it("reports an unreachable server as servfail", async () => {
    const closed = dohResolver({ url: "http://127.0.0.1:1/dns-query", timeoutMs: 1_000 });
    expect(await closed.query(sender.domain, "A")).toMatchObject({ status: "servfail" });
  });

  it("serves a repeated query from the cache within its TTL", async () => {
    const asked: string[] = [];
    const counting: Resolver = {
      query: <T extends RecordType>(name: string, type: T) => {
        asked.push(`${type} ${name}`);
        return resolver.query(name, type);
      },
    };
    const cached = cachingResolver(counting);
    const first = await cached.query(sender.domain, "MX");
    const second = await cached.query(sender.domain, "MX");
    expect(second.answers).toEqual(first.answers);
    expect(second.ttl).toBeLessThanOrEqual(first.ttl);
    await cached.query(sender.nxdomain, "A");
    await cached.query(sender.nxdomain, "A");
    expect(asked).toEqual([`MX ${sender.domain}`, `A ${sender.nxdomain}`]);
  });
});

describe("mailauth with the DoH resolver", () => {
  const check = (ip: string, domain: string = sender.domain) =>
    checkSpf({ sender: `someone@${domain}`, ip, helo: "client.test", mta: "mx.edgemx.test", resolver: mailauthResolver(resolver) });

  it("passes an authorized IP and fails another (RFC 7208 §2.6)", async () => {
    expect((await check(sender.authorizedIp)).status.result).toBe("pass");
    expect((await check(sender.mxAddress)).status.result).toBe("pass"); // the "mx" mechanism
    expect((await check(sender.unauthorizedIp)).status.result).toBe("fail");
  });

  it("gives temperror, not none, when validation fails (RFC 7208 §4.4)", async () => {
    expect((await check(sender.authorizedIp, TEST_DNS.bogus)).status.result).toBe("temperror");
  });
});
