// The one door to mailauth's code. This module is the only one that imports mailauth's files below its
// main entry (mailauth/lib/…), and in core/, workers/ and relay-node/ the only one that imports any of
// mailauth's code (types aside): eslint.config.js refuses both elsewhere. Two reasons for one door.
//
// node:crypto is patched first. mailauth calls verify(), sign() and createPublicKey() on the node:crypto
// object (its require("node:crypto")), looked up at each call. digest-names.ts renames the digest
// "rsa-sha256" that mailauth passes on from a signature's a= tag, which workerd refuses; key-cache.ts
// memoises the parsing of DKIM keys. Both replace functions on that object, so they have to run before
// mailauth verifies or signs anything. They are imported here, first, before mailauth's modules: any
// module that can reach mailauth's functions reaches them through this one, so the patches have run by
// then, whichever module of the program was loaded first. (The two compose in either order; this order
// wraps the renaming inside the cache.)
//
// mailauth's internals. mailauth 7 has no "exports" map in its package.json, so Node resolves any file
// of the package: no subpath is public by the package's own declaration. What it offers as API is its
// main module (lib/mailauth.js, typed by index.d.ts), the subpaths its README documents
// (lib/dkim/sign, lib/dkim/verify, lib/spf, lib/dmarc/get-dmarc-record, lib/mta-sts) and the ones it
// ships .d.ts files for (also lib/arc, lib/dmarc). The main module is no option here: it loads mailauth's
// BIMI code, whose HTTP client (undici) does not load inside workerd. So every function comes from the
// file that defines it; below, for each, what kind of API it is and why we use it.
// test/unit/mailauth-adapter.test.ts fails when what we rely on changes; an upgrade runs it.
import "./digest-names.ts";
import "./key-cache.ts";
import { Buffer } from "node:buffer";
import crypto from "node:crypto";
import type { DKIMResult, DKIMVerifyOptions, DKIMVerifyResult, DNSResolver } from "mailauth";
import { verifyCommonSignature, type CommonPass } from "../dkim/verify.ts";
// Typed (lib/arc/index.d.ts), not in the README; the main module exports all three under these names.
// arc() validates the chain the DKIM pass parsed (RFC 8617 §5.2); we call it ourselves rather than through
// authenticate(), which runs every check at once (see core/authentication/mailauth-checks.ts for why we
// run them one by one). sealMessage() adds our ARC set to forwarded mail (core/arc/seal.ts); createSeal()
// is the same with the instance and time given and its errors returned (relay-node/src/sign/outbound.ts).
import { arc as verifyArc, createSeal, sealMessage } from "mailauth/lib/arc/index.js";
// Typed (lib/dmarc/index.d.ts), not in the README, and not exported by the main module. The public dmarc()
// returns the same result without the signing domains that aligned (dkimAligned), which the judge
// reports per DKIM signature; authenticate() calls evaluateDmarc() for the same reason.
import { evaluateDmarc } from "mailauth/lib/dmarc/index.js";
// The file is documented (README, "getDmarcRecord"); these two of its exports are not, and not typed
// (./dmarc-record.d.ts declares them). The DMARC aggregate reports we send check each rua host's
// Organizational Domain against the policy domain's (RFC 7489 §7.1; RFC 9990, "Verifying External
// Destinations") with the very Tree Walk (RFC 9989 §4.10.2) that evaluateDmarc() aligns identifiers with.
import { createRecordLookup, getOrgDomain } from "mailauth/lib/dmarc/get-dmarc-record.js";
// Documented (README, "SPF Verification") and typed (lib/spf/index.d.ts): public. We run SPF ourselves
// rather than through authenticate() to check the HELO identity as well (RFC 7208 §2.3) and to reuse a
// session's results (SpfMemo).
import { spf as checkSpf } from "mailauth/lib/spf/index.js";
// Documented (README, "DKIM Signing") and typed (lib/dkim/sign.d.ts): public. Outgoing mail is signed by
// core/dkim/sign.ts (it oversigns); mailauth's signer is the independent one the tests and the bench sign
// with, inside workerd too.
import { dkimSign } from "mailauth/lib/dkim/sign.js";
// Private: neither documented nor typed (./dkim-verifier.d.ts declares what we use). dkimVerify() below
// drives it directly instead of through the public dkimVerify() and its stream, for the reasons given there.
import { DkimVerifier } from "mailauth/lib/dkim/dkim-verifier.js";
// Private: neither documented nor typed (./relaxed-hash.d.ts declares what we use). hashBody() below
// hands it the lines of a body that its canonicalization leaves as they are, without its byte loop.
import { RelaxedHash } from "mailauth/lib/dkim/body/relaxed.js";
// Private: neither documented nor typed (./body-hash.d.ts declares it). The body hash of either
// canonicalization as mailauth's verifier computes it, for the common case (dkimVerifyCommonFirst()).
import { dkimBody } from "mailauth/lib/dkim/body/index.js";

// Private: neither documented nor typed (./tools.d.ts declares them). createSeal() takes the header section
// parsed by parseHeaders(), with a body hash, instead of the message: the submission's signatures hash the
// body once for DKIM and ARC together (relay-node/src/sign/outbound.ts). getAlignment() and
// formatAuthHeaderRow() are what mailauth's verifier reports a passing signature with: the common case
// (dkimVerifyCommonFirst()) reports it with them too.
import { formatAuthHeaderRow, getAlignment, parseHeaders } from "mailauth/lib/tools.js";

export { checkSpf, createRecordLookup, createSeal, dkimSign, evaluateDmarc, getOrgDomain, parseHeaders, sealMessage, verifyArc };

// mailauth's dkimVerify() for a message held in memory, without the stream. dkimVerify() writes the
// message through a Node Writable in 64 KiB chunks; its parser (lib/dkim/message-parser.js) turns
// bare LFs into CRLF with a generator that visits every byte, then finds the end of the header
// section with a loop that pushes and slices an array for every byte of the header. On the relay's
// profile that stream and byte-loop overhead was about 6 % of the main thread for a 10 KB message.
// Here the same two steps are done with Buffer.indexOf, and the DkimVerifier is driven directly,
// the way its parser drives it: the results are the same, property for property, as
// test/unit/dkim-verify.test.ts checks against dkimVerify() itself. It relies on DkimVerifier and
// what it inherits from MessageParser (emitHeaders, finish, headerChunks, byteLength), on its body hashes
// (bodyHashes, lib/dkim/body/relaxed.js, see hashBody()), and on the result shape of lib/dkim/verify.js.

const CR = 0x0d;
const LF = 0x0a;
const EMPTY_LINE = Buffer.from("\r\n\r\n");
// Needles of the searches over the whole body, each a Buffer, the HTAB's too: inside workerd
// Buffer.indexOf finds a Buffer natively but an octet given as a number in a JavaScript-speed loop
// (about 70 µs against 5 µs over 256 KB, measured by CPU per request).
const HTAB = Buffer.from("\t");
const TWO_SPACES = Buffer.from("  ");
const SPACE_CRLF = Buffer.from(" \r\n");

/** Where the message has an LF without a CR before it, which RFC 5322 §2.3 does not allow. */
function bareLfOffsets(message: Buffer): number[] {
  const offsets: number[] = [];
  for (let lf = message.indexOf(LF); lf !== -1; lf = message.indexOf(LF, lf + 1)) {
    if (lf === 0 || message[lf - 1] !== CR) offsets.push(lf);
  }
  return offsets;
}

/**
 * The message with every bare LF made a CRLF, as mailauth's MessageParser.ensureLinebreaks() does:
 * the canonicalizations of RFC 6376 §3.4 work on lines that end in CRLF. Without bare LFs, as on
 * the wire, it is the message itself, not a copy.
 */
export function withCrlfLineEnds(message: Buffer): Buffer {
  const offsets = bareLfOffsets(message);
  if (offsets.length === 0) return message;
  const normal = Buffer.allocUnsafe(message.length + offsets.length);
  let from = 0;
  let to = 0;
  for (const lf of offsets) {
    to += message.copy(normal, to, from, lf);
    normal[to++] = CR;
    normal[to++] = LF;
    from = lf + 1;
  }
  message.copy(normal, to, from);
  return normal;
}

/**
 * The length of the header section of a message with CRLF line ends, the empty line that ends it
 * included (RFC 5322 §2.1, RFC 6376 §3.7: the body is what follows it); -1 when no empty line ends
 * it. A message that starts with an empty line has an empty header section. This is where
 * MessageParser.processChunk() ends it.
 */
export function headerSectionLength(message: Buffer): number {
  if (message[0] === CR && message[1] === LF) return 2;
  const emptyLine = message.indexOf(EMPTY_LINE);
  return emptyLine === -1 ? -1 : emptyLine + EMPTY_LINE.length;
}

/**
 * Whether the relaxed body canonicalization (RFC 6376 §3.4.4) leaves every line of a body with CRLF
 * line ends as it is: no HTAB, no run of spaces, no space at a line's end, and no LF at its start,
 * which RelaxedHash.update() would take for a bare one. Base64 content and most text qualify.
 */
export function relaxedAlready(body: Buffer): boolean {
  return body[0] !== LF && body.indexOf(HTAB) === -1 && body.indexOf(TWO_SPACES) === -1 && body.indexOf(SPACE_CRLF) === -1;
}

/**
 * Feeds a body with CRLF line ends to the verifier's body hashes, as nextChunk() does (DKIM's and
 * ARC's signatures share them). RelaxedHash.update() visits every byte in JavaScript to find the lines
 * it has to rewrite; for a 256 KB body that loop was the largest part of a verdict inside workerd.
 * When no line needs rewriting (relaxedAlready), a relaxed hash that has seen nothing yet gets what
 * update() would give it, without the loop: the complete lines hashed as they are, the rest (a last
 * line without its CRLF) held as its remainder for digest() to finish.
 */
function hashBody(verifier: DkimVerifier, body: Buffer): void {
  let unchanged: boolean | undefined;
  for (const hash of verifier.bodyHashes.values()) {
    if (hash instanceof RelaxedHash && hash.byteLength === 0 && hash.remainder === false && (unchanged ??= relaxedAlready(body))) hashUnchanged(hash, body);
    else hash.update(body);
  }
}

/** What RelaxedHash.update() does for a body relaxedAlready() accepts, in a hash that has seen nothing yet. */
function hashUnchanged(hash: RelaxedHash, body: Buffer): void {
  hash.byteLength = body.length;
  const linesEnd = body.lastIndexOf(LF) + 1;
  if (linesEnd > 0) hash._pushBodyHash(body.subarray(0, linesEnd));
  if (linesEnd < body.length) hash.remainder = body.subarray(linesEnd);
}

/** The body hash (SHA-256, base64) of a body with CRLF line ends, as mailauth's verifier computes it. */
function bodyHashOf(body: Buffer, canon: "relaxed" | "simple"): string {
  const hash = dkimBody(canon, "sha256", false);
  if (hash instanceof RelaxedHash && relaxedAlready(body)) hashUnchanged(hash, body);
  else hash.update(body);
  return hash.digest("base64");
}

/**
 * Hands the message to the verifier as its parser would: the header section (RFC 6376 §6.1.1, the
 * signatures are read from it), then the body to the body hashes (§6.1.3), then the checks. A
 * message without an empty line is all header section, which finish() emits.
 */
async function feed(verifier: DkimVerifier, message: Buffer): Promise<void> {
  const headerLength = headerSectionLength(message);
  if (headerLength === -1) {
    // MessageParser.processChunk() skips an empty chunk, so an empty message leaves no chunk.
    if (message.length > 0) verifier.headerChunks.push(message);
  } else {
    await verifier.emitHeaders(message.subarray(0, headerLength));
    if (headerLength < message.length) hashBody(verifier, message.subarray(headerLength));
  }
  verifier.byteLength = message.length;
  await verifier.finish();
}

/** Adds a property as lib/dkim/verify.js does: read-only, and left out of enumeration. */
function defineHidden(target: object, key: string, value: unknown): void {
  Object.defineProperty(target, key, { enumerable: false, configurable: false, writable: false, value });
}

/**
 * The result as lib/dkim/verify.js builds it, with its hidden headers, arc and seal. After finish()
 * the verifier always has headers and arc; seal only when the options asked for one.
 */
function verifyResult(verifier: DkimVerifier): DKIMVerifyResult {
  const result: DKIMVerifyResult = {
    headerFrom: verifier.headerFrom,
    fromFields: verifier.fromFields,
    envelopeFrom: verifier.envelopeFrom,
    results: verifier.results,
  };
  defineHidden(result, "headers", verifier.headers);
  defineHidden(result, "arc", verifier.arc);
  if (verifier.seal) defineHidden(result, "seal", verifier.seal);
  return result;
}

/** mailauth's dkimVerify() for a message in memory: the same options, the same result. */
export async function dkimVerify(message: Buffer, options?: DKIMVerifyOptions): Promise<DKIMVerifyResult> {
  const verifier = new DkimVerifier(options);
  await feed(verifier, withCrlfLineEnds(message));
  return verifyResult(verifier);
}

/**
 * What the judge reads of a DKIM verification (core/authentication/mailauth-checks.ts): mailauth's
 * DKIMVerifyResult has all of it, and so has the common case's (dkimVerifyCommonFirst()).
 */
export interface DkimVerification {
  headerFrom: string[];
  fromFields: number;
  results: Pick<DKIMResult, "signingDomain" | "selector" | "algo" | "status" | "info">[];
  /** The ARC chain the verifier parsed, for verifyArc(). */
  arc?: DKIMVerifyResult["arc"];
}

/** The common case's pass as mailauth's verifier reports it in strict mode (lib/dkim/dkim-verifier.js verifySignature()). */
function commonPassResult(pass: CommonPass): DkimVerification {
  const status = {
    result: "pass" as const,
    // getStatusHeader(): the AUID, "@" and d= without an i= tag (RFC 6376 §3.5); the first 8 characters of b=.
    header: { d: pass.domain, i: pass.identity ?? `@${pass.domain}`, s: pass.selector, a: pass.algorithm, b: pass.signature.slice(0, 8) },
    aligned: getAlignment(pass.author.slice(pass.author.lastIndexOf("@") + 1), [pass.domain]) ? pass.domain : (false as const),
  };
  const result = {
    headerFrom: [pass.author],
    fromFields: 1,
    results: [
      { signingDomain: pass.domain, selector: pass.selector, algo: pass.algorithm, status, info: formatAuthHeaderRow("dkim", status, { strict: true }) },
    ],
  };
  // getARChain() of a header section without ARC fields; the ARC check reads it as no chain (RFC 8617 §5.2).
  defineHidden(result, "arc", { chain: false, warnings: [] });
  return result;
}

/**
 * The DKIM verification the judge runs, in mailauth's strict mode (RFC 6376 and RFC 8301 exactly): the
 * common case first (core/dkim/verify.ts: one plain signature that passes), mailauth's verifier for
 * every other message. Both report the same for what the common case covers, as
 * test/unit/dkim-verify.test.ts checks against mailauth. The time is now (no curTime).
 */
export async function dkimVerifyCommonFirst(
  message: Buffer,
  options: Omit<DKIMVerifyOptions, "curTime"> & { resolver: DNSResolver; strict: true },
): Promise<DkimVerification> {
  const normal = withCrlfLineEnds(message);
  const pass = await verifyCommonSignature(normal, {
    txt: (name) => options.resolver(name, "TXT") as Promise<string[][]>,
    bodyHash: bodyHashOf,
    // Through the node:crypto object key-cache.ts memoises createPublicKey() on.
    publicKey: (der) => crypto.createPublicKey({ key: der, format: "der", type: "spki" }),
    verify: (algorithm, data, key, signature) =>
      algorithm === "rsa-sha256"
        ? crypto.verify("sha256", data, key, signature)
        : crypto.verify(null, crypto.createHash("sha256").update(data).digest(), key, signature),
    minBitLength: options.minBitLength ?? 1024,
    now: Date.now,
  });
  if (pass !== null) return commonPassResult(pass);
  const verifier = new DkimVerifier(options);
  await feed(verifier, normal);
  return verifyResult(verifier);
}
