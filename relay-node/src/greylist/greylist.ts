// Greylisting in the relay: the shared decision of core/greylist/ over a GreylistStore (store.ts) —
// node:sqlite for one relay, Redis for several relays sharing it — with the relay's economies: networks
// read as auto-allowed are remembered for a minute, and delivered messages are counted in memory and
// written in batches.
import type { EdgemxConfig, SharedStoreConfig } from "../../../core/config/schema.ts";
import { buildReply } from "../../../core/smtp/replies.ts";
import { autoAllowedFinding, clientNetwork, judgeAttempt, tripletKey, type GreylistTriplet } from "../../../core/greylist/greylist.ts";
import type { GreylistStore } from "./store.ts";
import { RedisGreylistStore, SqliteGreylistStore } from "./store.ts";
import type { Finding } from "../../../core/smtp/finding.ts";

/** How the relay greylists (connection.greylist) and where it keeps the state (relay.store, the state relays share). */
export type GreylistSettings = EdgemxConfig["connection"]["greylist"] & { store: SharedStoreConfig };

/** A triplet to check, with the session's id, which a temporary (store outage) reply quotes. */
export interface GreylistRequest extends GreylistTriplet {
  id: string;
}

export interface Greylist {
  /** At RCPT TO: pass, fail (451 4.7.1 with the wait) or temporary (the store failed). */
  check(request: GreylistRequest, now?: number): Promise<Finding>;
  /**
   * After a message from the triplet's client was accepted: counts towards the network's auto-allow.
   * Counted in memory and written by the next flush (FLUSH_INTERVAL_MS); a failed write reaches `onFlushError`.
   */
  delivered(triplet: GreylistTriplet): void;
  /** Writes the deliveries counted so far to the store now (after any flush under way); rejects only when `onFlushError` throws. */
  flush(): Promise<void>;
  /** Flushes, then closes the store. */
  close(): Promise<void>;
}

/** A flush that could not write some networks' counts: how many, and what became of them. */
export interface GreylistFlushFailure {
  /** Networks whose count the store refused. */
  networks: number;
  /** Of those, the networks whose count is kept for the next flush; the rest were dropped (PENDING_MAX_NETWORKS). */
  kept: number;
}

export interface GreylistOptions {
  /** A store to use instead of the one `settings.store` describes. */
  store?: GreylistStore;
  /** Told of every flush that failed (the first error stands for all); the relay logs it. */
  onFlushError: (err: unknown, failure: GreylistFlushFailure) => void;
  /** A check the store failed (answered 451): the relay counts it against the store's dependency (metrics). */
  onStoreError?: (err: unknown) => void;
}

/**
 * How long check() trusts a read that showed a network auto-allowed, without reading the store again.
 * Safe: the count only lapses after passLifetimeSeconds (days) without a delivery, and every delivery
 * renews it, so a network auto-allowed a minute ago is still auto-allowed, except when its last delivery
 * was almost exactly passLifetimeSeconds ago — then it passes for up to this much longer.
 */
export const AUTO_ALLOW_MEMO_MS = 60_000;
/** The most networks the memo holds; the oldest entry makes room for a new one. About 1 MB at most. */
export const AUTO_ALLOW_MEMO_MAX = 10_000;
/**
 * How often counted deliveries are written, one store call per network. A network that is not yet
 * auto-allowed reaches auto-allow up to this much later than its deliveries — harmless, as its next new
 * triplet is at worst greylisted once more; for auto-allowed networks this spares a write per message.
 */
export const FLUSH_INTERVAL_MS = 5_000;
/** The most networks whose counts a failing store keeps waiting (a long outage drops the rest, and says so). */
const PENDING_MAX_NETWORKS = 10_000;

/** Auto-allowed networks as a read showed them: the count read, and until when it is trusted (ms). */
type AutoAllowMemo = Map<string, { passes: number; until: number }>;

/** The memoised count of an auto-allowed network, or null when there is none live at `now` (an expired entry is dropped). */
function memoisedPasses(memo: AutoAllowMemo, network: string, now: number): number | null {
  const entry = memo.get(network);
  if (entry === undefined) return null;
  if (entry.until > now) return entry.passes;
  memo.delete(network);
  return null;
}

/** Remembers a network read as auto-allowed for AUTO_ALLOW_MEMO_MS; a full memo drops its oldest entry (Maps keep insertion order). */
function memoiseAutoAllowed(memo: AutoAllowMemo, network: string, passes: number, now: number): void {
  memo.delete(network);
  if (memo.size >= AUTO_ALLOW_MEMO_MAX) {
    const oldest = memo.keys().next();
    if (oldest.done !== true) memo.delete(oldest.value);
  }
  memo.set(network, { passes, until: now + AUTO_ALLOW_MEMO_MS });
}

/** Adds `amount` deliveries to a network's count, unless the network is new and `limit` networks are counted already; whether added. */
function addCount(counts: Map<string, number>, network: string, amount: number, limit = Infinity): boolean {
  const counted = counts.get(network);
  if (counted === undefined && counts.size >= limit) return false;
  counts.set(network, (counted ?? 0) + amount);
  return true;
}

export function createGreylist(settings: GreylistSettings, options: GreylistOptions): Greylist {
  if (!settings.enabled) {
    return {
      check: () => Promise.resolve({ check: "greylist", outcome: "pass", detail: "greylisting disabled" }),
      delivered: () => {},
      flush: async () => {},
      close: async () => {},
    };
  }
  const store = options.store ?? (settings.store.type === "redis" ? new RedisGreylistStore(settings.store.url) : new SqliteGreylistStore(settings.store.path));
  const networkOf = (triplet: GreylistTriplet): string => clientNetwork(triplet.clientIp, settings.ipv4Prefix, settings.ipv6Prefix);
  const autoAllowed: AutoAllowMemo = new Map();

  /** Deliveries counted since the last flush, by network. */
  let pending = new Map<string, number>();
  let timer: NodeJS.Timeout | null = null;
  /** The flush under way: flushes run one after the other, so close() waits for the one in progress. */
  let flushing = Promise.resolve();
  /** Set by close(): counts the store refuses then are dropped (and reported), as there is no next flush. */
  let closing = false;

  /**
   * Writes one batch, one call per network. What the store refuses is counted again for the next flush
   * (up to PENDING_MAX_NETWORKS networks, so a long outage cannot grow it without bound), and reported.
   */
  const writePending = async (): Promise<void> => {
    if (timer !== null) clearTimeout(timer);
    timer = null;
    if (pending.size === 0) return;
    const batch = [...pending];
    pending = new Map();
    const results = await Promise.allSettled(batch.map(([network, amount]) => store.incrementClientPasses(network, amount, settings.passLifetimeSeconds)));
    const failed = batch.filter((_, i) => results[i]!.status === "rejected");
    if (failed.length === 0) return;
    const kept = closing ? 0 : failed.filter(([network, amount]) => addCount(pending, network, amount, PENDING_MAX_NETWORKS)).length;
    if (kept > 0) scheduleFlush();
    const firstError: unknown = results.find((result) => result.status === "rejected")!.reason;
    options.onFlushError(firstError, { networks: failed.length, kept });
  };
  const flush = (): Promise<void> => {
    const run = flushing.then(writePending);
    flushing = run.catch(() => {}); // a throwing onFlushError fails its own flush only, not the ones after it
    return run;
  };
  // unref'd: a pending flush never keeps the process alive; close() writes what is left.
  const scheduleFlush = (): void => {
    timer ??= setTimeout(() => void flush(), FLUSH_INTERVAL_MS).unref();
  };

  return {
    async check(request, now = Date.now()) {
      const network = networkOf(request);
      const remembered = memoisedPasses(autoAllowed, network, now);
      if (remembered !== null) return autoAllowedFinding(network, remembered);
      const key = tripletKey(request, settings);
      try {
        const [passes, record] = await Promise.all([store.clientPasses(network), store.get(key)]);
        const attempt = judgeAttempt(key, request.recipient, { record, passes, network }, now, settings);
        if (passes >= settings.autoAllowAfter) memoiseAutoAllowed(autoAllowed, network, passes, now);
        if (attempt.write !== null) await store.put(key, attempt.write, Math.ceil((attempt.write.expiresAt - now) / 1000));
        return attempt.finding;
      } catch (err) {
        options.onStoreError?.(err);
        // docs/architecture.md: outages fail closed and temporary. Most MTAs let mail through when the greylist
        // store is down (greylisting only delays, it protects nothing), but a silent pass would also
        // hide the outage; a 451 is retried by every real MTA, and the log line says why.
        return {
          check: "greylist",
          outcome: "temporary",
          reply: buildReply("tempfail", { id: request.id }),
          detail: `greylist store: ${(err as Error).message}`,
        };
      }
    },
    delivered(triplet) {
      addCount(pending, networkOf(triplet), 1);
      scheduleFlush();
    },
    flush,
    async close() {
      closing = true;
      await flush();
      await store.close();
    },
  };
}
