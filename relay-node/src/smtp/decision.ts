// The decision on a received message, from what the judges found (pure): the message judge's verdict,
// the virus scanner's result and rspamd's, which ran side by side.
//
// Order: a virus is refused whatever else was found (INFECTED); then the judge's own refusal; then
// rspamd's reject (spam); then any outage — scanner, judge or rspamd unreachable, or the judge's
// tempfail — is a 451 (docs/architecture.md: outages fail closed and temporary); then rspamd's soft reject (451
// 4.7.1); otherwise the message is accepted with the judge's header fields and rspamd's.
import { buildReply, type SmtpReply } from "../../../core/smtp/replies.ts";
import type { Finding } from "../../../core/smtp/finding.ts";
import type { VerdictOutcome } from "../verdict/api-client.ts";
import type { ClamdResult } from "../scan/clamd.ts";
import type { RspamdOutcome, SpamDecision } from "../spam/rspamd.ts";

export type ScanOutcome = ClamdResult | { status: "skipped" };

export type MessageDecision =
  /** `subject`: the Subject field's new value (rspamd's "rewrite subject"). */
  { action: "accept"; id: string; headers: string[]; subject?: string } | { action: "reject" | "tempfail"; id: string; reply: SmtpReply; reason: string };

/**
 * `ownId` is the tracking id the relay made for the message; a verdict from the API carries its own,
 * which then names the message everywhere (one id per message in replies and logs). `spam` is null
 * when rspamd is not asked (relay.rspamd.url unset).
 */
export function decideMessage(judged: VerdictOutcome, scan: ScanOutcome, ownId: string, spam: SpamDecision | null = null): MessageDecision {
  const id = judged.ok ? judged.verdict.id : ownId;
  if (scan.status === "infected") return { action: "reject", id, reply: buildReply("infected", { id }), reason: "INFECTED" };
  if (judged.ok && judged.verdict.action === "reject") return { action: "reject", id, reply: judged.verdict.reply, reason: judged.verdict.reason ?? "policy" };
  if (spam?.action === "reject") return { action: "reject", id, reply: buildReply("spam", { id }), reason: "spam" };
  if (scan.status === "error" || !judged.ok || spam?.action === "tempfail")
    return { action: "tempfail", id, reply: buildReply("tempfail", { id }), reason: "temporary" };
  if (judged.verdict.action === "tempfail") return { action: "tempfail", id, reply: judged.verdict.reply, reason: judged.verdict.reason ?? "temporary" };
  if (spam?.action === "soft-reject") return { action: "tempfail", id, reply: buildReply("spamDeferred", { id }), reason: "spam" };
  const spamFields = spam !== null && "headers" in spam ? spam.headers : [];
  return {
    action: "accept",
    id,
    headers: [...judged.verdict.headers, ...spamFields],
    ...(spam?.action === "rewrite-subject" ? { subject: spam.subject } : {}),
  };
}

/**
 * With score-gated greylisting (relay.rspamd.greylistScoreGate), whether a message waits: its score
 * reached the gate, or it has no score (rspamd failed and onError let it through) — unknown is doubtful.
 */
export function isDoubtful(spam: RspamdOutcome, gate: number): boolean {
  return spam.status === "error" || spam.score >= gate;
}

/** The first greylisting finding that defers the message after scoring: its 451, or null when all passed. */
export function greylistDeferral(findings: readonly Finding[]): SmtpReply | null {
  for (const finding of findings) if (finding.outcome === "fail" || finding.outcome === "temporary") return finding.reply;
  return null;
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
