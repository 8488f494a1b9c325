// Greylisting, the classic algorithm (E. Harris, "The Next Step in the Spam Control War: Greylisting",
// 2003, as postgrey implements it; RFC 6647 describes the practice): the first delivery attempt of a
// triplet — client network, envelope sender, recipient — is answered 451 4.7.1 (RFC 3463 §3.8); a
// retry after the delay and within the retry window passes, and the triplet is then remembered for the
// pass lifetime. A client network that delivered enough messages is allowed at once (auto-allow). The
// decision is pure; the state lives in a GreylistStore (greylist-store.ts): node:sqlite for one relay,
// Redis for several relays sharing it.
import { isIPv4 } from "node:net";
import type { EdgemxConfig } from "../../../workers/src/config/schema.ts";
import { buildReply } from "../../../workers/src/judge/replies.ts";
import type { GreylistRecord, GreylistStore } from "./greylist-store.ts";
import { RedisGreylistStore, SqliteGreylistStore } from "./greylist-store.ts";
import { canonicalIp } from "./ip-address.ts";
import type { Finding } from "./types.ts";

export type GreylistSettings = EdgemxConfig["relay"]["greylist"];
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
  return { outcome: "pass", waitSeconds: 0, next: { firstSeen: base.firstSeen, passedAt: base.passedAt ?? now, expiresAt: now + settings.passLifetimeSeconds * 1000 } };
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
  /** After a message from the triplet's client was accepted: counts towards the network's auto-allow. Rejects when the store fails. */
  delivered(triplet: GreylistTriplet): Promise<void>;
  close(): Promise<void>;
}

export interface GreylistOptions {
  /** A store to use instead of the one `settings.store` describes. */
  store?: GreylistStore;
}

export function createGreylist(settings: GreylistSettings, options: GreylistOptions = {}): Greylist {
  if (!settings.enabled) {
    return {
      check: async () => ({ check: "greylist", outcome: "pass", detail: "greylisting disabled" }),
      delivered: async () => {},
      close: async () => {},
    };
  }
  const store = options.store ?? (settings.store.type === "redis" ? new RedisGreylistStore(settings.store.url) : new SqliteGreylistStore(settings.store.path));
  const networkOf = (triplet: GreylistTriplet): string => clientNetwork(triplet.clientIp, settings.ipv4Prefix, settings.ipv6Prefix);

  return {
    async check(request, now = Date.now()) {
      const network = networkOf(request);
      const key = tripletKey(request, settings);
      try {
        const [passes, record] = await Promise.all([store.clientPasses(network), store.get(key)]);
        if (passes >= settings.autoAllowAfter) {
          return { check: "greylist", outcome: "pass", detail: `${network} auto-allowed after ${passes} delivered messages` };
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
        // design.md: outages fail closed and temporary. Most MTAs let mail through when the greylist
        // store is down (greylisting only delays, it protects nothing), but a silent pass would also
        // hide the outage; a 451 is retried by every real MTA, and the log line says why.
        return { check: "greylist", outcome: "temporary", reply: buildReply("tempfail", { id: request.id }), detail: `greylist store: ${(err as Error).message}` };
      }
    },
    async delivered(triplet) {
      await store.incrementClientPasses(networkOf(triplet), settings.passLifetimeSeconds);
    },
    close: () => store.close(),
  };
}
