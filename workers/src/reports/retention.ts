// Retention: reports received more than `reports.retentionDays` ago are deleted, with their records,
// policies and failure details — run by the Worker's Cron Trigger (scheduled() in index.ts). The age is
// when a report arrived, not the period it covers: a reporter's clock cannot make a report vanish early.
import { ensureSchema } from "./store.ts";

export interface Deleted {
  dmarcReports: number;
  dmarcFailureReports: number;
  tlsReports: number;
  refusals: number;
}

const DAY_MS = 24 * 60 * 60 * 1000;

/** Deletes in one batch (a transaction): the children first, by their report's key. */
export async function deleteExpiredReports(db: D1Database, retentionDays: number, now: Date): Promise<Deleted> {
  await ensureSchema(db);
  const cutoff = new Date(now.getTime() - retentionDays * DAY_MS).toISOString();
  const statements = [
    "DELETE FROM dmarc_records WHERE (org_name, email, report_id) IN (SELECT org_name, email, report_id FROM dmarc_reports WHERE received_at < ?1)",
    "DELETE FROM dmarc_reports WHERE received_at < ?1",
    "DELETE FROM dmarc_failure_reports WHERE received_at < ?1",
    "DELETE FROM tlsrpt_policies WHERE (organization_name, report_id) IN (SELECT organization_name, report_id FROM tlsrpt_reports WHERE received_at < ?1)",
    "DELETE FROM tlsrpt_failures WHERE (organization_name, report_id) IN (SELECT organization_name, report_id FROM tlsrpt_reports WHERE received_at < ?1)",
    "DELETE FROM tlsrpt_reports WHERE received_at < ?1",
    "DELETE FROM report_refusals WHERE received_at < ?1",
  ];
  const results = await db.batch(statements.map((sql) => db.prepare(sql).bind(cutoff)));
  const changes = (i: number) => results[i]!.meta.changes;
  return { dmarcReports: changes(1), dmarcFailureReports: changes(2), tlsReports: changes(5), refusals: changes(6) };
}
