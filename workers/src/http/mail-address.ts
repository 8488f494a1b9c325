// The e-mail addresses that mail clients hand the HTTP side (autoconfig, autodiscover): syntax and bounds.

/** RFC 5321 §4.5.3.1.3: a path is at most 256 octets with its angle brackets, so an address at most 254. */
export const MAX_ADDRESS_LENGTH = 254;
/** RFC 5321 §4.5.3.1.1: a local part is at most 64 octets. */
const MAX_LOCAL_PART_LENGTH = 64;

// RFC 5321 §4.1.2 Dot-string = Atom *("." Atom), Atom = 1*atext — the dot-atom of RFC 5322 §3.4.1 (atext: §3.2.3).
const DOT_STRING = /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$/;
// RFC 5321 §4.1.2 Quoted-string = DQUOTE *QcontentSMTP DQUOTE,
// qtextSMTP = %d32-33 / %d35-91 / %d93-126, quoted-pairSMTP = "\" %d32-126.
const QUOTED_STRING = /^"([\x20\x21\x23-\x5b\x5d-\x7e]|\\[\x20-\x7e])*"$/;
// RFC 5321 §4.1.2 Domain = sub-domain *("." sub-domain), sub-domain = Let-dig [Ldh-str];
// a label is at most 63 octets (RFC 1035 §2.3.4). Address literals ("[192.0.2.1]") never name a mail
// domain we serve, so they are refused here.
const DOMAIN = /^(?!-)[A-Za-z0-9-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*$/;

export interface MailAddress {
  /** As given: RFC 5321 §2.4 lets the receiving host decide whether its case matters. */
  localPart: string;
  /** Lower-cased: domain names compare case-insensitively (RFC 5321 §2.4). */
  domain: string;
  /** localPart "@" domain. */
  text: string;
}

/** An RFC 5321 Mailbox / RFC 5322 addr-spec of at most 254 octets, or null. */
export function parseMailAddress(text: string): MailAddress | null {
  if (text.length > MAX_ADDRESS_LENGTH) return null;
  // The domain has no "@"; a quoted local part may.
  const at = text.lastIndexOf("@");
  if (at < 1) return null;
  const localPart = text.slice(0, at);
  const domain = text.slice(at + 1).toLowerCase();
  if (localPart.length > MAX_LOCAL_PART_LENGTH) return null;
  if (!DOT_STRING.test(localPart) && !QUOTED_STRING.test(localPart)) return null;
  if (!DOMAIN.test(domain)) return null;
  return { localPart, domain, text: `${localPart}@${domain}` };
}
