// DMARC aggregate reports we send (RFC 9990; RFC 7489 §7.2): once a day, each policy domain with
// evaluations from a finished UTC day gets its report at the rua destinations of the record seen last
// that day, those at another Organizational Domain only where they agreed to take it (RFC 7489 §7.1,
// core/dmarcrpt/destinations.ts) and none past its size limit (RFC 7489 §6.2 "!" size). The report is
// a DKIM-signed message through our own spool, one per destination; the domain's day is deleted once
// every destination is decided.
//
// Decisions (docs/reports.md, "Aggregate reports we send"):
// - A destination is done once the message is in our spool (the queue retries it like any mail).
// - The size limit is compared with the whole signed message, what the destination's MX receives
//   (RFC 7489 §6.2 leaves open what is measured); a report too large for it is not sent there, and
//   not tried again. No short "report too large" notice is sent (RFC 7489 §7.2.2 says MAY).
// - A DNS failure while verifying a destination, or a spool that refuses the message, keeps the day for
//   the next run; after MAX_PENDING_DAYS it is given up.
// - The envelope sender is the From address (postmaster@<our first domain>), as for TLS reports: SPF
//   and DKIM align with it, which RFC 9990 asks of report mail.
// - A claim (store.ts) keeps two runs, or two relays sharing Redis, from sending one report twice.
import type { Resolver } from "../../../core/dns/resolver.ts";
import { organizationalDomains, type OrganizationalDomainOf } from "../../../core/dmarc/organizational-domain.ts";
import { verifyDestinations } from "../../../core/dmarcrpt/destinations.ts";
import { policyPublished, reportUris } from "../../../core/dmarcrpt/policy-record.ts";
import { aggregateReportId, aggregateReportMessage, aggregateReportXml } from "../../../core/dmarcrpt/sending.ts";
import type { Logger } from "../log/log.ts";
import type { EnqueueRequest } from "../queue/spool.ts";
import type { GeneratedMailSigner } from "../sign/generated.ts";
import { startDailyRun, type DailyRun } from "../schedule/daily.ts";
import { utcDay, type DmarcReportStore } from "./store.ts";

/** How long a run may work on one domain's day before another may take it over. */
export const CLAIM_MS = 10 * 60_000;
/** Days a report waits for its destinations' DNS to answer before its evaluations are given up. */
export const MAX_PENDING_DAYS = 7;

export interface DmarcReporter {
  /** report_metadata org_name. */
  organization: string;
  /** report_metadata email. */
  contact: string;
  /** Our host name: the Submitter of the Subject, the receiver of the file name, the Report-ID's domain. */
  hostname: string;
  /** From: and the envelope sender. */
  from: string;
}

export interface DmarcReportSenderDeps {
  store: DmarcReportStore;
  resolver: Resolver;
  enqueue: (request: EnqueueRequest) => Promise<string>;
  /** The message with a DKIM-Signature on top, or undefined when we hold no key for the domain. */
  sign?: GeneratedMailSigner | undefined;
  reporter: DmarcReporter;
  logger: Logger;
  now?: () => number;
  /** Finds Organizational Domains; by default the DNS Tree Walk through `resolver`, one per run. */
  organizationalDomains?: (resolver: Resolver) => OrganizationalDomainOf;
}

export interface DmarcDomainResult {
  day: string;
  domain: string;
  /**
   * sent: every destination decided, the day deleted; no-destination: nowhere to send (no usable rua,
   * none agreed, all too small), the day deleted; partial: some destination waits for the next run;
   * claimed: another run works on it; expired: waited MAX_PENDING_DAYS, given up and deleted.
   */
  outcome: "sent" | "no-destination" | "partial" | "claimed" | "expired";
  /** The destinations (addresses) the report was queued for, in this run or an earlier one. */
  delivered: string[];
  /** Destinations that do not get it: not agreed (RFC 7489 §7.1), or too small for it. */
  refused: { uri: string; reason: string }[];
  /** Destinations not done for a temporary reason: tried again next run. */
  waiting: { uri: string; reason: string }[];
}

export interface DmarcRunResult {
  days: string[];
  domains: DmarcDomainResult[];
}

/** The UTC day `days` days before `day`. */
function daysBefore(day: string, days: number): string {
  return new Date(Date.parse(`${day}T00:00:00Z`) - days * 86_400_000).toISOString().slice(0, 10);
}

async function sendDomainReport(day: string, domain: string, deps: DmarcReportSenderDeps, orgDomainOf: OrganizationalDomainOf): Promise<DmarcDomainResult> {
  const { store, logger, reporter } = deps;
  const now = deps.now ?? Date.now;
  const result: DmarcDomainResult = { day, domain, outcome: "sent", delivered: [], refused: [], waiting: [] };
  if (!(await store.claim(day, domain, CLAIM_MS))) return { ...result, outcome: "claimed" };
  const stored = await store.report(day, domain);
  if (stored === null || stored.rows.length === 0) {
    await store.remove(day, domain);
    return { ...result, outcome: "no-destination" };
  }
  if (day < daysBefore(utcDay(now()), MAX_PENDING_DAYS)) {
    await store.remove(day, domain);
    logger.warn({ event: "dmarc-report", day, domain }, `not sent within ${MAX_PENDING_DAYS} days: the evaluations are given up`);
    return { ...result, outcome: "expired" };
  }

  const check = await verifyDestinations(domain, reportUris(stored.record), deps.resolver, orgDomainOf);
  result.refused.push(...check.refused);
  result.waiting.push(...check.unresolved);
  const reportId = aggregateReportId(day, domain, reporter.hostname);
  const xml = aggregateReportXml({
    day,
    orgName: reporter.organization,
    email: reporter.contact,
    reportId,
    policy: policyPublished(domain, stored.record),
    rows: stored.rows,
    errors: check.refused.map((refusal) => `${refusal.uri}: ${refusal.reason}`),
  });
  const fromDomain = reporter.from.slice(reporter.from.lastIndexOf("@") + 1);
  for (const destination of check.destinations) {
    if (await store.isSent(day, domain, destination.address)) {
      result.delivered.push(destination.address);
      continue;
    }
    const at = new Date(now());
    const message = aggregateReportMessage({
      xml,
      policyDomain: domain,
      day,
      reportId,
      submitter: reporter.hostname,
      from: reporter.from,
      to: destination.address,
      now: at,
    });
    const signed = deps.sign?.(message, fromDomain, at);
    if (signed === undefined)
      logger.warn({ event: "dmarc-report", day, domain, from: reporter.from }, "no DKIM key for the From domain: the report is sent unsigned");
    const mail = signed ?? message;
    if (destination.maxBytes !== null && mail.length > destination.maxBytes) {
      result.refused.push({
        uri: destination.uri,
        reason: `the report mail is ${mail.length} bytes, more than the ${destination.maxBytes} this destination takes`,
      });
      continue;
    }
    try {
      const id = await deps.enqueue({ envelope: { mailFrom: reporter.from, rcptTo: [destination.address] }, message: mail });
      await store.markSent(day, domain, destination.address);
      result.delivered.push(destination.address);
      logger.info(
        { event: "dmarc-report", day, domain, to: destination.address, queueId: id, bytes: mail.length, signed: signed !== undefined },
        "DMARC report queued",
      );
    } catch (error) {
      result.waiting.push({ uri: destination.uri, reason: (error as Error).message });
    }
  }
  for (const refusal of result.refused) logger.info({ event: "dmarc-report", day, domain, ...refusal }, "DMARC report not sent to this destination");
  if (result.waiting.length > 0) {
    await store.release(day, domain);
    logger.warn({ event: "dmarc-report", day, domain, waiting: result.waiting }, "DMARC report not sent everywhere: tried again next run");
    return { ...result, outcome: "partial" };
  }
  await store.remove(day, domain);
  return { ...result, outcome: result.delivered.length > 0 ? "sent" : "no-destination" };
}

/**
 * Sends the reports of `day` (YYYY-MM-DD, UTC; it must be over), or of every finished day with
 * evaluations waiting; see the file's head.
 */
export async function sendDmarcReports(deps: DmarcReportSenderDeps, day?: string): Promise<DmarcRunResult> {
  const today = utcDay((deps.now ?? Date.now)());
  if (day !== undefined && day >= today) throw new Error(`${day} is not over yet (UTC): its report is sent once it is`);
  const days = day !== undefined ? [day] : (await deps.store.days()).filter((waiting) => waiting < today);
  const orgDomainOf = (deps.organizationalDomains ?? organizationalDomains)(deps.resolver);
  const domains: DmarcDomainResult[] = [];
  for (const each of days) {
    for (const domain of await deps.store.domains(each)) {
      domains.push(
        await sendDomainReport(each, domain, deps, orgDomainOf).catch((error: unknown) => {
          deps.logger.error({ event: "dmarc-report", day: each, domain, err: (error as Error).message }, "the DMARC report failed");
          return { day: each, domain, outcome: "partial" as const, delivered: [], refused: [], waiting: [{ uri: "", reason: (error as Error).message }] };
        }),
      );
    }
  }
  return { days, domains };
}

/** Runs sendDmarcReports every day at 00:15 UTC (TLS-RPT's time). Unref'd: it never keeps the process alive. */
export function startDmarcReportTimer(deps: DmarcReportSenderDeps): DailyRun {
  return startDailyRun(deps.now ?? Date.now, () =>
    sendDmarcReports(deps).then(
      () => undefined,
      (error: unknown) => deps.logger.error({ event: "dmarc-report", err: (error as Error).message }, "the DMARC report run failed"),
    ),
  );
}
