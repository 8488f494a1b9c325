// The Received header field the relay prepends (RFC 5321 §4.4 "Trace Information"):
//
//   Received: from mail.sender.test (mail.sender.test [127.0.0.11])
//   	by mx.example.org with ESMTPS id 019AC6F3E2A4B7C1D9
//   	(version=TLSv1.3 cipher=TLS_AES_256_GCM_SHA384)
//   	for <alice@example.org>; Thu, 27 Nov 2025 18:45:00 +0000
import { isIP } from "node:net";
import type { TlsFacts } from "../log/log.ts";

export interface ProtocolFacts {
  /** The client greeted with EHLO (else HELO). */
  ehlo: boolean;
  tls: boolean;
  authenticated: boolean;
  /** MAIL FROM carried SMTPUTF8 (RFC 6531 §3.4). */
  smtputf8: boolean;
}

/**
 * The "with" protocol: RFC 3848 §2 (ESMTP, ESMTPS, ESMTPA, ESMTPSA), RFC 6531 §3.7.3 (UTF8SMTP,
 * UTF8SMTPS, UTF8SMTPA, UTF8SMTPSA); a HELO session is plain SMTP (RFC 5321 §4.4).
 */
export function withProtocol(facts: ProtocolFacts): string {
  if (!facts.ehlo) return "SMTP";
  return `${facts.smtputf8 ? "UTF8SMTP" : "ESMTP"}${facts.tls ? "S" : ""}${facts.authenticated ? "A" : ""}`;
}

export interface ReceivedFacts {
  /** What the client gave in HELO/EHLO. */
  helo: string | null;
  clientIp: string;
  /** The forward-confirmed reverse name (FCrDNS), if any. */
  verifiedName: string | null;
  /** Our host name, the "by" domain. */
  hostname: string;
  protocol: string;
  /** The message's queue id (Postfix writes its queue id here too). */
  id: string;
  /** Named only when the message has exactly one recipient (more would disclose the others). */
  recipients: readonly string[];
  tls: TlsFacts | null;
  date: Date;
}

// RFC 5321 §4.1.2 Domain: dot-separated labels of letters, digits and hyphens (underscores allowed,
// as real PTR and HELO names carry them).
const DOMAIN_RE = /^(?=.{1,253}$)[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?(?:\.[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?)*$/i;

/** RFC 5321 §4.1.3 address literal: [192.0.2.1] or [IPv6:2001:db8::1]. */
export function addressLiteral(ip: string): string {
  return isIP(ip) === 6 ? `[IPv6:${ip}]` : `[${ip}]`;
}

function isAddressLiteral(text: string): boolean {
  const inner = /^\[(.*)\]$/.exec(text)?.[1];
  if (inner === undefined) return false;
  return isIP(inner) === 4 || (/^ipv6:/i.test(inner) && isIP(inner.slice(5)) === 6);
}

/**
 * RFC 5321 §4.4 From-domain = "FROM" FWS Extended-Domain, with TCP-info = the verified name and the
 * address literal. A HELO argument that is neither a Domain nor an address literal cannot stand
 * there, so the client's address literal takes its place.
 */
function fromClause(facts: ReceivedFacts): string {
  const literal = addressLiteral(facts.clientIp);
  const helo = facts.helo !== null && (DOMAIN_RE.test(facts.helo) || isAddressLiteral(facts.helo)) ? facts.helo : literal;
  return `from ${helo} (${facts.verifiedName !== null ? `${facts.verifiedName} ` : ""}${literal})`;
}

const DAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** RFC 5322 §3.3 date-time in UTC: "Thu, 27 Nov 2025 18:45:00 +0000". */
export function rfc5322Date(date: Date): string {
  const two = (n: number): string => String(n).padStart(2, "0");
  const time = `${two(date.getUTCHours())}:${two(date.getUTCMinutes())}:${two(date.getUTCSeconds())}`;
  return `${DAYS[date.getUTCDay()]}, ${date.getUTCDate()} ${MONTHS[date.getUTCMonth()]} ${date.getUTCFullYear()} ${time} +0000`;
}

/** The whole field, folded (RFC 5322 §2.2.3) at its clauses, without the final CRLF. */
export function receivedHeader(facts: ReceivedFacts): string {
  const lines = [`Received: ${fromClause(facts)}`, `\tby ${facts.hostname} with ${facts.protocol} id ${facts.id}`];
  if (facts.tls) lines.push(`\t(version=${facts.tls.version} cipher=${facts.tls.cipher})`);
  if (facts.recipients.length === 1) lines.push(`\tfor <${facts.recipients[0]}>`);
  return `${lines.join("\r\n")}; ${rfc5322Date(facts.date)}`;
}
