// The judge as a whole: order of checks, replies, role relaxation, marks, headers, ARC sealing.
import { generateKeyPairSync } from "node:crypto";
import { authenticate as mailauthAuthenticate, dkimSign } from "mailauth";
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../core/config/load.ts";
import type { EdgemxConfig } from "../../core/config/schema.ts";
import { mailauthResolver } from "../../core/dns/mailauth.ts";
import { relaxedChecks } from "../../core/smtp/roles.ts";
import { newTrackingId, TRACKING_ID_RE } from "../../core/smtp/tracking-id.ts";
import type { VerdictEnvelope } from "../../core/verdict/types.ts";
import { verdict } from "../../core/verdict/verdict.ts";
import { ZoneResolver } from "../fixtures/zone-resolver.ts";

function rsaKey(): { privateKey: string; record: string } {
  const pair = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const p = pair.publicKey.export({ type: "spki", format: "der" }).toString("base64");
  return { privateKey: pair.privateKey.export({ type: "pkcs8", format: "pem" }).toString(), record: `v=DKIM1; k=rsa; p=${p}` };
}

const SENDER_IP = "192.0.2.10";
const STRANGER_IP = "203.0.113.5";
const keys = { sender: rsaKey(), arc: rsaKey() };

function zone(): ZoneResolver {
  return new ZoneResolver()
    .txt("sender.test", "v=spf1 ip4:192.0.2.10 -all")
    .txt("_dmarc.sender.test", "v=DMARC1; p=reject")
    .txt("s1._domainkey.sender.test", keys.sender.record)
    .txt("nodmarc.test", "v=spf1 ip4:192.0.2.10 -all")
    .txt("2024._domainkey.example.org", keys.arc.record)
    .fail("_dmarc.flaky.test", "servfail")
    .fail("flaky.test", "servfail");
}

function config(judge: Record<string, unknown> = {}): EdgemxConfig {
  return parseConfig({
    hostname: "mx.example.org",
    domains: [{ name: "example.org", mx: ["mx.example.org"], catchAll: true, dkim: { selector: "2024", publicKey: "AAAA" } }],
    judge,
  });
}

function message(from: string, extra: string[] = [], body = "Hello Bob,\r\nsee you tomorrow.\r\n"): string {
  return [
    `From: Alice <${from}>`,
    "To: Bob <bob@example.org>",
    "Subject: Lunch",
    "Date: Mon, 1 Jan 2024 10:00:00 +0000",
    `Message-ID: <1@${from.split("@")[1]}>`,
    ...extra,
    "",
    body,
  ].join("\r\n");
}

function withExe(from: string): string {
  const exe = btoa("MZ" + "\0".repeat(126));
  return [
    `From: Alice <${from}>`,
    "To: Bob <bob@example.org>",
    "Subject: invoice",
    "Date: Mon, 1 Jan 2024 10:00:00 +0000",
    `Message-ID: <2@${from.split("@")[1]}>`,
    "MIME-Version: 1.0",
    'Content-Type: multipart/mixed; boundary="b1"',
    "",
    "--b1",
    "Content-Type: text/plain",
    "",
    "see attachment",
    "--b1",
    'Content-Type: application/octet-stream; name="invoice.pdf.exe"',
    'Content-Disposition: attachment; filename="invoice.pdf.exe"',
    "Content-Transfer-Encoding: base64",
    "",
    exe,
    "--b1--",
    "",
  ].join("\r\n");
}

async function signed(text: string): Promise<string> {
  const signature = { signingDomain: "sender.test", selector: "s1", privateKey: keys.sender.privateKey };
  const result = await dkimSign(text, { ...signature, signatureData: [signature] });
  expect(result.errors).toEqual([]);
  return result.signatures + text;
}

const bytes = (text: string) => new TextEncoder().encode(text);
const inbound = (clientIp: string, mailFrom: string, rcptTo = ["bob@example.org"]): VerdictEnvelope => ({
  clientIp,
  helo: "mail.sender.test",
  mailFrom,
  rcptTo,
  direction: "inbound",
});

describe("tracking id", () => {
  it("has the spec's shape XXXXX-XX", () => {
    expect(newTrackingId(() => 0.5432107)).toBe("54321-07");
    expect(newTrackingId(() => 0)).toBe("00000-00");
    for (let i = 0; i < 100; i++) expect(newTrackingId()).toMatch(TRACKING_ID_RE);
  });
});

describe("role mailboxes (RFC 2142)", () => {
  const cfg = config();
  it("relaxes what every recipient's role relaxes", () => {
    expect([...relaxedChecks(["postmaster@example.org"], cfg)].sort()).toEqual(["banned", "dmarc", "dnsbl", "fcrdns", "greylist", "helo", "sender", "spf"]);
    expect([...relaxedChecks(["Postmaster@EXAMPLE.org"], cfg)]).toContain("banned");
  });
  it("relaxes nothing when an ordinary user is among the recipients, or the domain is not ours", () => {
    expect(relaxedChecks(["postmaster@example.org", "bob@example.org"], cfg).size).toBe(0);
    expect(relaxedChecks(["postmaster@example.net"], cfg).size).toBe(0);
  });
});

describe("verdict", () => {
  it("accepts authenticated mail with Authentication-Results and the verdict header", async () => {
    const v = await verdict(bytes(await signed(message("alice@sender.test"))), inbound(SENDER_IP, "alice@sender.test"), config(), zone());
    expect(v.action).toBe("accept");
    expect(v.reply.code).toBe(250);
    expect(v.id).toMatch(TRACKING_ID_RE);
    const ar = v.headers.find((h) => h.startsWith("Authentication-Results:"))?.replace(/\r\n(?=[ \t])/g, "");
    expect(ar).toMatch(/^Authentication-Results: mx\.example\.org;/);
    expect(ar).toMatch(/dkim=pass/);
    expect(ar).toMatch(/spf=pass/);
    expect(ar).toMatch(/dmarc=pass/);
    expect(v.headers).toContain(`X-Edgemx-Verdict: accept; id=${v.id}`);
    expect(v.checks.map((c) => `${c.check}:${c.outcome}`)).toEqual(["rfc:pass", "banned:pass", "spf:pass", "dkim:pass", "dmarc:pass"]);
  });

  it("names the transport's checks that could not run in X-Edgemx-Verdict, after the marks", async () => {
    const v = await verdict(bytes(await signed(message("alice@sender.test"))), inbound(SENDER_IP, "alice@sender.test"), config(), zone(), {
      skipped: ["dnsbl", "fcrdns"],
    });
    expect(v.headers).toContain(`X-Edgemx-Verdict: accept; id=${v.id}; skipped=dnsbl,fcrdns`);
  });

  it("refuses a banned attachment with the spec's reply, before any DNS lookup", async () => {
    const dns = zone().fail("sender.test", "timeout");
    const v = await verdict(bytes(withExe("alice@sender.test")), inbound(SENDER_IP, "alice@sender.test"), config(), dns);
    expect(v.action).toBe("reject");
    expect(v.reason).toBe("BANNED");
    expect(`${v.reply.code} ${v.reply.enhanced} ${v.reply.text}`).toBe(`554 5.7.0 Reject, id=${v.id} – BANNED`);
    // eslint-disable-next-line @typescript-eslint/no-unsafe-assignment -- vitest types its asymmetric matchers (expect.stringContaining, …) as any
    expect(v.checks.at(-1)).toEqual({ check: "banned", outcome: "fail", detail: expect.stringContaining("invoice.pdf.exe") });
  });

  it("lets postmaster@ receive the banned attachment, recorded as relaxed", async () => {
    const v = await verdict(
      bytes(await signed(withExe("alice@sender.test"))),
      inbound(SENDER_IP, "alice@sender.test", ["postmaster@example.org"]),
      config(),
      zone(),
    );
    expect(v.action).toBe("accept");
    expect(v.checks.find((c) => c.check === "banned")?.outcome).toBe("relaxed");
  });

  it("refuses a DMARC failure of a p=reject domain naming DMARC", async () => {
    const v = await verdict(bytes(message("alice@sender.test")), inbound(STRANGER_IP, "alice@sender.test"), config(), zone());
    expect(v.action).toBe("reject");
    expect(v.reason).toBe("dmarc");
    expect(`${v.reply.code} ${v.reply.enhanced} ${v.reply.text}`).toBe(`550 5.7.1 Reject, id=${v.id} – DMARC policy of sender.test`);
  });

  it("refuses an SPF fail without DMARC by default, marks it when configured", async () => {
    const rejected = await verdict(bytes(message("carol@nodmarc.test")), inbound(STRANGER_IP, "carol@nodmarc.test"), config(), zone());
    expect(`${rejected.reply.code} ${rejected.reply.enhanced}`).toBe("550 5.7.23");
    expect(rejected.reply.text).toBe(`Reject, id=${rejected.id} – SPF of nodmarc.test does not permit this host`);
    const marked = await verdict(bytes(message("carol@nodmarc.test")), inbound(STRANGER_IP, "carol@nodmarc.test"), config({ spfFail: "mark" }), zone());
    expect(marked.action).toBe("accept");
    expect(marked.marks).toContain("spf:fail");
    expect(marked.headers).toContain(`X-Edgemx-Verdict: accept; id=${marked.id}; marks=spf:fail`);
  });

  it("refuses a message with two From fields (RFC 5322 §3.6)", async () => {
    const v = await verdict(bytes(message("alice@sender.test", ["From: mallory@sender.test"])), inbound(SENDER_IP, "alice@sender.test"), config(), zone());
    expect(v.action).toBe("reject");
    expect(v.reason).toBe("rfc");
    expect(`${v.reply.code} ${v.reply.enhanced} ${v.reply.text}`).toBe(`554 5.6.0 Reject, id=${v.id} – message format violates the RFCs (duplicateFrom)`);
  });

  it("fails temporarily, never permanently, when DNS fails", async () => {
    const v = await verdict(bytes(message("dave@flaky.test")), inbound(STRANGER_IP, "dave@flaky.test"), config(), zone());
    expect(v.action).toBe("tempfail");
    expect(v.reply.code).toBe(451);
    expect(v.reply.enhanced).toBe("4.4.3");
  });

  it("judges outbound mail without authentication checks", async () => {
    const v = await verdict(
      bytes(message("bob@example.org")),
      { mailFrom: "bob@example.org", rcptTo: ["x@sender.test"], direction: "outbound" },
      config(),
      zone(),
    );
    expect(v.action).toBe("accept");
    expect(v.checks.map((c) => c.check)).toEqual(["rfc", "banned"]);
  });

  it("ARC-seals accepted mail when enabled, and the seal validates", async () => {
    const cfg = config({ arcSeal: { enabled: true } });
    const raw = await signed(message("alice@sender.test"));
    const v = await verdict(bytes(raw), inbound(SENDER_IP, "alice@sender.test"), cfg, zone(), { arcSealKey: { privateKey: keys.arc.privateKey } });
    expect(v.action).toBe("accept");
    expect(v.headers.slice(0, 3).map((h) => h.split(":")[0])).toEqual(["ARC-Seal", "ARC-Message-Signature", "ARC-Authentication-Results"]);
    const forwarded = v.headers.map((h) => `${h}\r\n`).join("") + raw;
    const check = await mailauthAuthenticate(forwarded, {
      ip: SENDER_IP,
      helo: "mail.sender.test",
      sender: "alice@sender.test",
      mta: "next.example",
      resolver: mailauthResolver(zone()),
    });
    expect(check.arc && check.arc.status.result).toBe("pass");
    expect(v.headers[0]).toMatch(/\bi=1;[\s\S]*\bcv=none\b/);
    expect(v.headers[0]).toMatch(/\bd=example\.org\b/);
    expect(v.headers[0]).toMatch(/\bs=2024\b/);
  });
});
