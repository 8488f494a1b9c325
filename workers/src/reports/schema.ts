// The D1 tables of received DMARC reports and of reports that could not be read (reports/store.ts).
// Kept apart so the Node tests can compare it with the migration file.

/** The tables, created on first use; migrations/0002_reports.sql holds the same statements for `wrangler d1 migrations apply`. */
export const REPORTS_SCHEMA: readonly string[] = [
  `CREATE TABLE IF NOT EXISTS dmarc_reports (
  org_name TEXT NOT NULL,
  email TEXT NOT NULL,
  report_id TEXT NOT NULL,
  policy_domain TEXT NOT NULL,
  begin_time INTEGER NOT NULL,
  end_time INTEGER NOT NULL,
  version TEXT,
  policy_json TEXT NOT NULL,
  record_count INTEGER NOT NULL,
  message_count INTEGER NOT NULL,
  received_at TEXT NOT NULL,
  received_via TEXT NOT NULL,
  PRIMARY KEY (org_name, email, report_id)
)`,
  `CREATE TABLE IF NOT EXISTS dmarc_records (
  org_name TEXT NOT NULL,
  email TEXT NOT NULL,
  report_id TEXT NOT NULL,
  record_index INTEGER NOT NULL,
  policy_domain TEXT NOT NULL,
  begin_time INTEGER NOT NULL,
  source_ip TEXT NOT NULL,
  message_count INTEGER NOT NULL,
  disposition TEXT NOT NULL,
  dkim TEXT NOT NULL,
  spf TEXT NOT NULL,
  header_from TEXT NOT NULL,
  envelope_from TEXT,
  dkim_results TEXT NOT NULL,
  spf_results TEXT NOT NULL,
  reasons TEXT NOT NULL,
  PRIMARY KEY (org_name, email, report_id, record_index)
)`,
  `CREATE INDEX IF NOT EXISTS dmarc_records_by_domain ON dmarc_records (policy_domain, begin_time)`,
  `CREATE TABLE IF NOT EXISTS dmarc_failure_reports (
  reporter TEXT NOT NULL,
  report_id TEXT NOT NULL,
  received_at TEXT NOT NULL,
  received_via TEXT NOT NULL,
  format TEXT NOT NULL,
  feedback_type TEXT NOT NULL,
  reported_domain TEXT,
  source_ip TEXT,
  source_name TEXT,
  arrival_time INTEGER,
  auth_failure TEXT,
  delivery_result TEXT,
  original_mail_from TEXT,
  original_from TEXT,
  original_subject TEXT,
  report_json TEXT NOT NULL,
  PRIMARY KEY (reporter, report_id)
)`,
  `CREATE TABLE IF NOT EXISTS report_refusals (
  digest TEXT NOT NULL PRIMARY KEY,
  received_at TEXT NOT NULL,
  received_via TEXT NOT NULL,
  kind TEXT NOT NULL,
  sender TEXT,
  subject TEXT,
  name TEXT,
  reason TEXT NOT NULL
)`,
];
