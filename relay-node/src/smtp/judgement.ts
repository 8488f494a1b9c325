// The decision on a received message, from what the judges found (pure): the message judge's verdict
// and the virus scanner's result, which ran side by side.
//
// Order: a virus is refused whatever else was found (INFECTED); then the judge's own refusal; then
// any outage — scanner or judge unreachable, or the judge's tempfail — is a 451 (design.md: outages
// fail closed and temporary); otherwise the message is accepted with the judge's header fields.
import { buildReply, type SmtpReply } from "../../../workers/src/judge/replies.ts";
import type { JudgeOutcome } from "../judge/client.ts";
import type { ClamdResult } from "../scan/clamd.ts";

export type ScanOutcome = ClamdResult | { status: "skipped" };

export type MessageDecision =
  | { action: "accept"; id: string; headers: string[] }
  | { action: "reject" | "tempfail"; id: string; reply: SmtpReply; reason: string };

/**
 * `ownId` is the tracking id the relay made for the message; a verdict from the API carries its own,
 * which then names the message everywhere (one id per message in replies and logs).
 */
export function decideMessage(judged: JudgeOutcome, scan: ScanOutcome, ownId: string): MessageDecision {
  const id = judged.ok ? judged.verdict.id : ownId;
  if (scan.status === "infected") return { action: "reject", id, reply: buildReply("infected", { id }), reason: "INFECTED" };
  if (judged.ok && judged.verdict.action === "reject") return { action: "reject", id, reply: judged.verdict.reply, reason: judged.verdict.reason ?? "policy" };
  if (scan.status === "error" || !judged.ok) return { action: "tempfail", id, reply: buildReply("tempfail", { id }), reason: "temporary" };
  if (judged.verdict.action === "tempfail") return { action: "tempfail", id, reply: judged.verdict.reply, reason: judged.verdict.reason ?? "temporary" };
  return { action: "accept", id, headers: judged.verdict.headers };
}

/** The scanner's result for the log line. */
export function describeScan(scan: ScanOutcome): string {
  switch (scan.status) {
    case "infected":
      return `infected ${scan.signature}`;
    case "error":
      return `error: ${scan.detail}`;
    default:
      return scan.status;
  }
}
