// DKIM signatures of submitted mail (RFC 6376), made here rather than by mailauth's signer because
// mailauth lists in h= only the fields present, so it cannot oversign. Oversigning (§5.4.2, §8.15):
// a name listed once more than the message has such fields signs their absence, so nobody can add
// a second From after us and have the signature still verify.
//
// c=relaxed/relaxed (§3.4.2, §3.4.4); a=rsa-sha256 (RSA ≥ 2048 bits, RFC 8301 §3.2) or
// ed25519-sha256 (RFC 8463 §3).
import { createHash, sign, type KeyObject } from "node:crypto";

/** The author, addressing, identity and content fields of RFC 5322 §3.6 and MIME that a receiver shows or trusts. */
export const SIGNED_FIELDS = [
  "from",
  "sender",
  "reply-to",
  "subject",
  "date",
  "to",
  "cc",
  "message-id",
  "in-reply-to",
  "references",
  "mime-version",
  "content-type",
  "content-transfer-encoding",
  "content-disposition",
  "content-language",
  "list-id",
  "list-unsubscribe",
  "list-unsubscribe-post",
] as const;

/** Fields signed once more than present: From above all (the field DMARC aligns on). */
export const OVERSIGNED_FIELDS = ["from"] as const;

export interface DkimKey {
  domain: string;
  selector: string;
  algorithm: "rsa-sha256" | "ed25519-sha256";
  privateKey: KeyObject;
}

export interface RawField {
  /** Lower case. */
  name: string;
  /** The whole field as in the message, folding included, without the final CRLF. */
  raw: string;
}

const CRLF = "\r\n";

/** The header section's fields and the body, split at the first empty line (RFC 5322 §2.1). */
export function splitMessage(message: Buffer): { fields: RawField[]; body: Buffer } {
  const end = message.indexOf("\r\n\r\n");
  const head = (end < 0 ? message : message.subarray(0, end)).toString("latin1");
  const body = end < 0 ? Buffer.alloc(0) : message.subarray(end + 4);
  const fields: RawField[] = [];
  for (const line of head.split(CRLF)) {
    const last = fields.at(-1);
    if (/^[ \t]/.test(line) && last !== undefined) last.raw += CRLF + line;
    else
      fields.push({
        name: line
          .slice(0, Math.max(0, line.indexOf(":")))
          .trim()
          .toLowerCase(),
        raw: line,
      });
  }
  return { fields, body };
}

/** §3.4.2: lower-case name, unfolded, runs of WSP as one SP, none around the colon or at the end. */
export function relaxedHeader(raw: string): string {
  const colon = raw.indexOf(":");
  const name = raw.slice(0, colon).trim().toLowerCase();
  const value = raw
    .slice(colon + 1)
    .replace(/\r\n(?=[ \t])/g, "")
    .replace(/[ \t]+/g, " ")
    .trim();
  return `${name}:${value}`;
}

/**
 * §3.4.4: WSP runs as one SP, none at line ends, no empty lines at the end; a non-empty body ends in CRLF.
 * Lines end in CRLF only (a bare CR or LF is part of its line). Over the whole body at once rather than
 * line by line: each message is signed on the relay's main thread, and the per-line split and regular
 * expressions cost 40 % more.
 */
export function relaxedBody(body: Buffer): Buffer {
  let text = body
    .toString("latin1")
    .replace(/[ \t]+/g, " ")
    .replace(/ (?=\r\n|$)/g, "");
  // The empty lines at the end go, with a loop: a regular expression anchored at the end would retry
  // every run of CRLFs inside the body from each of its positions.
  let end = text.length;
  while (end >= 2 && text.startsWith(CRLF, end - 2)) end -= 2;
  text = text.slice(0, end);
  return Buffer.from(text === "" ? "" : text + CRLF, "latin1");
}

/**
 * The h= list: every present field of SIGNED_FIELDS as often as it occurs, then each OVERSIGNED_FIELDS
 * name once more. §5.4.2 picks instances from the bottom up, so the extra name matches nothing.
 */
export function signedHeaderList(fields: readonly { name: string }[]): string[] {
  const present = SIGNED_FIELDS.flatMap((name) => fields.filter((f) => f.name === name).map(() => name));
  return [...present, ...OVERSIGNED_FIELDS];
}

/** §5.4.2: for each name in h=, the last not yet used instance; a name with none left adds nothing. */
export function selectedFields(fields: readonly RawField[], names: readonly string[]): RawField[] {
  const remaining = [...fields];
  const selected: RawField[] = [];
  for (const name of names) {
    const at = remaining.findLastIndex((f) => f.name === name);
    if (at < 0) continue;
    selected.push(remaining[at]!);
    remaining.splice(at, 1);
  }
  return selected;
}

/** Base64 folded into lines of at most 72 characters after a tab (RFC 5322 §2.2.3 folding). */
function fold(value: string, width = 72): string {
  const chunks = value.match(new RegExp(`.{1,${width}}`, "g")) ?? [""];
  return chunks.join(`${CRLF}\t`);
}

/** §3.7: the bh= of c=…/relaxed with SHA-256, the same for every signature over this body (DKIM's and ARC's, RFC 8617 §4.1.2). */
export function relaxedBodyHash(body: Buffer): string {
  return createHash("sha256").update(relaxedBody(body)).digest("base64");
}

/**
 * The DKIM-Signature field (without the final CRLF) for `message`, signed by `key` at `time` (seconds).
 * `bodyHash`: relaxedBodyHash() of its body, when the caller has it already.
 */
export function dkimSignature(message: Buffer, key: DkimKey, time: number, bodyHash?: string): string {
  const { fields, body } = splitMessage(message);
  const names = signedHeaderList(fields);
  bodyHash ??= relaxedBodyHash(body);
  const unsigned = [
    `DKIM-Signature: v=1; a=${key.algorithm}; c=relaxed/relaxed; d=${key.domain};`,
    `\ts=${key.selector}; t=${time};`,
    `\th=${names.map((n) => n.replace(/(^|-)([a-z])/g, (_, dash: string, c: string) => dash + c.toUpperCase())).join(":")};`,
    `\tbh=${bodyHash};`,
    `\tb=`,
  ].join(CRLF);
  // §3.7: the selected fields, then this field with an empty b= and without its final CRLF.
  const signedData = [...selectedFields(fields, names).map((f) => relaxedHeader(f.raw) + CRLF), relaxedHeader(unsigned)].join("");
  const signature =
    key.algorithm === "rsa-sha256"
      ? sign("sha256", Buffer.from(signedData, "latin1"), key.privateKey)
      : // RFC 8463 §3: Ed25519 signs the SHA-256 hash of the data, not the data itself.
        sign(null, createHash("sha256").update(Buffer.from(signedData, "latin1")).digest(), key.privateKey);
  return unsigned + fold(signature.toString("base64"));
}
