// Greylisting, the classic algorithm (E. Harris, "The Next Step in the Spam Control War: Greylisting",
// 2003, as postgrey implements it; RFC 6647 describes the practice): the first delivery attempt of a
// triplet — client network, envelope sender, recipient — is answered 451 4.7.1 (RFC 3463 §3.8); a
// retry after the delay and within the retry window passes, and the triplet is then remembered for the
// pass lifetime. A client network that delivered enough messages is allowed at once (auto-allow).
//
// The decision is pure and shared: the relay keeps the state in SQLite or Redis
// (relay-node/src/greylist/), the Worker in a Durable Object per client network (workers/src/greylist/).
import { isIPv4 } from "node:net";
import type { EdgemxConfig } from "../config/schema.ts";
import { buildReply } from "../smtp/replies.ts";
import { canonicalIp } from "../smtp/ip-address.ts";
import type { Finding } from "../smtp/finding.ts";

export type GreylistPolicy = EdgemxConfig["connection"]["greylist"];
type Timing = Pick<GreylistPolicy, "delaySeconds" | "retryWindowSeconds" | "passLifetimeSeconds">;

/** What is remembered of a triplet; times are milliseconds since the epoch. */
export interface GreylistRecord {
  /** The first attempt: the delay runs from here. */
  firstSeen: number;
  /** The first attempt that passed, or null while the triplet is still deferred. */
  passedAt: number | null;
  /** When the record lapses: the end of the retry window, or (once passed) of the pass lifetime. */
  expiresAt: number;
}

/** What a triplet is made of, as the session knows it (addresses without angle brackets; "" is the null sender). */
export interface GreylistTriplet {
  clientIp: string;
  sender: string;
  recipient: string;
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
export function tripletKey(triplet: GreylistTriplet, settings: Pick<GreylistPolicy, "ipv4Prefix" | "ipv6Prefix">): string {
  const network = clientNetwork(triplet.clientIp, settings.ipv4Prefix, settings.ipv6Prefix);
  return JSON.stringify([network, senderKey(triplet.sender), triplet.recipient.trim().toLowerCase()]);
}

/** The finding of a network allowed by its delivered messages. */
export function autoAllowedFinding(network: string, passes: number): Finding {
  return { check: "greylist", outcome: "pass", detail: `${network} auto-allowed after ${passes} delivered messages` };
}

/** One attempt judged: its finding, and the record to store (null when the stored one stands). */
export interface GreylistAttempt {
  finding: Finding;
  write: GreylistRecord | null;
}

/**
 * One attempt of a triplet at `now`, given what the store holds for it (`record`) and for its network
 * (`passes`, the delivered messages counted): auto-allowed, passed, or deferred with the greylisting
 * reply naming the recipient and the seconds left.
 */
export function judgeAttempt(
  key: string,
  recipient: string,
  stored: { record: GreylistRecord | null; passes: number; network: string },
  now: number,
  policy: Pick<GreylistPolicy, "delaySeconds" | "retryWindowSeconds" | "passLifetimeSeconds" | "autoAllowAfter">,
): GreylistAttempt {
  if (stored.passes >= policy.autoAllowAfter) return { finding: autoAllowedFinding(stored.network, stored.passes), write: null };
  const decision = greylistDecision(stored.record, now, policy);
  const write = decision.next === stored.record ? null : decision.next;
  if (decision.outcome === "pass") {
    const age = Math.round((now - decision.next.firstSeen) / 1000);
    return { finding: { check: "greylist", outcome: "pass", detail: `triplet ${key} passed, first seen ${age} s ago` }, write };
  }
  const seconds = String(decision.waitSeconds);
  return {
    finding: {
      check: "greylist",
      outcome: "fail",
      reply: buildReply("greylisted", { address: recipient, seconds }),
      detail: `triplet ${key} ${write === null ? "retried early" : "first seen"}, deferred for ${seconds} s`,
    },
    write,
  };
}
