// What a report mail holds: the DMARC aggregate reports (RFC 7489 §7.2.1.1: XML, gzipped or zipped, as
// an attachment or as the whole body), DMARC failure reports (RFC 6591, ARF; or the plain-text kind) and
// SMTP TLS reports (RFC 8460 §5.3: application/tlsrpt+gzip or +json). Every MIME leaf of the message is
// looked at, whatever structure the sender chose. Each report found is an item: parsed, or refused with
// the reason — a part that cannot be read is never dropped silently.
//
// Pure and bounded: the MIME walk of core/mime (linear, depth and part bounds), at most
// MAX_REPORTS_PER_MESSAGE items, MAX_UNPACKED_BYTES inflated per message (gzip through
// core/bytes/gunzip.ts, zip through core/banned/zip.ts: both stop at the bound whatever the archive
// declares, so a zip or gzip bomb is refused with a reason), MAX_ZIP_ENTRIES per zip, one level of
// compression (a zip inside a gzip is refused).
import { decodeWords } from "postal-mime";
import { decodeContent, transferMechanism } from "../banned/decode.ts";
import { readPartHeaders } from "../banned/part-headers.ts";
import { readZipEntry, zipEntries } from "../banned/zip.ts";
import { gunzipBounded, looksGzipped } from "../bytes/gunzip.ts";
import { messageStructure } from "../conformance/check.ts";
import type { HeaderField } from "../mime/header.ts";
import { CR, LF } from "../mime/lines.ts";
import type { MimeEntity } from "../mime/mime.ts";
import { MAX_AGGREGATE_XML_BYTES, parseAggregateReport, type AggregateReport } from "../dmarcrpt/aggregate.ts";
import { isTextFailureReport, parseFeedbackReport, parseTextFailureReport, type FailureReport } from "../dmarcrpt/failure.ts";
import { parseTlsReport, type TlsRptReport } from "../tlsrpt/report.ts";

export const MAX_REPORTS_PER_MESSAGE = 20;
/** Inflated bytes of all compressed parts of one message together. */
export const MAX_UNPACKED_BYTES = 64 * 1024 * 1024;
export const MAX_ZIP_ENTRIES = 8;

export type ReportKind = "dmarc-aggregate" | "dmarc-failure" | "tlsrpt";

export type ReportItem =
  | { kind: "dmarc-aggregate"; name: string | null; report: AggregateReport }
  | { kind: "dmarc-failure"; report: FailureReport }
  | { kind: "tlsrpt"; name: string | null; report: TlsRptReport }
  /** `kind` is what the part looked like; "unknown" when it looked like no report at all. */
  | { kind: "refused"; as: ReportKind | "unknown"; name: string | null; reason: string };

export interface ReportMessage {
  /** The report mail's own From, Subject and Message-ID (RFC 2047 words decoded). */
  from: string | null;
  subject: string | null;
  messageId: string | null;
  items: ReportItem[];
}

interface Budget {
  bytesLeft: number;
}

const fatalUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });
const utf8 = new TextDecoder();

function refused(as: ReportKind | "unknown", name: string | null, reason: string): ReportItem {
  return { kind: "refused", as, name, reason };
}

/** The first non-blank character of a document, past a UTF-8 byte order mark. */
function firstCharacter(bytes: Uint8Array): string {
  let i = bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? 3 : 0;
  while (i < bytes.length && (bytes[i] === 0x20 || bytes[i] === 0x09 || bytes[i] === CR || bytes[i] === LF)) i++;
  return i < bytes.length ? String.fromCharCode(bytes[i]!) : "";
}

const isZip = (bytes: Uint8Array): boolean => bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 0x03 && bytes[3] === 0x04;

function tlsReportItem(bytes: Uint8Array, name: string | null): ReportItem {
  let text: string;
  try {
    text = fatalUtf8.decode(bytes);
  } catch {
    return refused("tlsrpt", name, "the report is not UTF-8 (RFC 8259 §8.1)");
  }
  const parsed = parseTlsReport(text);
  if (!parsed.ok) return refused("tlsrpt", name, `invalid TLS report (RFC 8460 §4): ${parsed.problems.join("; ")}`);
  return { kind: "tlsrpt", name, report: parsed.report };
}

function aggregateItem(bytes: Uint8Array, name: string | null): ReportItem {
  const parsed = parseAggregateReport(bytes);
  return parsed.ok ? { kind: "dmarc-aggregate", name, report: parsed.report } : refused("dmarc-aggregate", name, parsed.reason);
}

/** What a file name says the content is, for the refusal of one that cannot be read. */
function kindByName(name: string | null): ReportKind | "unknown" {
  if (name === null) return "unknown";
  if (/\.json(\.gz)?$/i.test(name)) return "tlsrpt";
  if (/\.xml(\.gz|\.zip)?$|\.zip$/i.test(name)) return "dmarc-aggregate";
  return "unknown";
}

/** An uncompressed document: a TLS report is JSON (RFC 8460 §4.4), an aggregate report XML (RFC 7489 appendix C). */
function documentItem(bytes: Uint8Array, name: string | null, typeHint: ReportKind | "unknown"): ReportItem {
  const start = firstCharacter(bytes);
  if (start === "{" || typeHint === "tlsrpt") return tlsReportItem(bytes, name);
  if (start === "<" || typeHint === "dmarc-aggregate" || kindByName(name) === "dmarc-aggregate") return aggregateItem(bytes, name);
  if (bytes.length === 0) return refused(kindByName(name), name, "the attachment is empty");
  return refused(kindByName(name), name, "neither XML (a DMARC aggregate report) nor JSON (a TLS report), nor gzip or zip holding one");
}

async function gzipItems(bytes: Uint8Array, name: string | null, typeHint: ReportKind | "unknown", budget: Budget): Promise<ReportItem[]> {
  const limit = Math.min(budget.bytesLeft, MAX_AGGREGATE_XML_BYTES);
  const inflated = await gunzipBounded(bytes, limit);
  const as = typeHint === "unknown" ? kindByName(name) : typeHint;
  if (inflated === null) return [refused(as, name, `the gzip inflates to more than ${limit} bytes (a decompression bomb, or over the bound)`)];
  if (inflated instanceof Error) return [refused(as, name, `not a gzip stream (RFC 1952): ${inflated.message}`)];
  budget.bytesLeft -= inflated.length;
  if (looksGzipped(inflated) || isZip(inflated)) return [refused(as, name, "an archive inside the gzip: one level of compression is read")];
  return [documentItem(inflated, name?.replace(/\.gz$/i, "") ?? null, typeHint)];
}

async function zipItems(bytes: Uint8Array, name: string | null, budget: Budget): Promise<ReportItem[]> {
  const items: ReportItem[] = [];
  let entries = 0;
  try {
    for await (const entry of zipEntries(bytes)) {
      if (entry.directory) continue;
      if (++entries > MAX_ZIP_ENTRIES) {
        items.push(refused("dmarc-aggregate", name, `more than ${MAX_ZIP_ENTRIES} files in the zip`));
        break;
      }
      const limit = Math.min(budget.bytesLeft, MAX_AGGREGATE_XML_BYTES);
      const content = await readZipEntry(entry, limit);
      if (content === undefined) {
        items.push(refused("dmarc-aggregate", entry.filename, `the zip entry inflates to more than ${limit} bytes (a decompression bomb, or over the bound)`));
        continue;
      }
      budget.bytesLeft -= content.length;
      if (looksGzipped(content) || isZip(content))
        items.push(refused("dmarc-aggregate", entry.filename, "an archive inside the zip: one level of compression is read"));
      else items.push(documentItem(content, entry.filename, "unknown"));
    }
  } catch (err) {
    items.push(refused("dmarc-aggregate", name, `the zip cannot be read (${err instanceof Error ? err.message : String(err)})`));
  }
  if (entries === 0 && items.length === 0) items.push(refused("dmarc-aggregate", name, "the zip holds no file"));
  return items;
}

/**
 * The reports in one file as a sender attaches it (or as it is kept on disk): XML, JSON, gzip or zip.
 * `typeHint` is what the part's media type says (application/tlsrpt+json …).
 */
export async function readReportFile(
  bytes: Uint8Array,
  name: string | null,
  typeHint: ReportKind | "unknown" = "unknown",
  budget: Budget = { bytesLeft: MAX_UNPACKED_BYTES },
): Promise<ReportItem[]> {
  if (looksGzipped(bytes)) return gzipItems(bytes, name, typeHint, budget);
  if (isZip(bytes)) return zipItems(bytes, name, budget);
  return [documentItem(bytes, name, typeHint)];
}

/** A leaf part's body without the line break that belongs to the next delimiter (RFC 2046 §5.1.1). */
function bodyOf(raw: Uint8Array, entity: MimeEntity): Uint8Array {
  let end = entity.bodyEnd;
  if (end < raw.length && end > entity.bodyStart && raw[end - 1] === LF) {
    end--;
    if (end > entity.bodyStart && raw[end - 1] === CR) end--;
  }
  return raw.subarray(entity.bodyStart, end);
}

interface Leaf {
  type: string;
  name: string | null;
  disposition: string;
  content: Uint8Array;
}

function leavesOf(raw: Uint8Array): { header: HeaderField[]; leaves: Leaf[] } {
  const { header, tree } = messageStructure(raw);
  const leaves: Leaf[] = [];
  for (const entity of tree.entities) {
    if (entity.multipart !== undefined || entity.contentType.startsWith("multipart/")) continue;
    const { filename, disposition } = readPartHeaders(entity.header.fields, entity.contentType);
    const encoding = entity.header.fields.find((f) => f.name === "content-transfer-encoding")?.value;
    // Decoding never grows a part beyond the message, which the caller has bounded.
    const content = decodeContent(transferMechanism(encoding), bodyOf(raw, entity));
    leaves.push({ type: entity.contentType, name: filename, disposition, content });
  }
  return { header: header.fields, leaves };
}

/** Media types that are never a report themselves: the human-readable parts and the failing message's copy. */
const NOT_REPORTS = new Set([
  "text/plain",
  "text/html",
  "message/rfc822",
  "text/rfc822-headers",
  "message/delivery-status",
  "message/disposition-notification",
]);

function headerText(fields: readonly HeaderField[], name: string): string | null {
  const value = fields.find((f) => f.name === name)?.value;
  if (value === undefined) return null;
  // The header parser keeps one character per octet; RFC 6532 headers are UTF-8.
  const text = utf8.decode(Uint8Array.from(value, (c) => c.charCodeAt(0) & 0xff));
  return decodeWords(text.replace(/\s+/g, " ").trim());
}

/** Every report in a report mail, parsed or refused with the reason. */
export async function readReportMessage(raw: Uint8Array): Promise<ReportMessage> {
  const { header, leaves } = leavesOf(raw);
  const items: ReportItem[] = [];
  const budget: Budget = { bytesLeft: MAX_UNPACKED_BYTES };
  const original = leaves.find((l) => l.type === "message/rfc822" || l.type === "text/rfc822-headers")?.content ?? null;
  for (const leaf of leaves) {
    if (items.length >= MAX_REPORTS_PER_MESSAGE) {
      items.push(refused("unknown", leaf.name, `more than ${MAX_REPORTS_PER_MESSAGE} reports in one message; the rest is not read`));
      break;
    }
    if (leaf.type === "message/feedback-report") {
      const parsed = parseFeedbackReport(leaf.content, original);
      items.push(parsed.ok ? { kind: "dmarc-failure", report: parsed.report } : refused("dmarc-failure", leaf.name, parsed.reason));
    } else if (leaf.type === "application/tlsrpt+json" || leaf.type === "application/tlsrpt+gzip") {
      items.push(...(await readReportFile(leaf.content, leaf.name, "tlsrpt", budget)));
    } else if (!NOT_REPORTS.has(leaf.type) || (leaf.type === "text/plain" && leaf.disposition === "attachment" && leaf.name !== null)) {
      items.push(...(await readReportFile(leaf.content, leaf.name, "unknown", budget)));
    }
  }
  if (items.length === 0) {
    // The plain-text kind of failure report: no feedback-report part, the facts in the text.
    const text = leaves.find((l) => l.type === "text/plain" && isTextFailureReport(utf8.decode(l.content)));
    if (text) {
      const parsed = parseTextFailureReport(utf8.decode(text.content));
      items.push(parsed.ok ? { kind: "dmarc-failure", report: parsed.report } : refused("dmarc-failure", null, parsed.reason));
    } else {
      items.push(refused("unknown", null, `no report in the message (its parts: ${leaves.map((l) => l.type).join(", ") || "none"})`));
    }
  }
  return { from: headerText(header, "from"), subject: headerText(header, "subject"), messageId: headerText(header, "message-id"), items };
}
