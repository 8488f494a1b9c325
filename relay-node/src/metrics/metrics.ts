// The relay's Prometheus metrics (prom-client), what docs/operations.md lists: one Registry per relay,
// never prom-client's global one, since the tests and benchmarks start several relays in one process.
// The parts that count are handed this object (null when relay.metrics.enabled is false, so a relay
// without metrics does no counting at all); the pure core never sees it. Every label takes values from
// a closed set (listener, stage, check, reply code, result …), never an address, a name or an id: the
// log lines carry those (log.ts).
//
// What is read rather than counted — the queue, the certificate, the process — is read when scraped
// (a gauge's collect), so it costs nothing between scrapes. Dependency health is probed for each
// scrape by the listener (health.ts), not inferred from traffic, so it is fresh when no mail flows.
import { X509Certificate } from "node:crypto";
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import type { BounceEvent } from "../queue/scheduler.ts";
import type { RecipientResult } from "../queue/deliverer.ts";
import type { QueueEntry } from "../queue/spool.ts";
import type { VerdictSource } from "../verdict/source.ts";

export type ListenerName = "mx" | "submission" | "submissions";

/** Where in the SMTP dialogue: the connection, then the command being answered (RFC 5321 §4.1). */
export type Stage = "connect" | "helo" | "starttls" | "auth" | "mail" | "rcpt" | "data" | "other";

/** The services a configuration may depend on (health.ts probes those it uses). */
export const DEPENDENCIES = ["dns", "clamd", "rspamd", "redis", "verdict_api"] as const;
export type Dependency = (typeof DEPENDENCIES)[number];

/**
 * Where a recipient went: the configured next hop of our domains, the Worker's report intake (our report
 * addresses with reports.intakeUrl), the smarthost (relay.outbound.relayHost), or other domains' MX hosts.
 */
export type NextHopLabel = "maildir" | "lmtp" | "smtp" | "reports" | "smarthost" | "remote";

/** Seconds a stage or the judge takes: milliseconds for the checks, up to the slow end of a scan. */
const DECISION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
/** CPU seconds of one verdict: a fraction of a millisecond for a small message, the 10 ms goal (docs/benchmarks.md), a large one's tens. */
const JUDGE_CPU_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1];
/** Seconds from acceptance to delivery: the next hop at once, up to the retries of a day and more. */
const DELIVERY_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 86400, 5 * 86400];

/** What is read at scrape time; set by the relay once the spool and the certificate are there. */
export interface ScrapeSources {
  /** The queued entries (Spool.list). */
  queue: () => readonly QueueEntry[];
  /** The PEM certificate (chain) the listeners serve now; its first certificate is ours. */
  certificate: () => string;
  /** Milliseconds since the epoch (tests pass a fixed clock). */
  now?: () => number;
}

export class RelayMetrics {
  readonly registry = new Registry();
  #sources: ScrapeSources | undefined;

  readonly #sessions = new Counter({
    name: "edgemx_smtp_sessions_total",
    help: "SMTP sessions opened (connections), refused at connect or not",
    labelNames: ["listener"] as const,
    registers: [this.registry],
  });
  readonly #open = new Gauge({
    name: "edgemx_smtp_sessions_open",
    help: "SMTP sessions open now",
    labelNames: ["listener"] as const,
    registers: [this.registry],
  });
  readonly #accepted = new Counter({
    name: "edgemx_messages_accepted_total",
    help: "messages answered 2xx after DATA",
    labelNames: ["listener"] as const,
    registers: [this.registry],
  });
  readonly #refusals = new Counter({
    name: "edgemx_smtp_refusals_total",
    help: "SMTP commands answered 4xx or 5xx, by the stage, the check that refused (protocol: smtp-server's own replies) and the reply code",
    labelNames: ["listener", "stage", "check", "code"] as const,
    registers: [this.registry],
  });
  readonly #stageSeconds = new Histogram({
    name: "edgemx_smtp_stage_seconds",
    help: "time the relay took to decide a stage: the connect and HELO checks, MAIL FROM, each RCPT TO, AUTH, and DATA from the final dot to the reply",
    labelNames: ["listener", "stage"] as const,
    buckets: DECISION_BUCKETS,
    registers: [this.registry],
  });
  readonly #tlsSessions = new Counter({
    name: "edgemx_tls_sessions_total",
    help: "TLS sessions by direction (in: our listeners, out: remote delivery) and protocol version; out with version none: the MX offered no STARTTLS",
    labelNames: ["direction", "version"] as const,
    registers: [this.registry],
  });
  readonly #auth = new Counter({
    name: "edgemx_auth_total",
    help: "AUTH attempts on the submission listeners by result: pass, failed, locked (login throttle), temporary (the user check could not decide)",
    labelNames: ["result"] as const,
    registers: [this.registry],
  });
  readonly #judgeSeconds = new Histogram({
    name: "edgemx_judge_seconds",
    help: "wall time from asking the judge (in-process or the verdict API) to its verdict, DNS waits and waiting for a judge thread included, by judge and action (error: no verdict)",
    labelNames: ["judge", "action"] as const,
    buckets: DECISION_BUCKETS,
    registers: [this.registry],
  });
  readonly #judgeCpuSeconds = new Histogram({
    name: "edgemx_judge_cpu_seconds",
    help: "CPU time of one verdict in a judge thread (relay.threads > 0: the thread's own CPU over the message, process.threadCpuUsage), by action",
    labelNames: ["action"] as const,
    buckets: JUDGE_CPU_BUCKETS,
    registers: [this.registry],
  });
  readonly #dependencyErrors = new Counter({
    name: "edgemx_dependency_errors_total",
    help: "calls to a dependency that failed in traffic (a scan, a score, a verdict, a DNS query unanswered, a greylisting check in Redis), each answered 451 or as relay.rspamd.onError says",
    labelNames: ["dependency"] as const,
    registers: [this.registry],
  });
  readonly #dependencyUp = new Gauge({
    name: "edgemx_dependency_up",
    help: "1 when a dependency the configuration uses answered its probe at this scrape, else 0",
    labelNames: ["dependency"] as const,
    registers: [this.registry],
  });
  readonly #deliveries = new Counter({
    name: "edgemx_deliveries_total",
    help: "delivery results per recipient and attempt, by next hop (remote: other domains' MX hosts) and result",
    labelNames: ["next_hop", "result"] as const,
    registers: [this.registry],
  });
  readonly #deliveryLatency = new Histogram({
    name: "edgemx_delivery_latency_seconds",
    help: "time from acceptance (spooled) to delivery, per delivered recipient",
    labelNames: ["next_hop"] as const,
    buckets: DELIVERY_BUCKETS,
    registers: [this.registry],
  });
  readonly #dsns = new Counter({
    name: "edgemx_dsns_total",
    help: "delivery status notifications queued (RFC 3464), by action: failed (a bounce) or delayed (a warning)",
    labelNames: ["action"] as const,
    registers: [this.registry],
  });
  readonly #allowlisted = new Counter({
    name: "edgemx_allowlist_spared_total",
    help: "checks passed over because an entry of relay.allow spares them (a finding that would have refused, or greylisting that would have run), by check and what the entry matched (ip, name, helo, sender)",
    labelNames: ["check", "match"] as const,
    registers: [this.registry],
  });
  readonly #outboundPolicy = new Counter({
    name: "edgemx_outbound_tls_policy_total",
    help: "outbound sessions by the TLS policy that applied (tlsa: DANE, sts: MTA-STS, no-policy-found) and the result (success or the RFC 8460 result type), as TLS-RPT counts them",
    labelNames: ["policy", "result"] as const,
    registers: [this.registry],
  });

  constructor() {
    const registers = [this.registry];
    const queueSize: Gauge = new Gauge({
      name: "edgemx_queue_messages",
      help: "messages in the spool",
      registers,
      collect: () => queueSize.set(this.#sources?.queue().length ?? 0),
    });
    const oldest: Gauge = new Gauge({
      name: "edgemx_queue_oldest_message_age_seconds",
      help: "age of the oldest message in the spool; 0 when it is empty",
      registers,
      collect: () => oldest.set(this.#oldestAgeSeconds()),
    });
    const notAfter: Gauge = new Gauge({
      name: "edgemx_tls_certificate_not_after_seconds",
      help: "the end of the validity of the certificate the listeners serve (notAfter), seconds since the epoch",
      registers,
      collect: () => {
        const pem = this.#sources?.certificate();
        if (pem !== undefined) notAfter.set(Date.parse(new X509Certificate(pem).validTo) / 1000);
      },
    });
    // The process's own, under the names Prometheus's client libraries use: CPU per message is
    // rate(process_cpu_seconds_total) / rate(edgemx_messages_accepted_total). prom-client's default
    // metrics are not used: they start an event-loop monitor that nothing stops.
    const cpu: Counter = new Counter({
      name: "process_cpu_seconds_total",
      help: "user and system CPU time of the process, in seconds",
      registers,
      collect: () => {
        const { user, system } = process.cpuUsage();
        cpu.reset();
        cpu.inc((user + system) / 1e6);
      },
    });
    const rss: Gauge = new Gauge({
      name: "process_resident_memory_bytes",
      help: "resident memory of the process, in bytes",
      registers,
      collect: () => rss.set(process.memoryUsage.rss()),
    });
  }

  #oldestAgeSeconds(): number {
    const sources = this.#sources;
    if (sources === undefined) return 0;
    let oldest = Infinity;
    for (const entry of sources.queue()) oldest = Math.min(oldest, entry.createdAt);
    return oldest === Infinity ? 0 : Math.max(0, ((sources.now ?? Date.now)() - oldest) / 1000);
  }

  /** The spool and the certificate, once the relay has them. */
  watch(sources: ScrapeSources): void {
    this.#sources = sources;
  }

  sessionOpened(listener: ListenerName): void {
    this.#sessions.inc({ listener });
    this.#open.inc({ listener });
  }

  sessionClosed(listener: ListenerName): void {
    this.#open.dec({ listener });
  }

  /** How long a stage took, from `startedAt` (performance.now()) until now. */
  stage(listener: ListenerName, stage: Stage, startedAt: number): void {
    this.#stageSeconds.observe({ listener, stage }, (performance.now() - startedAt) / 1000);
  }

  accepted(listener: ListenerName): void {
    this.#accepted.inc({ listener });
  }

  refused(listener: ListenerName, stage: Stage, check: string, code: number): void {
    this.#refusals.inc({ listener, stage, check, code });
  }

  allowlisted(check: string, match: string): void {
    this.#allowlisted.inc({ check, match });
  }

  tlsSession(direction: "in" | "out", version: string): void {
    this.#tlsSessions.inc({ direction, version });
  }

  auth(result: "pass" | "failed" | "locked" | "temporary"): void {
    this.#auth.inc({ result });
  }

  dependencyFailed(dependency: Dependency): void {
    this.#dependencyErrors.inc({ dependency });
  }

  /** The probes' findings: null answers, a string says why not. */
  dependencies(findings: ReadonlyMap<Dependency, string | null>): void {
    for (const [dependency, problem] of findings) this.#dependencyUp.set({ dependency }, problem === null ? 1 : 0);
  }

  /** One delivery attempt's results; `ageMs` is how long the message has been queued. */
  delivered(results: readonly RecipientResult[], nextHopOf: (rcpt: string) => NextHopLabel, ageMs: number): void {
    for (const result of results) {
      const nextHop = nextHopOf(result.rcpt);
      this.#deliveries.inc({ next_hop: nextHop, result: result.status });
      if (result.status === "delivered") this.#deliveryLatency.observe({ next_hop: nextHop }, ageMs / 1000);
    }
  }

  /** A DSN the scheduler queued; none is made for the null sender. */
  bounced(event: BounceEvent): void {
    if (event.dsnId === null) return;
    this.#dsns.inc({ action: event.recipients.some((r) => r.action === "failed") ? "failed" : "delayed" });
  }

  outboundPolicy(policy: string, result: string): void {
    this.#outboundPolicy.inc({ policy, result });
  }

  /** `call` with its failures counted against `dependency` (a scan or a score that could not be made). */
  countFailures<A extends unknown[], R>(dependency: Dependency, call: (...args: A) => Promise<R>, failed: (result: R) => boolean): (...args: A) => Promise<R> {
    return async (...args) => {
      const result = await call(...args);
      if (failed(result)) this.dependencyFailed(dependency);
      return result;
    };
  }

  /** The verdict source, with each verdict's time (and CPU time, where the judge measures it) and a failed verdict API call counted. */
  timeVerdicts(source: VerdictSource): VerdictSource {
    const judge = source.where === "in-process" ? "in-process" : "api";
    return {
      where: source.where,
      ...(source.threads === undefined ? {} : { threads: source.threads }),
      ask: async (raw, envelope, message) => {
        const startedAt = performance.now();
        const outcome = await source.ask(raw, envelope, message);
        this.#judgeSeconds.observe({ judge, action: outcome.ok ? outcome.verdict.action : "error" }, (performance.now() - startedAt) / 1000);
        if (outcome.ok && outcome.cpuSeconds !== undefined) this.#judgeCpuSeconds.observe({ action: outcome.verdict.action }, outcome.cpuSeconds);
        if (!outcome.ok && judge === "api") this.dependencyFailed("verdict_api");
        return outcome;
      },
      close: () => source.close(),
    };
  }
}

/** How the relay routes its deliveries, for nextHopLabeler. */
export interface DeliveryRoutes {
  localDomains: readonly string[];
  nextHop: "maildir" | "lmtp" | "smtp";
  /** Our report addresses, when they go to the Worker's report intake (reports.intakeUrl); lowercase, as configured now (a reload's). */
  reportAddresses?: () => ReadonlySet<string>;
  /** The smarthost's destination domains, when one is configured; empty: every domain not ours. */
  smarthostDomains?: readonly string[];
}

/**
 * Which way a recipient goes, by the rules deliver/ routes by: our domains to the next hop
 * (route.ts) or, for a report address, the intake (report-intake.ts); other domains to the
 * smarthost where it takes them (smarthost.ts), else to their MX hosts.
 */
export function nextHopLabeler(routes: DeliveryRoutes): (rcpt: string) => NextHopLabel {
  const ours = new Set(routes.localDomains.map((d) => d.toLowerCase()));
  const smarthost = routes.smarthostDomains === undefined ? undefined : new Set(routes.smarthostDomains.map((d) => d.toLowerCase()));
  return (rcpt) => {
    const domain = rcpt.slice(rcpt.lastIndexOf("@") + 1).toLowerCase();
    if (ours.has(domain)) return routes.reportAddresses?.().has(rcpt.toLowerCase()) ? "reports" : routes.nextHop;
    return smarthost !== undefined && (smarthost.size === 0 || smarthost.has(domain)) ? "smarthost" : "remote";
  };
}
