// Messages per hour per user (relay.submission.maxMessagesPerHour): a sliding window over the times
// of the user's accepted messages — M3AAWG's Outbound Abuse practices ask a submission service to cap
// what one account sends, so a stolen password sends a trickle, not a flood. Pure decision
// (withinQuota) over an explicit time; SendQuota keeps the times in memory with an injectable clock.

export const HOUR_MS = 3_600_000;

/** The times still inside the window ending at `now`. */
export function recentSends(times: readonly number[], now: number, windowMs: number = HOUR_MS): number[] {
  return times.filter((t) => now - t < windowMs);
}

export function withinQuota(times: readonly number[], now: number, maxPerWindow: number, windowMs: number = HOUR_MS): boolean {
  return recentSends(times, now, windowMs).length < maxPerWindow;
}

export class SendQuota {
  readonly #max: number;
  readonly #now: () => number;
  readonly #sent = new Map<string, number[]>();

  constructor(maxPerHour: number, now: () => number = Date.now) {
    this.#max = maxPerHour;
    this.#now = now;
  }

  allows(user: string): boolean {
    return withinQuota(this.#sent.get(user) ?? [], this.#now(), this.#max);
  }

  /** One message of `user` was accepted. */
  record(user: string): void {
    const now = this.#now();
    this.#sent.set(user, [...recentSends(this.#sent.get(user) ?? [], now), now]);
  }
}
