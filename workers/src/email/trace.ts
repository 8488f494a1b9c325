// The client facts Email Routing does not hand us, read from the trace field Cloudflare's MX adds:
// the topmost Received field (RFC 5321 §4.4: "from <helo> (<name> [<ip>]) by …"), which every MX
// must prepend. Received-SPF is NOT read: an MX need not add one, so the topmost Received-SPF may be
// the sender's own and could name any client-ip that its SPF record authorizes.

export interface ClientTrace {
  clientIp?: string;
  helo?: string;
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

/**
 * The first of several fields Headers.get joined with ", ": up to the first comma outside comments
 * and quoted strings. Received-SPF values (RFC 7208 §9.1) have no other bare comma.
 */
export function firstJoinedField(value: string): string {
  let depth = 0;
  let quoted = false;
  for (let i = 0; i < value.length; i++) {
    const c = value[i];
    if (c === "\\") i++;
    else if (quoted) quoted = c !== '"';
    else if (c === '"') quoted = true;
    else if (c === "(") depth++;
    else if (c === ")") depth = Math.max(0, depth - 1);
    else if (c === "," && depth === 0) return value.slice(0, i);
  }
  return value;
}

/** Received: "from mail.example.com (mail.example.com [192.0.2.1]) by mx.cloudflare.net …" */
export function traceFromReceived(value: string): ClientTrace {
  const from = /^\s*from\s+(\S+)/i.exec(value);
  if (!from) return {};
  // Only the "from" clause describes the client: it ends where the "by" clause (or, without one, the
  // date after ";") begins, so a lower field Headers.get joined on is never read.
  const end = value.slice(from[0].length).search(/\sby\s|;/i);
  const fromClause = end === -1 ? firstJoinedField(value) : value.slice(0, from[0].length + end);
  const literal = /\[(?:IPv6:)?([0-9a-f:.]+)\]/i.exec(fromClause);
  const clientIp = ipAddress(literal?.[1]);
  const helo = from[1]!.replace(/^\[|\]$/g, "");
  return { ...(clientIp ? { clientIp } : {}), ...(helo ? { helo } : {}) };
}

/** The client as the topmost Received field gives it; empty when there is none. */
export function clientTrace(headers: Headers): ClientTrace {
  // Headers.get joins repeated fields with ", "; the first Received is the topmost (our MX's).
  const received = headers.get("received");
  return received ? traceFromReceived(received) : {};
}
