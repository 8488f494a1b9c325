// The decision on a message Email Routing hands over, from the judge's verdict and the scan endpoint's
// answer, which ran side by side (pure). The order is the relay's (relay-node/src/smtp/decision.ts): a
// virus is refused whatever else was found (INFECTED); then the judge's own refusal; then rspamd's reject
// (spam); then a scan that could not be had, or the judge's tempfail, is temporary (never an unscanned
// accept); then rspamd's soft reject (451 4.7.1); otherwise the message is accepted with the judge's
// fields and X-Edgemx-Spam.
import { buildReply, type SmtpReply } from "../smtp/replies.ts";
import type { ReasonClass, Verdict } from "../verdict/types.ts";
import type { ScanAnswer } from "./answer.ts";

/** What the scan gave: an answer, none to be had (an outage: temporary), or no scan configured (`scan: none`). */
export type ScanOutcome = { status: "answered"; answer: ScanAnswer } | { status: "error"; detail: string } | { status: "not configured" };

export type ScannedDecision =
  | { action: "accept"; headers: string[] }
  | { action: "reject"; reply: SmtpReply; reason: ReasonClass }
  | { action: "tempfail"; reply: SmtpReply; reason: ReasonClass };

/** The X-Edgemx-Spam-Symbols field stops short of this length (RFC 5322 §2.1.1's 998 octets a line, unfolded). */
const MAX_SYMBOLS_FIELD = 900;

/** rspamd's actions that flag a message as spam; "greylist" is taken as "no action" as on the relay. */
function flagged(answer: ScanAnswer): boolean {
  return ["reject", "soft reject", "add header", "rewrite subject"].includes(answer.spam.action);
}

/**
 * X-Edgemx-Spam: the flag, the score, the required score and rspamd's action; X-Edgemx-Spam-Symbols: the
 * symbols with a score, highest first, bounded. forward() adds X- fields only, so rspamd's own
 * X-Spam-Flag / X-Spamd-Result (which the relay writes) become ours; a Sieve rule files on "X-Edgemx-Spam: yes".
 */
export function spamFields(answer: ScanAnswer): string[] {
  const { action, score, requiredScore, symbols } = answer.spam;
  const fields = [`X-Edgemx-Spam: ${flagged(answer) ? "yes" : "no"}; score=${score.toFixed(2)}; required=${requiredScore.toFixed(2)}; action="${action}"`];
  let text = "";
  for (const [index, symbol] of symbols.entries()) {
    const item = `${symbol.name.replace(/[^\x21-\x7e]/g, "?")}(${symbol.score.toFixed(2)})`;
    if (text.length + item.length + 2 > MAX_SYMBOLS_FIELD) {
      text += `, (${symbols.length - index} more)`;
      break;
    }
    text += text === "" ? item : `, ${item}`;
  }
  if (text !== "") fields.push(`X-Edgemx-Spam-Symbols: ${text}`);
  return fields;
}

/**
 * `spamRelaxed`: every recipient's role relaxes "spam" (core/smtp/roles.ts): rspamd's refusals then only
 * mark the message, as on the relay. The virus scan is never relaxed.
 */
export function decideScanned(result: Verdict, scan: ScanOutcome, spamRelaxed: boolean): ScannedDecision {
  const { id } = result;
  const answer = scan.status === "answered" ? scan.answer : null;
  if (answer?.virus.status === "infected") return { action: "reject", reply: buildReply("infected", { id }), reason: "INFECTED" };
  if (result.action === "reject") return { action: "reject", reply: result.reply, reason: result.reason ?? "policy" };
  const refusing = answer !== null && !spamRelaxed;
  if (refusing && answer.spam.action === "reject") return { action: "reject", reply: buildReply("spam", { id }), reason: "spam" };
  if (scan.status === "error") return { action: "tempfail", reply: buildReply("tempfail", { id }), reason: "temporary" };
  if (result.action === "tempfail") return { action: "tempfail", reply: result.reply, reason: result.reason ?? "temporary" };
  if (refusing && answer.spam.action === "soft reject") return { action: "tempfail", reply: buildReply("spamDeferred", { id }), reason: "spam" };
  return { action: "accept", headers: [...result.headers, ...(answer === null ? [] : spamFields(answer))] };
}
