// The one contract between the queue and every next hop (Maildir, LMTP, SMTP): a message goes out to
// some recipients, and each recipient gets its own outcome — SMTP decides per recipient (RFC 5321
// §3.3 RCPT replies; LMTP, RFC 2033 §4.2, even after DATA), so a next hop never answers for the whole
// message at once.

/** What the queue hands a next hop: one spooled message and the recipients still to deliver. */
export interface OutgoingMessage {
  /** The spool's queue id, for logs and unique names. */
  id: string;
  /** `mailFrom` is "" for the null reverse path (RFC 5321 §4.5.5); `rcptTo` holds only the pending recipients. */
  envelope: { mailFrom: string; rcptTo: readonly string[] };
  /** The message as spooled: CRLF line ends, the relay's trace headers already prepended. */
  message: Uint8Array;
  /** Attempts already made at this message (the spool's count; absent: unknown). */
  attempts?: number;
}

/**
 * One recipient's outcome of one delivery attempt:
 * - delivered: the next hop took responsibility (a 2xx reply, or the file is fsynced in new/);
 * - deferred: a transient failure (4xx, connection refused, timeout, disk full) — try again later;
 * - failed: a permanent failure (5xx, RFC 5321 §4.2.1) — bounce, never retry.
 */
export interface RecipientResult {
  rcpt: string;
  status: "delivered" | "deferred" | "failed";
  /** The reply as an SMTP reply line, e.g. "550 5.1.1 <bob@example.org>: unknown user". */
  reply: string;
  /** The host that gave the reply, for the DSN's Remote-MTA field (RFC 3464 §2.3.5). */
  remoteMta?: string;
}

/**
 * A next hop. It resolves with one result for every recipient of `rcptTo`, in any order; a failure
 * to connect is a result ("deferred"), not a rejection. A rejection is a bug in the next hop, and the
 * scheduler counts it as a deferral of every recipient.
 */
export type Deliverer = (message: OutgoingMessage) => Promise<RecipientResult[]>;
