// The allowlist (relay.allow) as pure decisions: which entries a session's client or a message's sender
// matches, and so which checks it is spared. The relay asks at RCPT TO with what the session knows (the
// address, the forward-confirmed name, the HELO name); the judge asks about sender domains once it has
// authenticated the message, because a From domain is only the sender's when SPF or DKIM vouches for a
// domain aligned with it (RFC 7489 §3.1) — anyone can write any From. The virus scan is never spared:
// the schema refuses it, and no check here names it.
import type { AllowEntry, RelaxableCheck } from "../config/schema.ts";
import { clientNetwork } from "../greylist/greylist.ts";
import { canonicalIp } from "../smtp/ip-address.ts";

/** One entry that matched: where it is in relay.allow, what it matched, what it spares. */
export interface AllowHit {
  entry: number;
  match: "ip" | "name" | "helo" | "sender";
  /** The entry's value: "192.0.2.0/24", "*.partner.example". */
  value: string;
  spare: readonly RelaxableCheck[];
  /** For a sender: the identity that aligned the From domain, "dkim" or "spf". */
  alignedBy?: "dkim" | "spf";
}

/** A sender entry as the judge gets it (in the verdict envelope): matched only once the message is authenticated. */
export interface SenderAllowance {
  entry: number;
  sender: string;
  spare: readonly RelaxableCheck[];
}

/** What the relay hands the judge: the client's hits, and the sender entries the judge decides on. */
export interface Allowance {
  client: readonly AllowHit[];
  senders: readonly SenderAllowance[];
}

/** "relay.allow[2] (ip 192.0.2.0/24)", as the log lines name a hit. */
export function describeHit(hit: AllowHit): string {
  return `relay.allow[${hit.entry}] (${hit.match} ${hit.value}${hit.alignedBy ? `, ${hit.alignedBy} aligned` : ""})`;
}

/** Whether `ip` is in `network` ("192.0.2.0/24", or an address alone for itself); an IPv4-mapped address counts as IPv4. */
export function ipInNetwork(ip: string, network: string): boolean {
  const [base = "", prefixText] = network.split("/");
  const address = canonicalIp(ip);
  const netAddress = canonicalIp(base);
  if (address === null || netAddress === null) return false;
  const v4 = !address.includes(":");
  if (v4 !== !netAddress.includes(":")) return false;
  const prefix = prefixText === undefined ? (v4 ? 32 : 128) : Number(prefixText);
  return clientNetwork(address, prefix, prefix) === clientNetwork(netAddress, prefix, prefix);
}

/** Whether a host or domain name matches a pattern: the name itself, or with "*." any name under the rest (not the rest itself). */
export function nameMatches(name: string, pattern: string): boolean {
  const host = name.toLowerCase().replace(/\.$/, "");
  const wanted = pattern.toLowerCase();
  return wanted.startsWith("*.") ? host.endsWith(wanted.slice(1)) : host === wanted;
}

/** What the session knows of its client when RCPT TO is decided. */
export interface AllowClient {
  ip: string;
  /** The forward-confirmed name (FCrDNS), null when it was not confirmed: an unconfirmed PTR name matches nothing. */
  verifiedName: string | null;
  helo: string | null;
}

/** The entries a client matches by address, forward-confirmed name or HELO name, in the list's order. */
export function clientAllowHits(entries: readonly AllowEntry[], client: AllowClient): AllowHit[] {
  return entries.flatMap((entry, i): AllowHit[] => {
    if (entry.ip !== undefined && ipInNetwork(client.ip, entry.ip)) return [{ entry: i, match: "ip", value: entry.ip, spare: entry.spare }];
    if (entry.name !== undefined && client.verifiedName !== null && nameMatches(client.verifiedName, entry.name))
      return [{ entry: i, match: "name", value: entry.name, spare: entry.spare }];
    if (entry.helo !== undefined && client.helo !== null && nameMatches(client.helo, entry.helo))
      return [{ entry: i, match: "helo", value: entry.helo, spare: entry.spare }];
    return [];
  });
}

/** The sender entries, for the judge to match once the message is authenticated. */
export function senderAllowances(entries: readonly AllowEntry[]): SenderAllowance[] {
  return entries.flatMap((entry, i) => (entry.sender === undefined ? [] : [{ entry: i, sender: entry.sender, spare: entry.spare }]));
}

/** What authentication found, as far as the sender's domain goes (core/authentication's AuthOutcome has it). */
export interface AuthenticatedSender {
  /** The From domain (RFC 7489 §3.2 Author Domain). */
  authorDomain?: string | undefined;
  /** SPF of the MAIL FROM identity. */
  spf?: { result: string; domain: string } | undefined;
  /** Each DKIM signature; `aligned` is mailauth's identifier alignment with the From domain (RFC 7489 §3.1.1). */
  dkim: readonly { result: string; domain: string; aligned: boolean }[];
}

/** Whether two domains are the same or one is under the other: SPF alignment without a public-suffix list (RFC 7489 §3.1.2, conservatively). */
function sameOrUnder(a: string, b: string): boolean {
  return a === b || a.endsWith(`.${b}`) || b.endsWith(`.${a}`);
}

/**
 * The From domain when an authenticated identity aligns with it (RFC 7489 §3.1): a passing DKIM
 * signature mailauth found aligned, or an SPF pass for a MAIL FROM domain that is the From domain or
 * one above or below it; null otherwise — then the From domain may be forged and matches no entry.
 */
export function alignedAuthorDomain(auth: AuthenticatedSender): { domain: string; by: "dkim" | "spf" } | null {
  const author = auth.authorDomain?.toLowerCase();
  if (author === undefined || author === "") return null;
  if (auth.dkim.some((signature) => signature.result === "pass" && signature.aligned)) return { domain: author, by: "dkim" };
  if (auth.spf?.result === "pass" && sameOrUnder(auth.spf.domain.toLowerCase(), author)) return { domain: author, by: "spf" };
  return null;
}

/** The sender entries an authenticated message matches; none when its From domain is not aligned. */
export function senderAllowHits(senders: readonly SenderAllowance[], auth: AuthenticatedSender): AllowHit[] {
  const aligned = alignedAuthorDomain(auth);
  if (aligned === null) return [];
  return senders
    .filter((s) => nameMatches(aligned.domain, s.sender))
    .map((s) => ({ entry: s.entry, match: "sender" as const, value: s.sender, spare: s.spare, alignedBy: aligned.by }));
}

/** Each spared check with the first hit that spares it, for the log line that says why a check was passed over. */
export function sparedChecks(hits: readonly AllowHit[]): Map<RelaxableCheck, AllowHit> {
  const spared = new Map<RelaxableCheck, AllowHit>();
  for (const hit of hits) for (const check of hit.spare) if (!spared.has(check)) spared.set(check, hit);
  return spared;
}
