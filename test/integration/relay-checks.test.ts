// The relay's connection-stage checks against real DNS: createRelayResolver over UDP/TCP → the
// harness's unbound, validating → Knot serving the signed test zones (test/harness/README.md).
import { createSocket } from "node:dgram";
import type { Socket } from "node:dgram";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { checkDnsbl, dnsblKeys } from "../../core/dnsbl/dnsbl.ts";
import { checkFcrdns } from "../../core/iprev/fcrdns.ts";
import { checkHelo } from "../../core/smtp/helo.ts";
import { checkSender } from "../../core/smtp/sender.ts";
import type { Finding } from "../../core/smtp/finding.ts";
import { createRelayResolver } from "../../relay-node/src/dns/resolver.ts";
import { parseConfig } from "../../core/config/load.ts";
import { decodeMessage, encodeQuery } from "../../core/dns/wire.ts";
import { formatReply } from "../../core/smtp/replies.ts";
import { TEST_DNS, largeTxtRecord } from "../harness/zones.ts";

const harness = inject("harness");
const resolver = createRelayResolver({ host: "127.0.0.1", port: harness.dnsPort, timeoutMs: 2_000 });
const { sender, dnsbl, clients } = TEST_DNS;

const config = parseConfig({
  hostname: "mx.example.org",
  domains: [{ name: "example.org", mx: ["mx.example.org"], catchAll: true }],
  connection: {
    dnsbl: { zones: [{ zone: dnsbl.zone, codes: [dnsbl.listedAnswer] }] },
    // The dynamic-name patterns of config/example.yaml.
    fcrdns: { dynamicPatterns: ["(^|[.-])(dyn|dynamic|dhcp|dialup|ppp|pool|cable|dsl|adsl)[0-9.-]", "\\d+[.-]\\d+[.-]\\d+[.-]\\d+"] },
  },
});

/** One datagram to 127.0.0.1:port and the first datagram back. */
async function askOverUdp(port: number, message: Uint8Array): Promise<Uint8Array> {
  const socket = createSocket("udp4");
  try {
    const reply = new Promise<Uint8Array>((resolve) => socket.once("message", resolve));
    socket.send(message, port, "127.0.0.1");
    return await reply;
  } finally {
    socket.close();
  }
}

function line(finding: Finding): string {
  return finding.outcome === "pass" || finding.outcome === "skipped" ? finding.outcome : formatReply(finding.reply);
}

describe("the relay's resolver against unbound", () => {
  it("answers over UDP with the AD bit of a validated zone", async () => {
    expect(await resolver.query(sender.domain, "MX")).toMatchObject({
      status: "ok",
      answers: [{ preference: 10, exchange: sender.mx }],
      authenticated: true,
    });
    expect(await resolver.query(sender.nxdomain, "A")).toMatchObject({ status: "nxdomain", authenticated: true });
    expect(await resolver.query(TEST_DNS.insecure.domain, "A")).toMatchObject({ status: "ok", authenticated: false });
  });

  it("gets a reply too large for UDP over TCP, complete (RFC 7766 §5)", async () => {
    // The same query over UDP alone comes back truncated (TC): the fallback is really exercised.
    const query = { id: 4242, name: TEST_DNS.largeTxt.name, type: "TXT" as const };
    expect(decodeMessage(await askOverUdp(harness.dnsPort, encodeQuery(query))).flag_tc).toBe(true);
    const lookup = await resolver.query(TEST_DNS.largeTxt.name, "TXT");
    expect(lookup).toMatchObject({ status: "ok", authenticated: true });
    const texts = lookup.answers.map((strings) => strings.join("")).sort();
    expect(texts).toEqual(Array.from({ length: TEST_DNS.largeTxt.records }, (_, i) => largeTxtRecord(i)));
    // More than the 1232 octets a UDP reply may carry (EDNS_PAYLOAD_SIZE): only TCP could bring them.
    expect(texts.join("").length).toBeGreaterThan(1232);
  });

  it("says servfail for a bogus zone, with unbound's reason", async () => {
    // eslint-disable-next-line @typescript-eslint/no-unsafe-assignment -- vitest types its asymmetric matchers (expect.stringContaining, …) as any
    expect(await resolver.query(TEST_DNS.bogus, "A")).toMatchObject({ status: "servfail", detail: expect.stringMatching(/^SERVFAIL/) });
  });
});

describe("a resolver that never answers", () => {
  let silent: Socket;
  let port: number;
  beforeAll(async () => {
    silent = createSocket("udp4");
    await new Promise<void>((resolve) => silent.bind(0, "127.0.0.1", resolve));
    port = silent.address().port;
  });
  afterAll(() => silent.close());

  it("times out within the bound, and the checks make it temporary", async () => {
    const mute = createRelayResolver({ host: "127.0.0.1", port, timeoutMs: 150 });
    const begun = performance.now();
    expect(await mute.query(sender.domain, "A")).toMatchObject({ status: "timeout", answers: [] });
    expect(performance.now() - begun).toBeLessThan(1_000);
    const finding = await checkDnsbl(dnsbl.listedIp, config.connection.dnsbl, mute);
    expect(line(finding)).toBe(`451 4.4.3 <2.0.0.127.${dnsbl.zone}>: Temporary DNS lookup failure, please try again later`);
    expect((await checkSender(`a@${sender.domain}`, true, config, mute))[0]!.outcome).toBe("temporary");
  });
});

describe("connection-stage checks against real DNS", () => {
  it("DNSBL: refuses the RFC 5782 test entry 127.0.0.2, passes 127.0.0.1", async () => {
    expect(line(await checkDnsbl(dnsbl.listedIp, config.connection.dnsbl, resolver))).toBe(
      `554 5.7.1 Service unavailable; Client host [${dnsbl.listedIp}] blocked using ${dnsbl.zone}`,
    );
    expect(await checkDnsbl(dnsbl.unlistedIp, config.connection.dnsbl, resolver)).toMatchObject({ outcome: "pass", detail: `${dnsbl.zone}: not listed` });
  });

  it("DNSBL with an access key (Spamhaus DQS's form): listed under <ip>.<key>.<zone>, not without the key", async () => {
    const keyed = { action: "reject" as const, zones: [{ zone: dnsbl.keyed.zone, codes: [], keySecret: "TEST_DQS_KEY" }] };
    const keys = dnsblKeys(keyed, () => dnsbl.keyed.key);
    expect(line(await checkDnsbl(dnsbl.listedIp, keyed, resolver, keys))).toBe(
      `554 5.7.1 Service unavailable; Client host [${dnsbl.listedIp}] blocked using ${dnsbl.keyed.zone}`,
    );
    const unkeyed = { action: "reject" as const, zones: [{ zone: dnsbl.keyed.zone, codes: [] }] };
    expect(await checkDnsbl(dnsbl.listedIp, unkeyed, resolver)).toMatchObject({ outcome: "pass" });
  });

  it("DNSBL: a list answering 127.255.255.254 (a query through a public resolver) could not be asked: temporary", async () => {
    const refusing = { action: "reject" as const, zones: [{ zone: dnsbl.refusing.zone, codes: [] }] };
    const finding = await checkDnsbl(sender.authorizedIp, refusing, resolver);
    expect(line(finding)).toBe(`451 4.4.3 <11.0.0.127.${dnsbl.refusing.zone}>: Temporary DNS lookup failure, please try again later`);
    expect(finding.detail).toBe(`${dnsbl.refusing.zone}: refused the query (${dnsbl.refusing.answer})`);
  });

  it("FCrDNS: confirms 127.0.0.11 as mail.sender.test, also as an IPv4-mapped address", async () => {
    for (const ip of [sender.authorizedIp, `::ffff:${sender.authorizedIp}`]) {
      const { finding, client } = await checkFcrdns(ip, config.connection.fcrdns, resolver);
      expect(finding.outcome, ip).toBe("pass");
      expect(client).toEqual({ ip: sender.authorizedIp, verifiedName: sender.mailHost });
    }
  });

  it("FCrDNS: refuses a client without PTR and one whose PTR name points elsewhere as unknown[ip]", async () => {
    for (const ip of [clients.noPtrIp, clients.unconfirmedIp]) {
      const { finding } = await checkFcrdns(ip, config.connection.fcrdns, resolver);
      expect(line(finding)).toBe(`554 5.7.1 <unknown[${ip}]>: Client host rejected: Access denied`);
    }
  });

  it("FCrDNS: refuses a confirmed but dynamic-looking name as name[ip]", async () => {
    const { finding, client } = await checkFcrdns(clients.dynamicIp, config.connection.fcrdns, resolver);
    expect(line(finding)).toBe(`554 5.7.1 <${clients.dynamicName}[${clients.dynamicIp}]>: Client host rejected: Access denied`);
    expect(client.verifiedName).toBe(clients.dynamicName);
  });

  it("HELO: passes names with A, AAAA or MX; refuses one that does not exist; tempfails a bogus zone", async () => {
    for (const helo of [sender.mailHost, sender.domain, TEST_DNS.ipv6Host.name]) {
      expect((await checkHelo(helo, sender.authorizedIp, config, resolver)).outcome, helo).toBe("pass");
    }
    expect(line(await checkHelo(sender.nxdomain, sender.authorizedIp, config, resolver))).toBe(
      `554 5.7.1 <${sender.nxdomain}>: Helo command rejected: Host not found`,
    );
    expect(line(await checkHelo(TEST_DNS.nullMx, sender.authorizedIp, config, resolver))).toMatch(/Helo command rejected: Host not found$/);
    expect((await checkHelo(TEST_DNS.bogus, sender.authorizedIp, config, resolver)).outcome).toBe("temporary");
  });

  it("MAIL FROM: passes sender.test, refuses the Null MX domain and a missing one, tempfails bogus.test", async () => {
    expect((await checkSender(`alice@${sender.domain}`, false, config, resolver)).map((f) => f.outcome)).toEqual(["pass", "pass"]);
    expect((await checkSender(`alice@${TEST_DNS.ipv6Host.name}`, false, config, resolver))[0]!.detail).toMatch(/implicit MX/);
    const nullMx = (await checkSender(`alice@${TEST_DNS.nullMx}`, false, config, resolver))[0]!;
    expect(line(nullMx)).toBe(`554 5.1.8 <alice@${TEST_DNS.nullMx}>: Sender address rejected: Domain not found`);
    expect(nullMx.detail).toMatch(/Null MX/);
    expect((await checkSender(`alice@${sender.nxdomain}`, false, config, resolver))[0]!.outcome).toBe("fail");
    const bogus = (await checkSender(`alice@${TEST_DNS.bogus}`, false, config, resolver))[0]!;
    expect(line(bogus)).toBe(`451 4.4.3 <${TEST_DNS.bogus}>: Temporary DNS lookup failure, please try again later`);
  });
});
