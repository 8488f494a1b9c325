// The dashboard's views, read from D1: each is one JSON answer of the API (/admin/api/…) and one part of
// the server-rendered page, so the page shows exactly what the API says. A domain's view covers its
// subdomains (RFC 7489 §6.6.3: the organisational domain's policy covers them).
import type { WorkerDomainConfig } from "../../../core/config/worker.ts";
import { ensureSchema } from "../reports/store.ts";

/** Days shown in the charts: the most recent ones that have reports. */
export const CHART_DAYS = 60;
/** Rows in each table of sources. */
export const TOP_SOURCES = 25;

export interface DmarcDay {
  day: string;
  /** Messages that passed DMARC (DKIM or SPF aligned, RFC 7489 §6.6.2). */
  pass: number;
  /** Messages that failed, by what the receiver did with them. */
  failNone: number;
  failQuarantine: number;
  failReject: number;
}

export interface Source {
  ip: string;
  /** A name a failure report gave for the address (RFC 5965 Source-IP comment), when there is one. */
  name: string | null;
  messages: number;
  passed: number;
  /** passed / messages, 0…1. */
  passRate: number;
  reporters: number;
  headerFrom: string[];
}

export interface FailingSource {
  ip: string;
  name: string | null;
  messages: number;
  dkimFailed: number;
  spfFailed: number;
  /** The domains the raw DKIM and SPF results name (auth_results), the signers and envelope domains seen. */
  dkimDomains: string[];
  spfDomains: string[];
}

export interface PolicyView {
  /** What our configuration publishes (RFC 7489 §6.3 tags). */
  configured: { p: string; sp: string | null; adkim: string; aspf: string; pct: number; rua: string[]; ruf: string[] };
  /** What the latest aggregate report says it found published, and who said it. */
  seen: { reporter: string; end: number; policy: Record<string, unknown> } | null;
}

export interface TlsDay {
  day: string;
  reporter: string;
  successful: number;
  failed: number;
  /** Failed sessions by RFC 8460 §4.3 result type. */
  failures: Record<string, number>;
}

export interface FailureReportRow {
  reporter: string;
  arrivalTime: number | null;
  receivedAt: string;
  sourceIp: string | null;
  sourceName: string | null;
  authFailure: string | null;
  originalFrom: string | null;
  subject: string | null;
}

export interface Refusal {
  receivedAt: string;
  kind: string;
  sender: string | null;
  subject: string | null;
  name: string | null;
  reason: string;
}

export interface DomainTotals {
  domain: string;
  reports: number;
  messages: number;
  passed: number;
}

const IN_DOMAIN = "(policy_domain = ?1 OR policy_domain LIKE '%.' || ?1)";
const PASSES = "(dkim = 'pass' OR spf = 'pass')";

export async function domainTotals(db: D1Database, domains: readonly WorkerDomainConfig[]): Promise<DomainTotals[]> {
  await ensureSchema(db);
  return Promise.all(
    domains.map(async ({ name }) => {
      const reports = await db.prepare(`SELECT count(*) AS n FROM dmarc_reports WHERE ${IN_DOMAIN}`).bind(name).first<{ n: number }>();
      const counts = await db
        .prepare(
          `SELECT coalesce(sum(message_count), 0) AS messages, coalesce(sum(CASE WHEN ${PASSES} THEN message_count END), 0) AS passed FROM dmarc_records WHERE ${IN_DOMAIN}`,
        )
        .bind(name)
        .first<{ messages: number; passed: number }>();
      return { domain: name, reports: reports?.n ?? 0, messages: counts?.messages ?? 0, passed: counts?.passed ?? 0 };
    }),
  );
}

export async function dmarcTimeline(db: D1Database, domain: string): Promise<DmarcDay[]> {
  await ensureSchema(db);
  const { results } = await db
    .prepare(
      `SELECT date(begin_time, 'unixepoch') AS day,
              sum(CASE WHEN ${PASSES} THEN message_count ELSE 0 END) AS pass,
              sum(CASE WHEN NOT ${PASSES} AND disposition NOT IN ('quarantine', 'reject') THEN message_count ELSE 0 END) AS failNone,
              sum(CASE WHEN NOT ${PASSES} AND disposition = 'quarantine' THEN message_count ELSE 0 END) AS failQuarantine,
              sum(CASE WHEN NOT ${PASSES} AND disposition = 'reject' THEN message_count ELSE 0 END) AS failReject
       FROM dmarc_records WHERE ${IN_DOMAIN} GROUP BY day ORDER BY day DESC LIMIT ${CHART_DAYS}`,
    )
    .bind(domain)
    .all<DmarcDay>();
  return results.reverse();
}

/** The names failure reports gave for source addresses. */
async function sourceNames(db: D1Database): Promise<Map<string, string>> {
  const { results } = await db
    .prepare("SELECT source_ip, max(source_name) AS name FROM dmarc_failure_reports WHERE source_name IS NOT NULL GROUP BY source_ip")
    .all<{ source_ip: string; name: string }>();
  return new Map(results.map((r) => [r.source_ip, r.name]));
}

export async function topSources(db: D1Database, domain: string): Promise<Source[]> {
  await ensureSchema(db);
  const names = await sourceNames(db);
  const { results } = await db
    .prepare(
      `SELECT source_ip AS ip, sum(message_count) AS messages, sum(CASE WHEN ${PASSES} THEN message_count ELSE 0 END) AS passed,
              count(DISTINCT org_name || ' ' || email) AS reporters, group_concat(DISTINCT header_from) AS headerFrom
       FROM dmarc_records WHERE ${IN_DOMAIN} GROUP BY source_ip ORDER BY messages DESC, ip LIMIT ${TOP_SOURCES}`,
    )
    .bind(domain)
    .all<{ ip: string; messages: number; passed: number; reporters: number; headerFrom: string }>();
  return results.map((r) => ({
    ip: r.ip,
    name: names.get(r.ip) ?? null,
    messages: r.messages,
    passed: r.passed,
    passRate: r.messages > 0 ? r.passed / r.messages : 0,
    reporters: r.reporters,
    headerFrom: r.headerFrom.split(",").sort(),
  }));
}

export async function failingSources(db: D1Database, domain: string): Promise<FailingSource[]> {
  await ensureSchema(db);
  const names = await sourceNames(db);
  const { results } = await db
    .prepare(
      `SELECT source_ip AS ip, sum(message_count) AS messages,
              sum(CASE WHEN dkim = 'fail' THEN message_count ELSE 0 END) AS dkimFailed,
              sum(CASE WHEN spf = 'fail' THEN message_count ELSE 0 END) AS spfFailed,
              (SELECT group_concat(DISTINCT d.value->>'domain') FROM dmarc_records r2, json_each(r2.dkim_results) AS d
                WHERE r2.source_ip = r.source_ip AND (r2.policy_domain = ?1 OR r2.policy_domain LIKE '%.' || ?1)) AS dkimDomains,
              (SELECT group_concat(DISTINCT s.value->>'domain') FROM dmarc_records r2, json_each(r2.spf_results) AS s
                WHERE r2.source_ip = r.source_ip AND (r2.policy_domain = ?1 OR r2.policy_domain LIKE '%.' || ?1)) AS spfDomains
       FROM dmarc_records r WHERE ${IN_DOMAIN} AND (dkim = 'fail' OR spf = 'fail')
       GROUP BY source_ip ORDER BY messages DESC, ip LIMIT ${TOP_SOURCES}`,
    )
    .bind(domain)
    .all<{ ip: string; messages: number; dkimFailed: number; spfFailed: number; dkimDomains: string | null; spfDomains: string | null }>();
  const split = (list: string | null) =>
    (list ?? "")
      .split(",")
      .filter((d) => d !== "")
      .sort();
  return results.map((r) => ({
    ip: r.ip,
    name: names.get(r.ip) ?? null,
    messages: r.messages,
    dkimFailed: r.dkimFailed,
    spfFailed: r.spfFailed,
    dkimDomains: split(r.dkimDomains),
    spfDomains: split(r.spfDomains),
  }));
}

export async function policyView(db: D1Database, domain: WorkerDomainConfig): Promise<PolicyView> {
  await ensureSchema(db);
  const { p, sp, adkim, aspf, pct, rua, ruf } = domain.dmarc;
  const latest = await db
    .prepare("SELECT org_name, email, end_time, policy_json FROM dmarc_reports WHERE policy_domain = ?1 ORDER BY end_time DESC LIMIT 1")
    .bind(domain.name)
    .first<{ org_name: string; email: string; end_time: number; policy_json: string }>();
  return {
    configured: { p, sp: sp ?? null, adkim, aspf, pct, rua, ruf },
    seen: latest && { reporter: latest.org_name || latest.email, end: latest.end_time, policy: JSON.parse(latest.policy_json) as Record<string, unknown> },
  };
}

export async function tlsTimeline(db: D1Database, domain: string): Promise<TlsDay[]> {
  await ensureSchema(db);
  const { results: sessions } = await db
    .prepare(
      `SELECT substr(r.start_datetime, 1, 10) AS day, r.organization_name AS reporter,
              sum(p.successful_sessions) AS successful, sum(p.failed_sessions) AS failed
       FROM tlsrpt_policies p JOIN tlsrpt_reports r USING (organization_name, report_id)
       WHERE ${IN_DOMAIN} GROUP BY day, reporter ORDER BY day DESC, reporter LIMIT ${CHART_DAYS * 10}`,
    )
    .bind(domain)
    .all<{ day: string; reporter: string; successful: number; failed: number }>();
  const { results: failures } = await db
    .prepare(
      `SELECT substr(r.start_datetime, 1, 10) AS day, r.organization_name AS reporter, f.result_type AS type, sum(f.failed_sessions) AS n
       FROM tlsrpt_failures f JOIN tlsrpt_reports r USING (organization_name, report_id)
       WHERE ${IN_DOMAIN} GROUP BY day, reporter, type`,
    )
    .bind(domain)
    .all<{ day: string; reporter: string; type: string; n: number }>();
  return sessions.reverse().map((s) => ({
    ...s,
    failures: Object.fromEntries(failures.filter((f) => f.day === s.day && f.reporter === s.reporter).map((f) => [f.type, f.n])),
  }));
}

export async function failureReports(db: D1Database, domain: string): Promise<FailureReportRow[]> {
  await ensureSchema(db);
  const { results } = await db
    .prepare(
      `SELECT reporter, arrival_time AS arrivalTime, received_at AS receivedAt, source_ip AS sourceIp, source_name AS sourceName,
              auth_failure AS authFailure, original_from AS originalFrom, original_subject AS subject
       FROM dmarc_failure_reports WHERE reported_domain = ?1 OR reported_domain LIKE '%.' || ?1
       ORDER BY received_at DESC, arrival_time DESC LIMIT ${TOP_SOURCES}`,
    )
    .bind(domain)
    .all<FailureReportRow>();
  return results;
}

export async function refusals(db: D1Database): Promise<Refusal[]> {
  await ensureSchema(db);
  const { results } = await db
    .prepare(`SELECT received_at AS receivedAt, kind, sender, subject, name, reason FROM report_refusals ORDER BY received_at DESC, digest LIMIT 100`)
    .all<Refusal>();
  return results;
}

export interface DomainDashboard {
  domain: string;
  policy: PolicyView;
  timeline: DmarcDay[];
  sources: Source[];
  failing: FailingSource[];
  tls: TlsDay[];
  failureReports: FailureReportRow[];
}

export async function domainDashboard(db: D1Database, domain: WorkerDomainConfig): Promise<DomainDashboard> {
  const [policy, timeline, sources, failing, tls, failures] = await Promise.all([
    policyView(db, domain),
    dmarcTimeline(db, domain.name),
    topSources(db, domain.name),
    failingSources(db, domain.name),
    tlsTimeline(db, domain.name),
    failureReports(db, domain.name),
  ]);
  return { domain: domain.name, policy, timeline, sources, failing, tls, failureReports: failures };
}
