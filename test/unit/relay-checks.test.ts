// The relay's connection-stage checks, every branch, over an in-memory DNS (ZoneResolver); and the
// relay's UDP/TCP resolver against scripted DNS peers on loopback (ids, truncation, silence, refusal).
import type { AddressInfo, Server, Socket } from "node:net";
import { createServer } from "node:net";
import type { Socket as UdpSocket } from "node:dgram";
import { createSocket } from "node:dgram";
import { domainToASCII } from "node:url";
import { decode, encode } from "dns-packet";
import type { DecodedPacket, Packet } from "dns-packet";
import { afterEach, describe, expect, it } from "vitest";
import { checkDnsbl, dnsblKeys } from "../../core/dnsbl/dnsbl.ts";
import { MAX_PTR_NAMES, checkFcrdns } from "../../core/iprev/fcrdns.ts";
import { checkHelo } from "../../core/smtp/helo.ts";
import { addressLiteralIp, canonicalIp, reverseName, reversedLabels } from "../../core/smtp/ip-address.ts";
import { asciiDomain, isLdhDomain, parseMailbox } from "../../core/smtp/mailbox.ts";
import { checkRecipient, resolveAlias, withPostmasterDomain } from "../../core/smtp/recipient.ts";
import { checkSender } from "../../core/smtp/sender.ts";
import type { Finding } from "../../core/smtp/finding.ts";
import { createRelayResolver } from "../../relay-node/src/dns/resolver.ts";
import { ConfigError, parseConfig } from "../../core/config/load.ts";
import type { EdgemxConfig } from "../../core/config/schema.ts";
import type { Lookup, RecordType, Resolver } from "../../core/dns/resolver.ts";
import { formatReply } from "../../core/smtp/replies.ts";
import { ZoneResolver } from "../fixtures/zone-resolver.ts";

const config: EdgemxConfig = parseConfig({
  hostname: "mx.example.org",
  domains: [
    {
      name: "example.org",
      mx: ["mx.example.org", "mx2.example.org"],
      mailboxes: ["alice", "Bob"],
      aliases: { info: "alice", Sales: "carol@elsewhere.test" },
    },
    { name: "open.example", mx: ["mx.example.org"] },
    { name: "catch.example", mx: ["mx.example.org"], mailboxes: ["one"], catchAll: true },
  ],
  connection: {
    dnsbl: { zones: [{ zone: "any.dnsbl.test" }, { zone: "coded.dnsbl.test", codes: ["127.0.0.2", "127.0.0.4"] }] },
    fcrdns: { dynamicPatterns: ["(^|[.-])(dyn|dynamic|pool)[0-9.-]", "\\d+[.-]\\d+[.-]\\d+[.-]\\d+"] },
    mandatoryTls: { domains: ["secure.test"] },
  },
  relay: {
    // open.example lists no mailboxes: the mailbox host is asked about its recipients.
    recipientCheck: true,
    nextHop: { type: "lmtp", host: "127.0.0.1" },
  },
});

/** The reply line of a finding, or the outcome when it has none. */
function line(finding: Finding): string {
  return finding.outcome === "pass" || finding.outcome === "skipped" ? finding.outcome : formatReply(finding.reply);
}

/** A resolver that counts its queries (by "TYPE name") on top of a ZoneResolver. */
function counting(zone: ZoneResolver): { resolver: Resolver; asked: string[] } {
  const asked: string[] = [];
  return {
    asked,
    resolver: {
      query: <T extends RecordType>(name: string, type: T): Promise<Lookup<T>> => {
        asked.push(`${type} ${name}`);
        return zone.query(name, type);
      },
    },
  };
}

describe("client addresses", () => {
  it("writes each address one way: IPv4-mapped IPv6 as IPv4, IPv6 in full, zone index dropped", () => {
    expect(canonicalIp("192.0.2.1")).toBe("192.0.2.1");
    expect(canonicalIp("::ffff:192.0.2.1")).toBe("192.0.2.1");
    expect(canonicalIp("::FFFF:c000:201")).toBe("192.0.2.1");
    // RFC 5952 §4: no leading zeros, lower case, the longest zero run (the first of equals) compressed, never one group.
    expect(canonicalIp("2001:DB8:0000:0000:0000:0000:0000:0001")).toBe("2001:db8::1");
    expect(canonicalIp("2001:db8:0:1:0:0:0:1")).toBe("2001:db8:0:1::1");
    expect(canonicalIp("2001:db8:0:0:1:0:0:1")).toBe("2001:db8::1:0:0:1");
    expect(canonicalIp("2001:db8:0:1:1:1:1:1")).toBe("2001:db8:0:1:1:1:1:1");
    expect(canonicalIp("fe80::1%eth0")).toBe("fe80::1");
    expect(canonicalIp("0:0:0:0:0:0:0:0")).toBe("::");
    expect(canonicalIp("1::")).toBe("1::");
    expect(canonicalIp("64:ff9b::192.0.2.1")).toBe("64:ff9b::c000:201");
    expect(canonicalIp("mail.example.org")).toBeNull();
    expect(canonicalIp("192.0.2.256")).toBeNull();
  });

  it("reverses octets and nibbles for the reverse trees and DNSBLs (RFC 5782 §2.1, §2.4)", () => {
    expect(reversedLabels("192.0.2.1")).toBe("1.2.0.192");
    expect(reverseName("::ffff:192.0.2.1")).toBe("1.2.0.192.in-addr.arpa");
    expect(reverseName("2001:db8::1")).toBe(`1.${"0.".repeat(23)}8.b.d.0.1.0.0.2.ip6.arpa`);
    expect(reverseName("nonsense")).toBeNull();
  });

  it("reads SMTP address literals (RFC 5321 §4.1.3)", () => {
    expect(addressLiteralIp("[192.0.2.1]")).toBe("192.0.2.1");
    expect(addressLiteralIp("[IPv6:2001:DB8:0::1]")).toBe("2001:db8::1");
    expect(addressLiteralIp("[ipv6:::1]")).toBe("::1");
    expect(addressLiteralIp("[2001:db8::1]")).toBeNull(); // IPv6 needs its tag
    expect(addressLiteralIp("[IPv6:192.0.2.1]")).toBeNull();
    expect(addressLiteralIp("[x-tag:whatever]")).toBeNull();
    expect(addressLiteralIp("192.0.2.1")).toBeNull();
  });
});

describe("asciiDomain", () => {
  it("gives what WHATWG's domainToASCII gives, also for the LDH names it takes without calling it", () => {
    const names = [
      "Example.ORG",
      "a.b",
      "ab--c.example",
      "-a.example",
      "a-.example",
      "a_b.example",
      "XN--BCHER-KVA.example",
      "xn--zz.example",
      "a.xn--zz",
      "bücher.example",
      "0x7f.1",
      "1.2.3.4",
      "a.0x10",
      "a.0X1f",
      "example.123",
      "a.09",
      "a.0x",
      "a.0xg",
      "a.1x",
      "123.example",
      "x".repeat(64) + ".example",
    ];
    for (const name of names) {
      const ascii = domainToASCII(name);
      expect(asciiDomain(name), name).toBe(ascii !== "" && isLdhDomain(ascii) ? ascii.toLowerCase() : null);
    }
  });
});

describe("parseMailbox (RFC 5321 §4.1.2)", () => {
  it("reads dot-strings, quoted strings (unquoted where quoting adds nothing), UTF-8 and IDN", () => {
    expect(parseMailbox("Alice.B+tag@Example.ORG")).toEqual({ localPart: "Alice.B+tag", domain: "example.org", addressLiteral: false });
    expect(parseMailbox('"alice"@example.org')?.localPart).toBe("alice");
    expect(parseMailbox('"john doe"@example.org')?.localPart).toBe('"john doe"');
    expect(parseMailbox('"a@b\\"c"@example.org')?.localPart).toBe('"a@b\\"c"');
    expect(parseMailbox("jörg@bücher.example")).toEqual({ localPart: "jörg", domain: "xn--bcher-kva.example", addressLiteral: false });
    expect(parseMailbox("user@[192.0.2.1]")).toEqual({ localPart: "user", domain: "[192.0.2.1]", addressLiteral: true });
  });

  it("refuses what the grammar does not allow, and what is too long (RFC 5321 §4.5.3.1)", () => {
    for (const bad of [
      "a..b@example.org",
      ".a@example.org",
      "a.@example.org",
      "a b@example.org",
      "a@",
      "@example.org",
      "example.org",
      "a@-x.example",
      "a@x_y.example",
      "a@example.org.",
      "a@[300.0.0.1]",
      '"unterminated@example.org',
      "a\u0085b@example.org",
    ]) {
      expect(parseMailbox(bad), bad).toBeNull();
    }
    expect(parseMailbox(`${"a".repeat(64)}@example.org`)).not.toBeNull();
    expect(parseMailbox(`${"a".repeat(65)}@example.org`)).toBeNull();
    const domain = `${"d".repeat(60)}.${"d".repeat(60)}.${"d".repeat(60)}.example`;
    expect(parseMailbox(`${"a".repeat(64 - (domain.length + 64 - 253))}@${domain}`)).not.toBeNull(); // 254 octets
    expect(parseMailbox(`${"a".repeat(64 - (domain.length + 64 - 254))}@${domain}`)).toBeNull(); // 255 octets
  });
});

describe("checkDnsbl (RFC 5782)", () => {
  const { dnsbl } = config.connection;

  it("passes a client no zone lists (NXDOMAIN)", async () => {
    const finding = await checkDnsbl("192.0.2.1", dnsbl, new ZoneResolver());
    expect(finding).toMatchObject({ check: "dnsbl", outcome: "pass" });
    expect(finding.detail).toBe("any.dnsbl.test: not listed; coded.dnsbl.test: not listed");
  });

  it("refuses a listed client with the specification's reply, naming the zone", async () => {
    const zone = new ZoneResolver().add("1.2.0.192.any.dnsbl.test", "A", "127.0.0.10");
    const finding = await checkDnsbl("192.0.2.1", dnsbl, zone);
    expect(line(finding)).toBe("554 5.7.1 Service unavailable; Client host [192.0.2.1] blocked using any.dnsbl.test");
    expect(finding.detail).toContain("any.dnsbl.test: listed as 127.0.0.10");
  });

  it("counts only the configured return codes where codes are given", async () => {
    const other = new ZoneResolver().add("1.2.0.192.coded.dnsbl.test", "A", "127.0.0.3");
    const passed = await checkDnsbl("192.0.2.1", dnsbl, other);
    expect(passed.outcome).toBe("pass");
    expect(passed.detail).toContain("ignored 127.0.0.3 (not a configured code)");
    const coded = new ZoneResolver().add("1.2.0.192.coded.dnsbl.test", "A", "127.0.0.3", "127.0.0.4");
    expect(line(await checkDnsbl("192.0.2.1", dnsbl, coded))).toMatch(/blocked using coded\.dnsbl\.test$/);
  });

  it("never treats an answer outside 127.0.0.0/8 as a listing, and says so (RFC 5782 §2.1)", async () => {
    const wildcard = new ZoneResolver().add("1.2.0.192.any.dnsbl.test", "A", "192.0.2.99");
    const finding = await checkDnsbl("192.0.2.1", dnsbl, wildcard);
    expect(finding.outcome).toBe("pass");
    expect(finding.detail).toContain("ignored 192.0.2.99 outside 127.0.0.0/8 (RFC 5782 §2.1)");
  });

  it("is temporary when a zone fails and no other zone lists the client", async () => {
    const failing = new ZoneResolver().fail("1.2.0.192.coded.dnsbl.test", "servfail");
    const finding = await checkDnsbl("192.0.2.1", dnsbl, failing);
    expect(finding.outcome).toBe("temporary");
    expect(line(finding)).toMatch(/^451 4\.4\.3 <1\.2\.0\.192\.coded\.dnsbl\.test>: Temporary DNS lookup failure/);
    const silent = new ZoneResolver().fail("1.2.0.192.any.dnsbl.test", "timeout");
    expect((await checkDnsbl("192.0.2.1", dnsbl, silent)).outcome).toBe("temporary");
  });

  it("refuses when one zone lists the client even though another fails", async () => {
    const zone = new ZoneResolver().fail("1.2.0.192.any.dnsbl.test", "timeout").add("1.2.0.192.coded.dnsbl.test", "A", "127.0.0.2");
    const finding = await checkDnsbl("192.0.2.1", dnsbl, zone);
    expect(finding.outcome).toBe("fail");
    expect(line(finding)).toMatch(/blocked using coded\.dnsbl\.test$/);
  });

  it("asks all zones at once", async () => {
    let inFlight = 0;
    let most = 0;
    const slow: Resolver = {
      query: async <T extends RecordType>(name: string, type: T): Promise<Lookup<T>> => {
        most = Math.max(most, ++inFlight);
        await new Promise((resolve) => setTimeout(resolve, 10));
        inFlight -= 1;
        return new ZoneResolver().query(name, type);
      },
    };
    await checkDnsbl("192.0.2.1", dnsbl, slow);
    expect(most).toBe(2);
  });

  it("looks IPv6 clients up by nibbles and IPv4-mapped clients as IPv4", async () => {
    const nibbles = `1.${"0.".repeat(23)}8.b.d.0.1.0.0.2`;
    const v6 = new ZoneResolver().add(`${nibbles}.any.dnsbl.test`, "A", "127.0.0.2");
    expect(line(await checkDnsbl("2001:db8::1", dnsbl, v6))).toBe("554 5.7.1 Service unavailable; Client host [2001:db8::1] blocked using any.dnsbl.test");
    const mapped = new ZoneResolver().add("1.2.0.192.any.dnsbl.test", "A", "127.0.0.2");
    expect(line(await checkDnsbl("::ffff:192.0.2.1", dnsbl, mapped))).toMatch(/Client host \[192\.0\.2\.1\]/);
  });

  it("takes an answer in 127.255.255.0/24 for the list refusing the query, never a listing: temporary", async () => {
    // Spamhaus: 127.255.255.254 for a query through a public resolver, .255 for too many queries.
    for (const answer of ["127.255.255.254", "127.255.255.255"]) {
      const refusing = new ZoneResolver().add("1.2.0.192.any.dnsbl.test", "A", answer);
      const finding = await checkDnsbl("192.0.2.1", dnsbl, refusing);
      expect(finding.outcome).toBe("temporary");
      expect(finding.detail).toContain(`any.dnsbl.test: refused the query (${answer})`);
    }
    const listedElsewhere = new ZoneResolver().add("1.2.0.192.any.dnsbl.test", "A", "127.255.255.254").add("1.2.0.192.coded.dnsbl.test", "A", "127.0.0.2");
    expect(line(await checkDnsbl("192.0.2.1", dnsbl, listedElsewhere))).toMatch(/blocked using coded\.dnsbl\.test$/);
  });

  it("asks a keyed zone under its access key and names only the zone, never the key, in replies", async () => {
    const keyed = { action: "reject" as const, zones: [{ zone: "zen.dq.example", codes: [], keySecret: "DQS_KEY" }] };
    const keys = dnsblKeys(keyed, (name) => (name === "DQS_KEY" ? "abc123key" : undefined));
    const { resolver, asked } = counting(new ZoneResolver().add("1.2.0.192.abc123key.zen.dq.example", "A", "127.0.0.2"));
    expect(line(await checkDnsbl("192.0.2.1", keyed, resolver, keys))).toBe(
      "554 5.7.1 Service unavailable; Client host [192.0.2.1] blocked using zen.dq.example",
    );
    expect(asked).toEqual(["A 1.2.0.192.abc123key.zen.dq.example"]);
    const failing = await checkDnsbl("192.0.2.1", keyed, new ZoneResolver().fail("1.2.0.192.abc123key.zen.dq.example", "servfail"), keys);
    expect(line(failing)).toMatch(/^451 4\.4\.3 <1\.2\.0\.192\.zen\.dq\.example>: /);
    expect(JSON.stringify(failing)).not.toContain("abc123key");
    await expect(checkDnsbl("192.0.2.1", keyed, resolver)).rejects.toThrow("no key for the DNSBL zone zen.dq.example (secret DQS_KEY)");
  });

  it("reads the keys a configuration names, refusing a missing or malformed one with the field's path", () => {
    const zones = {
      action: "reject" as const,
      zones: [
        { zone: "plain.example", codes: [] },
        { zone: "zen.dq.example", codes: [], keySecret: "DQS_KEY" },
      ],
    };
    expect([...dnsblKeys(zones, () => "abc123key")]).toEqual([["DQS_KEY", "abc123key"]]);
    expect(() => dnsblKeys(zones, () => undefined)).toThrow("connection.dnsbl.zones[1].keySecret: the secret DQS_KEY is not set");
    expect(() => dnsblKeys(zones, () => "two.labels")).toThrow("connection.dnsbl.zones[1].keySecret: the secret DQS_KEY is not a single DNS label");
  });

  it("passes when there is nothing to ask", async () => {
    expect((await checkDnsbl("192.0.2.1", { action: "reject", zones: [] }, new ZoneResolver())).detail).toBe("no DNSBL zones configured");
    expect((await checkDnsbl("not-an-ip", dnsbl, new ZoneResolver())).outcome).toBe("pass");
  });
});

describe("checkFcrdns (forward-confirmed reverse DNS)", () => {
  const { fcrdns } = config.connection;

  it("passes a client whose PTR name resolves back to it, and reports the verified name", async () => {
    const zone = new ZoneResolver().add("1.2.0.192.in-addr.arpa", "PTR", "mail.example.net").add("mail.example.net", "A", "192.0.2.1");
    const { finding, client } = await checkFcrdns("192.0.2.1", fcrdns, zone);
    expect(finding).toMatchObject({ check: "fcrdns", outcome: "pass", detail: "192.0.2.1 ↔ mail.example.net" });
    expect(client).toEqual({ ip: "192.0.2.1", verifiedName: "mail.example.net" });
  });

  it("refuses a client without PTR as unknown[ip], Postfix's wording", async () => {
    for (const zone of [new ZoneResolver(), new ZoneResolver().exists("1.2.0.192.in-addr.arpa")]) {
      const { finding, client } = await checkFcrdns("192.0.2.1", fcrdns, zone);
      expect(line(finding)).toBe("554 5.7.1 <unknown[192.0.2.1]>: Client host rejected: Access denied");
      expect(client.verifiedName).toBeNull();
    }
  });

  it("refuses a PTR name that does not lead back to the address", async () => {
    const zone = new ZoneResolver().add("1.2.0.192.in-addr.arpa", "PTR", "mail.example.net").add("mail.example.net", "A", "192.0.2.2");
    const { finding } = await checkFcrdns("192.0.2.1", fcrdns, zone);
    expect(line(finding)).toBe("554 5.7.1 <unknown[192.0.2.1]>: Client host rejected: Access denied");
    expect(finding.detail).toBe("no PTR name of 192.0.2.1 resolves back to it: mail.example.net");
  });

  it("accepts any of several PTR names that confirms, the first such one", async () => {
    const zone = new ZoneResolver()
      .add("1.2.0.192.in-addr.arpa", "PTR", "other.example.net", "mail.example.net", "smtp.example.net")
      .add("mail.example.net", "A", "192.0.2.1")
      .add("smtp.example.net", "A", "192.0.2.1")
      .fail("other.example.net", "servfail");
    const { client } = await checkFcrdns("192.0.2.1", fcrdns, zone);
    expect(client.verifiedName).toBe("mail.example.net");
  });

  it("is temporary when the PTR lookup, or the forward lookup of an unconfirmed name, fails", async () => {
    const ptrFails = new ZoneResolver().fail("1.2.0.192.in-addr.arpa", "timeout");
    const first = await checkFcrdns("192.0.2.1", fcrdns, ptrFails);
    expect(line(first.finding)).toMatch(/^451 4\.4\.3 <1\.2\.0\.192\.in-addr\.arpa>: /);
    const forwardFails = new ZoneResolver().add("1.2.0.192.in-addr.arpa", "PTR", "mail.example.net").fail("mail.example.net", "servfail");
    const second = await checkFcrdns("192.0.2.1", fcrdns, forwardFails);
    expect(second.finding.outcome).toBe("temporary");
    expect(line(second.finding)).toMatch(/^451 4\.4\.3 <mail\.example\.net>: /);
    expect(second.client.verifiedName).toBeNull();
  });

  it(`follows at most ${MAX_PTR_NAMES} PTR names`, async () => {
    const names = Array.from({ length: 15 }, (_, i) => `host${i}.example.net`);
    const zone = new ZoneResolver().add("1.2.0.192.in-addr.arpa", "PTR", ...names);
    const { resolver, asked } = counting(zone);
    const { finding } = await checkFcrdns("192.0.2.1", fcrdns, resolver);
    expect(asked.filter((query) => query.startsWith("A "))).toHaveLength(MAX_PTR_NAMES);
    expect(finding.detail).toContain("(the first 10 of 15 names)");
  });

  it("refuses a verified name that looks dynamic as name[ip]", async () => {
    const zone = new ZoneResolver()
      .add("1.2.0.192.in-addr.arpa", "PTR", "dyn-192-0-2-1.pool.example.net")
      .add("dyn-192-0-2-1.pool.example.net", "A", "192.0.2.1");
    const { finding, client } = await checkFcrdns("192.0.2.1", fcrdns, zone);
    expect(line(finding)).toBe("554 5.7.1 <dyn-192-0-2-1.pool.example.net[192.0.2.1]>: Client host rejected: Access denied");
    expect(finding.detail).toMatch(/matches the dynamic pattern/);
    expect(client.verifiedName).toBe("dyn-192-0-2-1.pool.example.net"); // FCrDNS itself held
  });

  it("confirms IPv6 clients with AAAA under ip6.arpa, and IPv4-mapped clients as IPv4", async () => {
    const v6 = new ZoneResolver()
      .add(`1.${"0.".repeat(23)}8.b.d.0.1.0.0.2.ip6.arpa`, "PTR", "v6.example.net")
      .add("v6.example.net", "A", "192.0.2.1")
      .add("v6.example.net", "AAAA", "2001:db8:0:0::1");
    expect((await checkFcrdns("2001:db8::1", fcrdns, v6)).client.verifiedName).toBe("v6.example.net");
    const v4 = new ZoneResolver().add("1.2.0.192.in-addr.arpa", "PTR", "mail.example.net").add("mail.example.net", "A", "192.0.2.1");
    expect((await checkFcrdns("::ffff:192.0.2.1", fcrdns, v4)).client).toEqual({ ip: "192.0.2.1", verifiedName: "mail.example.net" });
  });

  it("refuses what is not an address", async () => {
    expect(line((await checkFcrdns("nonsense", fcrdns, new ZoneResolver())).finding)).toBe(
      "554 5.7.1 <unknown[nonsense]>: Client host rejected: Access denied",
    );
  });

  it("compiles the patterns when the configuration is read, case-insensitively, and refuses a bad one with its path", () => {
    const withPatterns = (dynamicPatterns: string[]) => ({
      hostname: "mx.example.org",
      domains: [{ name: "example.org", mx: ["mx.example.org"], catchAll: true }],
      connection: { fcrdns: { dynamicPatterns } },
    });
    let error: unknown;
    try {
      parseConfig(withPatterns(["^dsl\\.", "(unclosed", "[z-a]"]), "edgemx.yaml");
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems).toEqual([
      expect.stringMatching(/^connection\.fcrdns\.dynamicPatterns\[1\]: expected a regular expression/),
      expect.stringMatching(/^connection\.fcrdns\.dynamicPatterns\[2\]: expected a regular expression/),
    ]);
    expect((error as ConfigError).message).toMatch(/^invalid configuration in edgemx\.yaml:/);
    const [good] = parseConfig(withPatterns(["^DSL\\."])).connection.fcrdns.dynamicPatterns;
    expect(good).toBeInstanceOf(RegExp);
    expect(good!.test("dsl.example.net")).toBe(true);
  });
});

describe("checkHelo (RFC 5321 §4.1.1.1, §2.3.5)", () => {
  const zone = new ZoneResolver()
    .add("mail.example.net", "A", "192.0.2.1")
    .add("v6.example.net", "AAAA", "2001:db8::1")
    .add("mx-only.example.net", "MX", { preference: 10, exchange: "mx.example.net" })
    .add("nullmx.example.net", "MX", { preference: 0, exchange: "" })
    .fail("broken.example.net", "servfail")
    .fail("slow.example.net", "timeout", "AAAA");

  it("passes a name with an address or a mail exchanger", async () => {
    for (const helo of ["mail.example.net", "MAIL.Example.NET", "v6.example.net", "mx-only.example.net"]) {
      expect(await checkHelo(helo, "192.0.2.1", config, zone), helo).toMatchObject({ check: "helo", outcome: "pass" });
    }
  });

  it("refuses a name that does not resolve, or has only a Null MX, with the specification's reply", async () => {
    expect(line(await checkHelo("nowhere.example.net", "192.0.2.1", config, zone))).toBe(
      "554 5.7.1 <nowhere.example.net>: Helo command rejected: Host not found",
    );
    expect(line(await checkHelo("nullmx.example.net", "192.0.2.1", config, zone))).toBe(
      "554 5.7.1 <nullmx.example.net>: Helo command rejected: Host not found",
    );
  });

  it("is temporary when the DNS fails and nothing else resolved", async () => {
    const finding = await checkHelo("broken.example.net", "192.0.2.1", config, zone);
    expect(line(finding)).toBe("451 4.4.3 <broken.example.net>: Temporary DNS lookup failure, please try again later");
    expect((await checkHelo("slow.example.net", "192.0.2.1", config, zone)).outcome).toBe("temporary");
  });

  it("refuses names that are no FQDN: one label, a bare address, non-LDH, a trailing dot, over 255 octets, empty", async () => {
    const long = `${"a".repeat(63)}.`.repeat(4) + "example";
    for (const helo of ["localhost", "192.0.2.1", "mail_1.example.net", "mail.example.net.", "-mail.example.net", "mail..example.net", long, ""]) {
      const finding = await checkHelo(helo, "192.0.2.1", config, zone);
      expect(finding.outcome, helo).toBe("fail");
    }
    expect((await checkHelo(long, "192.0.2.1", config, zone)).detail).toMatch(/over 255/);
  });

  it("refuses our own names: host name, domains, MX hosts", async () => {
    for (const helo of ["mx.example.org", "EXAMPLE.org", "mx2.example.org", "open.example"]) {
      const finding = await checkHelo(helo, "192.0.2.1", config, zone);
      expect(finding.detail, helo).toMatch(/our own name/);
    }
  });

  it("passes an address literal of the client's own address, refuses any other and ours (RFC 5321 §4.1.3)", async () => {
    const empty = new ZoneResolver();
    expect((await checkHelo("[192.0.2.1]", "192.0.2.1", config, empty)).outcome).toBe("pass");
    expect((await checkHelo("[192.0.2.1]", "::ffff:192.0.2.1", config, empty)).outcome).toBe("pass");
    expect((await checkHelo("[IPv6:2001:db8::1]", "2001:db8:0::1", config, empty)).outcome).toBe("pass");
    expect((await checkHelo("[192.0.2.2]", "192.0.2.1", config, empty)).detail).toMatch(/is not the client's address/);
    expect((await checkHelo("[192.0.2.1]", "192.0.2.1", config, empty, ["192.0.2.1"])).detail).toMatch(/our own address/);
    expect(line(await checkHelo("[999.0.2.1]", "192.0.2.1", config, empty))).toBe("554 5.7.1 <[999.0.2.1]>: Helo command rejected: Host not found");
  });
});

describe("checkSender (RFC 5321 §4.1.1.2, §5.1; RFC 7505)", () => {
  const zone = new ZoneResolver()
    .add("sender.example", "MX", { preference: 10, exchange: "mx.sender.example" })
    .add("nullmx.example", "MX", { preference: 0, exchange: "" })
    .add("implicit.example", "A", "192.0.2.5")
    .add("implicit6.example", "AAAA", "2001:db8::5")
    .exists("empty.example")
    .fail("broken.example", "servfail")
    .fail("slow.example", "timeout", "MX")
    .fail("halfbroken.example", "servfail", "A")
    .exists("halfbroken.example")
    .add("xn--bcher-kva.example", "MX", { preference: 10, exchange: "mx.xn--bcher-kva.example" })
    .add("secure.test", "MX", { preference: 10, exchange: "mx.secure.test" });

  const sender = (findings: Finding[]): Finding => findings[0]!;

  it("passes the null sender (RFC 5321 §4.5.5) without asking the DNS", async () => {
    const findings = await checkSender("", false, config, new ZoneResolver());
    expect(findings.map((f) => [f.check, f.outcome])).toEqual([
      ["sender", "pass"],
      ["tls", "pass"],
    ]);
  });

  it("passes a domain with an MX, or an address as implicit MX", async () => {
    for (const address of ["a@sender.example", "a@implicit.example", "a@implicit6.example", '"john doe"@sender.example', "jörg@bücher.example"]) {
      const findings = await checkSender(address, false, config, zone);
      expect(
        findings.map((f) => [f.check, f.outcome]),
        address,
      ).toEqual([
        ["sender", "pass"],
        ["tls", "pass"],
      ]);
    }
  });

  it("refuses a domain that does not exist, has no records, or a Null MX, with the specification's reply", async () => {
    for (const address of ["a@nowhere.example", "a@empty.example", "a@nullmx.example"]) {
      expect(line(sender(await checkSender(address, false, config, zone)))).toBe(`554 5.1.8 <${address}>: Sender address rejected: Domain not found`);
    }
    expect(sender(await checkSender("a@nullmx.example", false, config, zone)).detail).toMatch(/Null MX/);
  });

  it("refuses a malformed address and an address literal: no domain to reach", async () => {
    for (const address of ["a b@sender.example", "a@sender..example", "a@[192.0.2.1]", `${"a".repeat(250)}@sender.example`]) {
      const findings = await checkSender(address, false, config, zone);
      expect(sender(findings).outcome, address).toBe("fail");
      expect(findings[1]).toMatchObject({ check: "tls", outcome: "pass" });
    }
  });

  it("is temporary when the MX lookup, or the address lookup after NODATA, fails", async () => {
    for (const address of ["a@broken.example", "a@slow.example", "a@halfbroken.example"]) {
      const finding = sender(await checkSender(address, false, config, zone));
      expect(finding.outcome, address).toBe("temporary");
      expect(line(finding)).toBe(`451 4.4.3 <${address.split("@")[1]}>: Temporary DNS lookup failure, please try again later`);
    }
  });

  it("refuses a TLS-mandatory sender domain without TLS (530 5.7.0), not with it", async () => {
    const clear = await checkSender("a@SECURE.test", false, config, zone);
    expect(clear[0]!.outcome).toBe("pass");
    expect(line(clear[1]!)).toBe("530 5.7.0 Must issue a STARTTLS command first");
    expect((await checkSender("a@secure.test", true, config, zone))[1]).toMatchObject({ check: "tls", outcome: "pass" });
  });

  it("skips the TLS check of a listed domain when the transport cannot tell the session's TLS, and only then", async () => {
    expect((await checkSender("a@secure.test", null, config, zone))[1]).toEqual({
      check: "tls",
      outcome: "skipped",
      detail: "secure.test: TLS mandatory, the session's TLS state is not known",
    });
    expect((await checkSender("a@sender.test", null, config, zone))[1]).toMatchObject({ check: "tls", outcome: "pass" });
  });
});

describe("checkRecipient and resolveAlias", () => {
  const rcpt = (address: string): Finding => checkRecipient(address, config);

  it("denies relaying to any domain not ours, with the relay check's reply", () => {
    for (const address of ["alice@example.com", "alice@sub.example.org", "alice@[192.0.2.1]", "no-domain"]) {
      const finding = rcpt(address);
      expect(finding.check, address).toBe("relay");
      expect(line(finding)).toBe(`554 5.7.1 <${address}>: Relay access denied`);
    }
  });

  it("accepts mailboxes, aliases, case-insensitively, and quoted forms of them", () => {
    for (const address of ["alice@example.org", "ALICE@Example.ORG", "bob@example.org", '"alice"@example.org', "info@example.org", "sales@example.org"]) {
      expect(rcpt(address), address).toMatchObject({ check: "recipient", outcome: "pass" });
    }
  });

  it("refuses an unknown mailbox with 550 5.1.1", () => {
    expect(line(rcpt("nobody@example.org"))).toBe("550 5.1.1 <nobody@example.org>: Recipient address rejected: User unknown in local recipient table");
    expect(rcpt("a..b@example.org")).toMatchObject({ check: "recipient", outcome: "fail" });
  });

  it("always accepts the role mailboxes (RFC 2142), with or without a domain (RFC 5321 §4.1.1.3)", () => {
    for (const address of ["postmaster@example.org", "PostMaster@catch.example", "abuse@example.org", "Postmaster"]) {
      expect(rcpt(address), address).toMatchObject({ check: "recipient", outcome: "pass" });
    }
  });

  it("accepts every local part at a catch-all domain, and where no mailbox is listed", () => {
    expect(rcpt("anyone@catch.example").detail).toBe("catch.example: catch-all");
    expect(rcpt("anyone@open.example").detail).toBe("open.example: no mailboxes listed: the mailbox host decides");
  });

  it("resolves one level of aliases to local parts and full addresses", () => {
    expect(resolveAlias("info@example.org", config)).toBe("alice@example.org");
    expect(resolveAlias("INFO@EXAMPLE.org", config)).toBe("alice@example.org");
    expect(resolveAlias("sales@example.org", config)).toBe("carol@elsewhere.test");
    expect(resolveAlias("bob@example.org", config)).toBe("bob@example.org");
    expect(resolveAlias("info@example.com", config)).toBe("info@example.com");
    expect(resolveAlias("postmaster", config)).toBe("postmaster@example.org");
  });

  it("gives the domainless postmaster, in any case, the first domain (RFC 5321 §4.1.1.3), and no other address", () => {
    for (const given of ["postmaster", "PostMaster", "POSTMASTER"]) expect(withPostmasterDomain(given, config), given).toBe("postmaster@example.org");
    for (const given of ["postmaster@example.com", "PostMaster@catch.example", "alice", "postmasters", '"postmaster"'])
      expect(withPostmasterDomain(given, config), given).toBe(given);
  });
});

/** A DNS peer on loopback, UDP and TCP on one port, answering each query as the script says. */
interface Peer {
  port: number;
  udpQueries: number;
  tcpQueries: number;
  close(): Promise<void>;
}

type PeerScript = {
  /** The datagrams to answer a UDP query with (none: stay silent). */
  udp?: (query: DecodedPacket, count: number) => Packet[];
  /** The bytes to write back on a TCP connection (none: close it). */
  tcp?: (query: DecodedPacket) => Uint8Array;
};

function answer(query: DecodedPacket, changes: Partial<Packet> = {}): Packet {
  return {
    type: "response",
    id: query.id,
    flags: (1 << 8) | (1 << 7), // RD, RA
    questions: query.questions,
    answers: [{ type: "A", name: query.questions![0]!.name, ttl: 60, data: "192.0.2.1" }],
    ...changes,
  };
}

function framed(packet: Packet): Uint8Array {
  const message = encode(packet);
  const length = Buffer.alloc(2);
  length.writeUInt16BE(message.length);
  return Buffer.concat([length, message]);
}

async function startPeer(script: PeerScript): Promise<Peer> {
  for (;;) {
    const udp: UdpSocket = createSocket("udp4");
    await new Promise<void>((resolve) => udp.bind(0, "127.0.0.1", resolve));
    const port = udp.address().port;
    const sockets = new Set<Socket>();
    const tcp: Server = createServer((socket) => {
      sockets.add(socket);
      socket.on("close", () => sockets.delete(socket));
      socket.on("error", () => socket.destroy());
      socket.once("data", (chunk: Buffer) => {
        peer.tcpQueries += 1;
        const reply = script.tcp?.(decode(chunk.subarray(2)));
        if (reply === undefined) socket.end();
        else socket.write(reply);
      });
    });
    const listening = await new Promise<boolean>((resolve) => {
      tcp.once("error", () => resolve(false));
      tcp.listen(port, "127.0.0.1", () => resolve(true));
    });
    if (!listening) {
      udp.close();
      continue; // the TCP port was taken: another pair
    }
    const peer: Peer = {
      port: (tcp.address() as AddressInfo).port,
      udpQueries: 0,
      tcpQueries: 0,
      close: () =>
        new Promise((resolve) => {
          udp.close();
          for (const socket of sockets) socket.destroy();
          tcp.close(() => resolve());
        }),
    };
    udp.on("message", (message, from) => {
      peer.udpQueries += 1;
      for (const packet of script.udp?.(decode(message), peer.udpQueries) ?? []) udp.send(encode(packet), from.port, from.address);
    });
    return peer;
  }
}

describe("createRelayResolver (DNS over UDP and TCP)", () => {
  const peers: Peer[] = [];
  const peer = async (script: PeerScript): Promise<Peer> => {
    const started = await startPeer(script);
    peers.push(started);
    return started;
  };
  afterEach(async () => {
    for (const started of peers.splice(0)) await started.close();
  });

  it("asks over UDP with EDNS0 and the AD bit, a random id, and caches the answer", async () => {
    const seen: DecodedPacket[] = [];
    const { port, ...counts } = await peer({ udp: (query) => (seen.push(query), [answer(query)]) });
    const resolver = createRelayResolver({ host: "127.0.0.1", port, timeoutMs: 1000 });
    expect(await resolver.query("Mail.Example.NET.", "A")).toMatchObject({ status: "ok", answers: ["192.0.2.1"], ttl: 60 });
    expect(await resolver.query("mail.example.net", "A")).toMatchObject({ status: "ok", answers: ["192.0.2.1"] });
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({ flag_rd: true, flag_ad: true, questions: [{ name: "mail.example.net", type: "A" }] });
    expect(seen[0]!.additionals).toEqual([expect.objectContaining({ type: "OPT", udpPayloadSize: 1232 })]);
    expect(counts.tcpQueries).toBe(0);
  });

  it("ignores datagrams that are not the reply to its id, and takes the one that is (RFC 5452 §9.1)", async () => {
    const started = await peer({
      udp: (query) => [
        answer(query, { id: ((query.id ?? 0) + 1) % 0x10000, answers: [{ type: "A", name: "x.example", ttl: 60, data: "203.0.113.66" }] }),
        answer(query),
      ],
    });
    const resolver = createRelayResolver({ host: "127.0.0.1", port: started.port, timeoutMs: 1000 });
    expect(await resolver.query("x.example", "A")).toMatchObject({ status: "ok", answers: ["192.0.2.1"] });
  });

  it("asks again over TCP when the UDP reply is truncated (RFC 7766 §5)", async () => {
    const started = await peer({
      udp: (query) => [answer(query, { flags: (1 << 9) | (1 << 8) | (1 << 7), answers: [] })],
      tcp: (query) => framed(answer(query, { answers: [{ type: "A", name: "big.example", ttl: 60, data: "192.0.2.7" }] })),
    });
    const resolver = createRelayResolver({ host: "127.0.0.1", port: started.port, timeoutMs: 1000 });
    expect(await resolver.query("big.example", "A")).toMatchObject({ status: "ok", answers: ["192.0.2.7"] });
    expect([started.udpQueries, started.tcpQueries]).toEqual([1, 1]);
  });

  it("makes a broken TCP reply a servfail: wrong id, truncated again, connection closed", async () => {
    const truncated = (query: DecodedPacket): Packet[] => [answer(query, { flags: (1 << 9) | (1 << 8) | (1 << 7), answers: [] })];
    const wrongId = await peer({ udp: truncated, tcp: (query) => framed(answer(query, { id: ((query.id ?? 0) + 1) % 0x10000 })) });
    const again = await peer({ udp: truncated, tcp: (query) => framed(answer(query, { flags: (1 << 9) | (1 << 8) | (1 << 7) })) });
    const closed = await peer({ udp: truncated });
    const ask = (port: number) => createRelayResolver({ host: "127.0.0.1", port, timeoutMs: 1000 }).query("t.example", "A");
    // eslint-disable-next-line @typescript-eslint/no-unsafe-assignment -- vitest types its asymmetric matchers (expect.stringContaining, …) as any
    expect(await ask(wrongId.port)).toMatchObject({ status: "servfail", detail: expect.stringMatching(/does not answer query id/) });
    expect(await ask(again.port)).toMatchObject({ status: "servfail", detail: "truncated reply" });
    // eslint-disable-next-line @typescript-eslint/no-unsafe-assignment -- vitest types its asymmetric matchers (expect.stringContaining, …) as any
    expect(await ask(closed.port)).toMatchObject({ status: "servfail", detail: expect.stringMatching(/closed the TCP connection/) });
  });

  it("retransmits once over UDP when the first datagram goes unanswered", async () => {
    const started = await peer({ udp: (query, count) => (count === 1 ? [] : [answer(query)]) });
    const resolver = createRelayResolver({ host: "127.0.0.1", port: started.port, timeoutMs: 400 });
    expect(await resolver.query("lossy.example", "A")).toMatchObject({ status: "ok" });
    expect(started.udpQueries).toBe(2);
  });

  it("times out against silence within its deadline, and does not cache the timeout", async () => {
    const started = await peer({});
    const resolver = createRelayResolver({ host: "127.0.0.1", port: started.port, timeoutMs: 200 });
    const begun = performance.now();
    const lookup = await resolver.query("silent.example", "A");
    expect(lookup).toMatchObject({ status: "timeout", answers: [], detail: "no DNS reply from 127.0.0.1:" + started.port + " within 200 ms over UDP" });
    expect(performance.now() - begun).toBeLessThan(600);
    await resolver.query("silent.example", "A");
    expect(started.udpQueries).toBe(4); // two per query: the first and its retransmission
  });

  it("is a servfail, never a throw, when nothing listens or the host is no address", async () => {
    const started = await peer({});
    const port = started.port;
    await started.close();
    peers.splice(0);
    const refused = await createRelayResolver({ host: "127.0.0.1", port, timeoutMs: 1000 }).query("x.example", "A");
    // eslint-disable-next-line @typescript-eslint/no-unsafe-assignment -- vitest types its asymmetric matchers (expect.stringContaining, …) as any
    expect(refused).toMatchObject({ status: "servfail", detail: expect.stringMatching(/unreachable over UDP: ECONNREFUSED/) });
    const unresolvable = await createRelayResolver({ host: "resolver.invalid", port, timeoutMs: 1000 }).query("x.example", "A");
    // eslint-disable-next-line @typescript-eslint/no-unsafe-assignment -- vitest types its asymmetric matchers (expect.stringContaining, …) as any
    expect(unresolvable).toMatchObject({ status: "servfail", detail: expect.stringMatching(/cannot reach the resolver resolver\.invalid/) });
  });

  it("answers a name that cannot exist with NXDOMAIN without asking", async () => {
    const started = await peer({ udp: (query) => [answer(query)] });
    const resolver = createRelayResolver({ host: "127.0.0.1", port: started.port, timeoutMs: 1000 });
    expect(await resolver.query(`${"a".repeat(64)}.example`, "A")).toMatchObject({ status: "nxdomain", detail: "not a valid DNS name" });
    expect(started.udpQueries).toBe(0);
  });
});
