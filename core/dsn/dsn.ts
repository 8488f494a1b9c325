// Delivery status notifications (RFC 3464) for mail the relay accepted and then could not deliver:
// a multipart/report (RFC 6522) of a human-readable part, the machine-readable message/delivery-status
// and the original message's header (text/rfc822-headers), from MAILER-DAEMON (or the address the
// caller names) with the null reverse path. With addresses or headers outside ASCII (SMTPUTF8 mail) the
// report parts are the internationalized ones of RFC 6533: message/global-delivery-status and
// message/global-headers.

/** One recipient's line in the report. */
export interface DsnRecipient {
  rcpt: string;
  /** RFC 3464 §2.3.3: failed (bounced, final) or delayed (a warning; still being retried). */
  action: "failed" | "delayed";
  /** RFC 3463 status code, e.g. "5.1.1" (RFC 3464 §2.3.4). */
  status: string;
  /** The SMTP reply that decided it, for Diagnostic-Code (RFC 3464 §2.3.6). */
  reply: string;
  remoteMta?: string;
}

export interface DsnRequest {
  /** The DSN's own queue id: its Message-ID and MIME boundary derive from it. */
  id: string;
  /** Our host name: Reporting-MTA (RFC 3464 §2.2.2) and the MAILER-DAEMON address. */
  reportingMta: string;
  /** The message reported on, as queued. */
  original: { id: string; mailFrom: string; createdAt: number; message: Uint8Array };
  recipients: readonly DsnRecipient[];
  /** Time of this report, which is the time of the last attempt (RFC 3464 §2.3.7). */
  now: number;
  /** For delayed recipients: when the relay gives up (Will-Retry-Until, RFC 3464 §2.3.8). */
  willRetryUntil?: number;
  /** The From address; `MAILER-DAEMON@<reportingMta>` by default. The relay uses a postmaster of one of its domains, whose key signs the DSN. */
  from?: string;
}

/** The DSN, ready for Spool.enqueue. */
export interface DsnMessage {
  id: string;
  envelope: { mailFrom: ""; rcptTo: string[] };
  message: Uint8Array;
}

// The 900-character cap keeps every folded line of a report under RFC 5322 §2.1.1's 998 octets.
const MAX_REPLY = 900;
const DAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** RFC 5322 §3.3 date-time in UTC, e.g. "Thu, 27 Nov 2025 19:11:00 +0000". */
export function rfc5322Date(ms: number): string {
  const d = new Date(ms);
  const two = (n: number) => String(n).padStart(2, "0");
  return `${DAYS[d.getUTCDay()]}, ${two(d.getUTCDate())} ${MONTHS[d.getUTCMonth()]} ${d.getUTCFullYear()} ${two(d.getUTCHours())}:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())} +0000`;
}

/**
 * The RFC 3463 status of an SMTP reply: its enhanced status code when the class agrees with the basic
 * code (RFC 3463 §2, RFC 2034 §4), else the class alone with "0.0" (X.0.0, other or undefined status).
 */
export function statusOfReply(reply: string): string {
  const m = /^([245])\d\d[ -](?:([245])\.(\d{1,3})\.(\d{1,3})(?=\s|$))?/.exec(reply);
  if (!m) return "4.0.0";
  return m[2] === m[1] ? `${m[2]}.${m[3]}.${m[4]}` : `${m[1]}.0.0`;
}

/** A reply as one line of printable ASCII (RFC 5321 §4.2 replies are ASCII): lines joined, bounded. */
function oneLine(reply: string): string {
  const line = reply
    .replace(/\r?\n/g, " ")
    .replace(/[^\x20-\x7e]/g, "?")
    .trim();
  return line.length > MAX_REPLY ? line.slice(0, MAX_REPLY) + "..." : line;
}

/** Breaks `text` at spaces into lines near `width`, continuation lines starting with `indent`. */
function wrap(text: string, indent: string, width = 78): string {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(" ")) {
    if (line !== "" && line.length + 1 + word.length > width) {
      lines.push(line);
      line = indent + word;
    } else {
      line = line === "" ? word : `${line} ${word}`;
    }
  }
  lines.push(line);
  return lines.join("\r\n");
}

/** A header-like field folded at spaces (RFC 5322 §2.2.3): continuation lines begin with a space. */
function fold(field: string): string {
  return wrap(field, " ");
}

/** The original header section: everything up to the empty line that ends it (RFC 5322 §2.1). */
function headerSection(message: Uint8Array): Buffer {
  const bytes = Buffer.from(message.buffer, message.byteOffset, message.byteLength);
  const end = bytes.indexOf("\r\n\r\n");
  return end === -1 ? bytes : bytes.subarray(0, end + 2);
}

// eslint-disable-next-line no-control-regex
const NON_ASCII = /[^\x00-\x7f]/;

function humanReadable(request: DsnRequest): string {
  const failed = request.recipients.filter((r) => r.action === "failed");
  const delayed = request.recipients.filter((r) => r.action === "delayed");
  const paragraphs = [`This is the mail system at ${request.reportingMta}.`];
  const list = (recipients: DsnRecipient[]) => recipients.map((r) => wrap(`<${r.rcpt}>: ${oneLine(r.reply)}`, "    ")).join("\r\n");
  if (failed.length > 0) {
    paragraphs.push("Your message could not be delivered to the recipients below. This is final: the mail system will not try again.");
    paragraphs.push(list(failed));
  }
  if (delayed.length > 0) {
    const until = request.willRetryUntil === undefined ? "" : ` until ${rfc5322Date(request.willRetryUntil)}`;
    paragraphs.push(`Your message has not yet been delivered to the recipients below. The mail system keeps trying${until}; you need not send it again.`);
    paragraphs.push(list(delayed));
  }
  paragraphs.push(
    `The message arrived on ${rfc5322Date(request.original.createdAt)} with queue id ${request.original.id}. Its header is attached, after the report for programs.`,
  );
  return paragraphs.map((p) => (p.includes("\r\n") ? p : wrap(p, ""))).join("\r\n\r\n") + "\r\n";
}

/** RFC 3464 §2.1: per-message fields, an empty line, then one block of fields per recipient. */
function deliveryStatus(request: DsnRequest, addressType: string): string {
  const message = [`Reporting-MTA: dns; ${request.reportingMta}`, `Arrival-Date: ${rfc5322Date(request.original.createdAt)}`];
  const blocks = request.recipients.map((r) => {
    const fields = [
      `Final-Recipient: ${addressType}; ${r.rcpt}`,
      `Action: ${r.action}`,
      `Status: ${r.status}`,
      ...(r.remoteMta ? [`Remote-MTA: dns; ${r.remoteMta}`] : []),
      `Diagnostic-Code: smtp; ${oneLine(r.reply)}`,
      `Last-Attempt-Date: ${rfc5322Date(request.now)}`,
      ...(r.action === "delayed" && request.willRetryUntil !== undefined ? [`Will-Retry-Until: ${rfc5322Date(request.willRetryUntil)}`] : []),
    ];
    return fields.map(fold).join("\r\n") + "\r\n";
  });
  return [message.join("\r\n") + "\r\n", ...blocks].join("\r\n");
}

/**
 * The DSN for `request`, addressed to the original sender with the null reverse path, or null when the
 * original sender is the null reverse path: a DSN is never sent about a DSN (RFC 3464 §2, RFC 5321
 * §4.5.5 and §6.1 — that is how bounce loops are prevented).
 */
export function buildDsn(request: DsnRequest): DsnMessage | null {
  const sender = request.original.mailFrom;
  if (sender === "") return null;
  const headers = headerSection(request.original.message);
  const international = NON_ASCII.test(sender) || request.recipients.some((r) => NON_ASCII.test(r.rcpt)) || headers.some((b) => b > 0x7f);
  // RFC 6533 §3: "utf-8" address type and the global media types for internationalized mail.
  const addressType = international ? "utf-8" : "rfc822";
  const statusType = international ? "message/global-delivery-status" : "message/delivery-status";
  const headersType = international ? "message/global-headers" : "text/rfc822-headers";
  const encoding = international ? "8bit" : "7bit";
  const anyFailed = request.recipients.some((r) => r.action === "failed");
  // The boundary holds the DSN's queue id, made at bounce time, which the original, written earlier, cannot know.
  const boundary = `=_edgemx_${request.id}`;

  const head = [
    `From: Mail Delivery System <${request.from ?? `MAILER-DAEMON@${request.reportingMta}`}>`,
    `To: <${sender}>`,
    `Subject: ${anyFailed ? "Undelivered mail returned to sender" : "Delayed mail (still being retried)"}`,
    `Date: ${rfc5322Date(request.now)}`,
    `Message-ID: <${request.id}@${request.reportingMta}>`,
    // RFC 3834 §5: a machine-generated message, not to be answered automatically.
    "Auto-Submitted: auto-replied",
    "MIME-Version: 1.0",
    `Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary="${boundary}"`,
    "",
    "This is a MIME-encapsulated delivery status notification.",
    "",
  ].join("\r\n");
  const part = (type: string, body: string | Buffer) => [`--${boundary}\r\nContent-Type: ${type}\r\nContent-Transfer-Encoding: ${encoding}\r\n\r\n`, body];
  const chunks = [
    head + "\r\n",
    ...part(`text/plain; charset=${international ? "utf-8" : "us-ascii"}`, humanReadable(request)),
    "\r\n",
    ...part(statusType, deliveryStatus(request, addressType)),
    "\r\n",
    ...part(headersType, headers),
    `\r\n--${boundary}--\r\n`,
  ];
  return {
    id: request.id,
    envelope: { mailFrom: "", rcptTo: [sender] },
    message: Buffer.concat(chunks.map((chunk) => (typeof chunk === "string" ? Buffer.from(chunk, "utf8") : chunk))),
  };
}
