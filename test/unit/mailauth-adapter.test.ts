// What core/mailauth/internals.ts relies on in mailauth, checked so that a mailauth upgrade that changes
// it fails here, naming what changed: the package still lets its files be imported by path, the files
// still export what we import, the private DKIM verifier still has the members we drive, and each entry
// point still gives the result fields the judge reads (through the judge's own readers in
// core/authentication/mailauth-checks.ts), and node:crypto still reaches mailauth through key-cache.ts.
// Inside workerd, test/workers/mailauth-crypto.test.ts checks the digest-name patch.
import { Buffer } from "node:buffer";
import crypto, { KeyObject } from "node:crypto";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
// This test checks the private verifier itself, so it imports it as the adapter does (eslint.config.js allows it here).
import { DkimVerifier } from "mailauth/lib/dkim/dkim-verifier.js";
import { RelaxedHash } from "mailauth/lib/dkim/body/relaxed.js";
import { dkimBody } from "mailauth/lib/dkim/body/index.js";
import { formatAuthHeaderRow, getAlignment } from "mailauth/lib/tools.js";
import { afterEach, describe, expect, it, vi } from "vitest";
import { arcFacts, dkimChecks, dmarcFacts, spfCheck } from "../../core/authentication/mailauth-checks.ts";
import { mailauthResolver } from "../../core/dns/mailauth.ts";
import {
  checkSpf,
  createRecordLookup,
  createSeal,
  dkimSign,
  dkimVerify,
  evaluateDmarc,
  getOrgDomain,
  parseHeaders,
  sealMessage,
  verifyArc,
} from "../../core/mailauth/internals.ts";
import { RFC8463_KEYS, RFC8463_SIGNED } from "../fixtures/rfc8463.ts";
import { ZoneResolver } from "../fixtures/zone-resolver.ts";
import { DKIM_PRIVATE_KEY_PEM, DKIM_PUBLIC_KEY_BASE64, DKIM_SELECTOR } from "../harness/dkim-key.ts";

const OPTIONS = { strict: true, minBitLength: 1024 } as const;
const KEY = { signingDomain: "example.org", selector: DKIM_SELECTOR, privateKey: DKIM_PRIVATE_KEY_PEM };

function zone(): ZoneResolver {
  const zone = new ZoneResolver()
    .txt(`${DKIM_SELECTOR}._domainkey.example.org`, `v=DKIM1; k=rsa; p=${DKIM_PUBLIC_KEY_BASE64}`)
    .txt("_dmarc.football.example.com", "v=DMARC1; p=reject; pct=50")
    .txt("sender.test", "v=spf1 ip4:192.0.2.1 -all")
    .txt("macro.test", "v=spf1 ip4:192.0.2.1 a:%{c}.example.org -all");
  for (const [name, record] of Object.entries(RFC8463_KEYS)) zone.txt(name, record);
  return zone;
}
const resolver = mailauthResolver(zone());

describe("mailauth's package", () => {
  it("has no exports map, so the files the adapter imports by path resolve (with one, they could be refused or made public)", () => {
    const require = createRequire(import.meta.url);
    const manifest = JSON.parse(readFileSync(require.resolve("mailauth/package.json"), "utf8")) as { exports?: unknown };
    expect(manifest.exports).toBeUndefined();
  });

  it("still exports every function the adapter takes from its files", () => {
    for (const imported of [checkSpf, verifyArc, sealMessage, createSeal, evaluateDmarc, dkimSign, DkimVerifier, createRecordLookup, getOrgDomain])
      expect(imported).toBeTypeOf("function");
  });

  it("still parses a header section as createSeal() takes it without the message (lib/tools.js parseHeaders)", () => {
    const parsed = parseHeaders(Buffer.from("From: a@example.org\r\nSubject: one\r\n two\r\n"));
    expect(parsed.parsed.map((h) => h.key)).toEqual(["from", "subject"]);
    expect(parsed.parsed[1]!.line.toString()).toBe("Subject: one\r\n two");
  });

  it("still has the DKIM verifier members the adapter drives (lib/dkim/dkim-verifier.js and its MessageParser)", () => {
    const verifier = new DkimVerifier({ resolver, ...OPTIONS });
    expect(verifier.headerChunks).toEqual([]);
    expect(verifier.byteLength).toBe(0);
    for (const method of ["emitHeaders", "nextChunk", "finish"] as const) expect(typeof verifier[method]).toBe("function");
  });

  it("still keeps a relaxed body hash per signature in bodyHashes, with the members the adapter sets (lib/dkim/body/relaxed.js)", async () => {
    const verifier = new DkimVerifier({ resolver, ...OPTIONS });
    expect(verifier.bodyHashes).toBeInstanceOf(Map);
    const signed = await dkimSign("From: <alice@example.org>\r\n\r\nHello\r\n", { ...KEY, canonicalization: "relaxed/relaxed", signatureData: [KEY] });
    await verifier.emitHeaders(Buffer.from(`${signed.signatures}From: <alice@example.org>\r\n\r\n`));
    const [hash] = verifier.bodyHashes.values();
    expect(hash).toBeInstanceOf(RelaxedHash);
    expect(hash).toMatchObject({ byteLength: 0, remainder: false });
    expect(typeof (hash as RelaxedHash)._pushBodyHash).toBe("function");
  });

  it("still gives the body hash of either canonicalization and reports a pass as the common case does (dkimVerifyCommonFirst)", () => {
    const hashOf = (canon: "relaxed" | "simple", body: string) => {
      const hash = dkimBody(canon, "sha256", false);
      hash.update(Buffer.from(body));
      return hash.digest("base64");
    };
    // RFC 6376 §3.4.3: an empty body is one CRLF under simple; §3.4.4: nothing under relaxed.
    expect(hashOf("simple", "")).toBe(crypto.createHash("sha256").update("\r\n").digest("base64"));
    expect(hashOf("relaxed", "a  b \r\n\r\n")).toBe(crypto.createHash("sha256").update("a b\r\n").digest("base64"));
    expect(dkimBody("relaxed", "sha256", false)).toBeInstanceOf(RelaxedHash);
    expect(getAlignment("mail.example.org", ["example.org"])).toEqual({ domain: "example.org" });
    expect(getAlignment("example.net", ["example.org"])).toBe(false);
    const status = { result: "pass", header: { d: "example.org", i: "@example.org", s: "sel", a: "rsa-sha256", b: "abcdefgh" }, aligned: "example.org" };
    expect(formatAuthHeaderRow("dkim", status, { strict: true })).toBe(
      "dkim=pass header.d=example.org header.i=@example.org header.s=sel header.a=rsa-sha256 header.b=abcdefgh",
    );
  });
});

describe("what the judge reads of each entry point", () => {
  it("DKIM: RFC 8463's two signatures verify through the adapter's verifier, with the result properties we read", async () => {
    const result = await dkimVerify(Buffer.from(RFC8463_SIGNED), { resolver, sender: "joe@football.example.com", ...OPTIONS });
    expect(result).toMatchObject({ headerFrom: ["joe@football.example.com"], fromFields: 1, envelopeFrom: "joe@football.example.com" });
    expect(dkimChecks(result.results, new Set(["football.example.com"]))).toEqual([
      { result: "pass", domain: "football.example.com", selector: "brisbane", algorithm: "ed25519-sha256", aligned: true },
      { result: "pass", domain: "football.example.com", selector: "test", algorithm: "rsa-sha256", aligned: true },
    ]);
    expect(result.results.map((row) => row.status.aligned)).toEqual(["football.example.com", "football.example.com"]);
    expect(Object.getOwnPropertyDescriptor(result, "headers")).toMatchObject({ enumerable: false });
    expect(Object.getOwnPropertyDescriptor(result, "arc")).toMatchObject({ enumerable: false });
  });

  it("SPF: the result and domain, and strict mode (the whole record checked first, RFC 7208 §4.6; %{c} only in exp=, §7.1)", async () => {
    const spf = (ip: string, sender: string, strict = true) => checkSpf({ ip, sender, helo: "client.test", mta: "mx.example.org", resolver, strict });
    // eslint-disable-next-line @typescript-eslint/no-unsafe-assignment -- vitest types its asymmetric matchers (expect.stringContaining, …) as any
    expect(spfCheck(await spf("192.0.2.1", "alice@sender.test"))).toEqual({ result: "pass", domain: "sender.test", comment: expect.any(String) });
    expect(spfCheck(await spf("192.0.2.2", "alice@sender.test"))).toMatchObject({ result: "fail", domain: "sender.test" });
    expect((await spf("192.0.2.1", "alice@macro.test")).status.result).toBe("permerror");
    expect((await spf("192.0.2.1", "alice@macro.test", false)).status.result).toBe("pass");
  });

  it("ARC: a set sealed through the adapter validates, with the instance, sealer and sealed results we read", async () => {
    const seal = await sealMessage(Buffer.from(RFC8463_SIGNED), { ...KEY, cv: "none", authResults: "example.org; dkim=pass header.d=football.example.com" });
    const dkim = await dkimVerify(Buffer.concat([seal, Buffer.from(RFC8463_SIGNED)]), { resolver, ...OPTIONS });
    const arc = await verifyArc(dkim.arc as Parameters<typeof verifyArc>[0], { resolver, ...OPTIONS });
    expect(arcFacts(arc)).toEqual({
      result: "pass",
      instance: 1,
      sealer: "example.org",
      sealed: { dkim: [{ result: "pass", domain: "football.example.com" }] },
      comment: "i=1 dkim=pass",
    });
  });

  it("ARC: createSeal() takes the instance and time and returns the three fields, or the errors", async () => {
    const made = await createSeal(Buffer.from(RFC8463_SIGNED), {
      seal: { ...KEY, cv: "none", authResults: "example.org; auth=pass", i: 1, signTime: new Date() },
    });
    expect(made.errors).toEqual([]);
    expect(made.headers.map((field) => field.slice(0, field.indexOf(":")))).toEqual(["ARC-Seal", "ARC-Message-Signature", "ARC-Authentication-Results"]);
    const refused = await createSeal(Buffer.from(RFC8463_SIGNED), { seal: { ...KEY, privateKey: "not a key", cv: "none", authResults: "x", i: 1 } });
    expect(refused.headers).toEqual([]);
    expect(refused.errors).not.toEqual([]);
  });

  it("DMARC: evaluateDmarc() gives the result, policy, record and the aligned signing domains", async () => {
    const { response, dkimAligned } = await evaluateDmarc({
      headerFrom: ["joe@football.example.com"],
      fromFields: 1,
      spfDomains: [],
      dkimDomains: [{ domain: "football.example.com", aligned: "football.example.com" }],
      resolver,
    });
    expect(dmarcFacts(response)).toEqual({ result: "pass", authorDomain: "football.example.com", policy: "reject", pct: 50 });
    expect(dkimAligned).toEqual(new Set(["football.example.com"]));
  });

  it("DMARC: getOrgDomain() finds the Organizational Domain by the Tree Walk through createRecordLookup()", async () => {
    const walk = createRecordLookup(resolver);
    expect(await walk("football.example.com")).toMatchObject({ v: "DMARC1", p: "reject" });
    expect(await walk("nothing.example.com")).toBe(false);
    expect(await getOrgDomain("mail.team.football.example.com", walk)).toBe("football.example.com");
    expect(await getOrgDomain("reports.example.net", walk)).toBe("reports.example.net");
  });

  it("signs with mailauth's signer, what the tests and the bench use", async () => {
    const text = "From: <alice@example.org>\r\nTo: <bob@example.net>\r\nSubject: hi\r\n\r\nHello\r\n";
    const signed = await dkimSign(text, { ...KEY, signatureData: [KEY] });
    const result = await dkimVerify(Buffer.from(signed.signatures + text), { resolver, ...OPTIONS });
    expect(result.results.map((row) => row.status.result)).toEqual(["pass"]);
  });
});

describe("node:crypto as mailauth calls it (core/mailauth/key-cache.ts)", () => {
  afterEach(() => vi.restoreAllMocks());

  it("parses a key record with createPublicKey() of its DER bytes and verifies with its PEM, both memoised", async () => {
    const createPublicKey = vi.spyOn(crypto, "createPublicKey");
    const verify = vi.spyOn(crypto, "verify");
    const verifyOnce = () => dkimVerify(Buffer.from(RFC8463_SIGNED), { resolver, ...OPTIONS });
    await verifyOnce();
    await verifyOnce();
    // The inputs key-cache.ts memoises: { key: DER, format: "der", type: "spki" | "pkcs1" } …
    const inputs = createPublicKey.mock.calls.map(([input]) => input as { key: unknown; format: string; type: string });
    expect(inputs).toHaveLength(4);
    for (const input of inputs) {
      expect(Object.keys(input).sort()).toEqual(["format", "key", "type"]);
      expect(Buffer.isBuffer(input.key) && input.format === "der" && ["spki", "pkcs1"].includes(input.type)).toBe(true);
    }
    // … so the second message's keys are the first one's KeyObjects,
    const keys = createPublicKey.mock.results.map((result) => result.value as KeyObject);
    expect(keys[2]).toBe(keys[0]);
    expect(keys[3]).toBe(keys[1]);
    // … and a PEM string as verify()'s key, which it turns into the cached KeyObject.
    expect(verify.mock.calls.map(([, , key]) => typeof key === "string" && /^-----BEGIN (RSA )?PUBLIC KEY-----/.test(key))).toEqual([true, true, true, true]);
    expect(keys[0]).toBeInstanceOf(KeyObject);
  });

  it("seals ARC with createPrivateKey() of the PEM and sign() with the PEM string, both given one memoised KeyObject", async () => {
    const createPrivateKey = vi.spyOn(crypto, "createPrivateKey");
    const sign = vi.spyOn(crypto, "sign");
    const sealOnce = () => createSeal(Buffer.from(RFC8463_SIGNED), { seal: { ...KEY, cv: "none", authResults: "example.org; auth=pass", i: 1 } });
    const first = await sealOnce();
    const second = await sealOnce();
    expect([first.errors, second.errors]).toEqual([[], []]);
    // The ARC-Message-Signature: createPrivateKey() of { key: PEM bytes, format: "pem" } (lib/tools.js getPrivateKey) …
    const inputs = createPrivateKey.mock.calls.map(([input]) => input as { key: unknown; format: string });
    expect(inputs).toHaveLength(2);
    for (const input of inputs) {
      expect(Object.keys(input).sort()).toEqual(["format", "key"]);
      expect(Buffer.isBuffer(input.key) && input.format === "pem" && input.key.toString() === DKIM_PRIVATE_KEY_PEM).toBe(true);
    }
    const made = createPrivateKey.mock.results.map((result) => result.value as KeyObject);
    expect(made[0]).toBeInstanceOf(KeyObject);
    expect(made[1]).toBe(made[0]);
    // … which sign() gets for the ARC-Message-Signature, and the ARC-Seal: sign() with the PEM string itself,
    // which it turns into that same cached KeyObject.
    const signedWith = sign.mock.calls.map(([, , key]) => key);
    expect(signedWith).toHaveLength(4);
    expect(signedWith.filter((key) => typeof key === "string")).toEqual([DKIM_PRIVATE_KEY_PEM, DKIM_PRIVATE_KEY_PEM]);
    for (const key of signedWith.filter((key) => typeof key !== "string")) expect(key).toBe(made[0]);
    // The seals verify (the same instance and time would make the same bytes: RSA PKCS#1 v1.5 is deterministic).
    for (const sealed of [first, second]) {
      const message = Buffer.concat([Buffer.from(sealed.headers.join("\r\n") + "\r\n"), Buffer.from(RFC8463_SIGNED)]);
      const dkim = await dkimVerify(message, { resolver, ...OPTIONS });
      const arc = await verifyArc(dkim.arc as Parameters<typeof verifyArc>[0], { resolver, ...OPTIONS });
      expect(arcFacts(arc).result).toBe("pass");
    }
  });

  it("leaves a private key it cannot parse to throw as before, every time", () => {
    const broken = "-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n";
    expect(() => crypto.createPrivateKey({ key: Buffer.from(broken), format: "pem" })).toThrow();
    expect(() => crypto.createPrivateKey({ key: Buffer.from(broken), format: "pem" })).toThrow();
    expect(() => crypto.sign("sha256", Buffer.from("data"), broken)).toThrow();
  });
});
