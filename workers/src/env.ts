// The Worker's bindings: vars from wrangler.toml, secrets from `wrangler secret put`.
export interface Env {
  /** Optional: the configuration document as JSON; overrides the one bundled at build time. */
  EDGEMX_CONFIG?: string;
}
