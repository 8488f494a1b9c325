// The client facts Email Routing does not hand us, read from the trace field Cloudflare's MX adds:
// the topmost Received field (RFC 5321 §4.4), which every MX must prepend. Cloudflare writes
// "from <helo> (<ip>) by cloudflare-email.net (cloudflare) id … for <rcpt>; <date>" — the address in
// parentheses, no reverse name, no "with" clause (docs/email-routing.md cites published copies); the
// bracketed form "from <helo> (<name> [<ip>])" of Postfix and others is read too. Received-SPF is NOT
// read: an MX need not add one, so the topmost Received-SPF may be the sender's own and could name any
// client-ip that its SPF record authorizes.

/** What the verdict's envelope takes from the trace. */
export interface ClientTrace {
  clientIp?: string;
  /** The HELO/EHLO name, an address literal without its brackets (SPF's HELO identity, RFC 7208 §2.3). */
  helo?: string;
}

/** What the connection checks take from the trace. */
export interface ConnectionTrace extends ClientTrace {
  /** The HELO/EHLO argument as given: an address literal keeps its brackets, which the HELO check judges. */
  heloArgument?: string;
  /** Whether the MX says the session was encrypted (RFC 3848's "with" types); absent when the field does not say. */
  tls?: boolean;
}

// Dotted-quad without leading zeros ("010" would be octal to some parsers).
const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const HEX16 = /^[0-9a-f]{1,4}$/i;

/** RFC 4291 §2.2: eight 16-bit groups, one "::" for a run of zeros, an IPv4 tail in place of the last two. */
function isIpv6(text: string): boolean {
  const halves = text.split("::");
  if (halves.length > 2) return false;
  const groups = halves.map((half) => (half === "" ? [] : half.split(":")));
  const all = groups.flat();
  const last = all.at(-1);
  const ipv4Tail = last !== undefined && IPV4.test(last);
  const width = all.length + (ipv4Tail ? 1 : 0);
  if (!all.every((g, i) => HEX16.test(g) || (ipv4Tail && i === all.length - 1))) return false;
  return halves.length === 2 ? width <= 7 : width === 8;
}

function ipAddress(text: string | undefined): string | undefined {
  if (!text) return undefined;
  const bare = text.replace(/^ipv6:/i, "");
  return IPV4.test(bare) || isIpv6(bare) ? bare : undefined;
}

/** The text up to the first `stop` character outside comments and quoted strings (RFC 5322 §3.2.2, §3.2.4); all of it when there is none. */
function upTo(value: string, stop: string): string {
  let depth = 0;
  let quoted = false;
  for (let i = 0; i < value.length; i++) {
    const c = value[i];
    if (c === "\\") i++;
    else if (quoted) quoted = c !== '"';
    else if (c === '"') quoted = true;
    else if (c === "(") depth++;
    else if (c === ")") depth = Math.max(0, depth - 1);
    else if (c === stop && depth === 0) return value.slice(0, i);
  }
  return value;
}

/**
 * The first of several fields Headers.get joined with ", ": up to the first comma outside comments
 * and quoted strings. Received-SPF values (RFC 7208 §9.1) have no other bare comma.
 */
export function firstJoinedField(value: string): string {
  return upTo(value, ",");
}

/** The text with its comments taken out (RFC 5322 §3.2.2), nested ones too. */
function withoutComments(value: string): string {
  let out = "";
  let depth = 0;
  for (let i = 0; i < value.length; i++) {
    const c = value[i]!;
    if (c === "\\" && depth > 0) i++;
    else if (c === "(") depth++;
    else if (c === ")" && depth > 0) depth--;
    else if (depth === 0) out += c;
  }
  return out;
}

/**
 * RFC 3848 §2 and RFC 6531 §3.7.3: the "with" types of a session under TLS end in "S" (before an "A" for
 * an authenticated one): ESMTPS, ESMTPSA, LMTPS, UTF8SMTPS …; SMTP, ESMTP, ESMTPA, UTF8SMTP are without.
 * Another type (HTTP, a local word) says nothing about TLS.
 */
function tlsOf(protocol: string): boolean | undefined {
  const known = /^(?:UTF8)?(?:E?SMTP|LMTP)(S?)A?$/i.exec(protocol);
  return known === null ? undefined : known[1] !== "";
}

/** The topmost Received field, as the connection checks read it. */
export function connectionFromReceived(value: string): ConnectionTrace {
  const from = /^\s*from\s+(\S+)/i.exec(value);
  if (!from) return {};
  // The first field ends at its ";" before the date, outside comments; a lower field Headers.get joined
  // on is never read. The "from" clause ends where the "by" clause begins.
  const field = upTo(value, ";");
  const end = field.slice(from[0].length).search(/\sby\s/i);
  const fromClause = end === -1 ? firstJoinedField(field) : field.slice(0, from[0].length + end);
  // The address is what the MX wrote after the HELO name (the client chose the name, not what follows):
  // a literal in brackets, or a comment holding only the address (Cloudflare's form).
  const written = fromClause.slice(from[0].length);
  const literal = /\[(?:IPv6:)?([0-9a-f:.]+)\]/i.exec(written) ?? /\(\s*(?:IPv6:)?([0-9a-f:.]+)\s*\)/i.exec(written);
  const clientIp = ipAddress(literal?.[1]);
  const heloArgument = from[1]!;
  const helo = heloArgument.replace(/^\[|\]$/g, "");
  // RFC 5321 §4.4: From, By, then the optional With clause; only the MX's own words after "by" count.
  const byOnwards = end === -1 ? "" : withoutComments(field.slice(from[0].length + end));
  const protocol = /\swith\s+([A-Za-z0-9]+)/i.exec(byOnwards)?.[1];
  const tls = protocol === undefined ? undefined : tlsOf(protocol);
  return { ...(clientIp ? { clientIp } : {}), ...(helo ? { helo, heloArgument } : {}), ...(tls === undefined ? {} : { tls }) };
}

/** Received: the client's address and HELO name (for the verdict's envelope). */
export function traceFromReceived(value: string): ClientTrace {
  const { clientIp, helo } = connectionFromReceived(value);
  return { ...(clientIp ? { clientIp } : {}), ...(helo ? { helo } : {}) };
}

/** The connection as the topmost Received field gives it; empty when there is none. */
export function connectionTrace(headers: Headers): ConnectionTrace {
  // Headers.get joins repeated fields with ", "; the first Received is the topmost (our MX's).
  const received = headers.get("received");
  return received ? connectionFromReceived(received) : {};
}

/** The client as the topmost Received field gives it; empty when there is none. */
export function clientTrace(headers: Headers): ClientTrace {
  const received = headers.get("received");
  return received ? traceFromReceived(received) : {};
}
