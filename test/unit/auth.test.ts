import { generateKeyPairSync } from "node:crypto";
import type { DKIMSignOptions } from "mailauth";
import { authenticate as mailauthAuthenticate, dkimSign, sealMessage } from "mailauth";
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../core/config/load.ts";
import type { EdgemxConfig } from "../../core/config/schema.ts";
import { mailauthResolver } from "../../core/dns/mailauth.ts";
import type { ArcFacts } from "../../core/arc/override.ts";
import { trustedArcOverride } from "../../core/arc/override.ts";
import type { AuthEnvelope } from "../../core/authentication/authenticate.ts";
import { authenticate } from "../../core/authentication/authenticate.ts";
import { authenticationResultsHeader, foldHeader, headerComment } from "../../core/authentication/results-field.ts";
import type { AuthDecisionInput } from "../../core/dmarc/policy.ts";
import { decideAuthentication, dmarcPct, sampledPolicy } from "../../core/dmarc/policy.ts";
import { buildReply } from "../../core/smtp/replies.ts";
import { ZoneResolver } from "../fixtures/zone-resolver.ts";

/** A throwaway RSA key: PKCS#8 PEM for signing, the base64 SubjectPublicKeyInfo for the p= tag. */
function rsaKey(): { privateKey: string; record: string } {
  const pair = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const p = pair.publicKey.export({ type: "spki", format: "der" }).toString("base64");
  return { privateKey: pair.privateKey.export({ type: "pkcs8", format: "pem" }).toString(), record: `v=DKIM1; k=rsa; p=${p}` };
}

/** A throwaway Ed25519 key (RFC 8463 §4.2: p= is the raw 32-byte public key). */
function ed25519Key(): { privateKey: string; record: string } {
  const pair = generateKeyPairSync("ed25519");
  const p = pair.publicKey.export({ type: "spki", format: "der" }).subarray(-32).toString("base64");
  return { privateKey: pair.privateKey.export({ type: "pkcs8", format: "pem" }).toString(), record: `v=DKIM1; k=ed25519; p=${p}` };
}

const SENDER_IP = "192.0.2.10";
const LIST_IP = "198.51.100.7";
const STRANGER_IP = "203.0.113.5";

const keys = { sender: rsaKey(), ed: ed25519Key(), esp: rsaKey(), lists: rsaKey(), relay: rsaKey() };

function zone(): ZoneResolver {
  return new ZoneResolver()
    .txt("sender.test", "v=spf1 ip4:192.0.2.10 -all")
    .txt("_dmarc.sender.test", "v=DMARC1; p=reject; sp=quarantine")
    .txt("mail.sender.test", "v=spf1 a -all")
    .add("mail.sender.test", "A", SENDER_IP)
    .txt("news.sender.test", "v=spf1 ip4:192.0.2.10 -all")
    .txt("soft.test", "v=spf1 ip4:192.0.2.10 ~all")
    .txt("quarantine.test", "v=spf1 ip4:192.0.2.10 -all")
    .txt("_dmarc.quarantine.test", "v=DMARC1; p=quarantine")
    .txt("sampled.test", "v=spf1 ip4:192.0.2.10 -all")
    .txt("_dmarc.sampled.test", "v=DMARC1; p=reject; pct=0")
    .txt("lists.test", "v=spf1 ip4:198.51.100.7 -all")
    .txt("relay.test", "v=spf1 ip4:198.51.100.7 -all")
    .txt("s1._domainkey.sender.test", keys.sender.record)
    .txt("ed._domainkey.sender.test", keys.ed.record)
    .txt("k1._domainkey.esp.test", keys.esp.record)
    .txt("arc._domainkey.lists.test", keys.lists.record)
    .txt("arc._domainkey.relay.test", keys.relay.record);
}

function config(auth: Record<string, unknown> = {}): EdgemxConfig {
  return parseConfig({
    hostname: "mx.example.org",
    domains: [{ name: "example.org", mx: ["mx.example.org"], catchAll: true }],
    judge: { auth: { trustedArcSealers: ["lists.test"], ...auth } },
  });
}

function message(from: string, body = "Hello Bob,\r\nsee you tomorrow.\r\n"): string {
  return [
    `From: Alice <${from}>`,
    "To: Bob <bob@example.org>",
    "Subject: Lunch",
    "Date: Mon, 1 Jan 2024 10:00:00 +0000",
    `Message-ID: <1@${from.split("@")[1]}>`,
    "",
    body,
  ].join("\r\n");
}

async function signed(text: string, signingDomain: string, selector: string, privateKey: string, algorithm?: string): Promise<string> {
  const signature: DKIMSignOptions = { signingDomain, selector, privateKey, ...(algorithm ? { algorithm } : {}) };
  // mailauth signs what signatureData lists; the top-level fields only satisfy its type.
  const result = await dkimSign(text, { ...signature, signatureData: [signature] });
  expect(result.errors).toEqual([]);
  return result.signatures + text;
}

const bytes = (text: string) => new TextEncoder().encode(text);
/** RFC 5322 §2.2.3: a folded field unfolds by removing each CRLF before whitespace. */
const unfolded = (field: string) => field.replace(/\r\n(?=[ \t])/g, "");
const envelope = (clientIp: string, mailFrom: string, helo = "mail.sender.test"): AuthEnvelope => ({ clientIp, helo, mailFrom });

/**
 * A message from alice@sender.test (DKIM-signed, DMARC p=reject) as a mailing list hands it on:
 * the list authenticated it on arrival, added a subject tag and a footer (breaking the DKIM
 * signature), and sealed it with ARC (RFC 8617 §5.1), its ARC-Authentication-Results saying what
 * it found on arrival (or `arrival`, to make it say something else).
 */
async function forwardedByList(sealer: "lists" | "relay", dns: ZoneResolver, arrival?: string): Promise<string> {
  const original = await signed(message("alice@sender.test"), "sender.test", "s1", keys.sender.privateKey);
  const onArrival = await mailauthAuthenticate(original, {
    ip: SENDER_IP,
    helo: "mail.sender.test",
    sender: "alice@sender.test",
    mta: `mx.${sealer}.test`,
    resolver: mailauthResolver(dns),
    disableBimi: true,
  });
  const authResults = arrival ?? (onArrival.arc ? onArrival.arc.authResults : undefined);
  expect(authResults).toContain("dmarc=");
  const modified = original.replace("Subject: Lunch", "Subject: [friends] Lunch").replace("tomorrow.\r\n", "tomorrow.\r\n--\r\nfriends mailing list\r\n");
  const seal = await sealMessage(modified, {
    signingDomain: `${sealer}.test`,
    selector: "arc",
    privateKey: keys[sealer].privateKey,
    cv: "none",
    ...(authResults ? { authResults } : {}),
  });
  return seal.toString() + modified;
}

describe("authenticate: SPF", () => {
  it("passes the MAIL FROM identity for a listed client and checks the HELO identity too (RFC 7208 §2.3)", async () => {
    const outcome = await authenticate(bytes(message("alice@sender.test")), envelope(SENDER_IP, "alice@sender.test"), config(), zone());
    expect(outcome.spf.mailFrom).toMatchObject({ result: "pass", domain: "sender.test" });
    expect(outcome.spf.helo).toMatchObject({ result: "pass", domain: "mail.sender.test" });
    expect(unfolded(outcome.authenticationResults)).toContain("spf=pass");
    expect(unfolded(outcome.authenticationResults)).toContain("smtp.mailfrom=sender.test;");
    expect(unfolded(outcome.authenticationResults)).toMatch(
      /; spf=pass \(mx\.example\.org: domain of postmaster@mail\.sender\.test designates 192\.0\.2\.10 as permitted sender\) smtp\.helo=mail\.sender\.test;/,
    );
  });

  it("fails a client the domain does not list (-all)", async () => {
    const outcome = await authenticate(bytes(message("alice@example.net")), envelope(STRANGER_IP, "alice@sender.test", "[203.0.113.5]"), config(), zone());
    expect(outcome.spf.mailFrom).toMatchObject({ result: "fail", domain: "sender.test" });
    // an address literal is no HELO identity to check
    expect(outcome.spf.helo).toBeUndefined();
    expect(unfolded(outcome.authenticationResults)).toMatch(
      /spf=fail \(mx\.example\.org: domain of alice@sender\.test does not designate 203\.0\.113\.5 as permitted sender\)/,
    );
  });

  it("soft-fails under ~all", async () => {
    const outcome = await authenticate(bytes(message("alice@example.net")), envelope(STRANGER_IP, "bob@soft.test"), config(), zone());
    expect(outcome.spf.mailFrom).toMatchObject({ result: "softfail", domain: "soft.test" });
    expect(outcome.decision).toBe("pass");
  });

  it("checks the HELO identity for a null sender (RFC 7208 §2.4)", async () => {
    const outcome = await authenticate(bytes(message("mailer-daemon@mail.sender.test")), envelope(SENDER_IP, ""), config(), zone());
    expect(outcome.spf.mailFrom).toMatchObject({ result: "pass", domain: "mail.sender.test" });
    expect(outcome.spf.helo).toBeUndefined();
  });

  it("reports no SPF without a client IP (Email Routing) and still judges DKIM and DMARC", async () => {
    const raw = await signed(message("alice@sender.test"), "sender.test", "s1", keys.sender.privateKey);
    const outcome = await authenticate(bytes(raw), { mailFrom: "alice@sender.test" }, config(), zone());
    expect(outcome.spf).toEqual({});
    expect(unfolded(outcome.authenticationResults)).not.toContain("spf=");
    expect(outcome.dmarc.result).toBe("pass");
    expect(outcome.decision).toBe("pass");
  });
});

describe("authenticate: DKIM", () => {
  it("verifies a signature and lets it carry DMARC when SPF fails", async () => {
    const raw = await signed(message("alice@sender.test"), "sender.test", "s1", keys.sender.privateKey);
    const outcome = await authenticate(bytes(raw), envelope(STRANGER_IP, "alice@sender.test"), config(), zone());
    expect(outcome.dkim).toEqual([{ result: "pass", domain: "sender.test", selector: "s1", algorithm: "rsa-sha256", aligned: true }]);
    expect(outcome.dmarc).toMatchObject({ result: "pass", authorDomain: "sender.test", policy: "reject" });
    expect(outcome.decision).toBe("pass");
    expect(unfolded(outcome.authenticationResults)).toMatch(
      /^Authentication-Results: mx\.example\.org; dkim=pass header\.d=sender\.test header\.i=@sender\.test header\.s=s1 header\.a=rsa-sha256 header\.b=\S+; /,
    );
  });

  it("reports every signature, each with its own result", async () => {
    const once = await signed(message("alice@sender.test"), "sender.test", "s1", keys.sender.privateKey);
    const twice = await signed(once, "esp.test", "k1", keys.esp.privateKey);
    const outcome = await authenticate(bytes(twice), envelope(STRANGER_IP, "alice@sender.test"), config(), zone());
    expect(outcome.dkim.map((d) => [d.domain, d.result, d.aligned])).toEqual([
      ["esp.test", "pass", false],
      ["sender.test", "pass", true],
    ]);
    expect(outcome.authenticationResults.match(/dkim=pass/g)).toHaveLength(2);
  });

  it("verifies an Ed25519 signature (RFC 8463)", async () => {
    const raw = await signed(message("alice@sender.test"), "sender.test", "ed", keys.ed.privateKey);
    const outcome = await authenticate(bytes(raw), envelope(STRANGER_IP, "alice@sender.test"), config(), zone());
    expect(outcome.dkim).toMatchObject([{ result: "pass", algorithm: "ed25519-sha256", aligned: true }]);
    expect(outcome.decision).toBe("pass");
  });

  it("does not count an rsa-sha1 signature (RFC 8301 §3.1): dkim=policy, and DMARC fails", async () => {
    const raw = await signed(message("alice@sender.test"), "sender.test", "s1", keys.sender.privateKey, "rsa-sha1");
    const outcome = await authenticate(bytes(raw), envelope(STRANGER_IP, "alice@sender.test"), config(), zone());
    expect(outcome.dkim).toMatchObject([{ result: "policy", algorithm: "rsa-sha1", aligned: false }]);
    expect(unfolded(outcome.authenticationResults)).toContain("policy.dkim-rules=weak-algorithm");
    expect(outcome.decision).toBe("reject-dmarc");
  });

  it("fails a signature over a tampered body (RFC 8601 §2.7.1), and DMARC p=reject then rejects", async () => {
    const raw = (await signed(message("alice@sender.test"), "sender.test", "s1", keys.sender.privateKey)).replace("tomorrow", "at the bank");
    const outcome = await authenticate(bytes(raw), envelope(STRANGER_IP, "alice@sender.test"), config(), zone());
    expect(outcome.dkim[0]).toMatchObject({ result: "fail", domain: "sender.test", comment: "body hash did not verify" });
    expect(outcome.dmarc).toMatchObject({ result: "fail", disposition: { applied: "reject" } });
    expect(outcome.decision).toBe("reject-dmarc");
  });
});

describe("authenticate: DMARC enforcement", () => {
  it("rejects an unauthenticated message under p=reject, naming DMARC in the reply", async () => {
    const outcome = await authenticate(bytes(message("alice@sender.test")), envelope(STRANGER_IP, "mallory@example.net", "evil.example.net"), config(), zone());
    expect(outcome.dmarc).toMatchObject({ result: "fail", authorDomain: "sender.test", policy: "reject", pct: 100, disposition: { applied: "reject" } });
    expect(outcome.decision).toBe("reject-dmarc");
    expect(unfolded(outcome.authenticationResults)).toContain("dmarc=fail (p=REJECT sp=QUARANTINE arc=none) policy.dmarc=reject header.from=sender.test");
    expect(unfolded(outcome.authenticationResults)).toContain("(disposition=reject)");
    expect(buildReply("dmarcReject", { id: "54321-07", domain: outcome.dmarc.authorDomain ?? "" })).toEqual({
      code: 550,
      enhanced: "5.7.1",
      text: "Reject, id=54321-07 – DMARC policy of sender.test",
    });
  });

  it("accepts and marks under p=quarantine", async () => {
    const outcome = await authenticate(bytes(message("alice@quarantine.test")), envelope(STRANGER_IP, "alice@quarantine.test"), config(), zone());
    expect(outcome.decision).toBe("quarantine");
    expect(unfolded(outcome.authenticationResults)).toContain("policy.dmarc=quarantine");
  });

  it("applies the next lower policy outside the pct sample: pct=0 turns reject into quarantine (RFC 7489 §6.6.4)", async () => {
    const outcome = await authenticate(bytes(message("alice@sampled.test")), envelope(STRANGER_IP, "alice@sampled.test"), config(), zone());
    expect(outcome.dmarc).toMatchObject({ policy: "reject", pct: 0, disposition: { applied: "quarantine", reason: "sampled_out" } });
    expect(outcome.decision).toBe("quarantine");
    expect(unfolded(outcome.authenticationResults)).toContain("(disposition=quarantine reason=sampled_out)");
  });

  it("applies sp to a subdomain that publishes no record of its own", async () => {
    const outcome = await authenticate(bytes(message("alice@news.sender.test")), envelope(STRANGER_IP, "alice@news.sender.test"), config(), zone());
    expect(outcome.dmarc).toMatchObject({ result: "fail", authorDomain: "news.sender.test", policy: "quarantine" });
    expect(outcome.decision).toBe("quarantine");
  });

  it("passes a DMARC failure through, reported but not acted on, when enforcement is off", async () => {
    const outcome = await authenticate(
      bytes(message("alice@sender.test")),
      envelope(STRANGER_IP, "mallory@example.net"),
      config({ dmarcEnforce: false }),
      zone(),
    );
    expect(outcome.dmarc).toMatchObject({ result: "fail", disposition: { applied: "none", reason: "local_policy" } });
    expect(outcome.decision).toBe("pass");
  });

  it("uses the configured authserv-id", async () => {
    const outcome = await authenticate(
      bytes(message("alice@sender.test")),
      envelope(SENDER_IP, "alice@sender.test"),
      config({ authservId: "auth.example.org" }),
      zone(),
    );
    expect(unfolded(outcome.authenticationResults)).toMatch(/^Authentication-Results: auth\.example\.org; /);
  });
});

describe("authenticate: ARC (RFC 8617)", () => {
  it("lets a valid chain from a trusted sealer override the DMARC failure of forwarded mail (§7.2)", async () => {
    const dns = zone();
    const raw = await forwardedByList("lists", dns);
    const outcome = await authenticate(bytes(raw), envelope(LIST_IP, "friends-bounces@lists.test", "mx.lists.test"), config(), dns);
    expect(outcome.dkim[0]?.result).not.toBe("pass");
    expect(outcome.arc).toMatchObject({ result: "pass", instance: 1, sealer: "lists.test" });
    expect(outcome.dmarc).toMatchObject({ result: "fail", disposition: { applied: "none", reason: "trusted_forwarder" } });
    expect(outcome.arcOverride).toBe("lists.test");
    expect(outcome.decision).toBe("pass");
    expect(unfolded(outcome.authenticationResults)).toContain("arc=pass (i=1 spf=pass dkim=pass dkdomain=sender.test dmarc=pass fromdomain=sender.test)");
    expect(unfolded(outcome.authenticationResults)).toContain("(disposition=none reason=trusted_forwarder lists.test)");
  });

  it("does not let the same chain from an untrusted sealer override DMARC", async () => {
    const dns = zone();
    const raw = await forwardedByList("relay", dns);
    const outcome = await authenticate(bytes(raw), envelope(LIST_IP, "friends-bounces@relay.test", "mx.relay.test"), config(), dns);
    expect(outcome.arc).toMatchObject({ result: "pass", sealer: "relay.test" });
    expect(outcome.arcOverride).toBeUndefined();
    expect(outcome.decision).toBe("reject-dmarc");
  });

  it("does not override when the trusted sealer itself saw DMARC fail", async () => {
    const dns = zone();
    const raw = await forwardedByList("lists", dns, "mx.lists.test; spf=fail smtp.mailfrom=alice@sender.test; dmarc=fail header.from=sender.test");
    const outcome = await authenticate(bytes(raw), envelope(LIST_IP, "friends-bounces@lists.test", "mx.lists.test"), config(), dns);
    expect(outcome.arc.result).toBe("pass");
    expect(outcome.decision).toBe("reject-dmarc");
  });

  it("does not override when the chain no longer validates (the message changed after sealing)", async () => {
    const dns = zone();
    const raw = (await forwardedByList("lists", dns)).replace("friends mailing list", "totally different footer");
    const outcome = await authenticate(bytes(raw), envelope(LIST_IP, "friends-bounces@lists.test", "mx.lists.test"), config(), dns);
    expect(outcome.arc.result).toBe("fail");
    expect(outcome.decision).toBe("reject-dmarc");
  });
});

describe("authenticate: temporary DNS failures", () => {
  it("tempfails when the DMARC record lookup times out", async () => {
    const dns = zone().fail("_dmarc.sender.test", "timeout", "TXT");
    const outcome = await authenticate(bytes(message("alice@sender.test")), envelope(STRANGER_IP, "alice@sender.test"), config(), dns);
    expect(outcome.dmarc.result).toBe("temperror");
    expect(outcome.decision).toBe("tempfail");
    expect(outcome.temporaryFailures).toContain("_dmarc.sender.test");
  });

  it("tempfails instead of rejecting when the DKIM key lookup fails (SERVFAIL) and DMARC fails", async () => {
    const dns = zone().fail("s1._domainkey.sender.test", "servfail", "TXT");
    const raw = await signed(message("alice@sender.test"), "sender.test", "s1", keys.sender.privateKey);
    const outcome = await authenticate(bytes(raw), envelope(STRANGER_IP, "alice@sender.test"), config(), dns);
    expect(outcome.dkim[0]?.result).toBe("temperror");
    expect(outcome.dmarc.result).toBe("fail");
    expect(outcome.decision).toBe("tempfail");
    expect(outcome.temporaryFailures).toEqual(["s1._domainkey.sender.test"]);
  });

  it("tempfails when the SPF lookup times out and nothing else authenticates the sender", async () => {
    const dns = zone().fail("sender.test", "timeout", "TXT");
    const outcome = await authenticate(bytes(message("alice@sender.test")), envelope(SENDER_IP, "alice@sender.test"), config(), dns);
    expect(outcome.spf.mailFrom?.result).toBe("temperror");
    expect(outcome.decision).toBe("tempfail");
  });

  it("still accepts a message that passes DMARC although another lookup failed", async () => {
    const dns = zone().fail("k1._domainkey.esp.test", "timeout", "TXT");
    const raw = await signed(await signed(message("alice@sender.test"), "sender.test", "s1", keys.sender.privateKey), "esp.test", "k1", keys.esp.privateKey);
    const outcome = await authenticate(bytes(raw), envelope(STRANGER_IP, "alice@sender.test"), config(), dns);
    expect(outcome.dmarc.result).toBe("pass");
    expect(outcome.decision).toBe("pass");
    expect(outcome.temporaryFailures).toEqual(["k1._domainkey.esp.test"]);
  });
});

describe("the DMARC decision (pure)", () => {
  const base: AuthDecisionInput = {
    dmarc: { result: "fail", policy: "reject", pct: 100 },
    enforce: true,
    sample: 42,
    arcOverride: undefined,
    dnsFailedTemporarily: false,
  };

  it("reads pct, ignoring it in records with the RFC 9989 t tag", () => {
    expect(dmarcPct("v=DMARC1; p=reject; pct=25")).toBe(25);
    expect(dmarcPct("v=DMARC1; p=reject")).toBe(100);
    expect(dmarcPct("v=DMARC1; p=reject; pct=abc")).toBe(100);
    expect(dmarcPct("v=DMARC1; p=reject; pct=0; t=y")).toBe(100);
  });

  it("samples by pct: inside the sample the policy, outside the next lower one", () => {
    const facts = { result: "fail", policy: "reject", pct: 50 } as const;
    expect(sampledPolicy(facts, 49.9)).toEqual({ applied: "reject" });
    expect(sampledPolicy(facts, 50)).toEqual({ applied: "quarantine", reason: "sampled_out" });
    expect(sampledPolicy({ result: "fail", policy: "quarantine", pct: 0 }, 0)).toEqual({ applied: "none", reason: "sampled_out" });
    expect(sampledPolicy({ result: "pass", policy: "reject", pct: 100 }, 0)).toEqual({ applied: "none" });
  });

  it("rejects, overrides, tempfails and switches off as the inputs say", () => {
    expect(decideAuthentication(base).decision).toBe("reject-dmarc");
    expect(decideAuthentication({ ...base, arcOverride: "lists.test" })).toEqual({
      decision: "pass",
      disposition: { applied: "none", reason: "trusted_forwarder" },
    });
    expect(decideAuthentication({ ...base, dnsFailedTemporarily: true }).decision).toBe("tempfail");
    expect(decideAuthentication({ ...base, dmarc: { result: "temperror", pct: 100 } }).decision).toBe("tempfail");
    expect(decideAuthentication({ ...base, dmarc: { result: "pass", policy: "reject", pct: 100 }, dnsFailedTemporarily: true }).decision).toBe("pass");
    expect(decideAuthentication({ ...base, dmarc: { result: "fail", policy: "none", pct: 100 } }).decision).toBe("pass");
    expect(decideAuthentication({ ...base, enforce: false, dmarc: { result: "temperror", pct: 100 } }).decision).toBe("pass");
  });
});

describe("the ARC override (pure, RFC 8617 §7.2)", () => {
  const passing: ArcFacts = { result: "pass", sealer: "lists.test", sealed: { dmarc: { result: "pass", from: "sender.test" }, dkim: [] } };

  it("needs cv=pass, a trusted sealer and a DMARC pass for the author domain", () => {
    expect(trustedArcOverride(passing, "sender.test", ["LISTS.test"])).toBe("lists.test");
    expect(trustedArcOverride({ ...passing, result: "fail" }, "sender.test", ["lists.test"])).toBeUndefined();
    expect(trustedArcOverride(passing, "sender.test", ["other.test"])).toBeUndefined();
    expect(trustedArcOverride(passing, "news.sender.test", ["lists.test"])).toBeUndefined();
  });

  it("without a recorded DMARC result, takes a DKIM or SPF pass for exactly the author domain", () => {
    const sealed = (dkimDomain: string) => ({ ...passing, sealed: { dkim: [{ result: "pass", domain: dkimDomain }] } });
    expect(trustedArcOverride(sealed("sender.test"), "sender.test", ["lists.test"])).toBe("lists.test");
    expect(trustedArcOverride(sealed("esp.test"), "sender.test", ["lists.test"])).toBeUndefined();
    expect(trustedArcOverride({ ...passing, sealed: { dkim: [], spf: { result: "pass", domain: "sender.test" } } }, "sender.test", ["lists.test"])).toBe(
      "lists.test",
    );
  });
});

describe("the Authentication-Results field (RFC 8601 §2.2)", () => {
  it("puts one resinfo on a line after the authserv-id, and says none when nothing was checked", () => {
    expect(authenticationResultsHeader("mx.example.org", ["spf=pass smtp.mailfrom=a@b.test", "dmarc=pass header.from=b.test"])).toBe(
      "Authentication-Results: mx.example.org;\r\n spf=pass smtp.mailfrom=a@b.test;\r\n dmarc=pass header.from=b.test",
    );
    expect(authenticationResultsHeader("mx.example.org", [])).toBe("Authentication-Results: mx.example.org;\r\n none");
  });

  it("folds long lines at spaces, losslessly", () => {
    const long = ` spf=pass (${"word ".repeat(40).trim()}) smtp.mailfrom=alice@sender.test`;
    const folded = foldHeader(long);
    expect(folded.split("\r\n").every((line) => line.length <= 78)).toBe(true);
    expect(folded.replace(/\r\n/g, "")).toBe(long);
  });

  it("escapes comments", () => {
    expect(headerComment("a (b) \\ c\r\nd")).toBe("(a \\(b\\) \\\\ c d)");
  });
});
