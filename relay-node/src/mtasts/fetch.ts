// MTA-STS discovery (RFC 8461 §3, §5): the `_mta-sts` TXT record through our resolver, the policy over
// HTTPS from `mta-sts.<domain>` (https/request.ts: resolved through our resolver too, connected by
// address, verified by WebPKI against the name) — and the cache (cache.ts) that keeps a
// policy for its max_age and fetches again when the record's id changes. Parsing and matching are
// core/mtasts/policy.ts's.
import type { Resolver } from "../../../core/dns/resolver.ts";
import { httpsRequest } from "../https/request.ts";
import type { StsPolicyCache } from "./cache.ts";
import { MAX_POLICY_BYTES, parseStsPolicy, parseStsRecord, stsPolicyDomain, type StsPolicy } from "../../../core/mtasts/policy.ts";

/**
 * What discovery found for a recipient domain:
 * - `none`: no usable `_mta-sts` record (and nothing cached): no policy;
 * - `failed`: a record, but no valid policy could be fetched (and nothing cached) — delivery goes on
 *   as without a policy (§5), TLS-RPT counts `resultType`;
 * - `policy`: a valid policy, fresh or from the cache.
 */
export type StsDiscovery =
  | { kind: "none"; reason: string }
  | { kind: "failed"; resultType: "sts-policy-fetch-error" | "sts-policy-invalid"; reason: string }
  | { kind: "policy"; policy: StsPolicy; id: string; fromCache: boolean };

export interface StsFetchOptions {
  resolver: Resolver;
  /** Trust anchors for the policy host's certificate; the system's WebPKI roots by default. Tests pass their CA. */
  ca?: string | Buffer;
  /** The HTTPS port: 443 (§3.3); tests serve elsewhere. */
  port?: number;
  /** The whole fetch: connect, TLS, headers and body. Default 30 s. */
  timeoutMs?: number;
  /** The clock, in ms since the epoch. */
  now?: () => number;
}

type Fetched = { ok: true; text: string } | { ok: false; reason: string };

/** §3.3: GET https://mta-sts.<domain>/.well-known/mta-sts.txt — 200 only, no redirects, text/plain, at most 64 KiB, bounded in time. */
export async function fetchStsPolicyText(domain: string, options: StsFetchOptions): Promise<Fetched> {
  const url = new URL(`https://mta-sts.${domain}/.well-known/mta-sts.txt`);
  const response = await httpsRequest(url, "GET", { accept: "text/plain" }, undefined, {
    resolver: options.resolver,
    ...(options.ca === undefined ? {} : { ca: options.ca }),
    ...(options.port === undefined ? {} : { port: options.port }),
    timeoutMs: options.timeoutMs ?? 30_000,
    maxResponseBytes: MAX_POLICY_BYTES,
  });
  if (!response.ok) return response;
  // §3.3: "HTTP 3xx redirects MUST NOT be followed", and only a 200 carries a policy.
  if (response.status !== 200) return { ok: false, reason: `HTTP status ${response.status} from ${url.origin}` };
  const mediaType = (response.headers["content-type"] ?? "").split(";")[0]!.trim().toLowerCase();
  if (mediaType !== "text/plain") return { ok: false, reason: `Content-Type ${JSON.stringify(mediaType)} is not text/plain` };
  return { ok: true, text: response.body.toString("utf8") };
}

export interface StsPolicySource {
  discover(domain: string): Promise<StsDiscovery>;
}

/**
 * Discovery with the cache of §5.1: a cached, unexpired policy is used while the TXT id is unchanged, and
 * also when the TXT record is gone or a new fetch fails; a new id fetches the policy again. The cache
 * is the relay's file (cache.ts), so a restart keeps it.
 */
export function stsPolicySource(options: StsFetchOptions & { cache: StsPolicyCache }): StsPolicySource {
  const { cache } = options;
  const now = options.now ?? Date.now;
  return {
    async discover(recipientDomain) {
      const domain = stsPolicyDomain(recipientDomain);
      if (domain === undefined) return { kind: "none", reason: `${JSON.stringify(recipientDomain)} is not a domain name` };
      const current = cache.get(domain, now());
      const txt = await options.resolver.query(`_mta-sts.${domain}`, "TXT");
      const record = txt.status === "ok" ? parseStsRecord(txt.answers) : undefined;
      if (record === undefined) {
        if (current !== undefined) return { kind: "policy", policy: current.policy, id: current.id, fromCache: true };
        return { kind: "none", reason: txt.status === "ok" ? "no valid v=STSv1 record" : `_mta-sts TXT: ${txt.status}` };
      }
      if (current !== undefined && current.id === record.id) return { kind: "policy", policy: current.policy, id: current.id, fromCache: true };
      const fetched = await fetchStsPolicyText(domain, options);
      const parsed = fetched.ok ? parseStsPolicy(fetched.text) : undefined;
      if (fetched.ok && parsed?.ok === true) {
        cache.set(domain, { text: fetched.text, id: record.id, expiresAtMs: now() + parsed.policy.maxAge * 1000 });
        return { kind: "policy", policy: parsed.policy, id: record.id, fromCache: false };
      }
      if (current !== undefined) return { kind: "policy", policy: current.policy, id: current.id, fromCache: true };
      return fetched.ok
        ? { kind: "failed", resultType: "sts-policy-invalid", reason: parsed?.ok === false ? parsed.reason : "invalid policy" }
        : { kind: "failed", resultType: "sts-policy-fetch-error", reason: fetched.reason };
    },
  };
}
