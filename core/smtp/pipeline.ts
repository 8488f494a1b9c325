// The session pipeline's rule, as pure functions: what a check's finding does to the SMTP dialogue. Both
// inbound paths follow it: the relay's MX session (relay-node/src/smtp/mx.ts) and Email Routing's email()
// (workers/src/email/routing.ts), which answers every stage at once.
//
// - Each check has an action in the configuration (Haraka's habit): reject, tempfail or log. A
//   "fail" under reject gives the check's reply; under tempfail the same reply as a transient 451
//   with a 4.x.x enhanced code; under log it is only recorded. A "temporary" finding (DNS timeout,
//   SERVFAIL) is a 451 under reject and tempfail alike, and recorded only under log.
// - The relaxable checks (connect stage: dnsbl, fcrdns; HELO; MAIL FROM: sender) are delayed to RCPT
//   TO, as Postfix's smtpd_delay_reject does (RFC 5321 §3.3 lets a server refuse at RCPT what it knew
//   earlier): there each recipient is judged on its own, so an RFC 2142 role mailbox whose policy
//   relaxes the check (postmaster@, abuse@) still receives mail from a listed or misconfigured host.
// - The other checks (relay, recipient, tls, greylist) answer at their own stage and are never relaxed
//   (greylisting is skipped beforehand for roles that relax it, see greylistApplies).
import { RELAXABLE_CHECKS, type RelaxableCheck } from "../config/schema.ts";
import type { WorkerConfig } from "../config/worker.ts";
import type { SmtpReply } from "./replies.ts";
import { relaxedChecks } from "./roles.ts";
import type { Finding, RelayCheck } from "./finding.ts";

export type CheckAction = "reject" | "tempfail" | "log";

/** The configured action of a check; checks without a setting always enforce. */
export function actionOf(check: RelayCheck, config: WorkerConfig): CheckAction {
  switch (check) {
    case "dnsbl":
      return config.connection.dnsbl.action;
    case "fcrdns":
      return config.connection.fcrdns.action;
    case "helo":
      return config.connection.helo.action;
    case "sender":
      return config.connection.sender.action;
    default:
      return "reject";
  }
}

/**
 * RFC 3463 §2: the class digit of the enhanced code follows the basic code, the detail stays —
 * "554 5.7.1 …" becomes "451 4.7.1 …" (RFC 5321 §4.2.1: 451, local error, try again later).
 */
export function asTemporary(reply: SmtpReply): SmtpReply {
  if (reply.code < 500) return reply;
  return { code: 451, enhanced: reply.enhanced.replace(/^5\./, "4."), text: reply.text };
}

export type Effect = { effect: "pass" } | { effect: "logged" } | { effect: "refuse"; reply: SmtpReply };

/** What one finding does under its check's configured action. */
export function effectOf(finding: Finding, config: WorkerConfig): Effect {
  if (finding.outcome === "pass" || finding.outcome === "skipped") return { effect: "pass" };
  const action = actionOf(finding.check, config);
  if (action === "log") return { effect: "logged" };
  if (finding.outcome === "temporary" || action === "tempfail") return { effect: "refuse", reply: asTemporary(finding.reply) };
  return { effect: "refuse", reply: finding.reply };
}

const RELAXABLE: ReadonlySet<string> = new Set(RELAXABLE_CHECKS);

/** Whether a finding waits for RCPT TO (relaxable checks) or answers at its own stage. */
export function isDelayed(check: RelayCheck): check is RelaxableCheck {
  return RELAXABLE.has(check);
}

export type RecipientDecision =
  /** `allowed`: the checks the allowlist passed over, when there are any. */
  { accept: true; relaxed: RelaxableCheck[]; allowed?: RelaxableCheck[] } | { accept: false; reply: SmtpReply; check: RelayCheck };

/**
 * RCPT TO with the delayed findings of the connection, HELO and MAIL FROM stages, in that order: the
 * first refusing finding neither relaxed for this recipient's role nor spared by the client's allowlist
 * entries (`spared`, core/allow/) answers; relaxed and allowed ones are listed.
 */
export function decideRecipient(
  delayed: readonly Finding[],
  rcpt: string,
  config: WorkerConfig,
  spared: ReadonlySet<RelaxableCheck> = new Set(),
): RecipientDecision {
  const relaxedForRole = relaxedChecks([rcpt], config);
  const relaxed: RelaxableCheck[] = [];
  const allowed: RelaxableCheck[] = [];
  for (const finding of delayed) {
    const effect = effectOf(finding, config);
    if (effect.effect !== "refuse") continue;
    if (isDelayed(finding.check) && relaxedForRole.has(finding.check)) relaxed.push(finding.check);
    else if (isDelayed(finding.check) && spared.has(finding.check)) allowed.push(finding.check);
    else return { accept: false, reply: effect.reply, check: finding.check };
  }
  return allowed.length > 0 ? { accept: true, relaxed, allowed } : { accept: true, relaxed };
}

/** Greylisting runs when enabled, except for role mailboxes whose policy relaxes it and clients the allowlist spares it. */
export function greylistApplies(rcpt: string, config: WorkerConfig, spared: ReadonlySet<RelaxableCheck> = new Set()): boolean {
  return config.connection.greylist.enabled && !relaxedChecks([rcpt], config).has("greylist") && !spared.has("greylist");
}
