// The client facts Email Routing does not hand us, read from the trace fields Cloudflare's MX adds:
// Received-SPF (RFC 7208 §9.1: key=value pairs client-ip= and helo=) first, else the topmost
// Received field (RFC 5321 §4.4: "from <helo> (<name> [<ip>]) by …").

export interface ClientTrace {
  clientIp?: string;
  helo?: string;
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/;
const IPV6 = /^[0-9a-f:.]+$/i;

function ipAddress(text: string | undefined): string | undefined {
  if (!text) return undefined;
  const bare = text.replace(/^ipv6:/i, "");
  return IPV4.test(bare) || (bare.includes(":") && IPV6.test(bare)) ? bare : undefined;
}

/** Received-SPF: "pass (comment) client-ip=192.0.2.1; envelope-from=…; helo=mail.example.com;" */
export function traceFromReceivedSpf(value: string): ClientTrace {
  const pairs = new Map<string, string>();
  for (const m of value.matchAll(/([a-z-]+)=("[^"]*"|[^;\s]+)/gi)) pairs.set(m[1]!.toLowerCase(), m[2]!.replace(/^"|"$/g, ""));
  const clientIp = ipAddress(pairs.get("client-ip"));
  const helo = pairs.get("helo");
  return { ...(clientIp ? { clientIp } : {}), ...(helo ? { helo } : {}) };
}

/** Received: "from mail.example.com (mail.example.com [192.0.2.1]) by mx.cloudflare.net …" */
export function traceFromReceived(value: string): ClientTrace {
  const from = /^\s*from\s+(\S+)/i.exec(value);
  // Only the "from" clause describes the client; the "by" clause is the receiving host.
  const by = value.search(/\sby\s/i);
  const fromClause = by === -1 ? value : value.slice(0, by);
  const literal = /\[(?:IPv6:)?([0-9a-f:.]+)\]/i.exec(fromClause);
  const clientIp = ipAddress(literal?.[1]);
  const helo = from?.[1];
  return { ...(clientIp ? { clientIp } : {}), ...(helo ? { helo: helo.replace(/^\[|\]$/g, "") } : {}) };
}

/** The client as the topmost trace fields give it; empty when there are none. */
export function clientTrace(headers: Headers): ClientTrace {
  const spf = headers.get("received-spf");
  if (spf) {
    const fromSpf = traceFromReceivedSpf(spf.split(",")[0] ?? spf);
    if (fromSpf.clientIp) return fromSpf;
  }
  // Headers.get joins repeated fields with ", "; the first Received is the topmost (our MX's).
  const received = headers.get("received");
  return received ? traceFromReceived(received) : {};
}
