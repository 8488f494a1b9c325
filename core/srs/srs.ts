// SRS, the Sender Rewriting Scheme (Shevek, "Sender Rewriting Scheme", 2004; the scheme of the
// reference implementation Mail::SRS::Guarded and of libsrs2 and postsrsd). A forwarder re-sends mail
// under its own domain's envelope sender so that SPF (RFC 7208 §1.2.2, forwarding breaks it) checks
// the forwarder, and encodes the original sender in it so that a bounce can still reach them:
//
//   SRS0=HHHH=TT=sender.example=alice@forwarder.example          (the first forwarder)
//   SRS1=HHHH=first.example==hhhh=TT=sender.example=alice@us      (a forwarder of an SRS0 address)
//
// HHHH: the first 4 characters of the base64 HMAC-SHA1, keyed with our secret, over the fields after it
// (lower-cased: a remote MTA may change their case, RFC 5321 §2.4); TT: the day of the rewrite, two
// base32 characters (days since 1970 modulo 1024), so a bounce is accepted for `maxAgeDays` only. An SRS1
// address keeps the first forwarder's SRS0 part unchanged behind our hash: a bounce to it goes back to
// that forwarder, which checks its own hash. Mail::SRS is tested against this module
// (test/integration/srs-reference.test.ts), both ways.
//
// Hand-written: the npm packages for SRS are unmaintained (srs.js: hex hashes that no other
// implementation reads, compared case-sensitively) or GPL-licensed (sender-rewriting-scheme).
import { createHmac, timingSafeEqual } from "node:crypto";
import { Buffer } from "node:buffer";

/** The secrets of the hash: the first signs new addresses, every one is accepted (an old one while it is rotated out). */
export type SrsSecrets = readonly [string, ...string[]];

const HASH_LENGTH = 4;
const BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const DAY_MS = 86_400_000;
/** Two base32 characters: the day counter wraps every 1024 days. */
const TIME_SLOTS = BASE32.length * BASE32.length;
/** SRS0 and SRS1 are followed by one of "=", "+" or "-" (Mail::SRS's $SRS0RE); the fields are joined by "=". */
const SRS0 = /^srs0([=+-])/i;
const SRS1 = /^srs1([=+-])/i;

/** Whether a local part is in SRS form (SRS0 or SRS1, any case), whether or not its hash holds. */
export function isSrsLocalPart(localPart: string): boolean {
  return SRS0.test(localPart) || SRS1.test(localPart);
}

/** ASCII letters lower-cased, as Perl's lc on the bytes Mail::SRS hashes; other characters unchanged. */
function asciiLower(text: string): string {
  return text.replace(/[A-Z]/g, (c) => c.toLowerCase());
}

function hash(secret: string, fields: readonly string[]): string {
  const hmac = createHmac("sha1", secret);
  for (const field of fields) hmac.update(asciiLower(field), "utf8");
  return hmac.digest("base64").slice(0, HASH_LENGTH);
}

/** Whether `given` is the hash of `fields` under one of the secrets; compared without case, as Mail::SRS does. */
function hashHolds(given: string, fields: readonly string[], secrets: SrsSecrets): boolean {
  if (given.length !== HASH_LENGTH) return false;
  const expected = Buffer.from(given.toLowerCase(), "utf8");
  return secrets.some((secret) => {
    const made = Buffer.from(hash(secret, fields).toLowerCase(), "utf8");
    return made.length === expected.length && timingSafeEqual(made, expected);
  });
}

/** The day of `now` as two base32 characters. */
export function srsTimestamp(now: Date): string {
  const day = Math.floor(now.getTime() / DAY_MS);
  return BASE32[(day >> 5) & 31]! + BASE32[day & 31]!;
}

/** Days since the timestamp was made, 0–1023 (the counter wraps), or null when it is no timestamp. */
function ageInDays(timestamp: string, now: Date): number | null {
  const upper = timestamp.toUpperCase();
  if (!/^[A-Z2-7]{2}$/.test(upper)) return null;
  const then = BASE32.indexOf(upper[0]!) * 32 + BASE32.indexOf(upper[1]!);
  const today = Math.floor(now.getTime() / DAY_MS) % TIME_SLOTS;
  return (today - then + TIME_SLOTS) % TIME_SLOTS;
}

/**
 * The SRS address that carries `sender` (local@domain) through `forwarder` (our domain): SRS0 for an
 * ordinary address, SRS1 for an address that is itself SRS0 or SRS1 (of another forwarder).
 */
export function srsForward(sender: string, forwarder: string, secrets: SrsSecrets, now: Date): string {
  const at = sender.lastIndexOf("@");
  if (at < 1 || at === sender.length - 1) throw new Error(`not an address to rewrite: ${JSON.stringify(sender)}`);
  const local = sender.slice(0, at);
  const domain = sender.slice(at + 1);
  const srs1 = SRS1.exec(local);
  if (srs1) {
    // Another forwarder's SRS1: keep its first forwarder and SRS0 part, under our hash (Mail::SRS::Guarded).
    const [, firstHost, srs0Part] = splitFields(local.slice(srs1[0].length), 3);
    if (firstHost !== undefined && srs0Part !== undefined) return `SRS1=${hash(secrets[0], [firstHost, srs0Part])}=${firstHost}=${srs0Part}@${forwarder}`;
  }
  const srs0 = SRS0.exec(local);
  if (srs0) {
    // An SRS0 address: its forwarder becomes the first host, its part after "SRS0" kept as it is.
    const part = local.slice(4);
    return `SRS1=${hash(secrets[0], [domain, part])}=${domain}=${part}@${forwarder}`;
  }
  const timestamp = srsTimestamp(now);
  return `SRS0=${hash(secrets[0], [timestamp, domain, local])}=${timestamp}=${domain}=${local}@${forwarder}`;
}

/** Splits at "=" into at most `count` fields, the last keeping the rest (Perl's split with a limit). */
function splitFields(text: string, count: number): string[] {
  const fields: string[] = [];
  let rest = text;
  while (fields.length < count - 1) {
    const at = rest.indexOf("=");
    if (at < 0) break;
    fields.push(rest.slice(0, at));
    rest = rest.slice(at + 1);
  }
  fields.push(rest);
  return fields;
}

/** What an SRS local part of ours stands for. */
export type SrsReversal =
  /** The address a bounce to it goes to: the original sender (SRS0), or the first forwarder's SRS0 address (SRS1). */
  { valid: true; address: string; ageDays?: number } | { valid: false; reason: "malformed" | "hash" | "expired"; detail: string };

/**
 * The address behind an SRS local part (RFC 5321 §4.5.5: bounces come to the envelope sender we gave),
 * when its hash holds under one of our secrets and, for SRS0, it is at most `maxAgeDays` old; null when
 * the local part is not in SRS form.
 */
export function srsReverse(localPart: string, secrets: SrsSecrets, now: Date, maxAgeDays: number): SrsReversal | null {
  const srs1 = SRS1.exec(localPart);
  if (srs1) {
    const [given, firstHost, srs0Part] = splitFields(localPart.slice(srs1[0].length), 3);
    if (given === undefined || firstHost === undefined || srs0Part === undefined || firstHost === "" || srs0Part === "")
      return { valid: false, reason: "malformed", detail: "an SRS1 address needs a hash, a host and the SRS0 part" };
    if (!hashHolds(given, [firstHost, srs0Part], secrets)) return { valid: false, reason: "hash", detail: "the SRS1 hash does not hold" };
    return { valid: true, address: `SRS0${srs0Part}@${firstHost}` };
  }
  const srs0 = SRS0.exec(localPart);
  if (!srs0) return null;
  const [given, timestamp, domain, local] = splitFields(localPart.slice(srs0[0].length), 4);
  if (given === undefined || timestamp === undefined || domain === undefined || local === undefined || domain === "" || local === "")
    return { valid: false, reason: "malformed", detail: "an SRS0 address needs a hash, a timestamp, a domain and a local part" };
  if (!hashHolds(given, [timestamp, domain, local], secrets)) return { valid: false, reason: "hash", detail: "the SRS0 hash does not hold" };
  const age = ageInDays(timestamp, now);
  if (age === null) return { valid: false, reason: "malformed", detail: `the timestamp ${timestamp} is not two base32 characters` };
  // Mail::SRS: valid from the day it was made for maxAgeDays more; a timestamp "from the future" has wrapped and is old.
  if (age > maxAgeDays) return { valid: false, reason: "expired", detail: `made ${age} days ago, valid for ${maxAgeDays}` };
  return { valid: true, address: `${local}@${domain}`, ageDays: age };
}
