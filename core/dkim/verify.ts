// DKIM verification (RFC 6376 §6) of the common case, for the judge: a well-formed message with one
// DKIM-Signature that passes. mailauth's verifier does this and everything else; for the mx benchmark's
// 10 KB message it took 0.45–0.6 ms of CPU (a third of the relay's main thread per message,
// docs/benchmarks.md, mx, round 10): it parses and canonicalizes every header field with a regular
// expression per step, reads the key record through a schema validator, and builds a result of some
// thirty properties. This does only what the common case needs, in about half that time, most of which
// is the RSA verification and the body hash themselves.
//
// It is a first pass, not a second verifier: it answers only "this signature passes", for messages
// whose every part is of the plain kind that every implementation reads the same way (the conditions
// below). Anything else — l= or z=, two signatures, an ARC set, a From that is not one plain address,
// a key record for tests (t=y) or with unknown tags, a signature or body hash that does not verify, an
// expired signature, a failed DNS lookup — is null, and mailauth verifies the message as before: every
// result but a pass, and every pass outside these conditions, is still mailauth's.
import { Buffer } from "node:buffer";
import type { KeyObject } from "node:crypto";
import { relaxedHeader, selectedFields, type RawField } from "./sign.ts";

/** What a passing signature and the message tell the judge, as mailauth's verifier reports them. */
export interface CommonPass {
  /** d=, lower case. */
  domain: string;
  /** s= */
  selector: string;
  /** a= */
  algorithm: "rsa-sha256" | "ed25519-sha256";
  /** b= without its folding whitespace. */
  signature: string;
  /** The AUID (i=, §3.5) when the signature has one. */
  identity?: string;
  /** The address of the one From field (RFC 5322 §3.6.2). */
  author: string;
}

/** The I/O and the primitives the verification needs; `bodyHash` and `publicKey` are mailauth's and node:crypto's (core/mailauth/internals.ts). */
export interface CommonVerifyDeps {
  /** The TXT records at `name`: each record's strings. Throws on a failed lookup. */
  txt(name: string): Promise<string[][]>;
  /** The base64 SHA-256 body hash of `body` under the canonicalization `canon` (§3.4.3, §3.4.4). */
  bodyHash(body: Buffer, canon: "relaxed" | "simple"): string;
  /** A public key from its DER encoding. */
  publicKey(der: Buffer): KeyObject;
  /** crypto.verify(): RSA over the data with SHA-256, Ed25519 over the SHA-256 digest of it (RFC 8463 §3). */
  verify(algorithm: CommonPass["algorithm"], data: Buffer, key: KeyObject, signature: Buffer): boolean;
  /** The smallest RSA modulus accepted (RFC 8301 §3.2). */
  minBitLength: number;
  /** The time in milliseconds, for x= (§3.5). */
  now(): number;
}

const CRLF = "\r\n";
/** RFC 5322 §3.6.8: a field name is printable US-ASCII but the colon. */
const FIELD_NAME = /^[!-9;-~]+$/;
/** A domain name of LDH labels in lower case, two at least, its last starting with a letter. */
const DOMAIN = /^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
/** A selector (RFC 6376 §3.1): LDH labels. */
const SELECTOR = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
/** t= (§3.5): a number of seconds, twelve digits at most. */
const TIMESTAMP = /^\d{1,12}$/;
/** The tags of §3.5 the common case leaves to mailauth: l= (a part of the body unsigned) and z= (copied fields). */
const DECLINED_TAGS = ["l", "z"];
const REQUIRED_TAGS = ["v", "a", "b", "bh", "d", "h", "s"];
const CANONICALIZATIONS = new Set(["relaxed", "simple"]);
/** §3.2: FWS is WSP and CRLF. */
const FWS = /[ \t\r\n]+/g;
const isFws = (code: number): boolean => code === 0x20 || code === 0x09 || code === 0x0d || code === 0x0a;
/** The text without FWS at either end; a loop, as a regular expression for the end backtracks over every inner run of FWS. */
function trimFws(text: string): string {
  let start = 0;
  let end = text.length;
  while (start < end && isFws(text.charCodeAt(start))) start++;
  while (end > start && isFws(text.charCodeAt(end - 1))) end--;
  return text.slice(start, end);
}

/**
 * One From address of the plain kinds (RFC 5322 §3.4): an addr-spec, or one in angle brackets after a
 * quoted-string or a name of atext, dots and spaces; no comments, groups or lists. Each part of the
 * expression starts where the one before cannot go on, so it never backtracks over a run twice.
 */
const ATEXT = "[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]";
const ADDRESS = `${ATEXT}+(?:\\.${ATEXT}+)*@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+`;
const PLAIN_FROM = new RegExp(
  `^(?:[ \\t]*(${ADDRESS})|[ \\t]*"(?:[^"\\\\\\r\\n]|\\\\[ -~])*"[ \\t]*<(${ADDRESS})>|[A-Za-z0-9!#$%&'*+/=?^_\`{|}~ \\t.-]*<(${ADDRESS})>)[ \\t]*$`,
);
/** RFC 5322 §2.1.1: a line is at most 998 characters; a longer From is left to mailauth. */
const MAX_FROM = 998;
/** A local part of i= that dkim-quoted-printable (§2.11) leaves as it is: dot-atom text without "=". */
const PLAIN_LOCAL_PART = /^[A-Za-z0-9!#$%&'*+/?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/?^_`{|}~-]+)*$/;

/**
 * The fields of a header section with CRLF line ends and nothing but well-formed lines: each a field
 * name and a colon, or the continuation of a folded field (RFC 5322 §2.2); null for anything else,
 * which parsers read differently.
 */
export function plainFields(head: string): RawField[] | null {
  if (/\0|\r(?!\n)|(?<!\r)\n/.test(head)) return null;
  const fields: RawField[] = [];
  for (const line of head.split(CRLF)) {
    const last = fields.at(-1);
    if (line[0] === " " || line[0] === "\t") {
      if (last === undefined) return null;
      last.raw += CRLF + line;
      continue;
    }
    const colon = line.indexOf(":");
    if (colon <= 0 || !FIELD_NAME.test(line.slice(0, colon))) return null;
    fields.push({ name: line.slice(0, colon).toLowerCase(), raw: line });
  }
  return fields;
}

/** A tag list (§3.2) of lower-case tag names, each once; null for anything else. */
export function plainTagList(text: string): Map<string, string> | null {
  const tags = new Map<string, string>();
  const parts = text.split(";");
  for (const [i, part] of parts.entries()) {
    const spec = trimFws(part);
    if (spec === "") {
      if (i === parts.length - 1) continue; // a ";" after the last tag (§3.2)
      return null;
    }
    const equals = spec.indexOf("=");
    const name = equals < 0 ? "" : trimFws(spec.slice(0, equals));
    if (!/^[a-z][a-z0-9_]*$/.test(name) || tags.has(name)) return null;
    tags.set(name, trimFws(spec.slice(equals + 1)));
  }
  return tags;
}

/** The field with the value of its b= tag emptied, whitespace around it included (§3.7). */
function withoutSignature(raw: string): string {
  const colon = raw.indexOf(":");
  const parts = raw.slice(colon + 1).split(";");
  const b = parts.findIndex((part) => trimFws(part.slice(0, part.indexOf("="))) === "b");
  parts[b] = parts[b]!.slice(0, parts[b]!.indexOf("=") + 1);
  return raw.slice(0, colon + 1) + parts.join(";");
}

/**
 * §3.7: the header hash input — the fields h= names, each the last not yet taken (§5.4.2), then the
 * signature field with an empty b= and without its final CRLF, in the header canonicalization.
 */
function signedHeaderData(fields: readonly RawField[], names: readonly string[], signatureField: string, canon: string): Buffer {
  const canonical = canon === "relaxed" ? relaxedHeader : (raw: string) => raw;
  const data = selectedFields(fields, names).map((field) => canonical(field.raw) + CRLF);
  return Buffer.from(data.join("") + canonical(withoutSignature(signatureField)), "latin1");
}

/** §3.3: rsa-sha256, or ed25519-sha256 (RFC 8463 §3); rsa-sha1 is not valid (RFC 8301 §3.1). */
const isCommonAlgorithm = (algorithm: string | undefined): algorithm is CommonPass["algorithm"] => algorithm === "rsa-sha256" || algorithm === "ed25519-sha256";

/**
 * The AUID of an i= tag (§3.5) of the common case: a plain local part (none that dkim-quoted-printable
 * would decode) or none, "@", and d= or a subdomain of it (§6.1.1); null for anything else.
 */
function plainIdentity(i: string, domain: string): { identity: string; domain: string } | null {
  const at = i.lastIndexOf("@");
  const local = i.slice(0, at);
  const identityDomain = i.slice(at + 1);
  if (at < 0 || (local !== "" && !PLAIN_LOCAL_PART.test(local)) || !DOMAIN.test(identityDomain)) return null;
  return identityDomain === domain || identityDomain.endsWith(`.${domain}`) ? { identity: i, domain: identityDomain } : null;
}

/**
 * The signature's tags when they are the common case: all that §6.1.1 requires, valid, none that the
 * common case leaves to mailauth; unknown tags are ignored, as §3.2 says.
 */
function commonTags(tags: Map<string, string>, now: number) {
  if (DECLINED_TAGS.some((name) => tags.has(name)) || REQUIRED_TAGS.some((name) => !tags.has(name))) return null;
  const algorithm = tags.get("a");
  const domain = tags.get("d")!;
  const selector = tags.get("s")!;
  const signature = tags.get("b")!.replace(FWS, "");
  const bodyHash = tags.get("bh")!.replace(FWS, "");
  const c = tags.get("c");
  const [headerCanon = "", bodyCanon = "simple", ...more] = (c ?? "simple/simple").split("/");
  const names = tags
    .get("h")!
    .split(":")
    .map((name) => trimFws(name).toLowerCase())
    .filter((name) => name !== "");
  const t = tags.get("t");
  const x = tags.get("x");
  const q = tags.get("q");
  const i = tags.has("i") ? plainIdentity(tags.get("i")!, domain) : undefined;
  if (
    tags.get("v") !== "1" ||
    !isCommonAlgorithm(algorithm) ||
    !DOMAIN.test(domain) ||
    !SELECTOR.test(selector) ||
    !BASE64.test(signature) ||
    !BASE64.test(bodyHash) ||
    !CANONICALIZATIONS.has(headerCanon) ||
    !CANONICALIZATIONS.has(bodyCanon) ||
    more.length > 0 ||
    !names.includes("from") ||
    names.some((name) => !FIELD_NAME.test(name)) ||
    (t !== undefined && !TIMESTAMP.test(t)) ||
    // x= (§3.5): after t=, and not yet past (an expired signature is not a pass).
    (x !== undefined && (!TIMESTAMP.test(x) || (t !== undefined && Number(x) <= Number(t)) || Number(x) * 1000 < now)) ||
    (q !== undefined && q !== "dns/txt") ||
    i === null
  )
    return null;
  return {
    algorithm,
    domain,
    selector,
    signature,
    bodyHash,
    headerCanon,
    bodyCanon: bodyCanon as "relaxed" | "simple",
    names,
    ...(i ? { identity: i } : {}),
  };
}

/**
 * The key of a key record (§3.6.1) of the common case: v=DKIM1 first if present, k= of the signature's
 * algorithm, p=, and h= and s= that allow it; no other tags but n= (notes). Null for anything else.
 */
function commonKey(records: string[][], signature: NonNullable<ReturnType<typeof commonTags>>, deps: CommonVerifyDeps): KeyObject | null {
  const { algorithm, identity } = signature;
  if (records.length !== 1) return null;
  const tags = plainTagList(records[0]!.join("").replace(/\s+/g, ""));
  if (tags === null || [...tags.keys()].some((name) => !["v", "k", "p", "h", "s", "n", "t"].includes(name))) return null;
  const keyType = algorithm === "rsa-sha256" ? "rsa" : "ed25519";
  const p = tags.get("p") ?? "";
  const list = (name: string) => tags.get(name)?.split(":");
  if (
    (tags.has("v") && (tags.get("v") !== "DKIM1" || tags.keys().next().value !== "v")) ||
    (tags.get("k") ?? "rsa") !== keyType ||
    !BASE64.test(p) ||
    (tags.has("h") && !list("h")!.includes("sha256")) ||
    (tags.has("s") && !list("s")!.some((service) => service === "email" || service === "*")) ||
    // t= flags: y (testing) is reported with the result; s forbids an i= in a subdomain of d=.
    list("t")?.includes("y") ||
    (list("t")?.includes("s") && identity !== undefined && identity.domain !== signature.domain)
  )
    return null;
  const raw = Buffer.from(p, "base64");
  // RFC 8463 §4: an Ed25519 key is the raw 32 octets, given here as its SubjectPublicKeyInfo.
  const der = keyType === "ed25519" ? (raw.length === 32 ? Buffer.concat([Buffer.from("302a300506032b6570032100", "hex"), raw]) : null) : raw;
  if (der === null) return null;
  let key: KeyObject;
  try {
    key = deps.publicKey(der);
  } catch {
    return null;
  }
  if (key.asymmetricKeyType !== keyType) return null;
  if (keyType === "rsa" && (key.asymmetricKeyDetails?.modulusLength ?? 0) < deps.minBitLength) return null;
  return key;
}

/**
 * The passing signature of a message with CRLF line ends, when it is the common case; null when it is
 * not or does not pass (mailauth then decides). The checks are those of §6.1: the signature's tags
 * (§6.1.1), its key (§6.1.2), the body hash and the signature (§6.1.3).
 */
export async function verifyCommonSignature(message: Buffer, deps: CommonVerifyDeps): Promise<CommonPass | null> {
  const end = message.indexOf("\r\n\r\n");
  if (end <= 0) return null;
  const fields = plainFields(message.toString("latin1", 0, end));
  if (fields === null || fields.some((field) => field.name.startsWith("arc-"))) return null;
  const signatures = fields.filter((field) => field.name === "dkim-signature");
  const from = fields.filter((field) => field.name === "from");
  if (signatures.length !== 1 || from.length !== 1) return null;
  const fromValue = from[0]!.raw.slice(5).replace(/\r\n(?=[ \t])/g, "");
  const author = fromValue.length > MAX_FROM ? null : PLAIN_FROM.exec(fromValue);
  const signatureField = signatures[0]!.raw;
  const tags = plainTagList(signatureField.slice(signatureField.indexOf(":") + 1));
  const signature = tags === null ? null : commonTags(tags, deps.now());
  if (author === null || signature === null) return null;

  if (deps.bodyHash(message.subarray(end + 4), signature.bodyCanon) !== signature.bodyHash) return null;
  let records: string[][];
  try {
    records = await deps.txt(`${signature.selector}._domainkey.${signature.domain}`);
  } catch {
    return null;
  }
  const key = commonKey(records, signature, deps);
  if (key === null) return null;
  const data = signedHeaderData(fields, signature.names, signatureField, signature.headerCanon);
  let verified: boolean;
  try {
    verified = deps.verify(signature.algorithm, data, key, Buffer.from(signature.signature, "base64"));
  } catch {
    return null; // mailauth reports what the crypto library said
  }
  if (!verified) return null;
  return {
    domain: signature.domain,
    selector: signature.selector,
    algorithm: signature.algorithm,
    signature: signature.signature,
    ...(signature.identity ? { identity: signature.identity.identity } : {}),
    author: (author[1] ?? author[2] ?? author[3])!,
  };
}
