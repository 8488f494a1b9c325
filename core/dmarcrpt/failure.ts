// Reading a DMARC failure report (RFC 7489 §7.3): the Abuse Reporting Format's machine-readable part
// (message/feedback-report, RFC 5965 §3.1, with the authentication-failure fields of RFC 6591 §3.1),
// and the plain-text kind some receivers send instead (Exim's "DMARC Forensic Report": "Sender Domain:",
// "Sender IP Address:" … lines in a text/plain part). Pure: header text in, the typed report out.
import { parseHeaderSection, type HeaderField } from "../mime/header.ts";

export interface OriginalMessage {
  from: string | null;
  to: string | null;
  subject: string | null;
  messageId: string | null;
  date: string | null;
}

export interface FailureReport {
  /** "arf": a message/feedback-report part; "text": the plain-text kind. */
  format: "arf" | "text";
  /** RFC 5965 §3.1 Feedback-Type, lower case: "auth-failure" for DMARC (RFC 6591 §3.1), "abuse" … */
  feedbackType: string;
  userAgent: string | null;
  version: string | null;
  originalMailFrom: string | null;
  originalRcptTo: string[];
  originalEnvelopeId: string | null;
  /** As written (RFC 5322 date-time); `arrivalTime` is it in seconds since the epoch when it parses. */
  arrivalDate: string | null;
  arrivalTime: number | null;
  reportingMta: string | null;
  sourceIp: string | null;
  /** The name a reporter gives after the address, e.g. "Source-IP: 192.0.2.1 (mail.example.net)". */
  sourceName: string | null;
  incidents: number;
  authenticationResults: string[];
  /** RFC 6591 §3.1 Auth-Failure, lower case: "dmarc", "bodyhash", "signature", "spf" … */
  authFailure: string | null;
  /** RFC 6591 §3.1 Delivery-Result, lower case. */
  deliveryResult: string | null;
  identityAlignment: string | null;
  reportedDomains: string[];
  reportedUris: string[];
  dkimDomain: string | null;
  dkimIdentity: string | null;
  dkimSelector: string | null;
  /** The failing message's header fields, from the report's message/rfc822 or text/rfc822-headers part. */
  original: OriginalMessage | null;
}

export type FailureParse = { ok: true; report: FailureReport } | { ok: false; reason: string };

const encoder = new TextEncoder();
const utf8 = new TextDecoder();

/** Header fields of a text; field values as UTF-8 (RFC 6532 allows it in feedback reports' copies). */
function fieldsOf(bytes: Uint8Array): HeaderField[] {
  return parseHeaderSection(bytes, 0, () => false).fields.map((f) => ({
    name: f.name,
    value: utf8.decode(latin1Octets(f.value)),
  }));
}

/** The header parser keeps one character per octet; these are the octets again. */
function latin1Octets(value: string): Uint8Array {
  return Uint8Array.from(value, (c) => c.charCodeAt(0) & 0xff);
}

/** Collapses the folding white space an unfolded field keeps (RFC 5322 §2.2.3). */
const clean = (value: string): string => value.replace(/\s+/g, " ").trim();

function all(fields: readonly HeaderField[], name: string): string[] {
  return fields.filter((f) => f.name === name).map((f) => clean(f.value));
}

function first(fields: readonly HeaderField[], ...names: string[]): string | null {
  for (const name of names) {
    const value = all(fields, name)[0];
    if (value !== undefined && value !== "") return value;
  }
  return null;
}

/** RFC 5322 §3.3 date-time as seconds since the epoch; null when the date does not parse. */
function epochSeconds(date: string | null): number | null {
  if (date === null) return null;
  // Zone names that JavaScript's date parser does not know but reporters write (RFC 5322 §4.3 obs-zone).
  const millis = Date.parse(date.replace(/\(.*\)\s*$/, "").trim());
  return Number.isFinite(millis) ? Math.floor(millis / 1000) : null;
}

/** The failing message's fields from the bytes of its copy (the whole message or its header section). */
export function originalMessage(copy: Uint8Array): OriginalMessage | null {
  const fields = fieldsOf(copy);
  if (fields.length === 0) return null;
  return {
    from: first(fields, "from"),
    to: first(fields, "to"),
    subject: first(fields, "subject"),
    messageId: first(fields, "message-id"),
    date: first(fields, "date"),
  };
}

/** RFC 5965 §3.1 Source-IP: an address, which some reporters follow with the host name in parentheses. */
function sourceOf(value: string | null): { sourceIp: string | null; sourceName: string | null } {
  if (value === null) return { sourceIp: null, sourceName: null };
  const match = /^\[?([0-9A-Fa-f:.]+)\]?(?:\s*\(([^)]*)\))?/.exec(value);
  if (!match) return { sourceIp: value, sourceName: null };
  return { sourceIp: match[1]!.toLowerCase(), sourceName: match[2]?.trim() || null };
}

/** Reads the fields of a message/feedback-report part (RFC 5965 §3.1; RFC 6591 §3.1). */
export function parseFeedbackReport(part: Uint8Array, original: Uint8Array | null): FailureParse {
  const fields = fieldsOf(part);
  const feedbackType = first(fields, "feedback-type");
  if (feedbackType === null) return { ok: false, reason: "the feedback report has no Feedback-Type (RFC 5965 §3.1 requires it)" };
  const incidents = Number(first(fields, "incidents") ?? "1");
  const lower = (value: string | null) => value?.toLowerCase() ?? null;
  return {
    ok: true,
    report: {
      format: "arf",
      feedbackType: feedbackType.toLowerCase(),
      userAgent: first(fields, "user-agent"),
      version: first(fields, "version"),
      originalMailFrom: first(fields, "original-mail-from"),
      originalRcptTo: all(fields, "original-rcpt-to"),
      originalEnvelopeId: first(fields, "original-envelope-id"),
      // "Received-Date" is what drafts of RFC 5965 called Arrival-Date; reporters still send it.
      arrivalDate: first(fields, "arrival-date", "received-date"),
      arrivalTime: epochSeconds(first(fields, "arrival-date", "received-date")),
      reportingMta: first(fields, "reporting-mta")?.replace(/^dns\s*;\s*/i, "") ?? null,
      ...sourceOf(first(fields, "source-ip")),
      incidents: Number.isSafeInteger(incidents) && incidents > 0 ? incidents : 1,
      authenticationResults: all(fields, "authentication-results"),
      authFailure: lower(first(fields, "auth-failure")),
      deliveryResult: lower(first(fields, "delivery-result")),
      identityAlignment: lower(first(fields, "identity-alignment")),
      reportedDomains: all(fields, "reported-domain").map((d) => d.toLowerCase()),
      reportedUris: all(fields, "reported-uri"),
      dkimDomain: first(fields, "dkim-domain"),
      dkimIdentity: first(fields, "dkim-identity"),
      dkimSelector: first(fields, "dkim-selector"),
      original: original === null ? null : originalMessage(original),
    },
  };
}

/** "Label: value" lines of the plain-text kind, keyed by the label in lower case. */
function labelledLines(text: string): Map<string, string> {
  const lines = new Map<string, string>();
  for (const match of text.matchAll(/^[ \t]*([A-Za-z][A-Za-z ]{2,40}):[ \t]*(.*?)[ \t]*$/gm)) lines.set(match[1]!.toLowerCase(), match[2]!);
  return lines;
}

const TEXT_REPORT_LABELS = ["sender domain", "sender ip address"];

/** True when a text part reads as the plain-text kind of failure report (both its key lines are there). */
export function isTextFailureReport(text: string): boolean {
  const lines = labelledLines(text);
  return TEXT_REPORT_LABELS.every((label) => lines.has(label));
}

/**
 * The plain-text kind: "Sender Domain: example.com", "Sender IP Address: 203.0.113.68", "Received date:",
 * "SPF Alignment: no", "DKIM Alignment: no", "DMARC Results: None, Accept", then a copy of the failing
 * message's header section after a line of dashes.
 */
export function parseTextFailureReport(text: string): FailureParse {
  const lines = labelledLines(text);
  const domain = lines.get("sender domain");
  const ip = lines.get("sender ip address");
  if (!domain || !ip) return { ok: false, reason: "the text names no Sender Domain and Sender IP Address" };
  const spfAligned = lines.get("spf alignment");
  const dkimAligned = lines.get("dkim alignment");
  const copyStart = /^-{3,}.*$/m.exec(text);
  const copy = copyStart ? text.slice(copyStart.index + copyStart[0].length).replace(/^\s*\n/, "") : "";
  const arrivalDate = lines.get("received date") ?? null;
  return {
    ok: true,
    report: {
      format: "text",
      feedbackType: "auth-failure",
      userAgent: null,
      version: null,
      originalMailFrom: null,
      originalRcptTo: [],
      originalEnvelopeId: null,
      arrivalDate,
      arrivalTime: epochSeconds(arrivalDate),
      reportingMta: null,
      ...sourceOf(ip),
      incidents: 1,
      authenticationResults: [],
      authFailure: "dmarc",
      deliveryResult: lines.get("dmarc results")?.toLowerCase() ?? null,
      identityAlignment: [spfAligned === "yes" ? "spf" : null, dkimAligned === "yes" ? "dkim" : null].filter(Boolean).join(",") || "none",
      reportedDomains: [domain.toLowerCase()],
      reportedUris: [],
      dkimDomain: null,
      dkimIdentity: null,
      dkimSelector: null,
      original: copy === "" ? null : originalMessage(encoder.encode(copy)),
    },
  };
}
