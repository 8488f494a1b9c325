// The judge's dkimVerify (core/mailauth/internals.ts), which drives mailauth's DKIM verifier
// without its stream, against mailauth's own dkimVerify on the same messages: the results have to
// be the same, whatever the line ends and wherever (or whether) the header section ends.
import { Buffer } from "node:buffer";
import { readFileSync } from "node:fs";
import type { DKIMSignOptions, DKIMVerifyResult } from "mailauth";
import { dkimSign, dkimVerify as mailauthDkimVerify, sealMessage } from "mailauth";
import { describe, expect, it } from "vitest";
import { mailauthResolver } from "../../core/dns/mailauth.ts";
import { DKIM_VERIFY_OPTIONS } from "../../core/authentication/mailauth-checks.ts";
import { generateKeyPairSync } from "node:crypto";
import {
  dkimVerify,
  dkimVerifyCommonFirst,
  headerSectionLength,
  relaxedAlready,
  withCrlfLineEnds,
  type DkimVerification,
} from "../../core/mailauth/internals.ts";
import { DKIM_PRIVATE_KEY_PEM, DKIM_PUBLIC_KEY_BASE64, DKIM_SELECTOR } from "../harness/dkim-key.ts";
import { ZoneResolver } from "../fixtures/zone-resolver.ts";
import { answeredBy, judgedDkim } from "../fixtures/dkim-judged.ts";
import { conformanceFile } from "../fixtures/conformance-suites.ts";

// RFC 8463 appendix A.3, an Ed25519 and an RSA signature (conformance-dkim.test.ts checks it passes):
// its key records ("name TXT-data" per line), an empty line, then the message, with LF line ends.
const RFC8463 = readFileSync(conformanceFile("dkim/rfc8463/001.txt"), "utf8");
const RFC8463_SPLIT = RFC8463.indexOf("\n\n");
const SIGNED_LF = RFC8463.slice(RFC8463_SPLIT + 2);
const SIGNED = SIGNED_LF.replace(/\n/g, "\r\n");
const SIGNED_HEADER = SIGNED.slice(0, SIGNED.indexOf("\r\n\r\n") + 2);

function zone(): ZoneResolver {
  const zone = new ZoneResolver().txt(`${DKIM_SELECTOR}._domainkey.example.org`, `v=DKIM1; k=rsa; p=${DKIM_PUBLIC_KEY_BASE64}`);
  for (const line of RFC8463.slice(0, RFC8463_SPLIT).split("\n")) {
    const space = line.indexOf(" ");
    zone.txt(line.slice(0, space), line.slice(space + 1));
  }
  return zone;
}

const OPTIONS = { resolver: mailauthResolver(zone()), sender: "joe@football.example.com", ...DKIM_VERIFY_OPTIONS };
const KEY = { signingDomain: "example.org", selector: DKIM_SELECTOR, privateKey: DKIM_PRIVATE_KEY_PEM };

/** The message with an ARC set (RFC 8617) added by example.org, so that the result has an ARC chain. */
async function sealed(text: string): Promise<string> {
  const seal = await sealMessage(text, { ...KEY, cv: "none", authResults: "example.org; dkim=pass header.d=football.example.com" });
  return seal.toString() + text;
}

/** A message signed by example.org with a body longer than the 64 KiB chunks mailauth's dkimVerify writes. */
async function signedLong(): Promise<string> {
  const body = Array.from({ length: 3000 }, (_, line) => `line ${line}\t with  spaces \n`).join("");
  const text = `From: Alice <alice@example.org>\r\nTo: bob@example.net\r\nSubject: long\r\n\r\n${body}`;
  const signature: DKIMSignOptions = { ...KEY, canonicalization: "relaxed/relaxed" };
  const result = await dkimSign(text, { ...signature, signatureData: [signature] });
  return result.signatures + text;
}

/** A message with `body`, signed by example.org with relaxed body canonicalization and, where given, l= (RFC 6376 §3.5). */
async function signedRelaxed(body: string, maxBodyLength?: number): Promise<string> {
  const text = `From: Alice <alice@example.org>\r\nTo: bob@example.net\r\nSubject: relaxed\r\n\r\n${body}`;
  const signature: DKIMSignOptions = { ...KEY, canonicalization: "relaxed/relaxed", ...(maxBodyLength === undefined ? {} : { maxBodyLength }) };
  const result = await dkimSign(text, { ...signature, signatureData: [signature] });
  return result.signatures + text;
}

/** Lines of base64-like text, 76 characters each and CRLF-terminated, as an attachment's: nothing for relaxed canonicalization to change. */
const BASE64_LINES = Array.from({ length: 2000 }, (_, line) => `${String(line).padStart(6, "0")}${"QUJDRGVmZ2hpams".repeat(5)}`).join("\r\n") + "\r\n";

/** What both verifiers have to agree on: the result's properties, the hidden ones included. */
function comparable(result: DKIMVerifyResult) {
  const { headerFrom, fromFields, envelopeFrom, results } = result;
  const hidden = ["headers", "arc", "seal"].map((key) => Object.getOwnPropertyDescriptor(result, key)?.enumerable);
  return { keys: Object.keys(result), headerFrom, fromFields, envelopeFrom, results, arc: result.arc, headers: result.headers, seal: result.seal, hidden };
}

async function expectSameAsMailauth(message: string | Buffer, options: object = OPTIONS): Promise<DKIMVerifyResult> {
  const input = Buffer.from(message);
  const ours = await dkimVerify(input, options);
  expect(comparable(ours)).toEqual(comparable(await mailauthDkimVerify(input, options)));
  return ours;
}

const statuses = (result: DKIMVerifyResult) => result.results.map((row) => `${row.selector}=${row.status.result}`);

describe("dkimVerify without the stream: the same result as mailauth's dkimVerify", () => {
  it("a signed message (RFC 8463 A.3): both signatures pass", async () => {
    expect(statuses(await expectSameAsMailauth(SIGNED))).toEqual(["brisbane=pass", "test=pass"]);
  });

  it("the same message with bare LFs in the header and the body (RFC 5322 §2.3)", async () => {
    expect(statuses(await expectSameAsMailauth(SIGNED_LF))).toEqual(["brisbane=pass", "test=pass"]);
    const mixed = SIGNED.replace("Subject: Is dinner ready?\r\n", "Subject: Is dinner ready?\n").replace("Hi.\r\n", "Hi.\n\n\r\n");
    await expectSameAsMailauth(mixed);
  });

  it("a sealed message: the ARC chain (RFC 8617) is the same", async () => {
    const result = await expectSameAsMailauth(await sealed(SIGNED));
    expect(result.arc?.chain).toHaveLength(1);
  });

  it("a body longer than mailauth's 64 KiB chunks, with bare LFs", async () => {
    expect(statuses(await expectSameAsMailauth(await signedLong()))).toEqual([`${DKIM_SELECTOR}=pass`]);
  });

  it("a body relaxed canonicalization leaves as it is, hashed without mailauth's byte loop: the same results", async () => {
    expect(relaxedAlready(Buffer.from(BASE64_LINES))).toBe(true);
    expect(statuses(await expectSameAsMailauth(await signedRelaxed(BASE64_LINES)))).toEqual([`${DKIM_SELECTOR}=pass`]);
    // Empty lines at the end (dropped, RFC 6376 §3.4.4 b), a last line without CRLF, single spaces, a CR inside a line.
    for (const body of [`${BASE64_LINES}\r\n\r\n\r\n`, `${BASE64_LINES}no line end`, "one two three\r\nfour\rfive\r\n", "\r\n\r\n", "x"]) {
      expect(statuses(await expectSameAsMailauth(await signedRelaxed(body)))).toEqual([`${DKIM_SELECTOR}=pass`]);
    }
    // l= ends the hashed body inside the first chunk of lines, and after it.
    for (const length of [100, BASE64_LINES.length - 1, 0])
      expect(statuses(await expectSameAsMailauth(await signedRelaxed(`${BASE64_LINES}tail`, length)))).toEqual([`${DKIM_SELECTOR}=pass`]);
    // Changed after signing: the body hash no longer matches.
    const signed = await signedRelaxed(BASE64_LINES);
    expect(statuses(await expectSameAsMailauth(signed.replace("000001", "000009")))).toEqual([`${DKIM_SELECTOR}=fail`]);
  });

  it("a body relaxed canonicalization changes goes through mailauth's own canonicalization", async () => {
    for (const body of ["a\tb\r\n", "a  b\r\n", "a \r\nb\r\n", `${BASE64_LINES}last line \t`]) {
      expect(relaxedAlready(Buffer.from(body))).toBe(false);
      expect(statuses(await expectSameAsMailauth(await signedRelaxed(body)))).toEqual([`${DKIM_SELECTOR}=pass`]);
    }
  });

  it("a message without a body: the header section and its empty line", async () => {
    await expectSameAsMailauth(SIGNED_HEADER + "\r\n");
    await expectSameAsMailauth(SIGNED_HEADER.replace(/\r\n/g, "\n") + "\n");
  });

  it("a message that starts with an empty line: an empty header section", async () => {
    await expectSameAsMailauth("\r\n" + SIGNED);
    await expectSameAsMailauth("\n" + SIGNED);
  });

  it("a message without the empty line: all header section, no body", async () => {
    await expectSameAsMailauth(SIGNED_HEADER);
    await expectSameAsMailauth(SIGNED_HEADER.slice(0, -2));
  });

  it("an empty message", async () => {
    const result = await expectSameAsMailauth("");
    expect(result.results.map((row) => row.status.result)).toEqual(["none"]);
  });

  it("the options mailauth passes through: seal", async () => {
    const result = await expectSameAsMailauth(SIGNED, { ...OPTIONS, seal: { ...KEY } });
    // eslint-disable-next-line @typescript-eslint/no-unsafe-assignment -- vitest types its asymmetric matchers (expect.stringContaining, …) as any
    expect(result.seal).toMatchObject({ bodyHash: expect.any(String) });
  });
});

describe("the message as mailauth's parser sees it", () => {
  it("makes every bare LF a CRLF, and leaves a message without one as it is", () => {
    const crlf = Buffer.from("A: b\r\n\r\nc\r\n");
    expect(withCrlfLineEnds(crlf)).toBe(crlf);
    expect(withCrlfLineEnds(Buffer.from("\nA: b\r\n\n\r\r\nc\n")).toString()).toBe("\r\nA: b\r\n\r\n\r\r\nc\r\n");
  });

  it("ends the header section with its first empty line, or at once when the message starts with one", () => {
    expect(headerSectionLength(Buffer.from("A: b\r\n\r\nc\r\n\r\n"))).toBe(8);
    expect(headerSectionLength(Buffer.from("\r\n\r\nA: b"))).toBe(2);
    expect(headerSectionLength(Buffer.from("A: b\r\n"))).toBe(-1);
    expect(headerSectionLength(Buffer.alloc(0))).toBe(-1);
  });
});

// The judge's dkimVerifyCommonFirst(): the common case (core/dkim/verify.ts) answers a message with one
// plain signature that passes; every other message goes to mailauth's verifier. Either way the judge
// has to read the same as from mailauth's own result (test/fixtures/dkim-judged.ts).

const ED25519 = generateKeyPairSync("ed25519");
const ED25519_PUBLIC = ED25519.publicKey.export({ format: "der", type: "spki" }).subarray(-32).toString("base64");
const ED25519_PEM = ED25519.privateKey.export({ format: "pem", type: "pkcs8" }).toString();
const SHORT_RSA = generateKeyPairSync("rsa", { modulusLength: 768 });

function commonZone(): ZoneResolver {
  const key = (name: string) => `${name}._domainkey.example.org`;
  return zone()
    .txt(key("ed"), `v=DKIM1; k=ed25519; p=${ED25519_PUBLIC}`)
    .txt(key("flags"), `v=DKIM1; k=rsa; h=sha256; s=email; n=notes; p=${DKIM_PUBLIC_KEY_BASE64}`)
    .txt(key("testing"), `v=DKIM1; k=rsa; t=y; p=${DKIM_PUBLIC_KEY_BASE64}`)
    .txt(key("strict"), `v=DKIM1; k=rsa; t=s; p=${DKIM_PUBLIC_KEY_BASE64}`)
    .txt(key("vsecond"), `k=rsa; v=DKIM1; p=${DKIM_PUBLIC_KEY_BASE64}`)
    .txt(key("wrongtype"), `v=DKIM1; k=ed25519; p=${DKIM_PUBLIC_KEY_BASE64}`)
    .txt(key("revoked"), "v=DKIM1; k=rsa; p=")
    .txt(key("twice"), `v=DKIM1; k=rsa; p=${DKIM_PUBLIC_KEY_BASE64}`, `v=DKIM1; k=rsa; p=${DKIM_PUBLIC_KEY_BASE64}`)
    .txt(key("short"), `v=DKIM1; k=rsa; p=${SHORT_RSA.publicKey.export({ format: "der", type: "spki" }).toString("base64")}`)
    .fail(key("down"), "timeout");
}

const COMMON_OPTIONS = { resolver: mailauthResolver(commonZone()), sender: "alice@example.org", ...DKIM_VERIFY_OPTIONS };

/** dkimVerifyCommonFirst() against mailauth's dkimVerify(); whether the common case answered. */
async function commonFirst(
  message: string | Buffer,
  options: object = COMMON_OPTIONS,
): Promise<{ answeredBy: "common case" | "mailauth"; result: DkimVerification }> {
  const input = Buffer.from(message);
  const result = await dkimVerifyCommonFirst(input, options as typeof COMMON_OPTIONS);
  expect(judgedDkim(result)).toEqual(judgedDkim(await mailauthDkimVerify(input, options)));
  return { answeredBy: answeredBy(result), result };
}

const HEADER = "From: Alice <alice@example.org>\r\nTo: bob@example.net\r\nSubject: common\r\nDate: Thu, 1 Jan 2026 00:00:00 +0000\r\n";

async function signedWith(header: string, body: string, options: Partial<DKIMSignOptions> = {}): Promise<string> {
  const text = `${header}\r\n${body}`;
  const signature = { ...KEY, canonicalization: "relaxed/relaxed", ...options } as DKIMSignOptions;
  const result = await dkimSign(text, { ...signature, signatureData: [signature] });
  return result.signatures + text;
}

describe("dkimVerifyCommonFirst: the common case first, what the judge reads the same as mailauth's", () => {
  it("answers a plain signature that passes, in each canonicalization and with Ed25519 (RFC 8463)", async () => {
    for (const canonicalization of ["relaxed/relaxed", "relaxed/simple", "simple/relaxed", "simple/simple"]) {
      const { answeredBy, result } = await commonFirst(await signedWith(HEADER, "Hello Bob.\r\n", { canonicalization }));
      expect([answeredBy, result.results[0]?.status.result]).toEqual(["common case", "pass"]);
    }
    const ed = await signedWith(HEADER, "Hello Bob.\r\n", { selector: "ed", privateKey: ED25519_PEM, algorithm: "ed25519-sha256" });
    expect((await commonFirst(ed)).answeredBy).toBe("common case");
  });

  it("answers folded fields and bodies of every kind, and the aligned domain as mailauth does", async () => {
    const folded = "From: Alice\r\n  <alice@example.org>\r\nTo: bob@example.net\r\nSubject: a\r\n\tfolded   subject \r\n";
    for (const body of [BASE64_LINES, "a\tb  c \r\n\r\n\r\n", "no line end", "", "\r\n", "one\rtwo\r\n"]) {
      expect((await commonFirst(await signedWith(folded, body))).answeredBy).toBe("common case");
      expect((await commonFirst(await signedWith(HEADER, body, { canonicalization: "simple/simple" }))).answeredBy).toBe("common case");
    }
    const other = await commonFirst(await signedWith(HEADER.replace("alice@example.org", "alice@sub.example.net"), "x\r\n"));
    expect([other.answeredBy, other.result.results[0]?.status.aligned]).toEqual(["common case", false]);
  });

  it("answers the plain forms of From, and leaves the others to mailauth", async () => {
    const forms: [string, string][] = [
      ["alice@example.org", "common case"],
      ["<alice@example.org>", "common case"],
      ['"Alice, A." <alice@example.org>', "common case"],
      ["Alice Q. Sender <Alice.Q@Example.org>", "common case"],
      ["Alice (work) <alice@example.org>", "mailauth"],
      ["team: alice@example.org, bob@example.org;", "mailauth"],
      ["alice@example.org, bob@example.org", "mailauth"],
      ["=?utf-8?q?Al=C3=AFce?= <alice@example.org>", "common case"],
    ];
    for (const [from, expected] of forms) {
      const { answeredBy } = await commonFirst(await signedWith(HEADER.replace("Alice <alice@example.org>", from), "x\r\n"));
      expect([from, answeredBy]).toEqual([from, expected]);
    }
    const twoFroms = await signedWith(HEADER + "From: Mallory <mallory@example.org>\r\n", "x\r\n");
    expect((await commonFirst(twoFroms)).answeredBy).toBe("mailauth");
  });

  it("leaves to mailauth every signature beyond the plain kind, and every one that does not pass", async () => {
    const plain = await signedWith(HEADER, "Hello Bob.\r\n");
    const withKey = (selector: string) => signedWith(HEADER, "Hello Bob.\r\n", { selector });
    const cases: [string, string][] = [
      ["two signatures (RFC 8463 A.3)", SIGNED],
      ["an ARC set", await sealed(plain)],
      ["l=", await signedWith(HEADER, "Hello Bob.\r\ntail", { maxBodyLength: 5 })],
      ["an i= of another domain", await signedWith(HEADER, "x\r\n", { identity: "bob@example.net" })],
      ["an x= past", await signedWith(HEADER, "x\r\n", { signTime: Date.now() - 86_400_000, expires: Date.now() - 3_600_000 })],
      ["a key record with t=s and an i= in a subdomain", await signedWith(HEADER, "x\r\n", { selector: "strict", identity: "@mail.example.org" })],
      ["a changed body", plain.replace("Hello Bob.", "Hello Eve.")],
      ["a changed field", plain.replace("Subject: common", "Subject: changed")],
      ["a line that is no field", plain.replace("To: bob@example.net\r\n", "To: bob@example.net\r\nnot a field\r\n")],
      ["a key record with t=y", await withKey("testing")],
      ["a key record whose v= is not first", await withKey("vsecond")],
      ["a key of another type", await withKey("wrongtype")],
      ["a revoked key", await withKey("revoked")],
      ["two key records", await withKey("twice")],
      [
        "a key under 1024 bits",
        await signedWith(HEADER, "x\r\n", { selector: "short", privateKey: SHORT_RSA.privateKey.export({ format: "pem", type: "pkcs8" }).toString() }),
      ],
      ["a key lookup that times out", await withKey("down")],
      ["no key record", await withKey("missing")],
    ];
    for (const [name, message] of cases) {
      const { answeredBy, result } = await commonFirst(message);
      expect([name, answeredBy]).toEqual([name, "mailauth"]);
      expect(result.results.length).toBeGreaterThan(0);
    }
    // Key record tags the common case knows (h=, s=, n=, t=s) do not stop it, nor do i= and x= it can read.
    expect((await commonFirst(await withKey("flags"))).answeredBy).toBe("common case");
    expect((await commonFirst(await withKey("strict"))).answeredBy).toBe("common case");
    for (const identity of ["@example.org", "alice@example.org", "@mail.example.org"]) {
      const { answeredBy, result } = await commonFirst(await signedWith(HEADER, "x\r\n", { identity }));
      expect([answeredBy, result.results[0]?.status.header?.i]).toEqual(["common case", identity]);
    }
    expect((await commonFirst(await signedWith(HEADER, "x\r\n", { expires: Date.now() + 86_400_000 }))).answeredBy).toBe("common case");
  });
});
