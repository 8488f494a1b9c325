// The envelope address grammar of RFC 5321 §4.1.2 (Mailbox), with the UTF-8 extensions of SMTPUTF8
// (RFC 6531 §3.3), strict and bounded: what MAIL FROM and RCPT TO checks parse addresses with.
import { domainToASCII } from "node:url";
import { addressLiteralIp } from "./ip-address.ts";

/** RFC 5321 §4.5.3.1.3: a path is at most 256 octets with its angle brackets, so an address at most 254. */
export const MAX_ADDRESS_OCTETS = 254;
/** RFC 5321 §4.5.3.1.1: a local part is at most 64 octets. */
const MAX_LOCAL_PART_OCTETS = 64;

// RFC 5321 §4.1.2 Dot-string = Atom *("." Atom), Atom = 1*atext (RFC 5322 §3.2.3); RFC 6531 §3.3 adds
// UTF8-non-ascii to atext; C1 control characters (U+0080–U+009F) are never text, so it starts at U+00A0.
const ATEXT = "[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]|[\\u00a0-\\u{10ffff}]";
const DOT_STRING = new RegExp(`^(?:${ATEXT})+(?:\\.(?:${ATEXT})+)*$`, "u");
// RFC 5321 §4.1.2 Quoted-string = DQUOTE *QcontentSMTP DQUOTE; qtextSMTP = %d32-33 / %d35-91 / %d93-126
// (RFC 6531 §3.3: / UTF8-non-ascii); quoted-pairSMTP = "\" %d32-126.
const QUOTED_STRING = /^"(?:[\x20\x21\x23-\x5b\x5d-\x7e]|[\u00a0-\u{10ffff}]|\\[\x20-\x7e])*"$/u;
// RFC 5321 §4.1.2 sub-domain = Let-dig [Ldh-str]; labels of at most 63 octets, a name of at most 253
// (RFC 1035 §2.3.4, without the root's dot).
const LDH_DOMAIN = /^(?=.{1,253}$)(?!-)[a-z0-9-]{1,63}(?<!-)(?:\.(?!-)[a-z0-9-]{1,63}(?<!-))*$/i;

export interface Mailbox {
  /**
   * The local part in its simplest form: a quoted string whose content is also a Dot-string is
   * written without quotes (RFC 5321 §4.1.2: "a" and a name the same mailbox), anything else as given.
   */
  localPart: string;
  /**
   * The domain in lower-case A-labels (RFC 5890 §2.3.2.1; smtp-server hands U-labels over), or for an
   * address literal its canonical IP in brackets, e.g. "[192.0.2.1]".
   */
  domain: string;
  /** Whether the domain is an address literal (RFC 5321 §4.1.3) rather than a name. */
  addressLiteral: boolean;
}

/** Whether a name is an LDH domain name (RFC 5321 §4.1.2 Domain, RFC 1123 §2.1), any number of labels. */
export function isLdhDomain(name: string): boolean {
  return LDH_DOMAIN.test(name);
}

// An LDH name is its own A-label form but for case, which domainToASCII would only fold; it does more
// for two kinds, which are left to it: labels that claim to be A-labels ("xn--", RFC 5890 §2.3.2.1),
// which Node 20's decodes to check (Node 24's passes them), and a last label that reads as a number,
// which WHATWG URL's host parser takes for an IPv4 address.
const A_LABEL = /(?:^|\.)xn--/i;
const NUMERIC_LAST_LABEL = /(?:^|\.)(?:[0-9]+|0x[0-9a-f]*)$/i;

/** The domain in lower-case A-labels, or null if it is no valid domain name (RFC 5891 §5 via WHATWG's domainToASCII). */
export function asciiDomain(domain: string): string | null {
  if (isLdhDomain(domain) && !A_LABEL.test(domain) && !NUMERIC_LAST_LABEL.test(domain)) return domain.toLowerCase();
  const ascii = domainToASCII(domain);
  return ascii !== "" && isLdhDomain(ascii) ? ascii.toLowerCase() : null;
}

/** An RFC 5321 Mailbox of at most 254 octets, or null if the text is none. */
export function parseMailbox(text: string): Mailbox | null {
  if (Buffer.byteLength(text) > MAX_ADDRESS_OCTETS) return null;
  // A quoted local part may hold "@"; a domain or an address literal never does.
  const at = text.lastIndexOf("@");
  if (at < 1) return null;
  const localPart = simplestLocalPart(text.slice(0, at));
  if (localPart === null) return null;
  const domainText = text.slice(at + 1);
  if (domainText.startsWith("[")) {
    const ip = addressLiteralIp(domainText);
    return ip === null ? null : { localPart, domain: `[${ip}]`, addressLiteral: true };
  }
  const domain = asciiDomain(domainText);
  return domain === null ? null : { localPart, domain, addressLiteral: false };
}

/** The local part unquoted where quoting adds nothing, or null if it is neither a Dot-string nor a Quoted-string. */
function simplestLocalPart(localPart: string): string | null {
  if (Buffer.byteLength(localPart) > MAX_LOCAL_PART_OCTETS) return null;
  if (DOT_STRING.test(localPart)) return localPart;
  if (!QUOTED_STRING.test(localPart)) return null;
  const content = localPart.slice(1, -1).replace(/\\(.)/g, "$1");
  return DOT_STRING.test(content) ? content : localPart;
}
