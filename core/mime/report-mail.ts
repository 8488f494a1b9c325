// The mail that carries a report we send: one short text part and the gzipped report as a base64
// attachment, with the Subject both report formats prescribe (RFC 9990 "Email" and RFC 8460 §5.3.1:
// "Report Domain: … Submitter: … Report-ID: <…>"). The DMARC aggregate report (core/dmarcrpt/sending.ts)
// and the TLS report (core/tlsrpt/delivery.ts) differ only in the container's type, extra header fields,
// the text and the attachment's type and name. CRLF line ends, unsigned (the relay signs it).
import { randomBytes } from "node:crypto";
import { gzipSync } from "node:zlib";

export interface ReportMail {
  from: string;
  to: string;
  policyDomain: string;
  /** Our host name: the Submitter of the Subject and the right-hand side of the Message-ID. */
  submitter: string;
  reportId: string;
  now: Date;
  /** The container: `multipart/mixed` (DMARC, RFC 7489 §7.2.1.1) or `multipart/report; report-type="tlsrpt"` (RFC 8460 §5.3). */
  container: string;
  /** Header fields of the format besides the common ones, as "Name: value". */
  extraHeaders?: readonly string[];
  /** The text part's lines (US-ASCII). */
  text: readonly string[];
  attachment: { contentType: string; filename: string; content: string };
}

/** The report mail's bytes; the attachment is the gzipped `content`, base64 in lines of 76 (RFC 2045 §6.8). */
export function reportMailMessage(mail: ReportMail): Buffer {
  const boundary = `report-${randomBytes(12).toString("hex")}`;
  const gzipped = gzipSync(Buffer.from(mail.attachment.content, "utf8"));
  const lines = [
    `From: ${mail.from}`,
    `To: ${mail.to}`,
    `Subject: Report Domain: ${mail.policyDomain} Submitter: ${mail.submitter} Report-ID: <${mail.reportId}>`,
    `Date: ${mail.now.toUTCString().replace("GMT", "+0000")}`,
    `Message-ID: <${randomBytes(12).toString("hex")}@${mail.submitter}>`,
    ...(mail.extraHeaders ?? []),
    "Auto-Submitted: auto-generated",
    "MIME-Version: 1.0",
    `Content-Type: ${mail.container}; boundary="${boundary}"`,
    "",
    `--${boundary}`,
    "Content-Type: text/plain; charset=us-ascii",
    "",
    ...mail.text,
    `--${boundary}`,
    `Content-Type: ${mail.attachment.contentType}`,
    `Content-Disposition: attachment; filename="${mail.attachment.filename}"`,
    "Content-Transfer-Encoding: base64",
    "",
    ...(gzipped.toString("base64").match(/.{1,76}/g) ?? []),
    `--${boundary}--`,
    "",
  ];
  return Buffer.from(lines.join("\r\n"), "latin1");
}
