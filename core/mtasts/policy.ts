// MTA-STS (RFC 8461) as pure functions: the `_mta-sts` TXT record, the policy text, and whether an MX host
// name matches the policy. Fetching and caching are the relay's (relay-node/src/mtasts/).
import { isQueryableName, normalizeName } from "../dns/resolver.ts";

export type StsMode = "enforce" | "testing" | "none";

export interface StsPolicy {
  mode: StsMode;
  /** MX host patterns, lower-case, no trailing dot; "*.example.com" matches one leftmost label (§4.1). */
  mx: readonly string[];
  /** Seconds the policy may be cached (§3.2: at most 31557600). */
  maxAge: number;
}

/** RFC 8461 §3.2: max_age is at most 31557600 seconds (about one year). */
export const MAX_POLICY_AGE = 31_557_600;

/** RFC 8461 §3.3: a policy body is at most 64 KiB. */
export const MAX_POLICY_BYTES = 64 * 1024;

/**
 * The policy domain as a DNS name, or undefined when it cannot be one (".example.com", an empty label):
 * such a domain has no policy.
 */
export function stsPolicyDomain(domain: string): string | undefined {
  const name = normalizeName(domain);
  return isQueryableName(name) ? name : undefined;
}

/**
 * The id of the domain's `_mta-sts` TXT record, or undefined when there is no usable one. RFC 8461 §3.1:
 * records not beginning with "v=STSv1;" are discarded; unless exactly one remains, and it is valid
 * (v first, an `id` of 1–32 alphanumerics), the domain has no available policy. Each record's strings
 * are joined first (RFC 7208 §3.3 style, as §3.1 refers to RFC 1035 character-strings).
 */
export function parseStsRecord(records: readonly (readonly string[])[]): { id: string } | undefined {
  const candidates = records.map((strings) => strings.join("")).filter((text) => /^v=STSv1;/.test(text));
  if (candidates.length !== 1) return undefined;
  const fields = new Map<string, string>();
  for (const field of candidates[0]!.split(";")) {
    const trimmed = field.trim();
    if (trimmed === "") continue;
    const match = /^([A-Za-z0-9_.-]+)=([\x21-\x3a\x3c\x3e-\x7e]*)$/.exec(trimmed);
    if (match === null) return undefined;
    if (!fields.has(match[1]!)) fields.set(match[1]!, match[2]!);
  }
  const id = fields.get("id");
  return id !== undefined && /^[A-Za-z0-9]{1,32}$/.test(id) ? { id } : undefined;
}

export type ParsedPolicy = { ok: true; policy: StsPolicy } | { ok: false; reason: string };

/**
 * The policy text (RFC 8461 §3.2): "key: value" lines separated by LF or CRLF; `version: STSv1`, `mode`
 * (enforce | testing | none) and `max_age` (up to 10 digits, ≤ 31557600) are required, as are one or
 * more `mx` lines unless the mode is none. Unknown keys are ignored; of a repeated key other than mx the
 * first counts.
 */
export function parseStsPolicy(text: string): ParsedPolicy {
  const fields = new Map<string, string>();
  const mx: string[] = [];
  for (const line of text.split(/\r?\n/)) {
    if (line.trim() === "") continue;
    const match = /^([A-Za-z0-9_.-]+):[ \t]*(.*?)[ \t]*$/.exec(line);
    if (match === null) return { ok: false, reason: `not a "key: value" line: ${JSON.stringify(line.slice(0, 80))}` };
    const key = match[1]!;
    const value = match[2]!;
    if (key === "mx") mx.push(normalizeName(value));
    else if (!fields.has(key)) fields.set(key, value);
  }
  if (fields.get("version") !== "STSv1") return { ok: false, reason: 'no "version: STSv1"' };
  const mode = fields.get("mode");
  if (mode !== "enforce" && mode !== "testing" && mode !== "none")
    return { ok: false, reason: `mode ${JSON.stringify(mode ?? "")} is not enforce, testing or none` };
  const maxAgeText = fields.get("max_age") ?? "";
  if (!/^[0-9]{1,10}$/.test(maxAgeText) || Number(maxAgeText) > MAX_POLICY_AGE) {
    return { ok: false, reason: `max_age ${JSON.stringify(maxAgeText)} is not a number of seconds up to ${MAX_POLICY_AGE}` };
  }
  if (mode !== "none" && mx.length === 0) return { ok: false, reason: `mode ${mode} without any mx pattern` };
  const badPattern = mx.find((pattern) => !isQueryableName(pattern.replace(/^\*\./, "")));
  if (badPattern !== undefined) return { ok: false, reason: `mx pattern ${JSON.stringify(badPattern)} is not a host name` };
  return { ok: true, policy: { mode, mx, maxAge: Number(maxAgeText) } };
}

/**
 * RFC 8461 §4.1: the MX host matches a pattern exactly, or a "*." pattern with exactly one more label in
 * place of the "*" ("*.example.com" matches "mx.example.com", not "a.b.example.com" or "example.com").
 */
export function mxMatchesPolicy(mxHost: string, policy: StsPolicy): boolean {
  const host = normalizeName(mxHost);
  return policy.mx.some((pattern) => {
    if (!pattern.startsWith("*.")) return host === pattern;
    const firstDot = host.indexOf(".");
    return firstDot > 0 && host.slice(firstDot + 1) === pattern.slice(2);
  });
}

/** The policy in the order of §3.2, for TLS-RPT's policy-string (RFC 8460 §4.4). */
export function policyLines(policy: StsPolicy): string[] {
  return ["version: STSv1", `mode: ${policy.mode}`, ...policy.mx.map((pattern) => `mx: ${pattern}`), `max_age: ${policy.maxAge}`];
}
