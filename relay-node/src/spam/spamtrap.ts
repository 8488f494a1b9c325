// The spamtrap (docs/spam.md): addresses of ours that no person uses and that were never given to
// anyone, so whatever reaches them is spam. Mail to them is accepted (250) and never delivered; each
// message is learned as spam by rspamd (Bayes, and fuzzy hashes when configured), at most
// relay.rspamd.spamtrap.learnRatePerMinute a minute, so a flood cannot swamp the classifier or the
// controller; and the client's address goes on a local blocklist for blocklistTtlSeconds. The
// blocklist is consulted at connect like a DNSBL — it is a "dnsbl" finding, with the dnsbl action and
// the role relaxations — and named in the reply as our own zone, spamtrap.<hostname>.
import type { OutgoingHttpHeaders } from "node:http";
import type { EdgemxConfig } from "../../../core/config/schema.ts";
import { buildReply } from "../../../core/smtp/replies.ts";
import { newTrackingId } from "../../../core/smtp/tracking-id.ts";
import type { LearnOutcome, RspamdController } from "./rspamd-controller.ts";
import type { BlocklistStore } from "./blocklist-store.ts";
import { canonicalIp } from "../../../core/smtp/ip-address.ts";
import type { Finding } from "../../../core/smtp/finding.ts";

export type SpamtrapSettings = EdgemxConfig["relay"]["rspamd"]["spamtrap"];

/** Whether a recipient is one of the configured traps (addresses compare case-insensitively). */
export function isSpamtrap(rcpt: string, settings: SpamtrapSettings): boolean {
  return settings.addresses.includes(rcpt.toLowerCase());
}

/** The name our blocklist goes by in replies and logs. */
export function spamtrapZone(hostname: string): string {
  return `spamtrap.${hostname}`;
}

/** The connect-stage lookup: a client listed by the spamtrap fails like one listed on a DNSBL. */
export async function checkSpamtrapBlocklist(ip: string, blocklist: BlocklistStore, hostname: string, now = Date.now()): Promise<Finding> {
  const address = canonicalIp(ip) ?? ip;
  const zone = spamtrapZone(hostname);
  let until: number | null;
  try {
    until = await blocklist.listedUntil(address);
  } catch (err) {
    const id = newTrackingId();
    return {
      check: "dnsbl",
      outcome: "temporary",
      reply: buildReply("tempfail", { id }),
      detail: `${zone}: blocklist store (id ${id}): ${(err as Error).message}`,
    };
  }
  if (until === null) return { check: "dnsbl", outcome: "pass", detail: `${zone}: not listed` };
  const seconds = Math.max(0, Math.round((until - now) / 1000));
  return {
    check: "dnsbl",
    outcome: "fail",
    reply: buildReply("dnsbl", { ip: address, zone }),
    detail: `${zone}: listed for ${seconds} s more (wrote to a spamtrap)`,
  };
}

export interface TokenBucket {
  tokens: number;
  updatedAt: number;
}

/**
 * A token bucket (pure): at most `perMinute` tokens, refilled continuously at `perMinute` a minute;
 * each learned message takes one. A burst of up to `perMinute` messages is learned at once.
 */
export function takeToken(bucket: TokenBucket | null, now: number, perMinute: number): { allowed: boolean; bucket: TokenBucket } {
  const refilled = bucket === null ? perMinute : Math.min(perMinute, bucket.tokens + ((now - bucket.updatedAt) / 60_000) * perMinute);
  if (refilled < 1) return { allowed: false, bucket: { tokens: refilled, updatedAt: now } };
  return { allowed: true, bucket: { tokens: refilled - 1, updatedAt: now } };
}

/** What the spamtrap did with one message, for its log line. */
export interface SpamtrapReport {
  learn: string;
  fuzzy?: string;
  blocklist: string;
}

export interface Spamtrap {
  /** Learns the message as spam (rate-limited) and blocklists the client; never throws. */
  caught(message: Uint8Array, clientIp: string, learnHeaders: OutgoingHttpHeaders): Promise<SpamtrapReport>;
}

function describeLearn(outcome: LearnOutcome): string {
  return outcome.status === "learned" ? "learned" : `${outcome.status}: ${outcome.detail}`;
}

export function createSpamtrap(
  settings: SpamtrapSettings,
  hostname: string,
  controller: RspamdController | null,
  blocklist: BlocklistStore,
  clock: () => number = Date.now,
): Spamtrap {
  let bucket: TokenBucket | null = null;
  const zone = spamtrapZone(hostname);

  const learn = async (message: Uint8Array, headers: OutgoingHttpHeaders): Promise<Pick<SpamtrapReport, "learn" | "fuzzy">> => {
    if (controller === null) return { learn: "not learned: relay.rspamd.controllerUrl is not set" };
    const token = takeToken(bucket, clock(), settings.learnRatePerMinute);
    bucket = token.bucket;
    if (!token.allowed) return { learn: `not learned: over ${settings.learnRatePerMinute} a minute` };
    const fuzzy = settings.fuzzy;
    const [bayes, hashes] = await Promise.all([
      controller.learn("spam", message, headers),
      fuzzy === undefined ? null : controller.fuzzyAdd(message, fuzzy.flag, fuzzy.weight),
    ]);
    return { learn: describeLearn(bayes), ...(hashes !== null ? { fuzzy: describeLearn(hashes) } : {}) };
  };

  const list = async (clientIp: string): Promise<string> => {
    const address = canonicalIp(clientIp) ?? clientIp;
    try {
      const until = await blocklist.add(address, settings.blocklistTtlSeconds);
      return `${address} listed in ${zone} until ${new Date(until).toISOString()}`;
    } catch (err) {
      return `${address} not listed: ${(err as Error).message}`;
    }
  };

  return {
    async caught(message, clientIp, learnHeaders) {
      const [learned, blocklisted] = await Promise.all([learn(message, learnHeaders), list(clientIp)]);
      return { ...learned, blocklist: blocklisted };
    },
  };
}
