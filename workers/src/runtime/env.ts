// The Worker's bindings: vars from wrangler.toml, secrets from `wrangler secret put`.
export interface Env {
  /** Optional: the Worker's part of the configuration as JSON (core/config/worker.ts); overrides the bundled one. */
  EDGEMX_CONFIG?: string;
  /** Secret: the bearer token of the verdict API; without it the API answers 503. */
  VERDICT_TOKEN?: string;
  /** Optional var: the DNS-over-HTTPS URL; overrides the configuration's judge.dns.dohUrl. */
  DOH_URL?: string;
  /** Secret: the PEM private key for ARC sealing (judge.arcSeal). */
  ARC_PRIVATE_KEY?: string;
  /** Optional D1 database: where received TLS reports are kept (docs/tlsrpt.md); without it they are logged. */
  TLSRPT_DB?: D1Database;
}
