// The conformance rules: one small pure function per rule over the parsed message, returning what is
// wrong (the first instance, and how many there are) or undefined. Which action a finding gets is the
// configuration's (core/config/rfc-rules.ts); docs/rfc-conformance.md explains each rule.
import type { RfcRuleName } from "../config/rfc-rules.ts";
import { base64Problem } from "../mime/base64.ts";
import { boundaryProblem } from "../mime/content-type.ts";
import { MAX_HEADER_BYTES, MAX_HEADER_FIELDS, type HeaderSection } from "../mime/header.ts";
import { LF, lineLengths, shown } from "../mime/lines.ts";
import { MAX_MIME_PARTS, MAX_MULTIPART_DEPTH, type MimeEntity, type MimeTree } from "../mime/mime.ts";

export interface ParsedMessage {
  raw: Uint8Array;
  /** The message's own header section. */
  header: HeaderSection;
  tree: MimeTree;
}

/** What the envelope tells the rules. */
export interface ConformanceOptions {
  /** The MAIL FROM carried the SMTPUTF8 parameter (RFC 6531 §3.4). */
  smtputf8: boolean;
}

export interface RuleFinding {
  rule: RfcRuleName;
  detail: string;
}

type Rule = (message: ParsedMessage, options: ConformanceOptions) => string | undefined;

// RFC 5322 §2.1.1: "Each line of characters MUST be no more than 998 characters … excluding the CRLF."
const MAX_LINE_OCTETS = 998;

// RFC 5322 §3.6: the fields whose table maximum is 1 (From is judged on its own, as duplicateFrom).
const SINGLE_INSTANCE_FIELDS = ["Date", "Sender", "Reply-To", "To", "Cc", "Bcc", "Message-ID", "In-Reply-To", "References", "Subject"];

// RFC 2045 §6.1 mechanisms; RFC 2045 §6.4 and RFC 2046 §5.2.1 allow only the identity ones for composites.
const TRANSFER_ENCODINGS = new Set(["7bit", "8bit", "binary", "quoted-printable", "base64"]);
const IDENTITY_ENCODINGS = new Set(["7bit", "8bit", "binary"]);

function count(header: HeaderSection, name: string): number {
  return header.fields.reduce((n, f) => (f.name === name ? n + 1 : n), 0);
}

function where(entity: MimeEntity): string {
  return entity.path === "" ? "the message" : `part ${entity.path}`;
}

/** One detail for several instances: the first, and how many more. */
function summary(problems: readonly string[]): string | undefined {
  const [first] = problems;
  if (first === undefined) return undefined;
  return problems.length === 1 ? first : `${first} (and ${problems.length - 1} more)`;
}

/** The first octet at or above 0x80 in raw[start, end), or -1. */
function firstEightBit(raw: Uint8Array, start: number, end: number): number {
  for (let at = start; at < end; at++) if ((raw[at] ?? 0) >= 0x80) return at;
  return -1;
}

/** The 1-based number of the line that holds raw[offset]. */
function lineNumber(raw: Uint8Array, offset: number): number {
  let number = 1;
  for (let at = raw.indexOf(LF); at !== -1 && at < offset; at = raw.indexOf(LF, at + 1)) number++;
  return number;
}

function isUtf8(octets: Uint8Array): boolean {
  try {
    new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(octets);
    return true;
  } catch {
    return false;
  }
}

const missingFrom: Rule = ({ header }) => (count(header, "from") === 0 ? "no From field (RFC 5322 §3.6: exactly one)" : undefined);

const duplicateFrom: Rule = ({ header }) => {
  const n = count(header, "from");
  return n > 1 ? `${n} From fields (RFC 5322 §3.6: exactly one)` : undefined;
};

const missingDate: Rule = ({ header }) => (count(header, "date") === 0 ? "no Date field (RFC 5322 §3.6: exactly one)" : undefined);

const duplicateField: Rule = ({ header }) => {
  const repeated = SINGLE_INSTANCE_FIELDS.map((name) => [name, count(header, name.toLowerCase())] as const).filter(([, n]) => n > 1);
  if (repeated.length === 0) return undefined;
  return `${repeated.map(([name, n]) => `${n} ${name} fields`).join(", ")} (RFC 5322 §3.6: at most one each)`;
};

const headerSyntax: Rule = ({ tree }) =>
  summary(
    tree.entities.flatMap(({ header, path }) => {
      const first = header.firstMalformed;
      if (first === undefined) return [];
      const at = path === "" ? `line ${first.line}` : `part ${path}, header line ${first.line}`;
      const more = header.malformedCount > 1 ? ` (${header.malformedCount} such lines)` : "";
      return [`${at}: ${first.problem}${more} (RFC 5322 §2.2)`];
    }),
  );

const headerSectionSize: Rule = ({ tree }) =>
  summary(
    tree.entities
      .filter((e) => e.header.oversize)
      .map((e) => `the header section of ${where(e)} is over ${MAX_HEADER_FIELDS} fields or ${MAX_HEADER_BYTES} bytes; the rest of it was not read`),
  );

const eightBitHeader: Rule = ({ raw, header }, { smtputf8 }) => {
  const first = firstEightBit(raw, 0, header.end);
  if (first === -1) return undefined;
  if (!smtputf8) return `8-bit octet 0x${(raw[first] ?? 0).toString(16)} in line ${lineNumber(raw, first)} of the header without SMTPUTF8 (RFC 6532 §3)`;
  return isUtf8(raw.subarray(0, header.end)) ? undefined : "8-bit octets in the header that are not UTF-8 (RFC 6532 §3.2)";
};

const lineLength: Rule = ({ raw }) => {
  const { over, first, longest } = lineLengths(raw, MAX_LINE_OCTETS);
  if (first === undefined) return undefined;
  const others = over > 1 ? `; ${over} lines in all, the longest ${longest}` : "";
  return `line ${first.line} is ${first.octets} octets long${others} (RFC 5322 §2.1.1: at most ${MAX_LINE_OCTETS})`;
};

const multipartBoundary: Rule = ({ tree }) =>
  summary(
    tree.entities.flatMap((e) => {
      if (!e.contentType.startsWith("multipart/")) return [];
      const [boundary, ...more] = e.boundaries;
      if (boundary === undefined) return [`${where(e)} is ${e.contentType} without a boundary parameter (RFC 2046 §5.1.1)`];
      if (more.length > 0) return [`${where(e)} has ${e.boundaries.length} boundary parameters (RFC 2045 §5.1)`];
      const problem = boundaryProblem(boundary);
      if (problem !== undefined) return [`the boundary "${shown(boundary)}" of ${where(e)} is not valid: ${problem} (RFC 2046 §5.1.1)`];
      const clash = e.multipart?.clashesWith;
      if (clash === boundary) return [`${where(e)} repeats the boundary "${shown(boundary)}" of an enclosing multipart (RFC 2046 §5.1.1)`];
      if (clash !== undefined)
        return [`the boundary "${shown(boundary)}" of ${where(e)} begins with the enclosing boundary "${shown(clash)}" (RFC 2046 §5.1.1)`];
      return [];
    }),
  );

const multipartDelimiter: Rule = ({ tree }) =>
  summary(
    tree.entities.flatMap((e) => {
      const layout = e.multipart;
      if (layout === undefined) return [];
      const problems: string[] = [];
      if (layout.delimiters === 0) problems.push(`${where(e)} has no body part: no delimiter line (RFC 2046 §5.1.1)`);
      if (!layout.closed) problems.push(`${where(e)} has no close-delimiter (RFC 2046 §5.1.1)`);
      if (layout.lookalikes > 0) problems.push(`${where(e)} has ${layout.lookalikes} line(s) that begin with its delimiter but are none (RFC 2046 §5.1.1)`);
      return problems;
    }),
  );

const mimeTreeSize: Rule = ({ tree }) => {
  const problems: string[] = [];
  if (tree.tooDeep.length > 0)
    problems.push(
      `${tree.tooDeep.length === 1 ? "a multipart is" : "multiparts are"} nested deeper than ${MAX_MULTIPART_DEPTH} (at part ${tree.tooDeep[0] ?? ""}); not read`,
    );
  if (tree.tooManyParts) problems.push(`more than ${MAX_MIME_PARTS} MIME parts; the rest were not read`);
  return summary(problems);
};

const transferEncoding: Rule = ({ tree }) =>
  summary(
    tree.entities
      .filter((e) => e.transferEncoding !== undefined && !TRANSFER_ENCODINGS.has(e.transferEncoding))
      .map((e) => `${where(e)} has Content-Transfer-Encoding "${shown(e.transferEncoding ?? "")}" (RFC 2045 §6.1)`),
  );

/** Composite types whose Content-Transfer-Encoding is not an identity one. */
function encodedComposites(tree: MimeTree, isComposite: (type: string) => boolean, rfc: string): string | undefined {
  return summary(
    tree.entities
      .filter((e) => isComposite(e.contentType) && e.transferEncoding !== undefined && !IDENTITY_ENCODINGS.has(e.transferEncoding))
      .map((e) => `${where(e)} is ${e.contentType} with Content-Transfer-Encoding "${shown(e.transferEncoding ?? "")}" (${rfc}: 7bit, 8bit or binary only)`),
  );
}

const multipartTransferEncoding: Rule = ({ tree }) => encodedComposites(tree, (type) => type.startsWith("multipart/"), "RFC 2045 §6.4");

const messageTransferEncoding: Rule = ({ tree }) => encodedComposites(tree, (type) => type === "message/rfc822", "RFC 2046 §5.2.1");

const base64Content: Rule = ({ raw, tree }) =>
  summary(
    tree.entities.flatMap((e) => {
      if (e.transferEncoding !== "base64" || e.contentType.startsWith("multipart/")) return [];
      const problem = base64Problem(raw, e.bodyStart, e.bodyEnd);
      return problem === undefined ? [] : [`${where(e)}: ${problem} (RFC 2045 §6.8)`];
    }),
  );

const RULES: { readonly [R in RfcRuleName]: Rule } = {
  missingFrom,
  duplicateFrom,
  missingDate,
  duplicateField,
  headerSyntax,
  headerSectionSize,
  eightBitHeader,
  lineLength,
  multipartBoundary,
  multipartDelimiter,
  mimeTreeSize,
  transferEncoding,
  multipartTransferEncoding,
  messageTransferEncoding,
  base64Content,
};

/** Every rule the message breaks, in the order of the configuration. */
export function findings(message: ParsedMessage, options: ConformanceOptions): RuleFinding[] {
  const found: RuleFinding[] = [];
  for (const [rule, check] of Object.entries(RULES) as [RfcRuleName, Rule][]) {
    const detail = check(message, options);
    if (detail !== undefined) found.push({ rule, detail });
  }
  return found;
}
