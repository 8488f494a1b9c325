// What forwarding to another domain decides (docs/forwarding.md), over the SRS scheme of srs.ts:
//
// - the envelope sender of the forwarded copy: rewritten to SRS at the alias's domain, so the receiver's
//   SPF check (RFC 7208) asks about us, who send it, and a bounce comes back to us; the null sender
//   (RFC 5321 §4.5.5) stays null, and a sender at one of our domains needs no rewriting;
// - RCPT TO an SRS address at one of our domains: a bounce of something we forwarded, accepted only
//   when its hash holds and it is not too old, and then delivered to the address it stands for;
//   anything else in SRS form is refused with REPLIES.srsInvalid, never accepted and bounced.
import type { EdgemxConfig } from "../config/schema.ts";
import type { Finding } from "../smtp/finding.ts";
import { buildReply } from "../smtp/replies.ts";
import { isSrsLocalPart, srsForward, srsReverse, type SrsSecrets } from "./srs.ts";

/** The domain of an address, lower case (RFC 5321 §2.4). */
function domainOf(address: string): string {
  return address.slice(address.lastIndexOf("@") + 1).toLowerCase();
}

/** Whether an address is at one of our domains. */
export function atOurDomain(address: string, config: EdgemxConfig): boolean {
  const domain = domainOf(address);
  return config.domains.some((d) => d.name === domain);
}

// RFC 5321 §4.1.2 Dot-string: the only local parts an SRS address can carry unquoted.
const DOT_STRING = /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~\u00a0-\u{10ffff}-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~\u00a0-\u{10ffff}-]+)*$/u;

/**
 * The envelope sender of a copy that `forwarder` (the alias's domain, ours) forwards to another domain:
 * the null sender and our own senders as they are; a Dot-string sender as SRS (a quoted local part,
 * which no SRS address can carry, as it is).
 */
export function forwardedSender(mailFrom: string, forwarder: string, config: EdgemxConfig, secrets: SrsSecrets, now: Date): string {
  if (mailFrom === "" || atOurDomain(mailFrom, config)) return mailFrom;
  const at = mailFrom.lastIndexOf("@");
  if (at < 1 || !DOT_STRING.test(mailFrom.slice(0, at))) return mailFrom;
  return srsForward(mailFrom, forwarder, secrets, now);
}

/** RCPT TO an SRS address of ours: what is found, and where it goes when it is accepted. */
export interface SrsRecipient {
  finding: Finding;
  /** The address it stands for: the original sender, or the first forwarder's SRS0 address. */
  deliverTo: string;
}

/**
 * RCPT TO an SRS address at one of our domains (SRS0=…@, SRS1=…@, any case): accepted for the address
 * it stands for when its hash holds under our secrets and it is at most `relay.srs.maxAgeDays` old;
 * refused otherwise. Null for any other recipient: the ordinary recipient check decides. The local
 * part is not bounded to 64 octets here: SRS addresses often are longer, and RFC 5321 §4.5.3.1 asks
 * for no limit where one can be avoided.
 */
export function srsRecipient(rcpt: string, config: EdgemxConfig, secrets: SrsSecrets, now: Date): SrsRecipient | null {
  const at = rcpt.lastIndexOf("@");
  if (at < 1 || !atOurDomain(rcpt, config)) return null;
  const local = rcpt.slice(0, at);
  if (!isSrsLocalPart(local)) return null;
  const reversal = DOT_STRING.test(local) ? srsReverse(local, secrets, now, config.relay.srs.maxAgeDays) : null;
  if (reversal?.valid === true) {
    const age = reversal.ageDays === undefined ? "" : `, ${reversal.ageDays} days old`;
    return { finding: { check: "recipient", outcome: "pass", detail: `SRS address of ${reversal.address}${age}` }, deliverTo: reversal.address };
  }
  const detail = reversal === null ? "not a Dot-string" : reversal.detail;
  return {
    finding: { check: "recipient", outcome: "fail", reply: buildReply("srsInvalid", { address: rcpt }), detail: `SRS address refused: ${detail}` },
    deliverTo: rcpt,
  };
}

/** Our domains with an alias to another domain, each with those aliases (local part → target). */
export function forwardingDomains(config: EdgemxConfig): Map<string, string[]> {
  const forwarding = new Map<string, string[]>();
  for (const domain of config.domains) {
    const aliases = Object.entries(domain.aliases).filter(([, target]) => target.includes("@") && !atOurDomain(target, config));
    if (aliases.length > 0)
      forwarding.set(
        domain.name,
        aliases.map(([local]) => local),
      );
  }
  return forwarding;
}

/**
 * Where our DSN about a spooled message from `mailFrom` goes (RFC 3464 via RFC 5321 §4.5.5): for a copy
 * we forwarded, whose sender is an SRS address of ours, the address it stands for — the bounce would
 * otherwise come back to us to be reversed; its age is no question, the spool held the copy. Any other
 * sender as it is.
 */
export function dsnRecipient(mailFrom: string, config: EdgemxConfig, secrets: SrsSecrets): string {
  const at = mailFrom.lastIndexOf("@");
  if (at < 1 || !atOurDomain(mailFrom, config)) return mailFrom;
  const reversal = srsReverse(mailFrom.slice(0, at), secrets, new Date(), Number.POSITIVE_INFINITY);
  return reversal?.valid === true ? reversal.address : mailFrom;
}
