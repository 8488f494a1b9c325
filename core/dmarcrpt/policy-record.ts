// What a DMARC Policy Record asks of a report sender: the published policy as an aggregate report
// repeats it (RFC 9990 "policy_published"), and where aggregate reports go (`rua`, RFC 7489 §6.2–6.3,
// RFC 9989 §4.7–4.8) with the size limit RFC 7489 allowed. Pure.
//
// Written here rather than taken from mailauth: its record parser is an untyped internal, and what it
// keeps (lower-cased values, numbers for pct) is not what a report repeats; the rules are a few lines.

/**
 * The record's tags (RFC 9989 §4.7: the DKIM tag-list syntax of RFC 6376 §3.2), names lower case, or
 * null when it is no DMARC record: "v=DMARC1" must be the first tag. Like the evaluation (mailauth's
 * lenient mode), a repeated tag keeps its last value.
 */
export function dmarcTags(record: string): Map<string, string> | null {
  const tags = new Map<string, string>();
  const parts = record
    .split(";")
    .map((part) => part.trim())
    .filter((part) => part !== "");
  for (const [i, part] of parts.entries()) {
    const at = part.indexOf("=");
    if (at <= 0) {
      if (i === 0) return null;
      continue;
    }
    const name = part.slice(0, at).trim().toLowerCase();
    const value = part.slice(at + 1).trim();
    if (i === 0 && (name !== "v" || value !== "DMARC1")) return null;
    tags.set(name, value);
  }
  return tags.size > 0 ? tags : null;
}

export type PolicyAction = "none" | "quarantine" | "reject";

/** RFC 9990 PolicyPublishedType: what a report says the domain published, defaults filled in. */
export interface PolicyPublished {
  domain: string;
  /** How the record was found: mailauth walks the DNS tree (RFC 9989 §4.10). */
  discoveryMethod: "treewalk";
  p: PolicyAction;
  sp: PolicyAction;
  np: PolicyAction;
  adkim: "r" | "s";
  aspf: "r" | "s";
  fo: string;
  testing: "y" | "n";
}

const ACTIONS: readonly string[] = ["none", "quarantine", "reject"];
const action = (value: string | undefined): PolicyAction | undefined => {
  const lower = value?.toLowerCase();
  return lower !== undefined && ACTIONS.includes(lower) ? (lower as PolicyAction) : undefined;
};
const alignment = (value: string | undefined): "r" | "s" => (value?.toLowerCase() === "s" ? "s" : "r");

/**
 * The published policy of `domain`'s record (RFC 9990: "Unspecified tags have their default values"):
 * sp defaults to p, np to sp, adkim and aspf to r, fo to 0, testing to n. A record without a valid p
 * that asks for reports is applied as p=none (RFC 9989 §4.10.1), and reported so.
 */
export function policyPublished(domain: string, record: string): PolicyPublished {
  const tags = dmarcTags(record) ?? new Map<string, string>();
  const p = action(tags.get("p")) ?? "none";
  const sp = action(tags.get("sp")) ?? p;
  return {
    domain,
    discoveryMethod: "treewalk",
    p,
    sp,
    np: action(tags.get("np")) ?? sp,
    adkim: alignment(tags.get("adkim")),
    aspf: alignment(tags.get("aspf")),
    fo: tags.get("fo") ?? "0",
    testing: tags.get("t")?.toLowerCase() === "y" ? "y" : "n",
  };
}

/** One `mailto:` destination of a rua tag. */
export interface ReportUri {
  /** The URI without its size limit. */
  uri: string;
  /** The address, percent-decoding undone, the domain lower case. */
  address: string;
  /** The address's domain: the "destination host" of RFC 7489 §7.1. */
  host: string;
  /** The largest report it takes, in bytes (RFC 7489 §6.2 "!" size); null: no limit given. */
  maxBytes: number | null;
}

/** Destinations taken from one rua tag at most: "up to the Receiver's limits on supported URIs" (RFC 9990). */
export const MAX_REPORT_URIS = 5;

/** RFC 7489 §6.2: the units of a size limit are powers of two. */
const UNITS: Record<string, number> = { "": 1, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40 };
const SIZE = /!(\d{1,15})([kmgt]?)$/i;
// RFC 5321 §4.1.2, loosely: a local part without spaces or angle brackets, and a domain name.
const ADDRESS = /^([^\s<>@]+)@([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+)$/i;

/** One dmarc-uri (RFC 7489 §6.2), or null when it is not a usable `mailto:` one. */
export function parseReportUri(text: string): ReportUri | null {
  const trimmed = text.trim();
  const size = SIZE.exec(trimmed);
  const uri = size === null ? trimmed : trimmed.slice(0, size.index);
  // Aggregate reports go by mail (RFC 9990 "Email"); other schemes are ignored (RFC 9990 "Other Methods").
  if (!/^mailto:/i.test(uri)) return null;
  let address: string;
  try {
    // RFC 6068 §2: the address is percent-encoded; header fields after "?" are not ours to send.
    address = decodeURIComponent(uri.slice("mailto:".length).split("?")[0]!);
  } catch {
    return null;
  }
  const match = ADDRESS.exec(address);
  if (match === null) return null;
  const host = match[2]!.toLowerCase();
  const maxBytes = size === null ? null : Number(size[1]) * UNITS[size[2]!.toLowerCase()]!;
  return { uri, address: `${match[1]}@${host}`, host, maxBytes: Number.isSafeInteger(maxBytes) ? maxBytes : null };
}

/** The record's aggregate report destinations, in its order (RFC 9990 "Report Delivery"), malformed ones left out. */
export function reportUris(record: string): ReportUri[] {
  const rua = dmarcTags(record)?.get("rua");
  if (rua === undefined) return [];
  return rua
    .split(",")
    .map(parseReportUri)
    .filter((uri): uri is ReportUri => uri !== null)
    .slice(0, MAX_REPORT_URIS);
}
