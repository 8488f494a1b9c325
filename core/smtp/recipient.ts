// RCPT TO on the MX listener (RFC 5321 §4.1.1.3, §3.3): only our domains — this listener never relays,
// authenticated or not; mail for elsewhere goes through submission (RFC 6409) — and only mailboxes that
// exist there, decided from the configuration: mailboxes, aliases, catch-all, our report addresses, and the role mailboxes
// that must always exist. Any other recipient is refused here, never accepted and bounced later
// (backscatter), unless relay.recipientCheck asks the mailbox host. A subaddress (RFC 5233: alice+news,
// relay.recipientDelimiter) is the mailbox or alias before its delimiter, when no mailbox or alias has
// the whole name; role mailboxes are matched by their whole name only.
import { reportAddresses } from "../reports/addresses.ts";
import { recipientCalloutAsks, type DomainConfig, type EdgemxConfig } from "../config/schema.ts";
import { buildReply } from "./replies.ts";
import { asciiDomain, parseMailbox } from "./mailbox.ts";
import type { Finding } from "./finding.ts";

/** RFC 5321 §4.5.1 and RFC 2142 §4: postmaster must exist at every domain we receive mail for. */
const POSTMASTER = "postmaster";

/**
 * RFC 5321 §4.1.1.3: "RCPT TO:<Postmaster>" without a domain (any case; smtp-server passes it through)
 * must be accepted, and means this server's postmaster: here the first configured domain's. Any other
 * address is returned as given.
 */
export function withPostmasterDomain(rcpt: string, config: EdgemxConfig): string {
  return rcpt.toLowerCase() === POSTMASTER ? `${POSTMASTER}@${config.domains[0]!.name}` : rcpt;
}

export function checkRecipient(given: string, config: EdgemxConfig): Finding {
  const rcpt = withPostmasterDomain(given, config);
  const domain = ourDomain(rcpt, config);
  if (domain === undefined) return { check: "relay", outcome: "fail", reply: buildReply("relayDenied", { address: rcpt }), detail: "not one of our domains" };
  const unknown = (detail: string): Finding => ({ check: "recipient", outcome: "fail", reply: buildReply("unknownRecipient", { address: rcpt }), detail });
  const mailbox = parseMailbox(rcpt);
  if (mailbox === null) return unknown(`not an RFC 5321 §4.1.2 Mailbox at ${domain.name}`);
  const local = mailbox.localPart.toLowerCase();
  const pass = (detail: string): Finding => ({ check: "recipient", outcome: "pass", detail: `${domain.name}: ${detail}` });
  if (isRoleMailbox(local, config)) return pass(`role mailbox ${local} (RFC 2142)`);
  const named = namedRecipient(local, domain, config.relay.recipientDelimiter);
  if (named !== null) {
    const subaddress = named.name === local ? "" : `subaddress of ${named.name}: `;
    return pass(named.kind === "mailbox" ? `${subaddress}mailbox ${named.name}` : `${subaddress}alias ${named.name} → ${resolveAlias(rcpt, config)}`);
  }
  // Where our own DNS records ask for DMARC and TLS reports (docs/reports.md): never refused as unknown.
  if (reportAddresses(config).has(rcpt.toLowerCase())) return pass(`report address ${local}`);
  if (domain.catchAll) return pass("catch-all");
  // With no mailboxes, aliases or catch-all listed, the mailbox host decides when relay.recipientCheck
  // asks it; without the callout nobody would, and accepting would bounce later: refused (the schema
  // refuses such a configuration too).
  if (listsNoRecipients(domain) && recipientCalloutAsks(config.relay)) return pass("no mailboxes listed: the mailbox host decides");
  return unknown(`${local} is neither a mailbox nor an alias`);
}

/**
 * The mailbox or alias a local part (lower-cased) names at a domain: its whole name first, else the name
 * before its first delimiter (RFC 5233 §1: user+detail).
 */
function namedRecipient(local: string, domain: DomainConfig, delimiters: string): { kind: "mailbox" | "alias"; name: string } | null {
  const kindOf = (name: string) =>
    domain.mailboxes.some((mailbox) => mailbox.toLowerCase() === name) ? "mailbox" : hasKey(domain.aliases, name) ? "alias" : null;
  const whole = kindOf(local);
  if (whole !== null) return { kind: whole, name: local };
  const base = withoutSubaddress(local, delimiters);
  const kind = base === local ? null : kindOf(base);
  return kind === null ? null : { kind, name: base };
}

/** The local part before its first delimiter; the whole one when it has none (or starts with one: no mailbox is empty). */
function withoutSubaddress(local: string, delimiters: string): string {
  const at = [...local].findIndex((char) => delimiters.includes(char));
  return at > 0 ? [...local].slice(0, at).join("") : local;
}

/**
 * The mailbox a recipient of ours is stored in by a Maildir next hop: the address itself, or for a
 * subaddress the address of its mailbox (alice+news@ → alice@), when no mailbox is listed under the whole name.
 */
export function mailboxAddress(address: string, config: EdgemxConfig): string {
  const domain = ourDomain(address, config);
  const at = address.lastIndexOf("@");
  if (domain === undefined || at < 1) return address;
  const local = address.slice(0, at).toLowerCase();
  if (domain.mailboxes.some((mailbox) => mailbox.toLowerCase() === local) || isRoleMailbox(local, config)) return address;
  return `${withoutSubaddress(local, config.relay.recipientDelimiter)}@${domain.name}`;
}

/**
 * Whether checkRecipient left a recipient to the mailbox host (what relay.recipientCheck asks it):
 * at one of our domains that lists no mailboxes, no aliases and no catch-all, and no role mailbox —
 * those exist whatever the host says (RFC 5321 §4.5.1).
 */
export function mailboxHostDecides(given: string, config: EdgemxConfig): boolean {
  const rcpt = withPostmasterDomain(given, config);
  const domain = ourDomain(rcpt, config);
  const mailbox = parseMailbox(rcpt);
  if (domain === undefined || mailbox === null) return false;
  return !isRoleMailbox(mailbox.localPart.toLowerCase(), config) && listsNoRecipients(domain);
}

/**
 * The mailbox a recipient of ours is delivered to: an alias (or its subaddress) replaced by its target,
 * one level (a target is a local part of the same domain or a full address); any other address as
 * given — a subaddress of a mailbox too, which the next hop files under its mailbox (mailboxAddress) —
 * the domainless postmaster with its domain.
 */
export function resolveAlias(rcpt: string, config: EdgemxConfig): string {
  const address = withPostmasterDomain(rcpt, config);
  const domain = ourDomain(address, config);
  const mailbox = parseMailbox(address);
  if (domain === undefined || mailbox === null) return address;
  const named = namedRecipient(mailbox.localPart.toLowerCase(), domain, config.relay.recipientDelimiter);
  if (named?.kind !== "alias") return address;
  const key = Object.keys(domain.aliases).find((name) => name.toLowerCase() === named.name);
  const target = key === undefined ? undefined : domain.aliases[key];
  if (target === undefined) return address;
  return target.includes("@") ? target : `${target}@${domain.name}`;
}

/** postmaster, and every local part configured under `roles` (RFC 2142); `local` lower-cased. */
function isRoleMailbox(local: string, config: EdgemxConfig): boolean {
  return local === POSTMASTER || hasKey(config.roles, local);
}

/** A domain that names none of its recipients: every local part is the mailbox host's to decide. */
function listsNoRecipients(domain: DomainConfig): boolean {
  return domain.mailboxes.length === 0 && Object.keys(domain.aliases).length === 0 && !domain.catchAll;
}

/** The configured domain an address is at (names compare case-insensitively, RFC 5321 §2.4), if any. */
function ourDomain(address: string, config: EdgemxConfig): DomainConfig | undefined {
  const at = address.lastIndexOf("@");
  const domain = at < 0 ? null : asciiDomain(address.slice(at + 1));
  return domain === null ? undefined : config.domains.find((candidate) => candidate.name === domain);
}

/** Whether a record has the key, compared case-insensitively (RFC 5321 §2.4: local parts should be treated so). */
function hasKey(record: Readonly<Record<string, unknown>>, local: string): boolean {
  return Object.keys(record).some((key) => key.toLowerCase() === local);
}
