// Reading a DMARC aggregate report (RFC 7489 §7.2 and appendix C; the DMARCbis format of RFC 9990, whose
// namespace urn:ietf:params:xml:ns:dmarc-2.0 and new members np, testing, discovery_method and
// generator are read too). Pure: the bytes of one XML document in, the typed report or the reason it
// cannot be read out — never a throw. Members this version does not know (extensions) are dropped.
//
// The document is refused, with the reason, when it is not UTF-8 (or its declared encoding), not
// well-formed XML, has a DOCTYPE (no report needs one, and entity expansion is how XML bombs work),
// or lacks what appendix C requires; the values are compared as the schema spells them (lower case).
import { XMLParser, XMLValidator } from "fast-xml-parser";

/** A day's report from a large receiver is a few megabytes; this is the bound of one document. */
export const MAX_AGGREGATE_XML_BYTES = 16 * 1024 * 1024;
export const MAX_AGGREGATE_RECORDS = 50_000;
/** Auth results per record: a message carries a handful of DKIM signatures at most. */
const MAX_AUTH_RESULTS = 50;
const MAX_NESTING = 20;

export type Disposition = "none" | "quarantine" | "reject" | "pass";
export type Alignment = "pass" | "fail";

export interface AggregateRecord {
  sourceIp: string;
  count: number;
  /** policy_evaluated: what the receiver did, and the DKIM and SPF results after alignment (RFC 7489 §6.6.2). */
  disposition: Disposition;
  dkim: Alignment;
  spf: Alignment;
  /** RFC 7489 appendix C PolicyOverrideReason; entries with an empty type are dropped. */
  reasons: { type: string; comment: string | null }[];
  headerFrom: string;
  envelopeFrom: string | null;
  envelopeTo: string | null;
  /** auth_results: the raw, unaligned results. */
  dkimResults: { domain: string; selector: string | null; result: string; humanResult: string | null }[];
  spfResults: { domain: string; scope: string | null; result: string; humanResult: string | null }[];
}

export interface PublishedPolicy {
  domain: string;
  p: "none" | "quarantine" | "reject";
  sp: "none" | "quarantine" | "reject" | null;
  /** RFC 9990: the policy for non-existent subdomains. */
  np: "none" | "quarantine" | "reject" | null;
  adkim: "r" | "s" | null;
  aspf: "r" | "s" | null;
  pct: number | null;
  fo: string | null;
  /** RFC 9990: t=y, the policy is published for testing. */
  testing: "y" | "n" | null;
  discoveryMethod: string | null;
}

export interface AggregateReport {
  /** <version>, when the reporter sends one ("1.0", "2.0"). */
  version: string | null;
  orgName: string;
  email: string;
  extraContactInfo: string | null;
  generator: string | null;
  reportId: string;
  /** Seconds since the epoch, UTC (RFC 7489 appendix C DateRangeType). */
  begin: number;
  end: number;
  errors: string[];
  policy: PublishedPolicy;
  records: AggregateRecord[];
}

export type AggregateParse = { ok: true; report: AggregateReport } | { ok: false; reason: string };

const POLICIES = ["none", "quarantine", "reject"] as const;
const DISPOSITIONS = ["none", "quarantine", "reject", "pass"] as const;
const ALIGNMENT_RESULTS = ["pass", "fail"] as const;
// RFC 7489 appendix C DKIMResultType and SPFResultType; RFC 9990 keeps them.
const DKIM_RESULTS = ["none", "pass", "fail", "policy", "neutral", "temperror", "permerror"] as const;
const SPF_RESULTS = ["none", "neutral", "pass", "fail", "softfail", "temperror", "permerror"] as const;

const ARRAYS = new Set([
  "feedback.record",
  "feedback.report_metadata.error",
  "feedback.record.row.policy_evaluated.reason",
  "feedback.record.auth_results.dkim",
  "feedback.record.auth_results.spf",
]);

const parser = new XMLParser({
  ignoreAttributes: true,
  removeNSPrefix: true,
  parseTagValue: false,
  trimValues: true,
  ignoreDeclaration: true,
  ignorePiTags: true,
  processEntities: true,
  htmlEntities: false,
  maxNestedTags: MAX_NESTING,
  jPath: true,
  isArray: (_name, jPath) => ARRAYS.has(jPath as string),
});

/** Thrown inside the reader only; parseAggregateReport turns it into the reason. */
class Refusal extends Error {}

type Node = Record<string, unknown>;
const isNode = (value: unknown): value is Node => typeof value === "object" && value !== null && !Array.isArray(value);

/** The text of an element: "" for an empty one, undefined when absent; an element with children is refused. */
function text(node: Node, key: string, where: string): string | undefined {
  const value = node[key];
  if (value === undefined) return undefined;
  if (typeof value === "string") return value;
  // An element holding a comment or an empty child still reads as its text.
  if (isNode(value) && typeof value["#text"] === "string") return value["#text"];
  if (isNode(value) && Object.keys(value).length === 0) return "";
  throw new Refusal(`${where}.${key} is not a text element`);
}

function required(node: Node, key: string, where: string, allowEmpty = false): string {
  const value = text(node, key, where);
  if (value === undefined) throw new Refusal(`${where}.${key} is missing`);
  if (!allowEmpty && value === "") throw new Refusal(`${where}.${key} is empty`);
  return value;
}

function optional(node: Node, key: string, where: string): string | null {
  const value = text(node, key, where);
  return value === undefined || value === "" ? null : value;
}

function child(node: Node, key: string, where: string): Node {
  const value = node[key];
  if (isNode(value)) return value;
  if (value === "") return {};
  throw new Refusal(`${where}.${key} is ${value === undefined ? "missing" : "not an element"}`);
}

function oneOf<T extends string>(value: string, allowed: readonly T[], where: string): T {
  if ((allowed as readonly string[]).includes(value)) return value as T;
  throw new Refusal(`${where} is ${JSON.stringify(value.slice(0, 64))}, not one of ${allowed.join(", ")} (RFC 7489 appendix C)`);
}

function optionalOneOf<T extends string>(node: Node, key: string, where: string, allowed: readonly T[]): T | null {
  const value = optional(node, key, where);
  return value === null ? null : oneOf(value, allowed, `${where}.${key}`);
}

function integer(value: string, where: string): number {
  const n = /^\d{1,15}$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n)) throw new Refusal(`${where} is ${JSON.stringify(value.slice(0, 64))}, not a non-negative integer`);
  return n;
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

/** IPv4 dotted quad, or an RFC 4291 §2.2 text form (the URL parser knows the IPv6 grammar). */
function ipAddress(value: string, where: string): string {
  if (IPV4.test(value)) return value;
  if (value.includes(":") && /^[0-9A-Fa-f:.]+$/.test(value) && URL.canParse(`http://[${value}]/`)) return value.toLowerCase();
  throw new Refusal(`${where} is ${JSON.stringify(value.slice(0, 64))}, not an IP address`);
}

function list(node: Node, key: string): unknown[] {
  const value = node[key];
  return Array.isArray(value) ? value : [];
}

function readPolicy(feedback: Node): PublishedPolicy {
  const where = "policy_published";
  const policy = child(feedback, "policy_published", "feedback");
  const pct = optional(policy, "pct", where);
  return {
    domain: required(policy, "domain", where).toLowerCase(),
    p: oneOf(required(policy, "p", where), POLICIES, `${where}.p`),
    sp: optionalOneOf(policy, "sp", where, POLICIES),
    np: optionalOneOf(policy, "np", where, POLICIES),
    adkim: optionalOneOf(policy, "adkim", where, ["r", "s"] as const),
    aspf: optionalOneOf(policy, "aspf", where, ["r", "s"] as const),
    pct: pct === null ? null : integer(pct, `${where}.pct`),
    fo: optional(policy, "fo", where),
    testing: optionalOneOf(policy, "testing", where, ["y", "n"] as const),
    discoveryMethod: optional(policy, "discovery_method", where),
  };
}

function readRecord(entry: unknown, index: number): AggregateRecord {
  const where = `record[${index}]`;
  if (!isNode(entry)) throw new Refusal(`${where} is not an element`);
  const row = child(entry, "row", where);
  const evaluated = child(row, "policy_evaluated", `${where}.row`);
  const evaluatedAt = `${where}.row.policy_evaluated`;
  const identifiers = child(entry, "identifiers", where);
  const auth = isNode(entry["auth_results"]) ? entry["auth_results"] : {};
  const dkim = list(auth, "dkim");
  const spf = list(auth, "spf");
  if (dkim.length + spf.length > MAX_AUTH_RESULTS) throw new Refusal(`${where}.auth_results has more than ${MAX_AUTH_RESULTS} results`);
  return {
    sourceIp: ipAddress(required(row, "source_ip", `${where}.row`), `${where}.row.source_ip`),
    count: integer(required(row, "count", `${where}.row`), `${where}.row.count`),
    disposition: oneOf(required(evaluated, "disposition", evaluatedAt), DISPOSITIONS, `${evaluatedAt}.disposition`),
    dkim: oneOf(required(evaluated, "dkim", evaluatedAt), ALIGNMENT_RESULTS, `${evaluatedAt}.dkim`),
    spf: oneOf(required(evaluated, "spf", evaluatedAt), ALIGNMENT_RESULTS, `${evaluatedAt}.spf`),
    reasons: list(evaluated, "reason").flatMap((reason, i) => {
      const at = `${evaluatedAt}.reason[${i}]`;
      if (!isNode(reason)) return [];
      const type = optional(reason, "type", at);
      return type === null ? [] : [{ type, comment: optional(reason, "comment", at) }];
    }),
    headerFrom: required(identifiers, "header_from", `${where}.identifiers`).toLowerCase(),
    envelopeFrom: optional(identifiers, "envelope_from", `${where}.identifiers`),
    envelopeTo: optional(identifiers, "envelope_to", `${where}.identifiers`),
    dkimResults: dkim.map((result, i) => {
      const at = `${where}.auth_results.dkim[${i}]`;
      if (!isNode(result)) throw new Refusal(`${at} is not an element`);
      return {
        domain: required(result, "domain", at, true).toLowerCase(),
        selector: optional(result, "selector", at),
        result: oneOf(required(result, "result", at), DKIM_RESULTS, `${at}.result`),
        humanResult: optional(result, "human_result", at),
      };
    }),
    spfResults: spf.map((result, i) => {
      const at = `${where}.auth_results.spf[${i}]`;
      if (!isNode(result)) throw new Refusal(`${at} is not an element`);
      return {
        domain: required(result, "domain", at, true).toLowerCase(),
        scope: optional(result, "scope", at),
        result: oneOf(required(result, "result", at), SPF_RESULTS, `${at}.result`),
        humanResult: optional(result, "human_result", at),
      };
    }),
  };
}

function readFeedback(feedback: Node): AggregateReport {
  const metadata = child(feedback, "report_metadata", "feedback");
  const range = child(metadata, "date_range", "report_metadata");
  const records = list(feedback, "record");
  if (records.length === 0) throw new Refusal("the report has no record (RFC 7489 appendix C: at least one)");
  if (records.length > MAX_AGGREGATE_RECORDS) throw new Refusal(`more than ${MAX_AGGREGATE_RECORDS} records`);
  const begin = integer(required(range, "begin", "report_metadata.date_range"), "report_metadata.date_range.begin");
  const end = integer(required(range, "end", "report_metadata.date_range"), "report_metadata.date_range.end");
  if (end < begin) throw new Refusal(`report_metadata.date_range ends (${end}) before it begins (${begin})`);
  return {
    version: optional(feedback, "version", "feedback"),
    // Some reporters leave org_name empty; the e-mail address still names them.
    orgName: required(metadata, "org_name", "report_metadata", true).trim(),
    email: required(metadata, "email", "report_metadata").trim(),
    extraContactInfo: optional(metadata, "extra_contact_info", "report_metadata"),
    generator: optional(metadata, "generator", "report_metadata"),
    reportId: required(metadata, "report_id", "report_metadata").trim(),
    begin,
    end,
    errors: list(metadata, "error").filter((e): e is string => typeof e === "string" && e !== ""),
    policy: readPolicy(feedback),
    records: records.map(readRecord),
  };
}

/** The XML declaration's encoding, lower case; "utf-8" without one (XML 1.0 §4.3.3). */
function declaredEncoding(head: string): string {
  return /^<\?xml[^>]*\bencoding\s*=\s*["']([A-Za-z0-9._-]+)["']/.exec(head)?.[1]?.toLowerCase() ?? "utf-8";
}

/** The document as text, or why it is not readable text. */
function decode(bytes: Uint8Array): string {
  // XML 1.0 §4.3.3: a byte order mark names UTF-16; otherwise the declaration names the encoding.
  if (bytes[0] === 0xfe && bytes[1] === 0xff) return new TextDecoder("utf-16be", { fatal: true, ignoreBOM: false }).decode(bytes);
  if (bytes[0] === 0xff && bytes[1] === 0xfe) return new TextDecoder("utf-16le", { fatal: true, ignoreBOM: false }).decode(bytes);
  const head = String.fromCharCode(...bytes.subarray(0, 200));
  const encoding = declaredEncoding(head.replace(/^\uFEFF|^\xEF\xBB\xBF/, ""));
  let decoder: InstanceType<typeof TextDecoder>;
  try {
    decoder = new TextDecoder(encoding, { fatal: true, ignoreBOM: false });
  } catch {
    throw new Refusal(`the declared encoding ${JSON.stringify(encoding)} is not one this reader knows`);
  }
  try {
    return decoder.decode(bytes);
  } catch {
    throw new Refusal(`the document is not valid ${encoding === "utf-8" ? "UTF-8" : encoding} (a malformed byte sequence)`);
  }
}

/** Parses one aggregate report document. */
export function parseAggregateReport(bytes: Uint8Array): AggregateParse {
  try {
    if (bytes.length === 0) throw new Refusal("the document is empty");
    if (bytes.length > MAX_AGGREGATE_XML_BYTES) throw new Refusal(`the document is larger than ${MAX_AGGREGATE_XML_BYTES} bytes`);
    const xml = decode(bytes);
    if (/<!DOCTYPE/i.test(xml)) throw new Refusal("the document has a DOCTYPE, which no DMARC report needs (entity expansion is refused)");
    const valid = XMLValidator.validate(xml);
    if (valid !== true) throw new Refusal(`not well-formed XML: ${valid.err.msg} (line ${valid.err.line}, column ${valid.err.col})`);
    const document = parser.parse(xml) as unknown;
    if (!isNode(document) || !isNode(document["feedback"])) throw new Refusal("the root element is not <feedback> (RFC 7489 appendix C)");
    return { ok: true, report: readFeedback(document["feedback"]) };
  } catch (err) {
    if (err instanceof Refusal) return { ok: false, reason: err.message };
    // fast-xml-parser's own bounds (nesting) throw plain errors: a refusal as well, never a crash.
    return { ok: false, reason: `the XML cannot be read: ${err instanceof Error ? err.message : String(err)}` };
  }
}

/** RFC 7489 §6.6.2: a message passes DMARC when DKIM or SPF passes aligned. */
export function dmarcPasses(record: Pick<AggregateRecord, "dkim" | "spf">): boolean {
  return record.dkim === "pass" || record.spf === "pass";
}
