// `npm run tls`: the command line parsed, and the ACME status formatted for people. Pure; cli/tls.ts does
// the talking to the relay (control/control.ts).
import { DEFAULT_TTL } from "../../../core/records/records.ts";
import type { EdgemxConfig } from "../../../core/config/schema.ts";
import type { ControlRequest } from "../control/control.ts";
import type { AcmeStatus } from "../acme/store.ts";

export const TLS_USAGE = `usage: npm run tls -- [--config <file> | --example] [--socket <path>] status | renew | rollover

  Asks the running relay over its control socket (<data>/control.sock beside relay.spool of the
  relay's configuration: --config, else $EDGEMX_CONFIG, else ./edgemx.yaml; --socket overrides).
  Needs relay.acme.
  status:   the certificate, the key rollover and the TLSA records to publish; read from the files
            when no relay runs.
  renew:    asks the CA for a new certificate now, for the same key (the TLSA record stays).
  rollover: makes the next key and prints its TLSA record, to publish beside the current one; the
            relay switches to it after relay.acme.rolloverDelaySeconds (RFC 7671 §8.1).`;

export interface TlsCommand {
  request: Extract<ControlRequest, { op: "tls-status" | "tls-renew" | "tls-rollover" }>;
  socket?: string;
  /** --config <file>, --example: the relay's configuration (cli/tls.ts). */
  config?: string;
  example?: boolean;
}

/** The command line, or an error text (then print the usage). */
export function parseTlsCommand(args: readonly string[]): TlsCommand | string {
  const rest: string[] = [];
  const options: { socket?: string; config?: string; example?: boolean } = {};
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === "--socket" || arg === "--config") {
      const value = args[++i];
      if (value === undefined) return `${arg} needs a value`;
      options[arg === "--socket" ? "socket" : "config"] = value;
    } else if (arg === "--example") options.example = true;
    else rest.push(arg);
  }
  const [op, ...extra] = rest;
  if (extra.length > 0) return `too many arguments: ${extra.join(" ")}`;
  if (op === "status" || op === "renew" || op === "rollover") return { request: { op: `tls-${op}` }, ...options };
  return op === undefined ? "no command" : `unknown command: ${op}`;
}

/** The MX hosts that are the relay: those core/records/records.ts publishes the TLSA record for. */
function tlsaHosts(config: EdgemxConfig): string[] {
  return config.domains.some((domain) => domain.mx.includes(config.hostname)) ? [config.hostname] : [];
}

const ROLE_COMMENT = {
  current: () => "current: the key the relay uses",
  next: (status: AcmeStatus) => `next: publish it now beside the current one; the relay switches to it at ${status.rollover.swapAfter ?? "?"}`,
  retired: (status: AcmeStatus) => `retired: not used since ${status.rollover.swappedAt ?? "?"}; remove it from the zone`,
} as const;

export function formatTlsStatus(status: AcmeStatus, config: EdgemxConfig): string {
  const lines = [`names:        ${status.names.join(", ")}`];
  const cert = status.certificate;
  if (cert === null) lines.push("certificate:  none yet");
  else if (cert.selfSigned) lines.push(`certificate:  the self-signed placeholder, until the CA's first certificate`);
  else lines.push(`certificate:  from ${cert.issuer}`, `              valid ${cert.notBefore} to ${cert.notAfter}; renewed from ${cert.renewAt}`);
  const { rollover } = status;
  lines.push(
    `key rollover: ${
      rollover.phase === "publishing"
        ? `under way: the relay switches to the next key at ${rollover.swapAfter}`
        : rollover.phase === "swapped"
          ? `done at ${rollover.swappedAt}`
          : "none"
    }`,
  );
  if (status.nextCheckAt !== undefined) lines.push(`next look:    ${status.nextCheckAt}`);
  if (status.lastError !== undefined) lines.push(`last error:   ${status.lastError}`);
  const hosts = tlsaHosts(config);
  lines.push("");
  if (hosts.length === 0) lines.push(`; no TLSA record: no domain has ${config.hostname} (hostname) as MX`);
  else {
    lines.push("; TLSA records (DANE-EE, SPKI, SHA-256: RFC 7672 §3.1.1; the rollover: RFC 7671 §8.1)");
    for (const host of hosts) {
      for (const record of status.tlsa) {
        lines.push(`; ${ROLE_COMMENT[record.role](status)}`);
        lines.push(`${record.role === "retired" ? "; " : ""}_25._tcp.${host}.\t${DEFAULT_TTL}\tIN\tTLSA\t3 1 1 ${record.spkiSha256}`);
      }
    }
  }
  return lines.join("\n");
}
