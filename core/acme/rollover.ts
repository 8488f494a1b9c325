// The key rollover of a DANE-EE(3) SPKI(1) host (RFC 7671 §8.1, "current + next"): a new key is made
// and its TLSA record published beside the current one; only after a delay, when every cache that held
// the old record set has forgotten it (at least twice its TTL), does the relay switch to the new key;
// the old record is removed after that. Renewals in between keep the current key, so its record stays
// valid. Pure: the state as relay-node/src/acme/ stores it (rollover.json) and the digests of the keys
// and of the certificate on disk go in, decisions come out.

export type RolloverState =
  /** One key; its record is the one published. */
  | { phase: "none" }
  /** Both records are to be published; the relay switches to `next` at `swapAfter`. */
  | { phase: "publishing"; current: string; next: string; startedAt: number; swapAfter: number }
  /** The relay uses `current`; the record of `retired` can be removed. */
  | { phase: "swapped"; current: string; retired: string; swappedAt: number };

/** The SPKI SHA-256 digests (hex, RFC 6698 §2.1) of what is on disk; null where a file is absent. */
export interface KeyDigests {
  certificate: string | null;
  current: string;
  next: string | null;
}

/** A rollover begins, unless one is under way (then the reason). */
export function startRollover(
  state: RolloverState,
  digests: { current: string; next: string },
  now: number,
  delayMs: number,
): { state: RolloverState } | { refused: string } {
  if (state.phase === "publishing") {
    return { refused: `a rollover is under way: the relay switches to the key ${state.next} at ${new Date(state.swapAfter).toISOString()}` };
  }
  return { state: { phase: "publishing", current: digests.current, next: digests.next, startedAt: now, swapAfter: now + delayMs } };
}

/** Whether to switch keys now (then a certificate is issued for the next key and it becomes current). */
export function swapDue(state: RolloverState, now: number): { due: true } | { due: false; at?: number } {
  if (state.phase !== "publishing") return { due: false };
  return now >= state.swapAfter ? { due: true } : { due: false, at: state.swapAfter };
}

/** The state once the relay serves a certificate for the next key. */
export function swapped(state: Extract<RolloverState, { phase: "publishing" }>, now: number): RolloverState {
  return { phase: "swapped", current: state.next, retired: state.current, swappedAt: now };
}

export interface PublishedTlsa {
  spkiSha256: string;
  /** `current`: in use; `next`: publish it now, used from the swap on; `retired`: no longer used, remove it. */
  role: "current" | "next" | "retired";
}

/** The TLSA 3 1 1 digests the zone should hold now, with what each is for. */
export function tlsaToPublish(state: RolloverState, current: string): PublishedTlsa[] {
  const records: PublishedTlsa[] = [{ spkiSha256: current, role: "current" }];
  if (state.phase === "publishing") records.push({ spkiSha256: state.next, role: "next" });
  if (state.phase === "swapped" && state.retired !== current) records.push({ spkiSha256: state.retired, role: "retired" });
  return records;
}

/**
 * What to do with the files after a stop at any point. A rollover writes next-key.pem, then the state;
 * a swap writes cert.pem (for the next key), renames next-key.pem over key.pem, then writes the state.
 * - `promote-next`: cert.pem is the next key's: finish the swap (rename, then the state).
 * - `record-swap`: the rename happened, the state did not: write it.
 * - `remove-next`: a next key that no rollover records (it was never shown to anyone): delete it.
 * - `abandon`: the state names keys that are not on disk (a file removed by hand): back to one key.
 */
export type Reconciliation =
  | { action: "none" }
  | { action: "promote-next"; state: RolloverState }
  | { action: "record-swap"; state: RolloverState }
  | { action: "remove-next" }
  | { action: "abandon"; reason: string };

export function reconcile(state: RolloverState, digests: KeyDigests, now: number): Reconciliation {
  if (state.phase !== "publishing") return digests.next === null ? { action: "none" } : { action: "remove-next" };
  if (digests.next === state.next && digests.current === state.current) {
    return digests.certificate === state.next ? { action: "promote-next", state: swapped(state, now) } : { action: "none" };
  }
  if (digests.next === null && digests.current === state.next) return { action: "record-swap", state: swapped(state, now) };
  return {
    action: "abandon",
    reason: `the rollover's keys are not on disk (key.pem ${digests.current}, next-key.pem ${digests.next ?? "absent"}; expected ${state.current} and ${state.next})`,
  };
}
