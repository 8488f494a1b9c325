// The relay's own protocol replies (bounds, DATA framing, queueing), defined with the spec's and the
// judge's in core/smtp/replies.ts (so that the postmaster page explains them too), and how any
// reply is handed to smtp-server.
import { buildReply, type SmtpReply } from "../../../core/smtp/replies.ts";
import type { BodyFault } from "./data.ts";

/**
 * RFC 5321 §4.1.4 and §4.2.2: RCPT before a successful MAIL is a bad sequence, 503; RFC 3463 X.5.1.
 * smtp-server's own words for it: not in the table (core/smtp/replies.ts), whose replies the postmaster
 * page explains to senders, as none of smtp-server's own protocol replies are.
 */
export const NEED_MAIL: SmtpReply = { code: 503, enhanced: "5.5.1", text: "Error: need MAIL command" };

/** RFC 5321 §4.5.3.1.8 (recipients buffer) and §4.2.2: 452, "too many recipients"; RFC 3463 X.5.3. */
export const TOO_MANY_RECIPIENTS: SmtpReply = buildReply("tooManyRecipients", {});

/** RFC 5321 §4.5.3.1.7 / §4.2.2 552; RFC 3463 X.3.4 "message too big for system"; Postfix's text. */
export const MESSAGE_TOO_BIG: SmtpReply = buildReply("messageTooBig", {});

/**
 * Refused DATA content (SMTP smuggling, CVE-2023-51764/51765/51766). 554 is RFC 5321 §4.3.2's reply to
 * a transaction refused after the final dot, the same code as every other message refusal of ours;
 * the message was read whole, the session stays in step (we only ever end DATA at CRLF.CRLF) and goes
 * on. Enhanced codes after RFC 3463: bare CR/LF violates the line syntax of RFC 5321 §2.3.8 — X.5.2,
 * "syntax error", as Postfix's smtpd_forbid_bare_newline gives; NUL is excluded from 7bit and 8bit
 * data by RFC 2045 §2.7–2.8 (and RFC 6152) — X.6.0, a media error.
 */
export const BODY_FAULT_REPLIES: Readonly<Record<BodyFault, SmtpReply>> = {
  "bare-cr": buildReply("bareLineBreak", {}),
  "bare-lf": buildReply("bareLineBreak", {}),
  nul: buildReply("nulCharacters", {}),
};

/** RFC 5321 §3.8 / §4.2.2: 421 closes the session; RFC 3463 X.7.0, a policy limit. */
export function tooManyConnections(hostname: string): SmtpReply {
  return buildReply("tooManyConnections", { host: hostname });
}

/** Postfix's smtpd_hard_error_limit reply: after this many errors the session is closed. */
export function tooManyErrors(hostname: string): SmtpReply {
  return buildReply("tooManyErrors", { host: hostname });
}

/** RFC 5321 §4.2.2 250 for the final dot; the queue id lets the sender's postmaster find the message. */
export function queued(queueId: string): SmtpReply {
  return { code: 250, enhanced: "2.0.0", text: `Ok: queued as ${queueId}` };
}

/**
 * The reply when the spool could not take an accepted message: 452 4.3.1 when its file system is full
 * (ENOSPC; EDQUOT, a quota, is the same to the sender), else 451 4.3.0 naming the judge's id. Either
 * way nothing was queued and the client keeps the message (RFC 5321 §4.2.5: a 4yz after the final dot).
 */
export function spoolFailureReply(error: unknown, id: string): SmtpReply {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return code === "ENOSPC" || code === "EDQUOT" ? buildReply("insufficientStorage", {}) : buildReply("tempfail", { id });
}

/** The text smtp-server is handed: the enhanced code first, so it sends the reply exactly (server.ts). */
export function replyLine(reply: SmtpReply): string {
  return `${reply.enhanced} ${reply.text}`;
}

export interface ReplyError extends Error {
  responseCode: number;
}

/** A refusal as smtp-server's hooks take it: an Error with responseCode. */
export function replyError(reply: SmtpReply): ReplyError {
  return Object.assign(new Error(replyLine(reply)), { responseCode: reply.code });
}
