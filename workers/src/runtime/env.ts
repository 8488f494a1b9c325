// The Worker's bindings: vars from wrangler.toml, secrets from `wrangler secret put`.
import type { GreylistObject } from "../greylist/greylist-object.ts";
export interface Env {
  /** Optional: the Worker's part of the configuration as JSON (core/config/worker.ts); overrides the bundled one. */
  EDGEMX_CONFIG?: string;
  /** Secret: the bearer token of the verdict API; without it the API answers 503. */
  VERDICT_TOKEN?: string;
  /** Optional var: the DNS-over-HTTPS URL; overrides the configuration's judge.dns.dohUrl. */
  DOH_URL?: string;
  /** Secret: the PEM private key for ARC sealing (judge.arcSeal). */
  ARC_PRIVATE_KEY?: string;
  /**
   * Optional D1 database: where received reports are kept — TLS reports posted or mailed, DMARC aggregate
   * and failure reports (docs/reports.md). Without it TLS reports posted to us are only logged, and
   * report mail is refused temporarily (so senders retry once it is bound).
   */
  REPORTS_DB?: D1Database;
  /** Secret: the bearer token of the report intake (POST /v1/reports), with which the relay hands reports over. */
  REPORTS_TOKEN?: string;
  /** Secret: a bearer token that opens the postmaster dashboard (/admin), beside Cloudflare Access. */
  DASHBOARD_TOKEN?: string;
  /** Secret: the bearer token of the relay's scan endpoint (scan.url), the relay's EDGEMX_SCAN_TOKEN. */
  SCAN_TOKEN?: string;
  /**
   * Optional mTLS certificate binding ([[mtls_certificates]] in wrangler.toml): the scan endpoint is asked
   * through it, presenting its client certificate, where relay.scanListener.clientCaFile asks for one.
   */
  SCAN_MTLS?: Fetcher;
  /** Greylisting's Durable Objects, one per client network (wrangler.toml); needed while connection.greylist is enabled. */
  GREYLIST?: DurableObjectNamespace<GreylistObject>;
  // Secrets the configuration names (connection.dnsbl.zones[].keySecret, e.g. SPAMHAUS_DQS_KEY) are read
  // by that name: bindingText().
}

/** A text binding (secret or var) by a name the configuration gives; undefined when the Worker has none. */
export function bindingText(env: Env, name: string): string | undefined {
  const value: unknown = (env as unknown as Record<string, unknown>)[name];
  return typeof value === "string" ? value : undefined;
}
