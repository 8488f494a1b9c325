// Client addresses as the connection-stage checks compare and look them up: one canonical text per
// address, the reversed labels of the DNS reverse trees, and SMTP address literals.
import { isIPv4, isIPv6 } from "node:net";

/**
 * The address in one canonical text, or null if it is none: IPv4 dotted-quad; an IPv4-mapped IPv6
 * address (RFC 4291 §2.5.5.2, what a socket listening on "::" reports for an IPv4 client) as its IPv4
 * address; any other IPv6 address in the RFC 5952 §4 form ("2001:db8::1"), without a zone index
 * (RFC 4007 §11). Two texts name the same address exactly when their canonical texts are equal.
 */
export function canonicalIp(text: string): string | null {
  const address = text.replace(/%.*$/, "");
  if (isIPv4(address)) return address;
  if (!isIPv6(address)) return null;
  const groups = ipv6Groups(address);
  const mapped = groups.slice(0, 5).every((group) => group === 0) && groups[5] === 0xffff;
  if (mapped) return [groups[6]! >> 8, groups[6]! & 0xff, groups[7]! >> 8, groups[7]! & 0xff].join(".");
  return rfc5952Text(groups);
}

/** RFC 5952 §4: lower-case hex without leading zeros, the longest run of two or more zero groups (the first of equals) as "::". */
function rfc5952Text(groups: readonly number[]): string {
  let runStart = -1;
  let runLength = 1;
  for (let start = 0; start < groups.length;) {
    let end = start;
    while (groups[end] === 0) end += 1;
    if (end - start > runLength) [runStart, runLength] = [start, end - start];
    start = end + 1;
  }
  const hex = groups.map((group) => group.toString(16));
  if (runStart < 0) return hex.join(":");
  return `${hex.slice(0, runStart).join(":")}::${hex.slice(runStart + runLength).join(":")}`;
}

/** The eight 16-bit groups of a valid IPv6 address, "::" expanded, an embedded IPv4 tail converted (RFC 4291 §2.2). */
function ipv6Groups(address: string): number[] {
  let text = address.toLowerCase();
  const ipv4Tail = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (ipv4Tail !== null) {
    const [a, b, c, d] = ipv4Tail.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, ipv4Tail.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = "", tail] = text.split("::");
  const headGroups = head === "" ? [] : head.split(":");
  if (tail === undefined) return headGroups.map((group) => parseInt(group, 16));
  const tailGroups = tail === "" ? [] : tail.split(":");
  const zeros = new Array<string>(8 - headGroups.length - tailGroups.length).fill("0");
  return [...headGroups, ...zeros, ...tailGroups].map((group) => parseInt(group, 16));
}

/**
 * The address's labels in the order the reverse trees and DNSBLs use, or null if it is not an address:
 * IPv4 octets reversed (RFC 1035 §3.5, RFC 5782 §2.1), IPv6 nibbles reversed (RFC 3596 §2.5,
 * RFC 5782 §2.4). "192.0.2.1" → "1.2.0.192".
 */
export function reversedLabels(ip: string): string | null {
  const address = canonicalIp(ip);
  if (address === null) return null;
  if (isIPv4(address)) return address.split(".").reverse().join(".");
  const nibbles = ipv6Groups(address)
    .map((group) => group.toString(16).padStart(4, "0"))
    .join("");
  return [...nibbles].reverse().join(".");
}

/** The name a PTR query asks for: under in-addr.arpa (RFC 1035 §3.5) or ip6.arpa (RFC 3596 §2.5). */
export function reverseName(ip: string): string | null {
  const labels = reversedLabels(ip);
  if (labels === null) return null;
  return `${labels}.${isIPv4(canonicalIp(ip)!) ? "in-addr.arpa" : "ip6.arpa"}`;
}

/**
 * The canonical address of an SMTP address literal, or null if the text is none (RFC 5321 §4.1.3):
 * "[192.0.2.1]" or "[IPv6:2001:db8::1]" (the tag, like all ABNF strings, case-insensitive). A
 * General-address-literal with any other tag names no address we could compare, so it is refused.
 */
export function addressLiteralIp(text: string): string | null {
  const literal = /^\[(ipv6:)?([^\]]+)\]$/i.exec(text);
  if (literal === null) return null;
  const [, ipv6Tag, address = ""] = literal;
  if (ipv6Tag !== undefined ? !isIPv6(address) : !isIPv4(address)) return null;
  return canonicalIp(address);
}
