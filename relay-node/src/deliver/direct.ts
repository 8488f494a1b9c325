// Mail for our own Maildirs is delivered before the 250 instead of through the spool, as mox delivers
// to its accounts: a copy fsynced in new/ (maildir.ts) is as durable as a spool entry, so the reply may
// wait for it, and the spool's write and its removal after delivery — half of the file-system work of
// a local message — are not done (docs/queue.md, "Delivery before the reply"). What the Maildir does
// not take then (a full disk, a folder that cannot be made) goes to the spool before the 250 and is
// retried from there as any deferred delivery; a message with any recipient the Maildir does not
// serve (another domain, a report address, a forwarded copy) is spooled whole, as before.
import { crashPoint } from "../queue/crash-point.ts";
import type { Deliverer, RecipientResult } from "../queue/deliverer.ts";
import { deferAll } from "../queue/scheduler.ts";
import { newQueueId, type EnqueueRequest } from "../queue/spool.ts";

export interface DirectDelivery {
  /** Whether a recipient's mail goes to the Maildir (metrics.ts nextHopLabeler says "maildir"). */
  isDirect(rcpt: string): boolean;
  /** The deliverer of the spool's scheduler: for recipients that pass isDirect, the Maildir. */
  deliver: Deliverer;
  /** The spool, for whatever is not delivered here. */
  enqueue(request: EnqueueRequest): Promise<string>;
  /** Throws when this relay lost its spool to another (lease.ts): it then takes no mail at all. */
  assertHeld(): void;
  /** Told of each attempt made here: every recipient's result, how long it took, and the SMTP session's id. */
  onAttempt?(attempt: { id: string; results: readonly RecipientResult[]; done: boolean; elapsedMs: number; session: string | undefined }): void;
}

/** Where the message comes from, for the delivery's log line (the session's story, log/story.ts). */
export interface Origin {
  session: string;
}

/** The recipients of `results` that were not delivered: the spool takes them. */
export function undelivered(rcptTo: readonly string[], results: readonly RecipientResult[]): string[] {
  const delivered = new Set(results.filter((result) => result.status === "delivered").map((result) => result.rcpt));
  return rcptTo.filter((rcpt) => !delivered.has(rcpt));
}

/**
 * The MX's enqueue with delivery before the reply: resolves with the message's id once every
 * recipient's copy is in its Maildir or the rest is in the spool — both durable — and rejects as
 * Spool.enqueue does when neither could take it.
 */
export function deliverBeforeReply(direct: DirectDelivery): (request: EnqueueRequest, origin?: Origin) => Promise<string> {
  return async (request, origin) => {
    const rcptTo = [...new Set(request.envelope.rcptTo)];
    if (rcptTo.length === 0 || !rcptTo.every((rcpt) => direct.isDirect(rcpt))) return direct.enqueue(request);
    direct.assertHeld();
    const id = request.id ?? newQueueId();
    const started = performance.now();
    // A deliverer rejects only on a bug (deliverer.ts): every recipient deferred, the spool takes them.
    const results = await direct
      .deliver({ id, envelope: { mailFrom: request.envelope.mailFrom, rcptTo }, message: request.message, attempts: 0 })
      .catch((error: unknown) => deferAll(rcptTo, error));
    if (results.some((result) => result.status === "delivered")) crashPoint("delivery");
    const rest = undelivered(rcptTo, results);
    direct.onAttempt?.({ id, results, done: rest.length === 0, elapsedMs: performance.now() - started, session: origin?.session });
    if (rest.length === 0) return id;
    return direct.enqueue({ id, envelope: { mailFrom: request.envelope.mailFrom, rcptTo: rest }, message: request.message });
  };
}
