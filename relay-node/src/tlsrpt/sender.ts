// TLS-RPT sending (RFC 8460 §3, §5): once a day, every policy domain with counts for the day gets its
// §4.4 report at the rua URIs of its `_smtp._tls` TXT record — `mailto:` as a DKIM-signed §5.3 message
// through our own spool, `https:` as a POST of the gzipped JSON (§5.2). Progress is kept in the
// TLS-RPT store per (day, domain, rua), so a run repeated (timer and CLI, or a retry) sends nothing twice.
//
// Decisions (docs/outbound.md, "TLS-RPT sending"):
// - No usable record (NXDOMAIN, no data, none or several v=TLSRPTv1, no usable rua): the day is marked
//   done for the domain (nothing to send). A failed lookup (SERVFAIL, timeout) is not: the next run asks again.
// - The envelope sender is the From address (postmaster@<our first domain>): §5.3 says reports are sent
//   as ordinary mail, and a real reverse path lets SPF (MAIL FROM domain) and DMARC align, which a null
//   sender would not; a report that bounces reaches our postmaster rather than looping (the DSN has <>).
// - A `mailto:` rua is done once the message is in our spool (the queue retries it like any mail).
// - An `https:` rua is done on a 2xx answer; a failure or timeout leaves it open, so the next run for
//   that day posts again. The daily timer revisits the RETRY_DAYS previous days for exactly this.
// - The POST resolves the host through the relay's resolver, like every name the relay looks up
//   (https/request.ts); redirects are not followed (a 3xx counts as a failure).
import { gzipSync } from "node:zlib";
import type { Resolver } from "../../../core/dns/resolver.ts";
import type { Logger } from "../log/log.ts";
import type { EnqueueRequest } from "../queue/spool.ts";
import { generatedMailSigner } from "../sign/generated.ts";
import { httpsRequest, type HttpsEndpoint } from "../https/request.ts";
import { parseTlsRptRecord, tlsReportMessage } from "../../../core/tlsrpt/delivery.ts";
import { tlsReport, type TlsCountRow } from "./counts.ts";
import { startDailyRun, type DailyRun } from "../schedule/daily.ts";

/** The https: POST's bound (RFC 8460 §5.2 names none; a report is not worth a hung run). */
export const POST_TIMEOUT_MS = 30_000;
/** Days before the previous one the daily run looks at again, for https: rua that failed. */
export const RETRY_DAYS = 2;

export interface TlsReporter {
  /** §4.4 organization-name. */
  organization: string;
  /** §4.4 contact-info. */
  contact: string;
  /** Our host name: the §5.3 submitter. */
  hostname: string;
  /** From: and the envelope sender of `mailto:` reports. */
  from: string;
}

/** How long one relay holds a domain's day while it sends its report (shared-counts.ts); longer than the POSTs of one domain take. */
export const CLAIM_MS = 10 * 60_000;

/**
 * The counts a report is made of: this relay's (counts.ts, SQLite, answering at once) or the relays'
 * shared ones (shared-counts.ts, Redis), which also hand a domain's day to one relay at a time.
 */
export interface TlsRptReportStore {
  rows(day: string): TlsCountRow[] | Promise<TlsCountRow[]>;
  isSent(day: string, policyDomain: string, target?: string): boolean | Promise<boolean>;
  markSent(day: string, policyDomain: string, at: number, target?: string): void | Promise<void>;
  claim?(day: string, policyDomain: string, ms: number): Promise<boolean>;
  release?(day: string, policyDomain: string): Promise<void>;
}

export interface TlsRptSenderDeps {
  store: TlsRptReportStore;
  resolver: Resolver;
  enqueue: (request: EnqueueRequest) => Promise<string>;
  /** The message with a DKIM-Signature on top, or undefined when we hold no key for `domain`. */
  sign?: (message: Buffer, domain: string, now: Date) => Buffer | undefined;
  /** POSTs the body (application/tlsrpt+gzip) and returns the HTTP status; postTlsReport through `resolver` by default. */
  post?: (url: string, body: Buffer) => Promise<number>;
  reporter: TlsReporter;
  logger: Logger;
  now?: () => number;
}

export interface TlsRptDomainResult {
  domain: string;
  /** sent: every rua done; partial: some rua failed (retried next run); no-record; lookup-failed; already-sent; claimed: another relay sends it right now. */
  outcome: "sent" | "partial" | "no-record" | "lookup-failed" | "already-sent" | "claimed";
  delivered: string[];
  failed: { rua: string; error: string }[];
}

export interface TlsRptRunResult {
  day: string;
  domains: TlsRptDomainResult[];
}

/** A POST's response is not used beyond its status; a longer body ends the exchange as a failure. */
const POST_RESPONSE_MAX_BYTES = 1024 * 1024;

/**
 * The https: transport (§3): a POST of the gzipped report as application/tlsrpt+gzip, the host resolved
 * through our resolver (https/request.ts), no redirects, bounded in time; the HTTP status.
 */
export async function postTlsReport(url: string, body: Buffer, endpoint: Pick<HttpsEndpoint, "resolver" | "ca" | "port">): Promise<number> {
  const response = await httpsRequest(new URL(url), "POST", { "content-type": "application/tlsrpt+gzip" }, body, {
    ...endpoint,
    timeoutMs: POST_TIMEOUT_MS,
    maxResponseBytes: POST_RESPONSE_MAX_BYTES,
  });
  if (!response.ok) throw new Error(response.reason);
  return response.status;
}

/** A `sign` for sendTlsReports from the domains' DKIM keys (sign/keys.ts: loadDkimKeys): the signer of all mail the relay writes itself. */
export function dkimSignerFor(keys: Parameters<typeof generatedMailSigner>[0]): NonNullable<TlsRptSenderDeps["sign"]> {
  return generatedMailSigner(keys);
}

/** The address of a `mailto:` URI (RFC 6068): hfields dropped, percent-encoding undone. */
function mailtoAddress(uri: string): string {
  const path = uri.slice("mailto:".length).split("?")[0]!;
  try {
    return decodeURIComponent(path);
  } catch {
    return path;
  }
}

/** Sends the reports of `day` (YYYY-MM-DD, UTC) that are not sent yet; see the file's head. */
export async function sendTlsReports(day: string, deps: TlsRptSenderDeps): Promise<TlsRptRunResult> {
  const { store } = deps;
  const rows = await store.rows(day);
  const domains = [...new Set(rows.map((row) => row.policyDomain))].sort();
  const results: TlsRptDomainResult[] = [];
  for (const domain of domains) {
    const result: TlsRptDomainResult = { domain, outcome: "sent", delivered: [], failed: [] };
    results.push(result);
    // Relays sharing the counts: one of them sends the domain's day (one report, one report-id, RFC 8460 §4.4).
    if (store.claim !== undefined && !(await store.claim(day, domain, CLAIM_MS))) {
      result.outcome = "claimed";
      continue;
    }
    try {
      await sendDomainReport(day, domain, rows, result, deps);
    } finally {
      await store.release?.(day, domain);
    }
  }
  return { day, domains: results };
}

/** Sends the report of one domain's day to each rua not done yet; the outcome goes into `result`. */
async function sendDomainReport(day: string, domain: string, rows: readonly TlsCountRow[], result: TlsRptDomainResult, deps: TlsRptSenderDeps): Promise<void> {
  const { store, resolver, logger, reporter } = deps;
  const now = deps.now ?? Date.now;
  const post = deps.post ?? ((url: string, body: Buffer) => postTlsReport(url, body, { resolver }));
  if (await store.isSent(day, domain)) {
    result.outcome = "already-sent";
    return;
  }
  const lookup = await resolver.query(`_smtp._tls.${domain}`, "TXT");
  if (lookup.status === "servfail" || lookup.status === "timeout") {
    result.outcome = "lookup-failed";
    logger.warn({ event: "tlsrpt", day, domain, status: lookup.status }, "the _smtp._tls lookup failed: the report is tried again next run");
    return;
  }
  const policy = lookup.status === "ok" ? parseTlsRptRecord(lookup.answers.map((strings) => strings.join(""))) : null;
  if (policy === null) {
    result.outcome = "no-record";
    await store.markSent(day, domain, now());
    logger.info({ event: "tlsrpt", day, domain, status: lookup.status }, "no usable TLSRPT record: no report");
    return;
  }
  const report = tlsReport(rows, day, domain, { organizationName: reporter.organization, contactInfo: reporter.contact }) as { "report-id": string };
  for (const rua of policy.rua) {
    if (await store.isSent(day, domain, rua)) continue;
    try {
      if (/^mailto:/i.test(rua)) {
        const to = mailtoAddress(rua);
        const at = new Date(now());
        const message = tlsReportMessage({ report, policyDomain: domain, day, submitter: reporter.hostname, from: reporter.from, to, now: at });
        const fromDomain = reporter.from.slice(reporter.from.lastIndexOf("@") + 1);
        const signed = deps.sign?.(message, fromDomain, at);
        if (signed === undefined)
          logger.warn({ event: "tlsrpt", day, domain, from: reporter.from }, "no DKIM key for the From domain: the report is sent unsigned");
        const id = await deps.enqueue({ envelope: { mailFrom: reporter.from, rcptTo: [to] }, message: signed ?? message });
        logger.info({ event: "tlsrpt", day, domain, rua, queueId: id, signed: signed !== undefined }, "TLS report queued");
      } else {
        const status = await post(rua, gzipSync(JSON.stringify(report)));
        if (status < 200 || status > 299) throw new Error(`HTTP status ${status}`);
        logger.info({ event: "tlsrpt", day, domain, rua, status }, "TLS report posted");
      }
      await store.markSent(day, domain, now(), rua);
      result.delivered.push(rua);
    } catch (error) {
      const message = (error as Error).message;
      result.failed.push({ rua, error: message });
      logger.warn({ event: "tlsrpt", day, domain, rua, err: message }, "TLS report not delivered: tried again next run");
    }
  }
  if (result.failed.length === 0) await store.markSent(day, domain, now());
  else result.outcome = "partial";
}

/** The UTC day before `at`'s, YYYY-MM-DD. */
export function previousUtcDay(at: number, daysBack = 1): string {
  return new Date(Date.UTC(new Date(at).getUTCFullYear(), new Date(at).getUTCMonth(), new Date(at).getUTCDate() - daysBack)).toISOString().slice(0, 10);
}

/**
 * Runs sendTlsReports every day at 00:15 UTC for the previous UTC day and the RETRY_DAYS before it
 * (only what is still open is sent). The timer is unref'd: it never keeps the process alive.
 */
export function startTlsRptTimer(deps: TlsRptSenderDeps): DailyRun {
  const now = deps.now ?? Date.now;
  return startDailyRun(now, async (stopped) => {
    for (let back = RETRY_DAYS + 1; back >= 1 && !stopped(); back--) {
      const day = previousUtcDay(now(), back);
      await sendTlsReports(day, deps).catch((error: unknown) =>
        deps.logger.error({ event: "tlsrpt", day, err: (error as Error).message }, "the TLS report run failed"),
      );
    }
  });
}
