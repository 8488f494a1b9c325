// Delivery from the spool: runs due entries through the next hop, a bounded number at a time, retries
// transient failures with exponential backoff, bounces permanent ones with a DSN, and gives up after
// the queue lifetime. The decisions are pure functions (nextAttemptDelay, decideAttempt); startDelivery
// is the loop around them. Retry schedule and ordering argument: docs/queue.md.
import type { Logger } from "pino";
import { buildDsn, statusOfReply, type DsnRecipient } from "../../../core/dsn/dsn.ts";
import { crashPoint } from "./crash-point.ts";
import type { Deliverer, RecipientResult } from "./deliverer.ts";
import { newQueueId, type AttemptRecord, type QueueEntry, type Spool } from "./spool.ts";

const FIRST_RETRY_SECONDS = 60;
const MAX_RETRY_SECONDS = 3600;
/** Postfix's maximal_queue_lifetime and RFC 5321 §4.5.4.1's "at least 4-5 days". */
const DEFAULT_GIVE_UP_AFTER_SECONDS = 5 * 24 * 3600;

/**
 * Seconds to wait after the `attempt`-th failed attempt (1, 2, …): 1 min, 2, 4, 8 … capped at 1 h,
 * each ±10 % at random so that entries deferred together do not retry in lockstep.
 */
export function nextAttemptDelay(attempt: number, random: () => number = Math.random): number {
  const base = Math.min(FIRST_RETRY_SECONDS * 2 ** Math.max(0, attempt - 1), MAX_RETRY_SECONDS);
  return base * (0.9 + 0.2 * random());
}

export interface RetryPolicy {
  /** Seconds before the next attempt after `attempt` attempts. */
  backoff: (attempt: number) => number;
  giveUpAfterSeconds: number;
  /** Send a "delayed" DSN once a message waited this long; undefined: never. */
  warnAfterSeconds?: number;
}

/** What to do after one attempt. */
export interface AttemptDecision {
  /** The state to record; results of expired recipients are already turned into failures. */
  record: AttemptRecord;
  /** The recipients to report to the sender (failed and, once, delayed); empty: no DSN. */
  notices: DsnRecipient[];
  /** No recipient is pending any more: remove the entry. */
  done: boolean;
}

const EXPIRED_STATUS = "4.4.7"; // RFC 3463 §3.5: delivery time expired

/**
 * The pure decision after an attempt at `entry`'s `attempted` recipients: permanent failures are
 * final and reported (RFC 5321 §4.2.1: 5yz); transient ones (4yz, no connection) are retried with
 * backoff until the message is `giveUpAfterSeconds` old, then reported as expired; a recipient the
 * next hop forgot to answer for counts as deferred.
 */
export function decideAttempt(
  entry: QueueEntry,
  attempted: readonly string[],
  results: readonly RecipientResult[],
  now: number,
  policy: RetryPolicy,
): AttemptDecision {
  const byRcpt = new Map(results.map((result) => [result.rcpt, result]));
  const age = (now - entry.createdAt) / 1000;
  const expired = age >= policy.giveUpAfterSeconds;
  const warn = !entry.delayWarned && policy.warnAfterSeconds !== undefined && age >= policy.warnAfterSeconds;
  const recorded: RecipientResult[] = [];
  const notices: DsnRecipient[] = [];
  for (const rcpt of attempted) {
    const result = byRcpt.get(rcpt) ?? { rcpt, status: "deferred", reply: "451 4.3.0 No result from the next hop" };
    const remoteMta = result.remoteMta ? { remoteMta: result.remoteMta } : {};
    if (result.status === "failed") {
      notices.push({ rcpt, action: "failed", status: statusOfReply(result.reply), reply: result.reply, ...remoteMta });
    } else if (result.status === "deferred" && expired) {
      notices.push({ rcpt, action: "failed", status: EXPIRED_STATUS, reply: result.reply, ...remoteMta });
      recorded.push({ ...result, status: "failed" });
      continue;
    } else if (result.status === "deferred" && warn) {
      notices.push({ rcpt, action: "delayed", status: statusOfReply(result.reply), reply: result.reply, ...remoteMta });
    }
    recorded.push(result);
  }
  const stillPending = new Set(entry.recipients.filter((r) => r.status === "pending").map((r) => r.rcpt));
  for (const result of recorded) if (result.status !== "deferred") stillPending.delete(result.rcpt);
  const attempts = entry.attempts + 1;
  return {
    record: {
      at: now,
      results: recorded,
      nextAttemptAt: now + policy.backoff(attempts) * 1000,
      ...(notices.some((n) => n.action === "delayed") ? { delayWarned: true } : {}),
    },
    notices,
    done: stillPending.size === 0,
  };
}

/** A DSN the scheduler queued (or, for the null sender, would have). */
export interface BounceEvent {
  /** The queue id of the message reported on. */
  id: string;
  /** The DSN's queue id; null when the sender was the null reverse path and no DSN was made. */
  dsnId: string | null;
  recipients: DsnRecipient[];
}

export interface DeliveryOptions {
  /** Our host name, for the DSN (Reporting-MTA, MAILER-DAEMON@). */
  hostname: string;
  /** Deliveries in flight at most. */
  concurrency: number;
  backoff?: (attempt: number) => number;
  /** Default 5 days. */
  giveUpAfterSeconds?: number;
  warnAfterSeconds?: number;
  /** Look for due entries at least this often (ms); default 30 s. */
  pollIntervalMs?: number;
  /** stop() waits this long (ms) for deliveries in flight; default 30 s. */
  drainTimeoutMs?: number;
  /** The clock, ms since the epoch (tests pass a fake one). */
  now?: () => number;
  /** The From address of a DSN about a message from `mailFrom`; MAILER-DAEMON@hostname without it. */
  dsnFrom?: (mailFrom: string) => string;
  /** Where a DSN about a message from `mailFrom` goes; `mailFrom` itself without it. */
  dsnTo?: (mailFrom: string) => string;
  /** Signs a DSN from `from` before it is queued (DKIM, as other outbound mail); undefined leaves it unsigned. */
  signDsn?: (message: Buffer, from: string, now: Date) => Buffer | undefined;
  /** Called after a DSN was queued durably (or skipped for the null sender). */
  onBounce?: (event: BounceEvent) => void;
  /**
   * Called after each attempt with the entry as it was before it and the results recorded (expired
   * deferrals as failures), at the scheduler's `now`: for the metrics.
   */
  onAttempt?: (entry: QueueEntry, results: readonly RecipientResult[], now: number) => void;
  logger?: Logger;
}

export interface DeliveryScheduler {
  /** Something was enqueued: look for due entries now rather than at the next poll. */
  notify(): void;
  /** The entry is being delivered right now. */
  inFlight(id: string): boolean;
  /** Resolves once nothing is in flight and nothing is due (by the scheduler's clock). */
  idle(): Promise<void>;
  /** Takes no new deliveries and waits for those in flight, at most drainTimeoutMs. */
  stop(): Promise<void>;
}

/** Replies for every recipient when the next hop itself failed (a bug there, not a remote answer). */
export function deferAll(rcptTo: readonly string[], error: unknown): RecipientResult[] {
  const reason = error instanceof Error ? error.message : String(error);
  return rcptTo.map((rcpt) => ({ rcpt, status: "deferred", reply: `451 4.3.0 Next hop error: ${reason}` }));
}

/** A binary min-heap of (time, id), ties broken by id (queue ids sort by arrival). */
class DueHeap {
  readonly #items: { at: number; id: string }[] = [];

  #less(i: number, j: number): boolean {
    const a = this.#items[i]!;
    const b = this.#items[j]!;
    return a.at < b.at || (a.at === b.at && a.id < b.id);
  }

  #swap(i: number, j: number): void {
    const items = this.#items;
    [items[i], items[j]] = [items[j]!, items[i]!];
  }

  push(at: number, id: string): void {
    this.#items.push({ at, id });
    for (let i = this.#items.length - 1; i > 0;) {
      const parent = (i - 1) >> 1;
      if (!this.#less(i, parent)) break;
      this.#swap(i, parent);
      i = parent;
    }
  }

  peek(): { at: number; id: string } | undefined {
    return this.#items[0];
  }

  pop(): void {
    const items = this.#items;
    const last = items.pop();
    if (items.length === 0 || last === undefined) return;
    items[0] = last;
    for (let i = 0; ;) {
      const left = 2 * i + 1;
      const right = left + 1;
      let least = i;
      if (left < items.length && this.#less(left, least)) least = left;
      if (right < items.length && this.#less(right, least)) least = right;
      if (least === i) break;
      this.#swap(i, least);
      i = least;
    }
  }
}

export function startDelivery(spool: Spool, deliverer: Deliverer, options: DeliveryOptions): DeliveryScheduler {
  const clock = options.now ?? Date.now;
  const policy: RetryPolicy = {
    backoff: options.backoff ?? nextAttemptDelay,
    giveUpAfterSeconds: options.giveUpAfterSeconds ?? DEFAULT_GIVE_UP_AFTER_SECONDS,
    ...(options.warnAfterSeconds === undefined ? {} : { warnAfterSeconds: options.warnAfterSeconds }),
  };
  const pollIntervalMs = options.pollIntervalMs ?? 30_000;
  const inFlight = new Map<string, Promise<void>>();
  // The due index: a min-heap of (time, id) with lazy deletion. `dueAt` holds each waiting entry's
  // current time; a heap item whose time differs from it (or whose id left it) is stale and skipped.
  // Entries in flight are in neither: they are indexed again when their attempt ends. So an event
  // costs O(log n), not a scan and sort of the whole spool.
  const dueAt = new Map<string, number>();
  const heap = new DueHeap();
  let idleWaiters: (() => void)[] = [];
  let timer: NodeJS.Timeout | undefined;
  let timerAt = Infinity;
  let pumpScheduled = false;
  let stopped = false;

  function index(id: string, at: number): void {
    if (inFlight.has(id)) return;
    dueAt.set(id, at);
    heap.push(at, id);
  }

  const unwatch = spool.watch((id, entry) => {
    if (entry) index(id, entry.nextAttemptAt);
    else dueAt.delete(id);
    schedulePump();
  });
  for (const entry of spool.list()) index(entry.id, entry.nextAttemptAt);

  async function attempt(id: string): Promise<void> {
    const stored = await spool.read(id);
    if (!stored) return;
    const { entry, message } = stored;
    const pending = entry.recipients.filter((r) => r.status === "pending").map((r) => r.rcpt);
    if (pending.length === 0) return spool.remove(id); // the process died between the last record and remove()
    const results = await deliverer({ id, envelope: { mailFrom: entry.envelope.mailFrom, rcptTo: pending }, message, attempts: entry.attempts }).catch(
      (error: unknown) => deferAll(pending, error),
    );
    if (results.some((result) => result.status === "delivered")) crashPoint("delivery");
    const now = clock();
    const decision = decideAttempt(entry, pending, results, now, policy);
    options.onAttempt?.(entry, decision.record.results, now);
    options.logger?.info({ queueId: id, attempt: entry.attempts + 1, results, done: decision.done }, "delivery attempt");
    // The DSN is durable before the entry changes: a crash in between sends it twice, never not at all.
    if (decision.notices.length > 0) {
      const from = options.dsnFrom?.(entry.envelope.mailFrom);
      const dsn = buildDsn({
        id: newQueueId(now),
        reportingMta: options.hostname,
        original: { id, mailFrom: options.dsnTo?.(entry.envelope.mailFrom) ?? entry.envelope.mailFrom, createdAt: entry.createdAt, message },
        recipients: decision.notices,
        now,
        willRetryUntil: entry.createdAt + policy.giveUpAfterSeconds * 1000,
        ...(from === undefined ? {} : { from }),
      });
      const signed = dsn && from !== undefined ? options.signDsn?.(Buffer.from(dsn.message), from, new Date(now)) : undefined;
      const dsnId = dsn ? await spool.enqueue(signed ? { ...dsn, message: signed } : dsn, now) : null;
      options.logger?.info({ queueId: id, dsnId, recipients: decision.notices }, dsn ? "delivery status notification queued" : "no DSN to the null sender");
      options.onBounce?.({ id, dsnId, recipients: decision.notices });
    }
    if (decision.done) await spool.remove(id);
    else await spool.recordAttempt(id, decision.record);
  }

  function start(id: string): void {
    // An entry whose attempt failed inside the relay (a spool write, say) rests a poll interval: no hot loop.
    let restUntil = 0;
    const run = attempt(id)
      .catch((error: unknown) => {
        restUntil = clock() + pollIntervalMs;
        options.logger?.error({ queueId: id, err: error }, "delivery attempt failed inside the relay");
      })
      .finally(() => {
        inFlight.delete(id);
        const entry = spool.get(id);
        if (entry) index(id, Math.max(entry.nextAttemptAt, restUntil));
        schedulePump();
      });
    inFlight.set(id, run);
  }

  function pump(): void {
    pumpScheduled = false;
    if (stopped) return;
    const now = clock();
    // Oldest due first; what finds no free slot now starts when a delivery in flight ends.
    while (inFlight.size < options.concurrency) {
      const top = heap.peek();
      if (!top || top.at > now) break;
      heap.pop();
      if (dueAt.get(top.id) !== top.at) continue; // stale
      dueAt.delete(top.id);
      start(top.id);
    }
    if (inFlight.size === 0) {
      for (const resolve of idleWaiters) resolve();
      idleWaiters = [];
    }
    let next = heap.peek();
    while (next && dueAt.get(next.id) !== next.at) {
      heap.pop();
      next = heap.peek();
    }
    const wakeAt = Math.min(now + pollIntervalMs, next ? Math.max(next.at, now) : Infinity);
    // Re-arm the timer only when it would fire later than needed, or has fired.
    if (timer === undefined || wakeAt < timerAt || timerAt <= now) {
      clearTimeout(timer);
      timerAt = wakeAt;
      timer = setTimeout(() => {
        timer = undefined;
        schedulePump();
      }, wakeAt - now);
      timer.unref();
    }
  }

  function schedulePump(): void {
    if (pumpScheduled || stopped) return;
    pumpScheduled = true;
    setImmediate(pump);
  }

  schedulePump();
  return {
    notify: schedulePump,
    inFlight: (id) => inFlight.has(id),
    idle() {
      if (stopped) return Promise.resolve();
      const idle = new Promise<void>((resolve) => idleWaiters.push(resolve));
      schedulePump();
      return idle;
    },
    async stop() {
      stopped = true;
      unwatch();
      clearTimeout(timer);
      for (const resolve of idleWaiters) resolve();
      idleWaiters = [];
      let bound: NodeJS.Timeout | undefined;
      const drained = Promise.allSettled(inFlight.values());
      await Promise.race([drained, new Promise((resolve) => (bound = setTimeout(resolve, options.drainTimeoutMs ?? 30_000)))]);
      clearTimeout(bound);
    },
  };
}
