// Per-destination-domain limits around the remote Deliverer (issue 5 item 5): at most N SMTP sessions
// to one domain at a time (excess deliveries wait, boundedly, for a slot), and a domain whose delivery
// just failed at the connection level (no MX host reachable, 421, TLS policy failure) "rests" for a
// short while: other messages to it are deferred at once without connecting, so a down destination
// does not eat sessions. The decisions are pure functions (connectionLevelDeferral, restUntil); the
// wrapper is the bookkeeping around them. See docs/outbound.md.
import { recipientsByDomain } from "./remote.ts";
import type { Deliverer, OutgoingMessage, RecipientResult } from "../queue/deliverer.ts";

/** The longest a domain rests after a connection failure. */
export const MAX_REST_MS = 5 * 60 * 1000;
/** How long a delivery waits for a session slot of its domain before it is deferred. */
export const DEFAULT_SLOT_WAIT_MS = 60 * 1000;

export interface DestinationLimitOptions {
  /** SMTP sessions per destination domain at most (config relay.outbound.maxSessionsPerDomain). */
  maxSessionsPerDomain: number;
  /** How long a delivery waits for a slot before it is deferred; default 60 s. */
  slotWaitMs?: number;
  /** The longest rest after a connection failure; default 5 min. */
  maxRestMs?: number;
  /**
   * Ms until a message that just made its `attempt`-th attempt is tried again (at the earliest): the
   * rest never outlasts it, so the failed message's own retry is the one that probes the domain again.
   */
  retryInMs?: (attempt: number) => number;
  now?: () => number;
}

/**
 * Whether a domain's results show a connection-level failure: every recipient deferred, each with a
 * reply that is not a per-recipient 4xx — 421 (RFC 5321 §3.8, the service closing), an X.4.x network or
 * routing status (RFC 3463 §3.5: no answer, connection broken, no address, MX lookup failed) or
 * 4.7.5 (a DANE / MTA-STS / mandatory TLS refusal of every host, RFC 3463 §3.8).
 */
export function connectionLevelDeferral(results: readonly RecipientResult[]): boolean {
  return results.length > 0 && results.every((r) => r.status === "deferred" && /^(421\b|4\d\d 4\.4\.\d+\b|4\d\d 4\.7\.5\b)/.test(r.reply));
}

/** Until when a domain rests: the smaller of `maxRestMs` and the failed message's own next attempt. */
export function restUntil(now: number, maxRestMs: number, retryInMs?: number): number {
  return now + Math.max(0, Math.min(maxRestMs, retryInMs ?? Infinity));
}

/** The reply for recipients of a resting domain. */
export function restingReply(domain: string): string {
  return `451 4.4.1 ${domain}: resting after a connection failure, will retry`;
}

/** A counting semaphore with a bounded wait. */
class Slots {
  #busy = 0;
  readonly #waiters: (() => void)[] = [];

  readonly limit: number;

  constructor(limit: number) {
    this.limit = limit;
  }

  get busy(): number {
    return this.#busy;
  }

  /** Resolves true with a slot, or false when none came free within `waitMs`. */
  acquire(waitMs: number): Promise<boolean> {
    if (this.#busy < this.limit) {
      this.#busy++;
      return Promise.resolve(true);
    }
    return new Promise((resolve) => {
      const grant = (): void => {
        clearTimeout(timer);
        resolve(true);
      };
      const timer = setTimeout(() => {
        const i = this.#waiters.indexOf(grant);
        if (i >= 0) this.#waiters.splice(i, 1);
        resolve(false);
      }, waitMs);
      this.#waiters.push(grant);
    });
  }

  /** Hands the slot to the first waiter, or frees it. */
  release(): void {
    const next = this.#waiters.shift();
    if (next) next();
    else this.#busy--;
  }

  get idle(): boolean {
    return this.#busy === 0 && this.#waiters.length === 0;
  }
}

export interface DestinationLimitedDeliverer extends Deliverer {
  /** Sessions open to `domain` now (for tests and `queue` diagnostics). */
  sessions(domain: string): number;
  /** Until when `domain` rests (ms since the epoch), or undefined. */
  restingUntil(domain: string): number | undefined;
}

export function limitByDestination(inner: Deliverer, options: DestinationLimitOptions): DestinationLimitedDeliverer {
  const now = options.now ?? Date.now;
  const slotWaitMs = options.slotWaitMs ?? DEFAULT_SLOT_WAIT_MS;
  const maxRestMs = options.maxRestMs ?? MAX_REST_MS;
  const slots = new Map<string, Slots>();
  const resting = new Map<string, number>();

  const restingNow = (domain: string): boolean => {
    const until = resting.get(domain);
    if (until === undefined) return false;
    if (now() < until) return true;
    resting.delete(domain);
    return false;
  };

  async function toDomain(domain: string, message: OutgoingMessage, rcptTo: string[]): Promise<RecipientResult[]> {
    const deferAll = (reply: string): RecipientResult[] => rcptTo.map((rcpt) => ({ rcpt, status: "deferred", reply }));
    if (restingNow(domain)) return deferAll(restingReply(domain));
    let domainSlots = slots.get(domain);
    if (!domainSlots) slots.set(domain, (domainSlots = new Slots(options.maxSessionsPerDomain)));
    const own = domainSlots;
    if (!(await own.acquire(slotWaitMs))) {
      if (own.idle) slots.delete(domain);
      return deferAll(`451 4.4.5 ${domain}: too many concurrent sessions, will retry`);
    }
    try {
      // The domain may have been put to rest while this delivery waited for its slot.
      if (restingNow(domain)) return deferAll(restingReply(domain));
      const results = await inner({ ...message, envelope: { ...message.envelope, rcptTo } });
      if (connectionLevelDeferral(results)) {
        const attempt = (message.attempts ?? 0) + 1;
        resting.set(domain, restUntil(now(), maxRestMs, options.retryInMs?.(attempt)));
      } else {
        resting.delete(domain); // the destination answered: it is up
      }
      return results;
    } finally {
      own.release();
      if (own.idle) slots.delete(domain);
    }
  }

  const deliver: Deliverer = async (message) => {
    const groups = recipientsByDomain(message.envelope.rcptTo);
    const perDomain = await Promise.all([...groups].map(([domain, rcpts]) => toDomain(domain, message, rcpts)));
    return perDomain.flat();
  };
  return Object.assign(deliver, {
    sessions: (domain: string) => slots.get(domain)?.busy ?? 0,
    restingUntil: (domain: string) => (restingNow(domain) ? resting.get(domain) : undefined),
  });
}
