// Greylisting, the classic algorithm (E. Harris, "The Next Step in the Spam Control War: Greylisting",
// 2003, as postgrey implements it; RFC 6647 describes the practice): the first delivery attempt of a
// triplet — client network, envelope sender, recipient — is answered 451 4.7.1 (RFC 3463 §3.8); a
// retry after the delay and within the retry window passes, and the triplet is then remembered for the
// pass lifetime. A client network that delivered enough messages is allowed at once (auto-allow). The
// decision is pure; the state lives in a GreylistStore (store.ts): node:sqlite for one relay,
// Redis for several relays sharing it.
import { isIPv4 } from "node:net";
import type { EdgemxConfig } from "../../../core/config/schema.ts";
import { buildReply } from "../../../core/smtp/replies.ts";
import type { GreylistRecord, GreylistStore } from "./store.ts";
import { RedisGreylistStore, SqliteGreylistStore } from "./store.ts";
import { canonicalIp } from "../../../core/smtp/ip-address.ts";
import type { Finding } from "../../../core/smtp/finding.ts";

/** How the relay greylists (connection.greylist) and where it keeps the state (relay.greylist.store). */
export type GreylistSettings = EdgemxConfig["connection"]["greylist"] & EdgemxConfig["relay"]["greylist"];
type Timing = Pick<GreylistSettings, "delaySeconds" | "retryWindowSeconds" | "passLifetimeSeconds">;

/** What a triplet is made of, as the session knows it (addresses without angle brackets; "" is the null sender). */
export interface GreylistTriplet {
  clientIp: string;
  sender: string;
  recipient: string;
}

/** A triplet to check, with the session's id, which a temporary (store outage) reply quotes. */
export interface GreylistRequest extends GreylistTriplet {
  id: string;
}

export interface GreylistDecision {
  outcome: "pass" | "defer";
  /** Seconds until a retry can pass (0 on a pass). */
  waitSeconds: number;
  /** The record to store (the same object when nothing changed). */
  next: GreylistRecord;
}

/**
 * The decision for one attempt at `now` (ms), given what is stored for the triplet:
 * - unknown, or its record lapsed (never retried within the window, or unused for the pass
 *   lifetime): a new record, deferred for the full delay — and passed at once when the delay is 0;
 * - known, still within the delay: deferred for the rest of it; the record is not changed, so early
 *   retries do not push the delay out (as in Harris' paper and postgrey);
 * - known, delay over: passed, and kept for the pass lifetime from now.
 */
export function greylistDecision(record: GreylistRecord | null, now: number, settings: Timing): GreylistDecision {
  const current = record !== null && record.expiresAt > now ? record : null;
  const base = current ?? { firstSeen: now, passedAt: null, expiresAt: now + settings.retryWindowSeconds * 1000 };
  const passableAt = base.firstSeen + settings.delaySeconds * 1000;
  if (base.passedAt === null && now < passableAt) return { outcome: "defer", waitSeconds: Math.ceil((passableAt - now) / 1000), next: base };
  return {
    outcome: "pass",
    waitSeconds: 0,
    next: { firstSeen: base.firstSeen, passedAt: base.passedAt ?? now, expiresAt: now + settings.passLifetimeSeconds * 1000 },
  };
}

/**
 * The client's network as text: IPv4 masked to `ipv4Prefix` bits, IPv6 to `ipv6Prefix` (a /64 is one
 * site, and large senders retry from other addresses of the same pool), the network address in the
 * canonical form of ip-address.ts: "192.0.2.0/24", "2001:db8:1:2::/64". An IPv4-mapped IPv6 address
 * counts as IPv4. A text that is no address at all stands for itself.
 */
export function clientNetwork(ip: string, ipv4Prefix: number, ipv6Prefix: number): string {
  const address = canonicalIp(ip);
  if (address === null) return ip.toLowerCase();
  const v4 = isIPv4(address);
  const [bits, prefix] = v4 ? [8, ipv4Prefix] : [16, ipv6Prefix];
  const parts = v4 ? address.split(".").map(Number) : ipv6Groups(address);
  const masked = parts.map((value, i) => {
    const hostBits = bits - Math.max(0, Math.min(bits, prefix - i * bits));
    return value & (((1 << bits) - 1) ^ ((1 << hostBits) - 1));
  });
  return `${canonicalIp(v4 ? masked.join(".") : masked.map((group) => group.toString(16)).join(":"))}/${prefix}`;
}

/** The eight groups of an IPv6 address in hex notation, "::" expanded (RFC 4291 §2.2). */
function ipv6Groups(address: string): number[] {
  const [head = "", tail] = address.split("::");
  const groups = (text: string): number[] => (text === "" ? [] : text.split(":").map((group) => parseInt(group, 16)));
  if (tail === undefined) return groups(head);
  const [before, after] = [groups(head), groups(tail)];
  return [...before, ...new Array<number>(8 - before.length - after.length).fill(0), ...after];
}

/** The null sender (RFC 5321 §4.5.5) is a sender of its own, written as SMTP writes it. */
function senderKey(sender: string): string {
  const address = sender.trim().toLowerCase();
  return address === "" || address === "<>" ? "<>" : address;
}

/** The store key of a triplet: unambiguous whatever characters a (quoted) local part holds. */
export function tripletKey(triplet: GreylistTriplet, settings: Pick<GreylistSettings, "ipv4Prefix" | "ipv6Prefix">): string {
  const network = clientNetwork(triplet.clientIp, settings.ipv4Prefix, settings.ipv6Prefix);
  return JSON.stringify([network, senderKey(triplet.sender), triplet.recipient.trim().toLowerCase()]);
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
  const autoAllowedFinding = (network: string, passes: number): Finding => ({
    check: "greylist",
    outcome: "pass",
    detail: `${network} auto-allowed after ${passes} delivered messages`,
  });

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
        if (passes >= settings.autoAllowAfter) {
          memoiseAutoAllowed(autoAllowed, network, passes, now);
          return autoAllowedFinding(network, passes);
        }
        const decision = greylistDecision(record, now, settings);
        if (decision.next !== record) await store.put(key, decision.next, Math.ceil((decision.next.expiresAt - now) / 1000));
        if (decision.outcome === "pass") {
          const age = Math.round((now - decision.next.firstSeen) / 1000);
          return { check: "greylist", outcome: "pass", detail: `triplet ${key} passed, first seen ${age} s ago` };
        }
        const seconds = String(decision.waitSeconds);
        return {
          check: "greylist",
          outcome: "fail",
          reply: buildReply("greylisted", { address: request.recipient, seconds }),
          detail: `triplet ${key} ${record === decision.next ? "retried early" : "first seen"}, deferred for ${seconds} s`,
        };
      } catch (err) {
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
