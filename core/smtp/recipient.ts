// RCPT TO on the MX listener (RFC 5321 §4.1.1.3, §3.3): only our domains — this listener never relays,
// authenticated or not; mail for elsewhere goes through submission (RFC 6409) — and only mailboxes that
// exist there, decided from the configuration: mailboxes, aliases, catch-all, our report addresses, and the role mailboxes
// that must always exist.
import { reportAddresses } from "../reports/addresses.ts";
import type { DomainConfig, EdgemxConfig } from "../config/schema.ts";
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
  if (domain.mailboxes.some((name) => name.toLowerCase() === local)) return pass(`mailbox ${local}`);
  // Where our own DNS records ask for DMARC and TLS reports (docs/reports.md): never refused as unknown.
  if (reportAddresses(config).has(rcpt.toLowerCase())) return pass(`report address ${local}`);
  if (hasKey(domain.aliases, local)) return pass(`alias ${local} → ${resolveAlias(rcpt, config)}`);
  if (domain.catchAll) return pass("catch-all");
  // With no mailboxes, aliases or catch-all listed, the mailbox host decides (relay.recipientCheck).
  if (listsNoRecipients(domain)) return pass("no mailboxes listed: the mailbox host decides");
  return unknown(`${local} is neither a mailbox nor an alias`);
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
 * The mailbox a recipient of ours is delivered to: an alias replaced by its target, one level (a
 * target is a local part of the same domain or a full address); any other address as given, the
 * domainless postmaster with its domain.
 */
export function resolveAlias(rcpt: string, config: EdgemxConfig): string {
  const address = withPostmasterDomain(rcpt, config);
  const domain = ourDomain(address, config);
  const mailbox = parseMailbox(address);
  if (domain === undefined || mailbox === null) return address;
  const local = mailbox.localPart.toLowerCase();
  const key = Object.keys(domain.aliases).find((name) => name.toLowerCase() === local);
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
