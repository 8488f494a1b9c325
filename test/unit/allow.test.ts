// The allowlist (relay.allow, core/allow/): which entries a client or a sender matches, what they spare,
// what the schema refuses (the virus scan above all), the RCPT TO decision and the judge with it.
import { generateKeyPairSync } from "node:crypto";
import { dkimSign } from "mailauth";
import { describe, expect, it } from "vitest";
import {
  alignedAuthorDomain,
  clientAllowHits,
  describeHit,
  ipInNetwork,
  nameMatches,
  senderAllowances,
  senderAllowHits,
  sparedChecks,
  type AllowHit,
} from "../../core/allow/allow.ts";
import { ConfigError, parseConfig } from "../../core/config/load.ts";
import { renderStory, StoryCollector } from "../../relay-node/src/log/story.ts";
import type { EdgemxConfig } from "../../core/config/schema.ts";
import type { Finding } from "../../core/smtp/finding.ts";
import { decideRecipient, greylistApplies } from "../../core/smtp/pipeline.ts";
import { buildReply } from "../../core/smtp/replies.ts";
import { allowHitsOf, parseEnvelope } from "../../core/verdict/envelope.ts";
import type { VerdictEnvelope } from "../../core/verdict/types.ts";
import { verdict } from "../../core/verdict/verdict.ts";
import { ZoneResolver } from "../fixtures/zone-resolver.ts";

const minimal = { hostname: "mx.example.org", domains: [{ name: "example.org", mx: ["mx.example.org"], catchAll: true }] };

function withAllow(allow: unknown[], more: Record<string, unknown> = {}): EdgemxConfig {
  return parseConfig({ ...minimal, ...more, relay: { allow } });
}

function problems(allow: unknown[]): readonly string[] {
  try {
    withAllow(allow);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error("expected the configuration to be refused");
}

describe("relay.allow in the schema", () => {
  it("takes entries by address, network, name, HELO and sender, each with the checks it spares", () => {
    const cfg = withAllow([
      { ip: "192.0.2.1", spare: ["dnsbl"] },
      { ip: "2001:db8::/32", spare: ["greylist", "fcrdns"] },
      { name: "*.Partner.example", spare: ["dnsbl", "spam"] },
      { helo: "mail.partner.example", spare: ["helo"] },
      { sender: "partner.example", spare: ["banned", "spam"] },
    ]);
    expect(cfg.relay.allow.map((e) => e.name ?? e.ip ?? e.helo ?? e.sender)).toEqual([
      "192.0.2.1",
      "2001:db8::/32",
      "*.partner.example",
      "mail.partner.example",
      "partner.example",
    ]);
    expect(parseConfig(minimal).relay.allow).toEqual([]);
  });

  it("refuses the virus scan among the spared checks, naming the field", () => {
    expect(problems([{ ip: "192.0.2.1", spare: ["dnsbl", "virus"] }])).toEqual([
      "relay.allow[0].spare[1]: the virus scan is never spared: an allowlisted client's mail is scanned like any other",
    ]);
    expect(problems([{ ip: "192.0.2.1", spare: ["dnsbll"] }])[0]).toMatch(/^relay\.allow\[0\]\.spare\[0\]: expected one of dnsbl, fcrdns, helo, /);
    expect(problems([{ ip: "192.0.2.1", spare: [] }])).toEqual(["relay.allow[0].spare: expected at least one check to spare"]);
  });

  it("wants exactly one thing to match, and a real address or network", () => {
    expect(problems([{ spare: ["dnsbl"] }])).toEqual([
      "relay.allow[0]: expected exactly one of ip, name, helo, sender: what the entry matches (none is given)",
    ]);
    expect(problems([{ ip: "192.0.2.1", helo: "a.example", spare: ["dnsbl"] }])).toEqual([
      "relay.allow[0]: expected exactly one of ip, name, helo, sender: what the entry matches (ip and helo are given)",
    ]);
    for (const ip of ["192.0.2.0/33", "192.0.2.300", "2001:db8::/129", "192.0.2.0/24/1", "partner.example"])
      expect(problems([{ ip, spare: ["dnsbl"] }]), ip).toEqual([
        "relay.allow[0].ip: expected an IP address or a network such as 192.0.2.0/24 or 2001:db8::/32",
      ]);
  });

  it("refuses a sender entry sparing what answers before DATA: a From domain is known genuine only after it", () => {
    expect(problems([{ sender: "partner.example", spare: ["spam", "dnsbl", "greylist"] }])).toEqual([
      "relay.allow[0].spare[1]: a sender entry cannot spare dnsbl: the sender domain is genuine only once SPF or DKIM aligns it after DATA, and dnsbl answers at RCPT TO; name the client by ip or name instead",
      "relay.allow[0].spare[2]: a sender entry cannot spare greylist: the sender domain is genuine only once SPF or DKIM aligns it after DATA, and greylist answers at RCPT TO; name the client by ip or name instead",
    ]);
  });
});

describe("matching", () => {
  it("an address in a network: IPv4, IPv6, IPv4-mapped, an address alone for itself", () => {
    expect(ipInNetwork("192.0.2.77", "192.0.2.0/24")).toBe(true);
    expect(ipInNetwork("192.0.3.1", "192.0.2.0/24")).toBe(false);
    expect(ipInNetwork("::ffff:192.0.2.77", "192.0.2.0/24")).toBe(true);
    expect(ipInNetwork("192.0.2.1", "192.0.2.1")).toBe(true);
    expect(ipInNetwork("192.0.2.2", "192.0.2.1")).toBe(false);
    expect(ipInNetwork("2001:db8:1::5", "2001:db8::/32")).toBe(true);
    expect(ipInNetwork("2001:db9::5", "2001:db8::/32")).toBe(false);
    expect(ipInNetwork("2001:DB8:0:0::1", "2001:db8::1")).toBe(true);
    // The families never match each other, whatever the prefix.
    expect(ipInNetwork("192.0.2.1", "::/0")).toBe(false);
    expect(ipInNetwork("2001:db8::1", "0.0.0.0/0")).toBe(false);
    expect(ipInNetwork("not an address", "0.0.0.0/0")).toBe(false);
  });

  it("a name: itself, or with *. any name under the rest but not the rest", () => {
    expect(nameMatches("Mail.Partner.example.", "mail.partner.example")).toBe(true);
    expect(nameMatches("mx1.eu.partner.example", "*.partner.example")).toBe(true);
    expect(nameMatches("partner.example", "*.partner.example")).toBe(false);
    expect(nameMatches("evilpartner.example", "*.partner.example")).toBe(false);
    expect(nameMatches("partner.example.evil.test", "partner.example")).toBe(false);
  });

  it("a client by address, forward-confirmed name or HELO; an unconfirmed name matches nothing", () => {
    const cfg = withAllow([
      { ip: "192.0.2.0/24", spare: ["dnsbl"] },
      { name: "*.partner.example", spare: ["greylist"] },
      { helo: "mail.partner.example", spare: ["helo"] },
      { sender: "partner.example", spare: ["spam"] },
    ]);
    const hits = clientAllowHits(cfg.relay.allow, { ip: "192.0.2.9", verifiedName: "mx.partner.example", helo: "mail.partner.example" });
    expect(hits.map(describeHit)).toEqual([
      "relay.allow[0] (ip 192.0.2.0/24)",
      "relay.allow[1] (name *.partner.example)",
      "relay.allow[2] (helo mail.partner.example)",
    ]);
    expect(clientAllowHits(cfg.relay.allow, { ip: "198.51.100.1", verifiedName: null, helo: null })).toEqual([]);
    expect(senderAllowances(cfg.relay.allow)).toEqual([{ entry: 3, sender: "partner.example", spare: ["spam"] }]);
    expect([...sparedChecks(hits).keys()]).toEqual(["dnsbl", "greylist", "helo"]);
  });

  it("a sender only when DKIM or SPF aligns the From domain: a forged From matches nothing", () => {
    const senders = [{ entry: 0, sender: "partner.example", spare: ["spam" as const] }];
    const dkimAligned = { authorDomain: "partner.example", dkim: [{ result: "pass", domain: "partner.example", aligned: true }] };
    expect(alignedAuthorDomain(dkimAligned)).toEqual({ domain: "partner.example", by: "dkim" });
    expect(senderAllowHits(senders, dkimAligned).map(describeHit)).toEqual(["relay.allow[0] (sender partner.example, dkim aligned)"]);
    const spfAligned = { authorDomain: "partner.example", spf: { result: "pass", domain: "bounces.partner.example" }, dkim: [] };
    expect(alignedAuthorDomain(spfAligned)).toEqual({ domain: "partner.example", by: "spf" });
    // Forged: From says partner.example, but SPF passed for the forger's own domain and the signature is the forger's.
    const forged = {
      authorDomain: "partner.example",
      spf: { result: "pass", domain: "forger.test" },
      dkim: [
        { result: "pass", domain: "forger.test", aligned: false },
        { result: "fail", domain: "partner.example", aligned: false },
      ],
    };
    expect(alignedAuthorDomain(forged)).toBeNull();
    expect(senderAllowHits(senders, forged)).toEqual([]);
    expect(alignedAuthorDomain({ authorDomain: "partner.example", spf: { result: "softfail", domain: "partner.example" }, dkim: [] })).toBeNull();
    // "evilpartner.example" is no domain under partner.example.
    expect(alignedAuthorDomain({ authorDomain: "partner.example", spf: { result: "pass", domain: "evilpartner.example" }, dkim: [] })).toBeNull();
  });
});

describe("RCPT TO with the allowlist", () => {
  const cfg = withAllow([{ ip: "127.0.0.2", spare: ["dnsbl"] }], { connection: { greylist: { enabled: true } } });
  const fail = (check: "dnsbl" | "fcrdns"): Finding => ({
    check,
    outcome: "fail",
    reply:
      check === "dnsbl" ? buildReply("dnsbl", { ip: "127.0.0.2", zone: "dnsbl.test" }) : buildReply("clientRejected", { host: "unknown", ip: "127.0.0.2" }),
    detail: `${check} failed`,
  });

  it("passes over the spared check and still refuses with one it does not spare", () => {
    const spared = new Set(sparedChecks(clientAllowHits(cfg.relay.allow, { ip: "127.0.0.2", verifiedName: null, helo: null })).keys());
    expect(decideRecipient([fail("dnsbl")], "alice@example.org", cfg, spared)).toEqual({ accept: true, relaxed: [], allowed: ["dnsbl"] });
    expect(decideRecipient([fail("dnsbl")], "alice@example.org", cfg)).toMatchObject({ accept: false, check: "dnsbl" });
    expect(decideRecipient([fail("dnsbl"), fail("fcrdns")], "alice@example.org", cfg, spared)).toMatchObject({ accept: false, check: "fcrdns" });
  });

  it("skips greylisting only for a client it is spared for", () => {
    expect(greylistApplies("alice@example.org", cfg, new Set(["greylist"]))).toBe(false);
    expect(greylistApplies("alice@example.org", cfg, new Set(["dnsbl"]))).toBe(true);
  });
});

function rsaKey(): { privateKey: string; record: string } {
  const pair = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const p = pair.publicKey.export({ type: "spki", format: "der" }).toString("base64");
  return { privateKey: pair.privateKey.export({ type: "pkcs8", format: "pem" }).toString(), record: `v=DKIM1; k=rsa; p=${p}` };
}

describe("the judge with the allowlist", () => {
  const key = rsaKey();
  const SENDER_IP = "192.0.2.10";
  const STRANGER_IP = "203.0.113.5";
  const zone = () =>
    new ZoneResolver()
      .txt("sender.test", "v=spf1 ip4:192.0.2.10 -all")
      .txt("_dmarc.sender.test", "v=DMARC1; p=reject")
      .txt("s1._domainkey.sender.test", key.record)
      .txt("forger.test", "v=spf1 ip4:203.0.113.5 -all");
  const cfg = parseConfig(minimal);
  const withExe = (from: string): string => {
    const exe = btoa("MZ" + "\0".repeat(126));
    return [
      `From: Alice <${from}>`,
      "To: Bob <bob@example.org>",
      "Subject: invoice",
      "Date: Mon, 1 Jan 2024 10:00:00 +0000",
      "Message-ID: <2@sender.test>",
      "MIME-Version: 1.0",
      'Content-Type: multipart/mixed; boundary="b1"',
      "",
      "--b1",
      "Content-Type: text/plain",
      "",
      "see attachment",
      "--b1",
      'Content-Type: application/octet-stream; name="tool.exe"',
      'Content-Disposition: attachment; filename="tool.exe"',
      "Content-Transfer-Encoding: base64",
      "",
      exe,
      "--b1--",
      "",
    ].join("\r\n");
  };
  const signed = async (text: string): Promise<Uint8Array> => {
    const signature = { signingDomain: "sender.test", selector: "s1", privateKey: key.privateKey };
    const result = await dkimSign(text, { ...signature, signatureData: [signature] });
    expect(result.errors).toEqual([]);
    return new TextEncoder().encode(result.signatures + text);
  };
  const envelope = (clientIp: string, mailFrom: string, allow: VerdictEnvelope["allow"]): VerdictEnvelope => ({
    clientIp,
    helo: "mail.example.net",
    mailFrom,
    rcptTo: ["bob@example.org"],
    direction: "inbound",
    ...(allow ? { allow } : {}),
  });
  const ipHit = (spare: AllowHit["spare"]): AllowHit => ({ entry: 0, match: "ip", value: "203.0.113.0/24", spare });

  it("spares a client's named checks, recorded with the entry, and no other", async () => {
    const raw = new TextEncoder().encode(withExe("alice@sender.test"));
    const bannedOnly = await verdict(raw, envelope(STRANGER_IP, "alice@sender.test", { client: [ipHit(["banned"])], senders: [] }), cfg, zone());
    expect(bannedOnly).toMatchObject({ action: "reject", reason: "dmarc" });
    expect(bannedOnly.checks.find((c) => c.check === "banned")).toEqual({
      check: "banned",
      outcome: "relaxed",
      detail: 'attachment "tool.exe": extension .exe; allowlisted by relay.allow[0] (ip 203.0.113.0/24)',
      allowedBy: "ip",
    });
    const both = await verdict(raw, envelope(STRANGER_IP, "alice@sender.test", { client: [ipHit(["banned", "dmarc"])], senders: [] }), cfg, zone());
    expect(both.action).toBe("accept");
    expect(both.checks.filter((c) => c.outcome === "relaxed").map((c) => `${c.check}:${c.allowedBy}`)).toEqual(["banned:ip", "dmarc:ip"]);
    expect(await verdict(raw, envelope(STRANGER_IP, "alice@sender.test", undefined), cfg, zone())).toMatchObject({ action: "reject", reason: "BANNED" });
  });

  it("spares a sender whose DKIM signature aligns the From domain, even a content check judged before authentication", async () => {
    const v = await verdict(
      await signed(withExe("alice@sender.test")),
      envelope(SENDER_IP, "alice@sender.test", { client: [], senders: [{ entry: 1, sender: "sender.test", spare: ["banned"] }] }),
      cfg,
      zone(),
    );
    expect(v.action).toBe("accept");
    expect(v.allowlisted).toEqual([{ entry: 1, match: "sender", value: "sender.test", spare: ["banned"], alignedBy: "dkim" }]);
    expect(v.checks.find((c) => c.check === "banned")).toMatchObject({ outcome: "relaxed", allowedBy: "sender" });
  });

  it("does not spare a forged From: SPF passed for the forger's own domain, no signature of the sender", async () => {
    const v = await verdict(
      new TextEncoder().encode(withExe("alice@sender.test")),
      envelope(STRANGER_IP, "mallory@forger.test", { client: [], senders: [{ entry: 1, sender: "sender.test", spare: ["banned", "dmarc"] }] }),
      cfg,
      zone(),
    );
    expect(v).toMatchObject({ action: "reject", reason: "BANNED" });
    expect(v.allowlisted).toBeUndefined();
    expect(v.checks.find((c) => c.check === "banned")?.outcome).toBe("fail");
  });

  it("ignores the allowlist for submitted mail", async () => {
    const v = await verdict(
      new TextEncoder().encode(withExe("bob@example.org")),
      { mailFrom: "bob@example.org", rcptTo: ["x@sender.test"], direction: "outbound", allow: { client: [ipHit(["banned"])], senders: [] } },
      parseConfig({ ...minimal, judge: { outboundBanned: { extensions: ["exe"] } } }),
      zone(),
    );
    expect(v).toMatchObject({ action: "reject", reason: "BANNED" });
  });
});

describe("npm run why with the allowlist", () => {
  it("tells which entries the client or sender matched, on the refusal and on the message", () => {
    const collector = new StoryCollector("12345-67");
    const lines = [
      {
        time: "2030-01-01T12:00:00.000Z",
        event: "refusal",
        session: "s1",
        stage: "rcpt",
        check: "fcrdns",
        rcpt: "alice@example.org",
        allowlist: ["relay.allow[0] (ip 127.0.0.2/32)"],
        reply: "554 5.7.1 <unknown[127.0.0.2]>: Client host rejected: Access denied",
        id: null,
      },
      {
        time: "2030-01-01T12:00:01.000Z",
        event: "message",
        session: "s1",
        id: "12345-67",
        mailFrom: "bob@sender.test",
        rcptTo: ["alice@example.org"],
        sizeBytes: 100,
        allowlist: ["relay.allow[0] (ip 127.0.0.2/32)"],
        checks: [{ check: "dnsbl", outcome: "relaxed", detail: "dnsbl.test: listed; allowlisted by relay.allow[0] (ip 127.0.0.2/32)" }],
        scan: "infected Eicar-Test-Signature",
        spam: "skipped",
        reply: "554 5.7.0 Reject, id=12345-67 – INFECTED",
      },
    ];
    for (const line of lines) collector.add(JSON.stringify(line));
    const told = renderStory(collector.result().stories[0]!);
    expect(told).toMatch(
      /RCPT TO <alice@example\.org> refused \(check fcrdns\): 554 5\.7\.1 [^\n]*\n\s+allowlisted: relay\.allow\[0\] \(ip 127\.0\.0\.2\/32\)\n/,
    );
    expect(told).toMatch(
      /– INFECTED\n\s+allowlisted: relay\.allow\[0\] \(ip 127\.0\.0\.2\/32\)\n\s+checks: dnsbl relaxed \(dnsbl\.test: listed; allowlisted by relay\.allow\[0\]/,
    );
  });
});

describe("the allowlist over the verdict API", () => {
  const envelope = { clientIp: "192.0.2.1", mailFrom: "a@partner.example", rcptTo: ["bob@example.org"] };

  it("takes the client's hits and the sender entries in the envelope, and never the virus scan", () => {
    const allow = {
      client: [{ entry: 0, match: "ip", value: "192.0.2.0/24", spare: ["dnsbl", "banned"] }],
      senders: [{ entry: 1, sender: "partner.example", spare: ["spam"] }],
    };
    expect(parseEnvelope({ ...envelope, allow })).toEqual({ ...envelope, direction: "inbound", allow });
    expect(parseEnvelope({ ...envelope, allow: { ...allow, client: [{ ...allow.client[0], spare: ["virus"] }] } })).toMatch(
      /^allow\.client\[0\]\.spare\[0\]: /,
    );
    expect(parseEnvelope({ ...envelope, allow: { client: [{ entry: 0, match: "sender", value: "x", spare: [] }], senders: [] } })).toMatch(
      /^allow\.client\[0\]\.match: /,
    );
  });

  it("keeps the sender entries of the API's answer only when they have their shape", () => {
    const hit = { entry: 1, match: "sender", value: "partner.example", spare: ["spam"], alignedBy: "dkim" };
    expect(allowHitsOf([hit])).toEqual([hit]);
    expect(allowHitsOf([{ ...hit, spare: ["virus"] }])).toBeUndefined();
    expect(allowHitsOf([{ ...hit, match: "ip" }])).toBeUndefined();
    expect(allowHitsOf("everything")).toBeUndefined();
  });
});
