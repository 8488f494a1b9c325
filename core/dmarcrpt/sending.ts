// The DMARC aggregate report we send (RFC 9990), the pure parts: one policy domain's day of counted
// evaluations as the XML document of RFC 9990 Appendix A's schema (its namespace, version 1.0), gzipped
// into the mail message that carries it (RFC 9990 "Email"; RFC 7489 §7.2.1.1). Counting, the daily
// run, DKIM signing and enqueueing are in relay-node/src/dmarcrpt/.
import { XMLBuilder } from "fast-xml-parser";
import type { DmarcEvaluation } from "./evaluation.ts";
import type { PolicyPublished } from "./policy-record.ts";
import { reportMailMessage } from "../mime/report-mail.ts";

/** RFC 9990: the namespace of the aggregate report format. */
export const DMARC_NAMESPACE = "urn:ietf:params:xml:ns:dmarc-2.0";

/** What a report row is made of: an evaluation without what is the same for the whole report. */
export type ReportedEvaluation = Omit<DmarcEvaluation, "policyDomain" | "record">;

/** Identical evaluations of the day, counted (RFC 9990 "row": count). */
export interface CountedEvaluation {
  evaluation: ReportedEvaluation;
  count: number;
}

export interface AggregateReportInput {
  /** The UTC day reported on, YYYY-MM-DD: the reporting period is that day (RFC 9990 "date_range"). */
  day: string;
  /** report_metadata: org_name and email (a contact of ours). */
  orgName: string;
  email: string;
  reportId: string;
  policy: PolicyPublished;
  rows: readonly CountedEvaluation[];
  /** Problems with the record or its destinations (RFC 9990 "Error element"), joined into the one error element. */
  errors: readonly string[];
}

/** Seconds since the epoch of the day's first and last second. */
export function dayRange(day: string): { begin: number; end: number } {
  const begin = Date.parse(`${day}T00:00:00Z`) / 1000;
  return { begin, end: begin + 86_399 };
}

/** RFC 9990 "Definition of Report-ID": unique among our reports to the domain, one per day: `2026-03-04_example.com@mx.example.org`. */
export function aggregateReportId(day: string, policyDomain: string, submitter: string): string {
  return `${day}_${policyDomain}@${submitter}`;
}

// XML 1.0 §2.2: characters a document may not contain at all (text from DKIM selectors and DNS records
// is not ours to trust); replaced rather than dropped, so the reader sees something was there.
const NOT_XML_CHAR = /[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\u{10000}-\u{10ffff}]/gu;
const xmlText = (text: string): string => text.replace(NOT_XML_CHAR, "\ufffd");

const builder = new XMLBuilder({ format: true, indentBy: " ", ignoreAttributes: false, attributeNamePrefix: "@_", suppressEmptyNode: false });

function recordElement({ evaluation, count }: CountedEvaluation): object {
  return {
    row: {
      source_ip: evaluation.sourceIp,
      count,
      policy_evaluated: {
        disposition: evaluation.disposition,
        dkim: evaluation.dkim,
        spf: evaluation.spf,
        ...(evaluation.reasons.length === 0
          ? {}
          : { reason: evaluation.reasons.map((r) => ({ type: r.type, ...(r.comment === undefined ? {} : { comment: xmlText(r.comment) }) })) }),
      },
    },
    identifiers: {
      header_from: xmlText(evaluation.headerFrom),
      // RFC 9990: "MAY be existing but empty if the message had a null reverse-path".
      envelope_from: xmlText(evaluation.envelopeFrom),
    },
    auth_results: {
      ...(evaluation.dkimResults.length === 0
        ? {}
        : { dkim: evaluation.dkimResults.map((d) => ({ domain: xmlText(d.domain), selector: xmlText(d.selector), result: d.result })) }),
      ...(evaluation.spfResult === null ? {} : { spf: { domain: xmlText(evaluation.spfResult.domain), scope: "mfrom", result: evaluation.spfResult.result } }),
    },
  };
}

/** The report document, in the element order RFC 9990's schema requires. */
export function aggregateReportXml(input: AggregateReportInput): string {
  const { begin, end } = dayRange(input.day);
  const { policy } = input;
  const document = {
    "?xml": { "@_version": "1.0", "@_encoding": "UTF-8" },
    feedback: {
      "@_xmlns": DMARC_NAMESPACE,
      version: "1.0",
      report_metadata: {
        org_name: xmlText(input.orgName),
        email: xmlText(input.email),
        report_id: xmlText(input.reportId),
        date_range: { begin, end },
        ...(input.errors.length === 0 ? {} : { error: xmlText(input.errors.join("; ")) }),
        generator: "edgemx",
      },
      policy_published: {
        domain: xmlText(policy.domain),
        discovery_method: policy.discoveryMethod,
        p: policy.p,
        sp: policy.sp,
        np: policy.np,
        adkim: policy.adkim,
        aspf: policy.aspf,
        fo: xmlText(policy.fo),
        testing: policy.testing,
      },
      record: input.rows.map(recordElement),
    },
  };
  return builder.build(document);
}

/**
 * RFC 9990 "Email": `receiver!policy-domain!begin!end.xml.gz`, without a unique-id: a report sent again
 * carries the same name, as it must.
 */
export function aggregateReportFilename(submitter: string, policyDomain: string, day: string): string {
  const { begin, end } = dayRange(day);
  return `${submitter}!${policyDomain}!${begin}!${end}.xml.gz`;
}

export interface AggregateReportMail {
  xml: string;
  policyDomain: string;
  day: string;
  reportId: string;
  /** Our host name: the Submitter of the Subject and the receiver of the file name. */
  submitter: string;
  from: string;
  to: string;
  now: Date;
}

/**
 * The report as a message: `multipart/mixed` with a short text part and the gzipped XML as
 * `application/gzip` (RFC 6713), base64, named by aggregateReportFilename; the Subject of RFC 9990's
 * dmarc-subject ABNF with the Report-ID. CRLF line ends, unsigned (the relay signs it).
 */
export function aggregateReportMessage(mail: AggregateReportMail): Buffer {
  const { begin, end } = dayRange(mail.day);
  return reportMailMessage({
    from: mail.from,
    to: mail.to,
    policyDomain: mail.policyDomain,
    submitter: mail.submitter,
    reportId: mail.reportId,
    now: mail.now,
    container: "multipart/mixed",
    text: [
      `The DMARC aggregate report of ${mail.submitter} for ${mail.policyDomain} on ${mail.day}`,
      `(${begin} to ${end}, UTC), RFC 9990. Report-ID: ${mail.reportId}`,
    ],
    attachment: { contentType: "application/gzip", filename: aggregateReportFilename(mail.submitter, mail.policyDomain, mail.day), content: mail.xml },
  });
}
