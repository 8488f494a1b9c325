// mailauth's dkimVerify() for a message held in memory, without the stream. dkimVerify() writes the
// message through a Node Writable in 64 KiB chunks; its parser (lib/dkim/message-parser.js) turns
// bare LFs into CRLF with a generator that visits every byte, then finds the end of the header
// section with a loop that pushes and slices an array for every byte of the header. On the relay's
// profile that stream and byte-loop overhead was about 6 % of the main thread for a 10 KB message.
// Here the same two steps are done with Buffer.indexOf, and the DkimVerifier is driven directly,
// the way its parser drives it: the results are the same, property for property, as
// test/unit/dkim-verify.test.ts checks against dkimVerify() itself.
//
// This relies on mailauth's internals, which mailauth-internals.d.ts declares: DkimVerifier
// (lib/dkim/dkim-verifier.js) and what it inherits from MessageParser (emitHeaders, nextChunk,
// finish, headerChunks, byteLength), and on the result shape of lib/dkim/verify.js. The mailauth
// version is pinned by package-lock.json; an upgrade has to re-check them against this module.
import { Buffer } from "node:buffer";
import type { DKIMVerifyOptions, DKIMVerifyResult } from "mailauth";
import { DkimVerifier } from "mailauth/lib/dkim/dkim-verifier.js";

const CR = 0x0d;
const LF = 0x0a;
const EMPTY_LINE = Buffer.from("\r\n\r\n");

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
    if (headerLength < message.length) await verifier.nextChunk(message.subarray(headerLength));
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
