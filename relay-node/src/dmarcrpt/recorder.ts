// Counting inbound DMARC evaluations for the aggregate reports (sender.ts): the judge's evaluation of
// each message (Verdict.dmarc) goes to the store once the session has answered it for good.
import type { DmarcEvaluation } from "../../../core/dmarcrpt/evaluation.ts";
import type { SmtpReply } from "../../../core/smtp/replies.ts";
import type { Logger } from "../log/log.ts";
import type { DmarcReportStore } from "./store.ts";

/**
 * Whether a judged message counts towards its report:
 * - not when it was answered 4xx: the sender tries again, and that attempt is the one that counts;
 * - not when every recipient is one of our report addresses (core/reports/addresses.ts): a report
 *   from a domain that asks for reports itself would be answered with a report each day, and that
 *   one with another.
 */
export function countsTowardsReport(reply: SmtpReply, rcptTo: readonly string[], reportAddresses: ReadonlySet<string>): boolean {
  if (reply.code >= 400 && reply.code < 500) return false;
  return !rcptTo.every((rcpt) => reportAddresses.has(rcpt.toLowerCase()));
}

export type DmarcRecorder = (evaluation: DmarcEvaluation, rcptTo: readonly string[], reply: SmtpReply) => void;

/**
 * Counts in the background; a store that refuses (a Redis outage) costs that message's count, and says
 * so. `reportAddresses` are asked per message: a reload may change them.
 */
export function dmarcRecorder(
  store: DmarcReportStore,
  reportAddresses: () => ReadonlySet<string>,
  logger: Logger,
  now: () => number = Date.now,
): DmarcRecorder {
  return (evaluation, rcptTo, reply) => {
    if (!countsTowardsReport(reply, rcptTo, reportAddresses())) return;
    void store
      .record(evaluation, now())
      .catch((error: unknown) =>
        logger.warn({ event: "dmarc-report", domain: evaluation.policyDomain, err: (error as Error).message }, "a DMARC evaluation could not be counted"),
      );
  };
}
