// TLS-RPT counting (RFC 8460 §4): every outbound session attempt counts once, as a success or as a
// failure with its result type, under the policy that applied (DANE TLSA, MTA-STS, or none found) for
// the recipient domain and the UTC day. The counts live in node:sqlite; the day's report is a pure
// aggregation of the rows. Which days' reports went out is kept beside them (sender.ts sends).
import { DatabaseSync } from "node:sqlite";
import type { TlsRptPolicyType, TlsRptResultType } from "../../../core/tlsrpt/report.ts";

/** RFC 8460 §4.3 result types edgemx reports: all of the RFC's but "dane-required" (we never ask for DANE). */
export type TlsResultType = Exclude<TlsRptResultType, "dane-required">;

/** RFC 8460 §4.4 policy-type. */
export type TlsPolicyType = TlsRptPolicyType;

export interface TlsPolicyFacts {
  type: TlsPolicyType;
  /** The recipient domain the policy belongs to. */
  domain: string;
  /** The policy as text lines: the TLSA records in presentation format, or the STS policy's lines. */
  policyString: readonly string[];
  /** STS: the policy's mx patterns (§4.4 "mx-host"). */
  mxHost: readonly string[];
}

/** One session attempt with one MX host. */
export interface TlsSessionOutcome {
  policy: TlsPolicyFacts;
  /** undefined for a successful session. */
  failure?: { resultType: TlsResultType; receivingMxHostname: string; receivingIp: string; detail: string };
  /** UTC milliseconds. */
  at: number;
}

/** One stored row: a count of identical outcomes on one day. */
export interface TlsCountRow {
  day: string;
  policyType: TlsPolicyType;
  policyDomain: string;
  policyString: string[];
  mxHost: string[];
  /** "" for successes. */
  resultType: string;
  receivingMxHostname: string;
  receivingIp: string;
  detail: string;
  count: number;
}

export interface TlsRptStore {
  record(outcome: TlsSessionOutcome): void;
  rows(day: string): TlsCountRow[];
  /**
   * Whether the report of `day` for `policyDomain` went to `target` (one rua URI), or with target ""
   * (the default) whether the domain's day is done: sent everywhere or without a TLSRPT record
   * (sender.ts).
   */
  isSent(day: string, policyDomain: string, target?: string): boolean;
  markSent(day: string, policyDomain: string, at: number, target?: string): void;
  close(): void;
}

/** The counter in `path` (":memory:" for tests). */
export function openTlsRptStore(path: string): TlsRptStore {
  const db = new DatabaseSync(path);
  // Every outbound session is counted, on the main thread, as it happens. In the default rollback
  // journal each count was a transaction with its fsyncs (42 % of the main thread's time in the
  // outbound benchmark's profile). Counts may lose their last writes in a power cut (a report then
  // counts a few sessions less), never in a crash of the process: synchronous=NORMAL, which in WAL
  // mode spares each count an fsync and still never corrupts the file.
  db.exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000;");
  db.exec(`CREATE TABLE IF NOT EXISTS tls_rpt_counts (
    day TEXT NOT NULL, policy_type TEXT NOT NULL, policy_domain TEXT NOT NULL, policy_string TEXT NOT NULL,
    mx_host TEXT NOT NULL, result_type TEXT NOT NULL, receiving_mx_hostname TEXT NOT NULL,
    receiving_ip TEXT NOT NULL, detail TEXT NOT NULL, count INTEGER NOT NULL,
    PRIMARY KEY (day, policy_type, policy_domain, policy_string, mx_host, result_type, receiving_mx_hostname, receiving_ip, detail))`);
  const upsert = db.prepare(`INSERT INTO tls_rpt_counts VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 1)
    ON CONFLICT DO UPDATE SET count = count + 1`);
  const select = db.prepare("SELECT * FROM tls_rpt_counts WHERE day = ? ORDER BY policy_domain, policy_type, result_type");
  db.exec(`CREATE TABLE IF NOT EXISTS tls_rpt_sent (day TEXT NOT NULL, policy_domain TEXT NOT NULL, target TEXT NOT NULL,
    sent_at INTEGER NOT NULL, PRIMARY KEY (day, policy_domain, target))`);
  const selectSent = db.prepare("SELECT 1 FROM tls_rpt_sent WHERE day = ? AND policy_domain = ? AND target = ?");
  const insertSent = db.prepare("INSERT OR IGNORE INTO tls_rpt_sent VALUES (?, ?, ?, ?)");
  return {
    record(outcome) {
      const { policy, failure } = outcome;
      upsert.run(
        utcDay(outcome.at),
        policy.type,
        policy.domain,
        JSON.stringify(policy.policyString),
        JSON.stringify(policy.mxHost),
        failure?.resultType ?? "",
        failure?.receivingMxHostname ?? "",
        failure?.receivingIp ?? "",
        failure?.detail ?? "",
      );
    },
    rows(day) {
      return select.all(day).map((row) => ({
        day: String(row.day),
        policyType: String(row.policy_type) as TlsPolicyType,
        policyDomain: String(row.policy_domain),
        policyString: JSON.parse(String(row.policy_string)) as string[],
        mxHost: JSON.parse(String(row.mx_host)) as string[],
        resultType: String(row.result_type),
        receivingMxHostname: String(row.receiving_mx_hostname),
        receivingIp: String(row.receiving_ip),
        detail: String(row.detail),
        count: Number(row.count),
      }));
    },
    isSent: (day, policyDomain, target = "") => selectSent.get(day, policyDomain, target) !== undefined,
    markSent(day, policyDomain, at, target = "") {
      insertSent.run(day, policyDomain, target, at);
    },
    close: () => db.close(),
  };
}

/** "2026-03-04" for a UTC instant. */
export function utcDay(at: number): string {
  return new Date(at).toISOString().slice(0, 10);
}

/** RFC 8460 §4.4, one report: the sending organization's facts. */
export interface ReportSender {
  organizationName: string;
  contactInfo: string;
  sendingMtaIp?: string;
}

/**
 * The RFC 8460 §4.4 JSON report of `day` for one policy domain (one report per recipient domain, §3):
 * a `policies` entry per distinct policy, with its success and failure totals and failure details
 * grouped by result type, receiving host and address.
 */
export function tlsReport(rows: readonly TlsCountRow[], day: string, policyDomain: string, sender: ReportSender): object {
  const entries = new Map<string, { policy: object; success: number; failure: number; details: object[] }>();
  for (const row of rows.filter((r) => r.day === day && r.policyDomain === policyDomain)) {
    const key = JSON.stringify([row.policyType, row.policyString, row.mxHost]);
    let entry = entries.get(key);
    if (entry === undefined) {
      entry = {
        policy: {
          "policy-type": row.policyType,
          ...(row.policyType === "no-policy-found" ? {} : { "policy-string": row.policyString }),
          "policy-domain": row.policyDomain,
          ...(row.mxHost.length > 0 ? { "mx-host": row.mxHost } : {}),
        },
        success: 0,
        failure: 0,
        details: [],
      };
      entries.set(key, entry);
    }
    if (row.resultType === "") {
      entry.success += row.count;
      continue;
    }
    entry.failure += row.count;
    entry.details.push({
      "result-type": row.resultType,
      ...(sender.sendingMtaIp === undefined ? {} : { "sending-mta-ip": sender.sendingMtaIp }),
      "receiving-mx-hostname": row.receivingMxHostname,
      ...(row.receivingIp === "" ? {} : { "receiving-ip": row.receivingIp }),
      "failed-session-count": row.count,
      "failure-reason-code": row.detail,
    });
  }
  return {
    "organization-name": sender.organizationName,
    "date-range": { "start-datetime": `${day}T00:00:00Z`, "end-datetime": `${day}T23:59:59Z` },
    "contact-info": sender.contactInfo,
    "report-id": `${day}_${policyDomain}`,
    policies: [...entries.values()].map((entry) => ({
      policy: entry.policy,
      summary: { "total-successful-session-count": entry.success, "total-failure-session-count": entry.failure },
      ...(entry.details.length > 0 ? { "failure-details": entry.details } : {}),
    })),
  };
}
