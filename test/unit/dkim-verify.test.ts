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
import { dkimVerify, headerSectionLength, relaxedAlready, withCrlfLineEnds } from "../../core/mailauth/internals.ts";
import { DKIM_PRIVATE_KEY_PEM, DKIM_PUBLIC_KEY_BASE64, DKIM_SELECTOR } from "../harness/dkim-key.ts";
import { ZoneResolver } from "../fixtures/zone-resolver.ts";
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
