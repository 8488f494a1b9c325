// Email Routing's side of the report intake: mail to a report address is read and kept
// (reports/intake.ts), neither judged nor forwarded. A report that cannot be read is kept as refused
// with its reason, and the mail is accepted all the same: its sender cannot do better by retrying.
import type { WorkerConfig } from "../../../core/config/worker.ts";
import { readStreamBounded } from "../../../core/bytes/bounded-read.ts";
import { receiveReportMail, type IntakeResult } from "../reports/intake.ts";
import { TemporaryFailure, type RoutedMessage } from "./routing.ts";

export async function handleRoutedReport(message: RoutedMessage, config: WorkerConfig, db: D1Database | undefined): Promise<IntakeResult | null> {
  const limit = config.judge.maxMessageBytes;
  // RFC 1870 §4 / RFC 3463 §3.4: 552 5.3.4 for a message over the size limit.
  const tooBig = `552 5.3.4 Message size exceeds fixed maximum message size (${limit} bytes)`;
  if (message.rawSize > limit) {
    message.setReject(tooBig);
    return null;
  }
  // Without the database the reports would be lost: fail temporarily, so the reporter retries.
  if (!db) throw new TemporaryFailure(`${message.to} is a report address, but the Worker has no REPORTS_DB binding to keep reports in`);
  const raw = await readStreamBounded(message.raw, limit, message.rawSize);
  if (raw === null) {
    message.setReject(tooBig);
    return null;
  }
  return receiveReportMail(raw, message.from, config, db, "email-routing");
}
