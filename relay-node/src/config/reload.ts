// The running relay's configuration and its reload (SIGHUP, `npm run reload`). Sessions read the
// configuration once, when they start (smtp/session.ts), so a reload applies to the sessions after it
// and a session never sees two configurations. What was built from the configuration at start — the
// listeners, the spool, delivery, the stores and the clients of clamd, rspamd and the verdict API —
// is not rebuilt: a file that changes one of those settings is refused whole, naming them, and the
// running configuration stays until a restart.
import { isDeepStrictEqual } from "node:util";
import type { EdgemxConfig } from "../../../core/config/schema.ts";

/** The settings a reload cannot apply, each with how to read it; every other setting applies to new sessions. */
export const RESTART_SETTINGS: readonly { setting: string; read: (config: EdgemxConfig) => unknown }[] = [
  // The banner, HELO when delivering, the self-signed certificate's name, the TLS reports' sender.
  { setting: "hostname", read: (c) => c.hostname },
  // Delivery routes our domains to the next hop by name; TLS reports come from the first one.
  { setting: "domains[].name", read: (c) => c.domains.map((d) => d.name) },
  // The DKIM keys are loaded at start (submission, TLS reports).
  { setting: "domains[].dkim", read: (c) => c.domains.map((d) => d.dkim) },
  { setting: "relay.listeners", read: (c) => c.relay.listeners },
  // The certificate files are watched; SIGHUP re-reads them, a new path needs a restart.
  { setting: "relay.tls", read: (c) => c.relay.tls },
  // The ACME service: its challenge listener, renewal timer and files.
  { setting: "relay.acme", read: (c) => c.relay.acme },
  // Outbound delivery keeps its set of mandatory-TLS destinations.
  { setting: "connection.mandatoryTls", read: (c) => c.connection.mandatoryTls },
  { setting: "relay.nextHop", read: (c) => c.relay.nextHop },
  { setting: "relay.spool", read: (c) => c.relay.spool },
  { setting: "relay.deliveryConcurrency", read: (c) => c.relay.deliveryConcurrency },
  { setting: "relay.resolver", read: (c) => c.relay.resolver },
  // Greylisting is built at start from how it greylists; the shared state's store (greylisting, the
  // blocklist, the DMARC and TLS-RPT counts, the limits, the callout's answers) is opened at start.
  { setting: "connection.greylist", read: (c) => c.connection.greylist },
  { setting: "relay.store", read: (c) => c.relay.store },
  { setting: "relay.clamd", read: (c) => c.relay.clamd },
  { setting: "relay.verdict", read: (c) => c.relay.verdict },
  // The judge pool's threads start with the relay.
  { setting: "relay.threads", read: (c) => c.relay.threads },
  { setting: "relay.rspamd", read: (c) => c.relay.rspamd },
  // The scan endpoint: its address and client CA are the listener's, its size bound is taken at start.
  { setting: "relay.scanListener", read: (c) => c.relay.scanListener },
  { setting: "relay.recipientCheck", read: (c) => c.relay.recipientCheck },
  { setting: "relay.users", read: (c) => c.relay.users },
  // The login throttle and the send quota are counters built with these bounds.
  { setting: "relay.submission", read: (c) => c.relay.submission },
  { setting: "relay.outbound", read: (c) => c.relay.outbound },
  { setting: "relay.arcSealKeyFile", read: (c) => c.relay.arcSealKeyFile },
  // The DMARC report store and its daily timer.
  { setting: "relay.dmarcReports", read: (c) => c.relay.dmarcReports },
  // The metrics and health listener, and the registry the sessions count into.
  { setting: "relay.metrics", read: (c) => c.relay.metrics },
  // Delivery hands report mail to the intake it was built with (the report addresses follow a reload).
  { setting: "reports.intakeUrl", read: (c) => c.reports.intakeUrl },
];

/** The settings that differ between the running configuration and `next` but need a restart. */
export function settingsNeedingRestart(running: EdgemxConfig, next: EdgemxConfig): string[] {
  return RESTART_SETTINGS.filter(({ read }) => !isDeepStrictEqual(read(running), read(next))).map(({ setting }) => setting);
}

/** The configuration sessions start with: the one the relay started with, until a reload replaces it. */
export class ConfigHolder {
  #current: EdgemxConfig;

  constructor(config: EdgemxConfig) {
    this.#current = config;
  }

  get current(): EdgemxConfig {
    return this.#current;
  }

  replace(next: EdgemxConfig): void {
    this.#current = next;
  }
}

/** What a reload did: applied, or refused with why (the running configuration then stays). */
export type ReloadOutcome = { ok: true; path: string } | { ok: false; path: string | null; problems: readonly string[] };
