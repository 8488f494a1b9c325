// Failed logins on the submission listeners, counted per client IP and per user (RFC 4954 §6 and
// §14: "servers SHOULD limit the number of failed authentication attempts"): each failure is answered
// after a delay that doubles with every failure of that IP or user; once either has maxFailures
// within the window, AUTH is refused with 454 4.7.0 without looking at the password, until the
// window since its latest failure has passed. A success clears the user's count (not the IP's: one
// valid account must not wipe out the failures an IP piled up against others).
//
// The decisions (decideLogin, afterFailure, failureDelayMs) are pure over an explicit time; the
// LoginThrottle around them holds the records in memory, bounded, with an injectable clock.

export interface ThrottlePolicy {
  maxFailures: number;
  windowSeconds: number;
  /** The delay after the first failure; it doubles with each further one. */
  baseDelayMs: number;
  maxDelayMs: number;
}

export interface FailureRecord {
  failures: number;
  /** Milliseconds since the epoch. */
  lastFailureAt: number;
}

export type LoginDecision = { status: "allowed" } | { status: "locked" };

function current(record: FailureRecord | undefined, now: number, policy: ThrottlePolicy): FailureRecord | undefined {
  return record !== undefined && now - record.lastFailureAt < policy.windowSeconds * 1000 ? record : undefined;
}

/** Locked when the IP's or the user's failures within the window reached the bound. */
export function decideLogin(records: readonly (FailureRecord | undefined)[], now: number, policy: ThrottlePolicy): LoginDecision {
  const locked = records.some((record) => (current(record, now, policy)?.failures ?? 0) >= policy.maxFailures);
  return locked ? { status: "locked" } : { status: "allowed" };
}

/** The record after one more failure; an expired record starts over. */
export function afterFailure(record: FailureRecord | undefined, now: number, policy: ThrottlePolicy): FailureRecord {
  return { failures: (current(record, now, policy)?.failures ?? 0) + 1, lastFailureAt: now };
}

/** How long the `failures`-th failure waits before its 535: base · 2^(failures−1), capped. */
export function failureDelayMs(failures: number, policy: ThrottlePolicy): number {
  return Math.min(policy.baseDelayMs * 2 ** Math.max(0, failures - 1), policy.maxDelayMs);
}

/** Records kept at most; beyond, the expired ones are dropped, then the oldest. */
const MAX_RECORDS = 100_000;

export class LoginThrottle {
  readonly #policy: ThrottlePolicy;
  readonly #now: () => number;
  readonly #records = new Map<string, FailureRecord>();

  constructor(policy: ThrottlePolicy, now: () => number = Date.now) {
    this.#policy = policy;
    this.#now = now;
  }

  check(ip: string, user: string): LoginDecision {
    return decideLogin([this.#records.get(ipKey(ip)), this.#records.get(userKey(user))], this.#now(), this.#policy);
  }

  /** Counts a failure for both; returns how long to wait before answering it. */
  failed(ip: string, user: string): number {
    const now = this.#now();
    let failures = 0;
    for (const key of [ipKey(ip), userKey(user)]) {
      const record = afterFailure(this.#records.get(key), now, this.#policy);
      this.#records.delete(key);
      this.#records.set(key, record);
      failures = Math.max(failures, record.failures);
    }
    this.#prune(now);
    return failureDelayMs(failures, this.#policy);
  }

  succeeded(user: string): void {
    this.#records.delete(userKey(user));
  }

  #prune(now: number): void {
    if (this.#records.size <= MAX_RECORDS) return;
    for (const [key, record] of this.#records) if (current(record, now, this.#policy) === undefined) this.#records.delete(key);
    // Map iteration is insertion order, and failed() re-inserts: the first keys are the least recent.
    for (const key of this.#records.keys()) {
      if (this.#records.size <= MAX_RECORDS) break;
      this.#records.delete(key);
    }
  }
}

function ipKey(ip: string): string {
  return `ip:${ip}`;
}

function userKey(user: string): string {
  return `user:${user.trim().toLowerCase()}`;
}
