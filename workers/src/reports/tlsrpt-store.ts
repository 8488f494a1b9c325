// Keeping a TLS report (RFC 8460 §4.4) in D1, whichever way it arrived: posted to /.well-known/tlsrpt
// (http/tlsrpt.ts) or mailed to the TLS-RPT rua (reports/intake.ts). One store for both paths.
import type { TlsRptReport } from "../../../core/tlsrpt/report.ts";
import { TLSRPT_SCHEMA } from "./tlsrpt-schema.ts";

/** Stores the report in one D1 batch (a transaction); false when this sender's report-id is already stored. */
export async function storeTlsReport(db: D1Database, report: TlsRptReport, receivedAt: string): Promise<boolean> {
  const org = report["organization-name"];
  const id = report["report-id"];
  const policyRows = report.policies.map((p, i) => ({
    i,
    type: p.policy["policy-type"],
    domain: p.policy["policy-domain"],
    policyString: p.policy["policy-string"] ? JSON.stringify(p.policy["policy-string"]) : null,
    mxHost: p.policy["mx-host"] ? JSON.stringify(p.policy["mx-host"]) : null,
    ok: p.summary["total-successful-session-count"],
    failed: p.summary["total-failure-session-count"],
  }));
  const failureRows = report.policies.flatMap((p, i) =>
    (p["failure-details"] ?? []).map((d, j) => ({
      i,
      j,
      domain: p.policy["policy-domain"],
      type: d["result-type"],
      ip: d["sending-mta-ip"],
      mx: d["receiving-mx-hostname"],
      helo: d["receiving-mx-helo"] ?? null,
      rip: d["receiving-ip"] ?? null,
      count: d["failed-session-count"],
      info: d["additional-information"] ?? null,
      code: d["failure-reason-code"] ?? null,
    })),
  );
  // The policies and failure details go in as one JSON parameter each (SQLite json_each), so a report
  // costs the same few statements however many failures it lists (D1 counts queries per invocation).
  const results = await db.batch([
    ...TLSRPT_SCHEMA.map((sql) => db.prepare(sql)),
    db
      .prepare("INSERT OR IGNORE INTO tlsrpt_reports VALUES (?, ?, ?, ?, ?, ?, ?)")
      .bind(org, id, report["date-range"]["start-datetime"], report["date-range"]["end-datetime"], report["contact-info"], receivedAt, JSON.stringify(report)),
    db
      .prepare(
        `INSERT OR IGNORE INTO tlsrpt_policies
         SELECT ?1, ?2, value->>'i', value->>'type', value->>'domain', value->>'policyString', value->>'mxHost', value->>'ok', value->>'failed'
         FROM json_each(?3)`,
      )
      .bind(org, id, JSON.stringify(policyRows)),
    db
      .prepare(
        `INSERT OR IGNORE INTO tlsrpt_failures
         SELECT ?1, ?2, value->>'i', value->>'j', value->>'domain', value->>'type', value->>'ip', value->>'mx', value->>'helo',
                value->>'rip', value->>'count', value->>'info', value->>'code'
         FROM json_each(?3)`,
      )
      .bind(org, id, JSON.stringify(failureRows)),
  ]);
  return results[TLSRPT_SCHEMA.length]!.meta.changes > 0;
}
