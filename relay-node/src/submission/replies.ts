// The submission listeners' own protocol replies, beside the spec's in core/smtp/replies.ts
// (authRequired, authBeforeTls, senderNotOwned).
import type { SmtpReply } from "../../../core/smtp/replies.ts";

/** RFC 4954 §6: the credentials were wrong; 5.7.8 "authentication credentials invalid". */
export const AUTH_INVALID: SmtpReply = { code: 535, enhanced: "5.7.8", text: "Authentication credentials invalid" };

/** RFC 4954 §6: "a temporary server failure", here the throttle of failed logins (login-throttle.ts). */
export const AUTH_TEMPORARY_FAILURE: SmtpReply = { code: 454, enhanced: "4.7.0", text: "Temporary authentication failure" };

/** RFC 5321 §4.5.3.1.8 and §4.2.2: 452 for a recipient beyond the per-message bound; RFC 3463 X.5.3. */
export const TOO_MANY_RECIPIENTS_PER_MESSAGE: SmtpReply = { code: 452, enhanced: "4.5.3", text: "Too many recipients for one message" };

/** The user's messages per hour are used up (send-quota.ts); RFC 3463 X.7.1, try again later. */
export const SEND_RATE_LIMITED: SmtpReply = { code: 450, enhanced: "4.7.1", text: "Rate limited: too many messages this hour, please try again later" };
