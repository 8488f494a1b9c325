// TLS-RPT delivery (RFC 8460 §3, §5), the pure parts: the `_smtp._tls` TXT record parsed strictly and
// a day's gzipped report as the mail message sent to a `mailto:` rua. The lookup, the daily timer,
// enqueueing and the https POST are in relay-node/src/tlsrpt/sender.ts (docs/outbound.md).
import { randomBytes } from "node:crypto";
import { reportMailMessage } from "../mime/report-mail.ts";

export interface TlsRptPolicy {
  /** The rua URIs, `mailto:` and `https:` only, in the record's order (§3). */
  rua: string[];
}

/**
 * The recipient domain's reporting policy from its `_smtp._tls` TXT records (each record's strings
 * already joined), or null when it has none: records not starting with "v=TLSRPTv1" are discarded,
 * and anything but exactly one left means no TLSRPT (§3). Fields are `name=value` separated by ";"
 * with optional spaces (§3: field-delim); `v` comes first, `rua` is required, other names are
 * extensions and ignored. URIs other than mailto: and https: are ignored; none left → null.
 */
export function parseTlsRptRecord(records: readonly string[]): TlsRptPolicy | null {
  const candidates = records.filter((record) => /^v=TLSRPTv1[ \t]*(;|$)/.test(record));
  if (candidates.length !== 1) return null;
  const fields = candidates[0]!.split(/[ \t]*;[ \t]*/).filter((field, i, all) => field !== "" || i < all.length - 1);
  let rua: string[] | undefined;
  for (const field of fields.slice(1)) {
    const match = /^([A-Za-z0-9][A-Za-z0-9._-]{0,31})=([\x21-\x3a\x3c\x3e-\x7e]+)$/.exec(field);
    if (!match) return null; // §3: tlsrpt-field and tlsrpt-extension both need name "=" value
    if (match[1] === "rua") {
      if (rua !== undefined) return null;
      rua = match[2]!.split(",").map((uri) => uri.trim());
    }
  }
  const usable = (rua ?? []).filter((uri) => /^mailto:[^@\s]+@[^@\s]+$/i.test(uri) || /^https:\/\/[^\s]+$/i.test(uri));
  return usable.length === 0 ? null : { rua: usable };
}

export interface TlsReportMail {
  /** The §4.4 report object (tlsReport). */
  report: { "report-id": string };
  policyDomain: string;
  /** The UTC day reported on, YYYY-MM-DD. */
  day: string;
  /** Our host name: the §5.3 receiver and TLS-Report-Submitter. */
  submitter: string;
  from: string;
  to: string;
  now: Date;
}

/** §5.3: `<receiver>!<policy-domain>!<begin>!<end>!<unique-id>.json.gz`, timestamps in epoch seconds. */
export function tlsReportFilename(submitter: string, policyDomain: string, day: string, uniqueId: string): string {
  const begin = Date.parse(`${day}T00:00:00Z`) / 1000;
  return `${submitter}!${policyDomain}!${begin}!${begin + 86_399}!${uniqueId}.json.gz`;
}

/**
 * The report as a message (RFC 8460 §5.3): `multipart/report; report-type="tlsrpt"` (RFC 6522) with a
 * short text part and the gzipped JSON as `application/tlsrpt+gzip`, base64; the §5.3.1 Subject and
 * the TLS-Report-Domain and TLS-Report-Submitter header fields. CRLF line ends, unsigned.
 */
export function tlsReportMessage(mail: TlsReportMail): Buffer {
  return reportMailMessage({
    from: mail.from,
    to: mail.to,
    policyDomain: mail.policyDomain,
    submitter: mail.submitter,
    now: mail.now,
    reportId: mail.report["report-id"],
    container: 'multipart/report; report-type="tlsrpt"',
    extraHeaders: [`TLS-Report-Domain: ${mail.policyDomain}`, `TLS-Report-Submitter: ${mail.submitter}`],
    text: [`The SMTP TLS report of ${mail.submitter} for ${mail.policyDomain} on ${mail.day} (UTC), RFC 8460.`],
    attachment: {
      contentType: "application/tlsrpt+gzip",
      filename: tlsReportFilename(mail.submitter, mail.policyDomain, mail.day, randomBytes(6).toString("hex")),
      content: JSON.stringify(mail.report),
    },
  });
}
