// What a mail client needs to reach a domain's mailboxes: its IMAP and SMTP submission endpoints.
// Shared by autoconfig, autodiscover and the postmaster page, so every place shows the same settings.
import type { WorkerConfig, WorkerDomainConfig } from "../config/worker.ts";

/**
 * "implicit": TLS from the first byte (RFC 8314 §3: IMAP on 993, submission on 465).
 * "starttls": a cleartext greeting upgraded with STARTTLS (IMAP: RFC 9051 §6.2.1; SMTP: RFC 3207).
 */
export type TlsMode = "implicit" | "starttls";

export interface ClientEndpoint {
  host: string;
  port: number;
  tls: TlsMode;
}

export interface ClientSettings {
  domain: string;
  displayName: string;
  displayShortName: string;
  /** Implicit TLS first: RFC 8314 §3 asks clients to prefer it over STARTTLS. */
  imap: ClientEndpoint[];
  smtp: ClientEndpoint[];
}

/** IMAP and SMTP servers have one shape in the schema: the type of either is the type of both. */
type ServerConfig = WorkerDomainConfig["imap"];

/** The offered variants of one service; a port set to null in the configuration is not offered. */
function endpoints(server: ServerConfig, defaultHost: string): ClientEndpoint[] {
  const host = server.host ?? defaultHost;
  const offered: ClientEndpoint[] = [];
  if (server.sslPort !== null) offered.push({ host, port: server.sslPort, tls: "implicit" });
  if (server.starttlsPort !== null) offered.push({ host, port: server.starttlsPort, tls: "starttls" });
  return offered;
}

export function clientSettings(domain: WorkerDomainConfig): ClientSettings {
  // The schema requires at least one MX host; the first one is the default host of every service.
  const firstMx = domain.mx[0]!;
  return {
    domain: domain.name,
    displayName: domain.displayName ?? domain.name,
    displayShortName: domain.displayShortName ?? domain.name,
    imap: endpoints(domain.imap, firstMx),
    smtp: endpoints(domain.smtp, firstMx),
  };
}

/** The configured domain of that name (lower-case ASCII, as the schema stores it), if any. */
export function configuredDomain(config: WorkerConfig, name: string): WorkerDomainConfig | undefined {
  return config.domains.find((d) => d.name === name);
}
