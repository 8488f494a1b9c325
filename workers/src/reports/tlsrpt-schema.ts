// The D1 tables of received TLS reports (reports/tlsrpt-store.ts): one row per report, per policy, per failure
// detail (RFC 8460 §4.4). Kept apart so the Node tests can compare it with the migration file.

/** The tables, created on first use; migrations/0001_tlsrpt.sql holds the same statements for `wrangler d1 migrations apply`. */
export const TLSRPT_SCHEMA: readonly string[] = [
  `CREATE TABLE IF NOT EXISTS tlsrpt_reports (
  organization_name TEXT NOT NULL,
  report_id TEXT NOT NULL,
  start_datetime TEXT NOT NULL,
  end_datetime TEXT NOT NULL,
  contact_info TEXT NOT NULL,
  received_at TEXT NOT NULL,
  report_json TEXT NOT NULL,
  PRIMARY KEY (organization_name, report_id)
)`,
  `CREATE TABLE IF NOT EXISTS tlsrpt_policies (
  organization_name TEXT NOT NULL,
  report_id TEXT NOT NULL,
  policy_index INTEGER NOT NULL,
  policy_type TEXT NOT NULL,
  policy_domain TEXT NOT NULL,
  policy_string TEXT,
  mx_host TEXT,
  successful_sessions INTEGER NOT NULL,
  failed_sessions INTEGER NOT NULL,
  PRIMARY KEY (organization_name, report_id, policy_index)
)`,
  `CREATE TABLE IF NOT EXISTS tlsrpt_failures (
  organization_name TEXT NOT NULL,
  report_id TEXT NOT NULL,
  policy_index INTEGER NOT NULL,
  detail_index INTEGER NOT NULL,
  policy_domain TEXT NOT NULL,
  result_type TEXT NOT NULL,
  sending_mta_ip TEXT NOT NULL,
  receiving_mx_hostname TEXT NOT NULL,
  receiving_mx_helo TEXT,
  receiving_ip TEXT,
  failed_sessions INTEGER NOT NULL,
  additional_information TEXT,
  failure_reason_code TEXT,
  PRIMARY KEY (organization_name, report_id, policy_index, detail_index)
)`,
];
