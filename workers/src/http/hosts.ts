// Which configured domain and which of its service hosts a request's Host header names.
import type { WorkerConfig, WorkerDomainConfig } from "../../../core/config/worker.ts";

export type HostKind = "apex" | "autoconfig" | "autodiscover" | "mta-sts" | "postmaster";

export interface HostMatch {
  kind: HostKind;
  domain: WorkerDomainConfig;
}

const PREFIXES: readonly [string, HostKind][] = [
  ["autoconfig.", "autoconfig"],
  ["autodiscover.", "autodiscover"],
  ["mta-sts.", "mta-sts"],
];

/** The Host header without port and trailing dot, lower-cased (RFC 9110 §7.2, host names are case-insensitive). */
export function normalizeHost(host: string): string {
  return host.replace(/:\d+$/, "").replace(/\.$/, "").toLowerCase();
}

export function classifyHost(rawHost: string, config: WorkerConfig): HostMatch | null {
  const host = normalizeHost(rawHost);
  const first = config.domains[0];
  if (config.postmasterHost && host === config.postmasterHost && first) return { kind: "postmaster", domain: first };
  for (const domain of config.domains) {
    if (host === domain.name) return { kind: "apex", domain };
    for (const [prefix, kind] of PREFIXES) {
      if (host === prefix + domain.name) return { kind, domain };
    }
  }
  return null;
}
