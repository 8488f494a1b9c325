// Keeping what a report mail held in D1 (REPORTS_DB), one item at a time: DMARC aggregate reports with
// one row per record, failure reports, TLS reports (reports/tlsrpt-store.ts, shared with the HTTPS
// endpoint), and the refused ones with their reason. A report is stored once: the aggregate report by
// reporter (org_name, email) and report_id (RFC 7489 appendix C), the TLS report by organization-name
// and report-id (RFC 8460 §4.4), the failure report by reporter and the report mail's Message-ID.
import type { AggregateReport } from "../../../core/dmarcrpt/aggregate.ts";
import type { FailureReport } from "../../../core/dmarcrpt/failure.ts";
import type { ReportItem, ReportMessage } from "../../../core/reports/intake.ts";
import { REPORTS_SCHEMA } from "./schema.ts";
import { TLSRPT_SCHEMA } from "./tlsrpt-schema.ts";
import { storeTlsReport } from "./tlsrpt-store.ts";

/** Records go in as one JSON parameter per chunk (SQLite json_each): D1 bounds a parameter's size. */
const RECORDS_PER_STATEMENT = 1000;

/** How a report reached us: Cloudflare Email Routing, or the relay's hand-over to POST /v1/reports. */
export type ReceivedVia = "email-routing" | "relay";

export interface StoreOutcome {
  stored: number;
  duplicates: number;
  refused: number;
}

const schemaReady = new WeakMap<D1Database, Promise<unknown>>();

/** Creates the tables once per isolate and database (CREATE … IF NOT EXISTS: a no-op once they exist). */
export function ensureSchema(db: D1Database): Promise<unknown> {
  let ready = schemaReady.get(db);
  if (ready === undefined) {
    ready = db.batch([...TLSRPT_SCHEMA, ...REPORTS_SCHEMA].map((sql) => db.prepare(sql)));
    ready.catch(() => schemaReady.delete(db));
    schemaReady.set(db, ready);
  }
  return ready;
}

async function storeAggregate(db: D1Database, report: AggregateReport, receivedAt: string, via: ReceivedVia): Promise<boolean> {
  const key = [report.orgName, report.email, report.reportId] as const;
  const { domain: _domain, ...policy } = report.policy;
  const messages = report.records.reduce((sum, r) => sum + r.count, 0);
  const rows = report.records.map((r, i) => ({
    i,
    ip: r.sourceIp,
    n: r.count,
    disposition: r.disposition,
    dkim: r.dkim,
    spf: r.spf,
    from: r.headerFrom,
    envFrom: r.envelopeFrom,
    dkimResults: JSON.stringify(r.dkimResults),
    spfResults: JSON.stringify(r.spfResults),
    reasons: JSON.stringify(r.reasons),
  }));
  const chunks: (typeof rows)[] = [];
  for (let i = 0; i < rows.length; i += RECORDS_PER_STATEMENT) chunks.push(rows.slice(i, i + RECORDS_PER_STATEMENT));
  // One batch is one transaction: the report and all its records, or nothing.
  const results = await db.batch([
    db
      .prepare("INSERT OR IGNORE INTO dmarc_reports VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
      .bind(...key, report.policy.domain, report.begin, report.end, report.version, JSON.stringify(policy), report.records.length, messages, receivedAt, via),
    ...chunks.map((chunk) =>
      db
        .prepare(
          `INSERT OR IGNORE INTO dmarc_records
           SELECT ?1, ?2, ?3, value->>'i', ?4, ?5, value->>'ip', value->>'n', value->>'disposition', value->>'dkim', value->>'spf',
                  value->>'from', value->>'envFrom', value->>'dkimResults', value->>'spfResults', value->>'reasons'
           FROM json_each(?6)`,
        )
        .bind(...key, report.policy.domain, report.begin, JSON.stringify(chunk)),
    ),
  ]);
  return results[0]!.meta.changes > 0;
}

async function storeFailure(db: D1Database, report: FailureReport, reporter: string, reportId: string, receivedAt: string, via: ReceivedVia): Promise<boolean> {
  const result = await db
    .prepare("INSERT OR IGNORE INTO dmarc_failure_reports VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
    .bind(
      reporter,
      reportId,
      receivedAt,
      via,
      report.format,
      report.feedbackType,
      report.reportedDomains[0] ?? null,
      report.sourceIp,
      report.sourceName,
      report.arrivalTime,
      report.authFailure,
      report.deliveryResult,
      report.originalMailFrom,
      report.original?.from ?? null,
      report.original?.subject ?? null,
      JSON.stringify(report),
    )
    .run();
  return result.meta.changes > 0;
}

async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

export interface ReceivedMail {
  message: ReportMessage;
  /** The mail's bytes: a refusal is keyed by their digest, so the same mail sent twice is kept once. */
  raw: Uint8Array;
  /** The envelope sender, when the From field is missing. */
  envelopeFrom: string;
  receivedAt: string;
  via: ReceivedVia;
}

/** Keeps every item of a report mail; `items` may differ from the message's (the intake refuses foreign domains). */
export async function storeReportMail(db: D1Database, mail: ReceivedMail, items: readonly ReportItem[]): Promise<StoreOutcome> {
  await ensureSchema(db);
  const outcome: StoreOutcome = { stored: 0, duplicates: 0, refused: 0 };
  const digest = await sha256Hex(mail.raw);
  const reporter = mail.message.from ?? mail.envelopeFrom;
  const count = (isNew: boolean) => (isNew ? outcome.stored++ : outcome.duplicates++);
  for (const [index, item] of items.entries()) {
    switch (item.kind) {
      case "dmarc-aggregate":
        count(await storeAggregate(db, item.report, mail.receivedAt, mail.via));
        break;
      case "tlsrpt":
        count(await storeTlsReport(db, item.report, mail.receivedAt));
        break;
      case "dmarc-failure": {
        // A failure report has no report id of its own; its mail's Message-ID is one (RFC 5322 §3.6.4).
        const id = `${mail.message.messageId ?? digest}${items.length > 1 ? `#${index}` : ""}`;
        count(await storeFailure(db, item.report, reporter, id, mail.receivedAt, mail.via));
        break;
      }
      case "refused":
        outcome.refused++;
        await db
          .prepare("INSERT OR IGNORE INTO report_refusals VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
          .bind(`${digest}#${index}`, mail.receivedAt, mail.via, item.as, reporter, mail.message.subject, item.name, item.reason)
          .run();
        break;
    }
  }
  return outcome;
}
