// The relay as one start-able thing: startRelay(config) opens the spool, starts delivery to the next
// hop and the MX listener, and hands back what a caller needs to run and stop it — main.ts (the
// process), scripts/start.ts (`npm start`), and the tests and benchmarks, which start it in-process.
import { readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { dirname, join, resolve } from "node:path";
import { ConfigError } from "../../core/config/load.ts";
import type { EdgemxConfig } from "../../core/config/schema.ts";
import type { Resolver } from "../../core/dns/resolver.ts";
import type { ArcSealKey } from "../../core/arc/seal.ts";
import { createGreylist } from "./greylist/greylist.ts";
import { recipientCalloutFor } from "./smtp/recipient-callout.ts";
import { limitByDestination } from "./deliver/destination-limits.ts";
import { nextHopDeliverer } from "./deliver/next-hop.ts";
import type { TransactionTimeouts } from "./deliver/transaction.ts";
import { remoteDeliverer, type RemoteDeliveryOptions } from "./deliver/remote.ts";
import { routeByDomain } from "./deliver/route.ts";
import { SessionCache, type SessionCacheLimits } from "./deliver/session-cache.ts";
import { smarthostDeliverer, viaRelayHost } from "./deliver/smarthost.ts";
import { REPORTS_TOKEN_ENV, reportIntakeDeliverer, routeReports } from "./deliver/report-intake.ts";
import type { Deliverer } from "./queue/deliverer.ts";
import { deliverBeforeReply } from "./deliver/direct.ts";
import type { MessageDeps } from "./smtp/message.ts";
import { reportAddresses } from "../../core/reports/addresses.ts";
import { openStsPolicyCache } from "./mtasts/cache.ts";
import { openTlsRptStore } from "./tlsrpt/counts.ts";
import { redisTlsRptStore } from "./tlsrpt/shared-counts.ts";
import { fastFailingRedis } from "./redis/client.ts";
import { dkimSignerFor, previousUtcDay, sendTlsReports, startTlsRptTimer, type TlsRptSenderDeps } from "./tlsrpt/sender.ts";
import { dmarcRecorder } from "./dmarcrpt/recorder.ts";
import { batchedDmarcReportStore } from "./dmarcrpt/batched.ts";
import { sendDmarcReports, startDmarcReportTimer, type DmarcReportSenderDeps } from "./dmarcrpt/sender.ts";
import { openDmarcReportStore } from "./dmarcrpt/store.ts";
import { loadDkimKeys } from "./sign/keys.ts";
import { dsnFrom } from "./sign/generated.ts";
import { createRelayResolver } from "./dns/resolver.ts";
import { createVerdictSource } from "./verdict/source.ts";
import { createLogger, type Logger } from "./log/log.ts";
import { startServices } from "./lifecycle.ts";
import { controlSocketPath, startQueueControl } from "./control/control.ts";
import { nextAttemptDelay, startDelivery, type DeliveryOptions, type DeliveryScheduler } from "./queue/scheduler.ts";
import { Spool } from "./queue/spool.ts";
import { takeSpoolLease, type SpoolLost } from "./queue/lease.ts";
import { adoptSpool } from "./queue/adopt.ts";
import { pingClamd, scanWithClamd } from "./scan/clamd.ts";
import { startSpamFilter } from "./spam/spam-filter.ts";
import { startScanListener } from "./scan/endpoint.ts";
import type { ScanOutcome } from "./smtp/decision.ts";
import type { EnqueueRequest } from "./queue/spool.ts";
import { startSubmission, type SubmissionListenerName } from "./submission/start.ts";
import { createMxServer } from "./smtp/mx.ts";
import { dnsblKeys } from "../../core/dnsbl/dnsbl.ts";
import { startForwarding } from "./forward/forwarding.ts";
import { dsnRecipient } from "../../core/srs/forwarding.ts";
import { loadCertificate, rereadCertificate, secureContextOptions, watchCertificate, type Certificate } from "./tls/certificate.ts";
import { loadConfigFile } from "./config/file.ts";
import { ConfigHolder, settingsNeedingRestart, type ReloadOutcome } from "./config/reload.ts";
import { nextHopLabeler, RelayMetrics, type NextHopLabel } from "./metrics/metrics.ts";
import { dependencyProbes } from "./metrics/health.ts";
import { startMetricsListener } from "./metrics/listener.ts";
import { prepareAcmeCertificate } from "./acme/store.ts";
import { startAcmeService, type AcmeService } from "./acme/service.ts";
import { listenOn } from "./net/listen.ts";

export interface RelayOverrides {
  /** Listen here instead of relay.listeners.mx (port 0: a free port, see RunningRelay.port); `reusePort` as relay.listeners.mx.reusePort. */
  listen?: { host?: string; port?: number; reusePort?: boolean };
  logger?: Logger;
  resolver?: Resolver;
  /** Where EDGEMX_VERDICT_TOKEN, EDGEMX_RSPAMD_PASSWORD, EDGEMX_LEARN_TOKEN, EDGEMX_REPORTS_TOKEN and EDGEMX_SCAN_TOKEN are read; process.env by default. */
  env?: NodeJS.ProcessEnv;
  /** Listen for learning here instead of relay.rspamd.learnListener (port 0: a free port, see RunningRelay.learnPort). */
  learnListen?: { host?: string; port?: number };
  /** Serve the scan endpoint here instead of relay.scanListener (port 0: a free port, see RunningRelay.scanPort). */
  scanListen?: { host?: string; port?: number };
  /** Listen here instead of relay.listeners.submission / .submissions (port 0: a free port, see RunningRelay.submissionPorts). */
  submissionListen?: Partial<Record<SubmissionListenerName, { host?: string; port?: number }>>;
  /** The self-signed certificate's folder when relay.tls is absent; default: "tls" beside the spool. */
  selfSignedDir?: string;
  /** Delivery settings (a tighter poll interval in tests, say). */
  delivery?: Partial<Omit<DeliveryOptions, "hostname" | "logger">>;
  /** The next hop's (relay.nextHop, LMTP or SMTP) waits, shorter than RFC 5321's minutes in tests of a hung mailbox host. */
  nextHop?: { timeouts?: TransactionTimeouts };
  /** Remote delivery settings (another MX port and a test CA in tests). */
  remote?: Pick<RemoteDeliveryOptions, "port" | "ca" | "stsPort" | "timeouts">;
  /** Limits of the outbound session cache other than its defaults (a longer idle time in tests that look at a kept session). */
  outboundSessions?: Partial<SessionCacheLimits>;
  /** Serve metrics and health here instead of relay.metrics (port 0: a free port, see RunningRelay.metricsPort). */
  metricsListen?: { host?: string; port?: number };
  /** Answer ACME HTTP-01 challenges here instead of relay.acme.challengeListener (port 0: a free port). */
  acmeChallengeListen?: { host?: string; port?: number };
  /** The file `config` was read from, which a reload reads again (main.ts, `npm start`); without it a reload is refused. */
  configFile?: string;
  /** What the relay runs of the file read again, when not the file as it is (`npm start`'s quickstart replaces DNS and clamd). */
  asRun?: (fromFile: EdgemxConfig) => EdgemxConfig;
  /** The clock DMARC evaluations are counted and their reports sent by (a past day in tests). */
  dmarcReportsNow?: () => number;
}

export interface RunningRelay {
  /** The MX listener's address; null when relay.listeners.mx is disabled. */
  host: string | null;
  port: number | null;
  /** The learn listener's port; null when relay.rspamd.learnListener is not set. */
  learnPort: number | null;
  /** The scan endpoint's port; null when relay.scanListener is not set. */
  scanPort: number | null;
  /** The bound ports of the enabled submission listeners. */
  submissionPorts: Partial<Record<SubmissionListenerName, number>>;
  /** The metrics and health listener's port; null when relay.metrics is disabled or its address could not be listened on. */
  metricsPort: number | null;
  spool: Spool;
  delivery: DeliveryScheduler;
  logger: Logger;
  /** Re-reads the certificate files; new TLS sessions use them. False (and a log line) when they do not fit. */
  reloadCertificate(): boolean;
  /** The ACME service (relay.acme); null without it. */
  acme: AcmeService | null;
  /**
   * SIGHUP, `npm run reload`: re-reads the certificate, then the configuration file, which the
   * sessions that start from now on use (config/reload.ts). A bad file, or one changing a setting
   * that needs a restart, is refused with the field paths (and a log line); the running one stays.
   */
  reload(): ReloadOutcome;
  /**
   * Resolves when another relay took this relay's spool over (it was stopped past its lease, queue/lease.ts),
   * naming it: the spool then refuses new mail (451) and delivery from it has stopped. Never resolves
   * otherwise.
   */
  spoolLost: Promise<SpoolLost>;
  /**
   * Stops taking connections, lets open sessions finish (at most 30 s, then 421), lets deliveries in
   * flight finish, and closes the state stores.
   */
  stop(): Promise<void>;
}

/** The default home of the self-signed certificate: data/tls beside data/spool. */
export function defaultSelfSignedDir(config: EdgemxConfig): string {
  return join(dirname(resolve(config.relay.spool)), "tls");
}

/** The in-process judge's ARC sealing key (RFC 8617 §5.1); without it accepted mail is not sealed. */
function readArcSealKey(config: EdgemxConfig, logger: Logger): ArcSealKey | undefined {
  const path = config.relay.arcSealKeyFile;
  if (path !== undefined) return { privateKey: readFileSync(path, "utf8") };
  if (config.judge.arcSeal.enabled && config.relay.verdict.url === undefined) {
    logger.warn({ event: "arc" }, "judge.arcSeal is enabled but relay.arcSealKeyFile is not set: accepted mail is not ARC-sealed");
  }
  return undefined;
}

/** Says at start when the configured resolver does not answer: every DNS-backed check would then 451. */
async function probeResolver(config: EdgemxConfig, resolver: Resolver, logger: Logger): Promise<void> {
  const probe = await resolver.query(config.hostname, "A");
  if (probe.status === "servfail" || probe.status === "timeout") {
    const { host, port } = config.relay.resolver;
    logger.warn(
      { event: "dns", resolver: `${host}:${port}`, detail: probe.detail },
      "the resolver does not answer: DNS-backed checks answer 451 until it does",
    );
  }
}

/** The virus scan, or none at all — said loudly at start, since a relay without it accepts viruses. */
async function virusScanner(config: EdgemxConfig, logger: Logger): Promise<(message: Uint8Array) => Promise<ScanOutcome>> {
  const { enabled, host, port, timeoutMs } = config.relay.clamd;
  if (!enabled) {
    logger.warn({ event: "clamd" }, "relay.clamd.enabled is false: messages are NOT scanned for viruses");
    return () => Promise.resolve({ status: "skipped" });
  }
  const settings = { host, port, timeoutMs };
  const ping = await pingClamd(settings);
  if (ping.status === "error") logger.warn({ event: "clamd", detail: ping.detail }, "clamd does not answer: every message is answered 451 until it does");
  return (message) => scanWithClamd(message, settings);
}

/** The DKIM signer of the mail the relay writes itself (TLS and DMARC reports, DSNs); a key that does not load leaves them unsigned (and says so). */
function generatedMailSignerFor(config: EdgemxConfig, env: NodeJS.ProcessEnv, logger: Logger): TlsRptSenderDeps["sign"] {
  try {
    return dkimSignerFor(loadDkimKeys(config, env));
  } catch (err) {
    logger.warn({ event: "dkim", err: (err as Error).message }, "the DKIM keys did not load: TLS and DMARC reports and DSNs are sent unsigned");
    return undefined;
  }
}

/**
 * How the MX puts an accepted message on disk: with `relay.nextHop.deliverBeforeReply` (a Maildir next
 * hop), a message whose recipients all go to the Maildir is delivered before the 250 (deliver/direct.ts);
 * any other goes to the spool.
 */
function mxEnqueue(
  config: EdgemxConfig,
  deps: {
    deliverer: Deliverer;
    nextHopOf: (rcpt: string) => NextHopLabel;
    enqueue: (request: EnqueueRequest) => Promise<string>;
    assertHeld: () => void;
    logger: Logger;
    metrics: RelayMetrics | null;
  },
): MessageDeps["enqueue"] {
  const { nextHop } = config.relay;
  if (nextHop.type !== "maildir" || !nextHop.deliverBeforeReply) return deps.enqueue;
  return deliverBeforeReply({
    isDirect: (rcpt) => deps.nextHopOf(rcpt) === "maildir",
    deliver: deps.deliverer,
    enqueue: deps.enqueue,
    assertHeld: deps.assertHeld,
    onAttempt: ({ id, results, done, elapsedMs, session }) => {
      deps.metrics?.delivered(results, deps.nextHopOf, elapsedMs);
      // The scheduler's line for an attempt, the first one, with the session whose story it continues.
      deps.logger.info({ ...(session === undefined ? {} : { session }), queueId: id, attempt: 1, results, done, beforeReply: true }, "delivery attempt");
    },
  });
}

/**
 * Where mail for our own domains goes: the next hop (the mailbox host); with reports.intakeUrl, mail
 * for our report addresses — those of the configuration current at delivery, a reload's — goes to the
 * Worker's report intake instead (deliver/report-intake.ts).
 */
function localDeliverer(configs: ConfigHolder, env: NodeJS.ProcessEnv, timeouts: TransactionTimeouts | undefined): Deliverer {
  const config = configs.current;
  const nextHop = nextHopDeliverer(config, timeouts);
  const url = config.reports.intakeUrl;
  if (url === undefined) return nextHop;
  const token = env[REPORTS_TOKEN_ENV];
  if (!token) throw new Error(`reports.intakeUrl is set, but ${REPORTS_TOKEN_ENV} (the report intake's token) is not in the environment`);
  return routeReports(() => reportAddresses(configs.current), reportIntakeDeliverer({ url, token }), nextHop);
}

export async function startRelay(config: EdgemxConfig, overrides: RelayOverrides = {}): Promise<RunningRelay> {
  const logger = overrides.logger ?? createLogger(config.relay.logLevel);
  // Every service is registered as soon as it runs; disposing them stops them in reverse order: the
  // listeners first (sessions finish, at most 30 s, then 421), then what their sessions used, the
  // deliveries in flight before the stores they write — on stop(), and after a start that fails part-way.
  const { started, services } = await startServices(
    (services) => startRelayServices(config, overrides, logger, services),
    (err) => logger.error({ event: "stop", err }, "could not close what the failed start had opened"),
  );
  return {
    ...started,
    async stop() {
      await services.disposeAsync();
      logger.info({ event: "stop" }, "relay stopped");
    },
  };
}

/** Starts the relay's services one after the other, each registered on `services` right after it starts. */
async function startRelayServices(
  config: EdgemxConfig,
  overrides: RelayOverrides,
  logger: Logger,
  services: AsyncDisposableStack,
): Promise<Omit<RunningRelay, "stop">> {
  const env = overrides.env ?? process.env;
  // Keys of the DNSBL zones that want one (Spamhaus DQS): a missing one stops the start, naming the field.
  const blocklistKeys = dnsblKeys(config.connection.dnsbl, (name) => env[name]);
  // One registry per relay; without relay.metrics nothing is counted at all (metrics/metrics.ts).
  const metrics = config.relay.metrics.enabled ? new RelayMetrics() : null;
  const resolver = overrides.resolver ?? createRelayResolver(config.relay.resolver, { unanswered: () => metrics?.dependencyFailed("dns") });
  await probeResolver(config, resolver, logger);
  // The judge pool (relay.threads, default one thread per core); a resolver handed in keeps the judge on this thread, where it can be used.
  const judgeThreads = overrides.resolver === undefined ? (config.relay.threads ?? availableParallelism()) : 0;
  const judge = createVerdictSource(config, resolver, env, readArcSealKey(config, logger), judgeThreads);
  const verdicts = metrics?.timeVerdicts(judge) ?? judge;
  services.defer(() => verdicts.close());
  let certificate: Certificate = config.relay.acme
    ? prepareAcmeCertificate(config, logger)
    : loadCertificate(config, overrides.selfSignedDir ?? defaultSelfSignedDir(config), logger);
  const scanner = await virusScanner(config, logger);
  const scan = metrics?.countFailures("clamd", scanner, (outcome) => outcome.status === "error") ?? scanner;

  // Before the spool opens: a forwarding alias without its SRS secret stops the start here.
  const forwarding = startForwarding(config, env, logger);
  const srsSecrets = forwarding.srsSecrets;
  // One relay delivers from a spool; a dead relay's is taken over with `npm run queue -- adopt` (queue/lease.ts).
  // A relay that finds its spool taken (it was stopped past its lease) takes no more mail into it and
  // delivers nothing more from it (the spool refuses, queue/spool.ts); main.ts then exits for a restart.
  let stopDeliveryOnLostLease = (): void => {};
  let spoolLostTo: (lost: SpoolLost) => void = () => {};
  const spoolLost = new Promise<SpoolLost>((resolve) => (spoolLostTo = resolve));
  const lease = takeSpoolLease(config.relay.spool, {
    onLost: (lost) => {
      logger.error({ event: "spool", spool: config.relay.spool, by: lost.by }, `${lost.message}; new mail is answered 451 and delivery from it stops`);
      stopDeliveryOnLostLease();
      spoolLostTo(lost);
    },
    onRenewalError: (err) => logger.warn({ event: "spool", err: (err as Error).message }, "the spool's lease could not be renewed: tried again in 15 s"),
  });
  services.defer(() => lease.release());
  const spool = await Spool.open(config.relay.spool, { assertHeld: () => lease.assertHeldCheaply() });
  if (spool.recovery.entries > 0 || spool.recovery.quarantined.length > 0) logger.info({ event: "spool", ...spool.recovery }, "spool recovered");
  // Our domains go to the next hop, others to remote delivery (deliver/route.ts: a seam until it exists).
  const besideSpool = (name: string): string => join(dirname(resolve(config.relay.spool)), name);
  // With Redis (relay.store), the relays count TLS sessions together and one sends each report (tlsrpt/shared-counts.ts).
  const sharedState = config.relay.store;
  const tlsRpt =
    sharedState.type === "redis"
      ? redisTlsRptStore(fastFailingRedis(sharedState.url), (err) =>
          logger.warn({ event: "tlsrpt", err: (err as Error).message }, "Redis did not answer: a TLS session was not counted for TLS-RPT"),
        )
      : openTlsRptStore(config.relay.outbound.tlsRptPath ?? besideSpool("tlsrpt.sqlite"));
  services.defer(() => tlsRpt.close());
  const stsCache = openStsPolicyCache(config.relay.outbound.mtaStsCachePath ?? besideSpool("mta-sts.sqlite"));
  services.defer(() => stsCache.close());
  // What each new session (and the report routing at delivery) starts with: the configuration the
  // relay started with, until a reload replaces it.
  const configs = new ConfigHolder(config);
  // Per destination domain: a bounded number of sessions, and a rest after a connection failure (deliver/destination-limits.ts).
  const backoff = overrides.delivery?.backoff ?? ((attempt: number) => nextAttemptDelay(attempt, () => 0));
  // Outbound SMTP sessions kept open for the next message to the same next hop (deliver/session-cache.ts);
  // closed after the deliveries in flight have ended (registered before them, so disposed after).
  const sessions = new SessionCache({ maxOpenPerDestination: config.relay.outbound.maxSessionsPerDomain, ...overrides.outboundSessions });
  services.defer(() => sessions.close());
  const direct = remoteDeliverer(config, resolver, {
    sessions,
    dnssecProbeName: config.relay.outbound.dnssecProbeName,
    stsCache,
    tlsRpt,
    logger,
    metrics,
    ...overrides.remote,
  });
  // A smarthost, where configured, takes its domains (or all) instead of their MX hosts (deliver/smarthost.ts).
  const relayHost = config.relay.outbound.relayHost;
  const smarthostOptions = {
    sessions,
    ...(overrides.remote?.ca === undefined ? {} : { ca: overrides.remote.ca }),
    ...(overrides.remote?.timeouts ? { timeouts: overrides.remote.timeouts } : {}),
  };
  const outbound =
    relayHost === undefined ? direct : viaRelayHost(relayHost, smarthostDeliverer(relayHost, config.hostname, resolver, env, smarthostOptions), direct);
  const remote = limitByDestination(outbound, {
    maxSessionsPerDomain: config.relay.outbound.maxSessionsPerDomain,
    retryInMs: (attempt) => backoff(attempt) * 1000,
    ...(overrides.delivery?.now ? { now: overrides.delivery.now } : {}),
  });
  const deliverer = routeByDomain(
    config.domains.map((d) => d.name),
    localDeliverer(configs, env, overrides.nextHop?.timeouts),
    remote,
  );
  const nextHopOf = nextHopLabeler({
    localDomains: config.domains.map((d) => d.name),
    nextHop: config.relay.nextHop.type,
    ...(config.reports.intakeUrl === undefined ? {} : { reportAddresses: () => reportAddresses(configs.current) }),
    ...(relayHost === undefined ? {} : { smarthostDomains: relayHost.domains }),
  });
  const signGenerated = generatedMailSignerFor(config, env, logger);
  const delivery = startDelivery(spool, deliverer, {
    concurrency: config.relay.deliveryConcurrency,
    ...overrides.delivery,
    ...(metrics === null
      ? {}
      : {
          onAttempt: (entry, results, now) => metrics.delivered(results, nextHopOf, now - entry.createdAt),
          onBounce: (event) => {
            metrics.bounced(event);
            overrides.delivery?.onBounce?.(event);
          },
        }),
    hostname: config.hostname,
    // DSNs from a postmaster of ours, DKIM-signed like other outbound mail (sign/generated.ts).
    dsnFrom: (mailFrom) => dsnFrom(config.domains, mailFrom),
    // A forwarded copy's DSN goes to the sender its SRS address stands for (docs/forwarding.md).
    ...(srsSecrets === null ? {} : { dsnTo: (mailFrom: string) => dsnRecipient(mailFrom, config, srsSecrets) }),
    signDsn: (message, from, now) => signGenerated?.(message, from.slice(from.lastIndexOf("@") + 1), now),
    logger,
  });
  metrics?.watch({ queue: () => spool.list(), certificate: () => certificate.pair.cert });
  // Deliveries in flight finish (at most 30 s) before the stores they write close.
  services.defer(() => delivery.stop());
  stopDeliveryOnLostLease = () => void delivery.stop();
  /** Queues a message and wakes delivery: for the listeners' accepted mail and the TLS reports. */
  const enqueue = async (request: EnqueueRequest): Promise<string> => {
    const id = await spool.enqueue(request);
    delivery.notify();
    return id;
  };
  // TLS-RPT reports (RFC 8460 §5): daily at 00:15 UTC, or `edgemx queue tlsrpt-send` (docs/outbound.md).
  const tlsRptSender: TlsRptSenderDeps = {
    store: tlsRpt,
    resolver,
    enqueue,
    sign: signGenerated,
    reporter: {
      organization: config.hostname,
      contact: `postmaster@${config.domains[0]!.name}`,
      hostname: config.hostname,
      from: `postmaster@${config.domains[0]!.name}`,
    },
    logger,
  };
  const tlsRptTimer = startTlsRptTimer(tlsRptSender);
  services.defer(() => tlsRptTimer.stop());
  // DMARC aggregate reports (RFC 9990): evaluations counted as mail is judged, the reports sent daily
  // at 00:15 UTC or by `edgemx queue dmarc-send` (docs/reports.md). The store closes after the listeners.
  const dmarcStore = config.relay.dmarcReports.enabled
    ? batchedDmarcReportStore(
        openDmarcReportStore(config.relay.store, config.relay.dmarcReports.path ?? besideSpool("dmarc-reports.sqlite")),
        (error, domain, count) =>
          logger.warn({ event: "dmarc-report", domain, count, err: (error as Error).message }, "DMARC evaluations could not be counted"),
      )
    : null;
  if (dmarcStore !== null) services.defer(() => dmarcStore.close());
  const dmarcSender: DmarcReportSenderDeps | null =
    dmarcStore === null
      ? null
      : {
          store: dmarcStore,
          resolver,
          enqueue,
          sign: signGenerated,
          reporter: tlsRptSender.reporter,
          logger,
          ...(overrides.dmarcReportsNow ? { now: overrides.dmarcReportsNow } : {}),
        };
  if (dmarcSender !== null) {
    const dmarcTimer = startDmarcReportTimer(dmarcSender);
    services.defer(() => dmarcTimer.stop());
  }
  const recordDmarc = dmarcStore === null ? undefined : dmarcRecorder(dmarcStore, () => reportAddresses(configs.current), logger, overrides.dmarcReportsNow);
  // `edgemx queue`, `npm run tls` and `npm run reload` talk to the spool's owner here (docs/queue.md).
  const sendReports = (day?: string) => sendTlsReports(day ?? previousUtcDay(Date.now()), tlsRptSender);
  // `npm run tls` asks the ACME service, which starts after the listeners (below); a reload asked for
  // before the listeners run is refused.
  let acme: AcmeService | null = null;
  let reloadWhenStarted: (() => ReloadOutcome) | null = null;
  const reloadControl = (): ReloadOutcome =>
    reloadWhenStarted?.() ?? { ok: false, path: overrides.configFile ?? null, problems: ["the relay is still starting"] };
  const control = await startQueueControl(controlSocketPath(config.relay.spool), {
    spool,
    delivery,
    sendTlsReports: sendReports,
    ...(dmarcSender === null ? {} : { sendDmarcReports: (day?: string) => sendDmarcReports(dmarcSender, day) }),
    acme: () => acme,
    reload: reloadControl,
    adopt: async (dir) => {
      const adoption = await adoptSpool(dir, spool);
      logger.info({ event: "spool", from: adoption.from, adopted: adoption.moved.length }, "spool of another relay adopted");
      delivery.notify();
      return adoption;
    },
  });
  services.defer(() => control.close());
  // Deliveries are counted in memory and written every few seconds; a write the store refuses is kept
  // for the next one (the log line says how many networks wait), so an outage delays auto-allow only.
  const greylist = config.connection.greylist.enabled
    ? createGreylist(
        { ...config.connection.greylist, store: config.relay.store },
        {
          onFlushError: (err, failure) => logger.warn({ event: "greylist", err, ...failure }, "could not record deliveries towards auto-allow"),
          // Redis is a dependency the metrics know (edgemx_dependency_errors_total); SQLite is a file of the relay's own.
          ...(config.relay.store.type === "redis" && metrics !== null ? { onStoreError: () => metrics.dependencyFailed("redis") } : {}),
        },
      )
    : null;
  if (greylist !== null) services.defer(() => greylist.close());
  const recipientCallout = recipientCalloutFor(config, logger);
  if (recipientCallout !== null) services.defer(() => recipientCallout.close());
  const spam = await startSpamFilter(config, env, logger, overrides.learnListen);
  services.defer(() => spam.close());
  const spamCheck =
    spam.spamCheck === null ? null : (metrics?.countFailures("rspamd", spam.spamCheck, (outcome) => outcome.status === "error") ?? spam.spamCheck);

  const server = createMxServer(configs, {
    logger,
    resolver,
    verdicts,
    scan,
    spamCheck,
    spamtrap: spam.spamtrap,
    blocklist: spam.blocklist,
    dnsblKeys: blocklistKeys,
    greylist,
    recipientCallout,
    forwarding,
    certificate: certificate.pair,
    enqueue: mxEnqueue(config, { deliverer, nextHopOf, enqueue, assertHeld: () => lease.assertHeldCheaply(), logger, metrics }),
    metrics,
    ...(recordDmarc === undefined ? {} : { recordDmarc }),
  });

  const listener = config.relay.listeners.mx;
  let address: { host: string; port: number } | null = null;
  if (listener.enabled) {
    const host = overrides.listen?.host ?? listener.host;
    const port = overrides.listen?.port ?? listener.port;
    let boundPort: number;
    try {
      boundPort = await listenOn(server.server, { host, port, reusePort: overrides.listen?.reusePort ?? listener.reusePort });
    } catch (err) {
      throw new Error(`cannot listen on ${host} port ${port}: ${(err as Error).message}`, { cause: err });
    }
    // Stops taking connections; open sessions finish, at most 30 s, then 421 (smtp/server.ts).
    services.defer(() => new Promise<void>((done) => server.close(done)));
    address = { host, port: boundPort };
    logger.info(
      { event: "listen", listener: "mx", ...address, judge: verdicts.where, judgeThreads: verdicts.threads, tls: certificate.source },
      `MX listening on ${host} port ${address.port}`,
    );
  }

  // Email Routing's scans (relay.scanListener): clamd and rspamd as the MX runs them, behind HTTPS and a token.
  const scanEndpoint = await startScanListener(config, { scan, spamCheck, certificate: certificate.pair, env, logger }, overrides.scanListen);
  if (scanEndpoint !== null) services.defer(() => scanEndpoint.close());

  const submission = await startSubmission(
    configs,
    { logger, verdicts, scan, certificate: certificate.pair, enqueue, metrics },
    env,
    services,
    overrides.submissionListen,
  );

  const reloadCertificate = (): boolean => {
    try {
      certificate = rereadCertificate(certificate);
      server.updateSecureContext(secureContextOptions(certificate.pair));
      submission.updateSecureContext(secureContextOptions(certificate.pair));
      scanEndpoint?.updateSecureContext(secureContextOptions(certificate.pair));
      logger.info({ event: "tls", certPath: certificate.certPath }, "certificate reloaded");
      return true;
    } catch (err) {
      logger.warn(
        { event: "tls", certPath: certificate.certPath, err: (err as Error).message },
        "certificate not reloaded: the files do not make a usable pair; the previous one stays",
      );
      return false;
    }
  };
  if (certificate.source === "configured") services.defer(watchCertificate(certificate, reloadCertificate));
  // ACME (relay.acme): the HTTP-01 responder and the renewal timer; each new certificate goes through reloadCertificate.
  acme = config.relay.acme
    ? await startAcmeService(
        config,
        { logger, reloadCertificate, ...(overrides.acmeChallengeListen ? { listen: overrides.acmeChallengeListen } : {}) },
        services,
      )
    : null;

  // Last, so that a ready relay is one whose listeners all run; stopped first, so a stopping relay is not ready.
  let metricsPort: number | null = null;
  if (metrics !== null) {
    const probes = dependencyProbes(config, resolver, env);
    services.defer(() => probes.close());
    const host = overrides.metricsListen?.host ?? config.relay.metrics.host;
    const port = overrides.metricsListen?.port ?? config.relay.metrics.port;
    try {
      const listener = await startMetricsListener(host, port, metrics, probes, (err) =>
        logger.error({ event: "metrics", err }, "a metrics or health request failed"),
      );
      services.defer(() => listener.close());
      metricsPort = listener.port;
      logger.info(
        { event: "listen", listener: "metrics", host, port: metricsPort },
        `metrics and health on http://${host.includes(":") ? `[${host}]` : host}:${metricsPort}/metrics`,
      );
    } catch (err) {
      // Mail before metrics: the relay runs on, and Prometheus's `up` for it turns 0 (docs/operations.md).
      logger.warn({ event: "metrics", host, port, err: (err as Error).message }, `metrics and health are not served: cannot listen on ${host} port ${port}`);
    }
  }

  const reload = (): ReloadOutcome => {
    reloadCertificate();
    const path = overrides.configFile ?? null;
    const refuse = (problems: readonly string[]): ReloadOutcome => {
      logger.warn({ event: "reload", config: path, problems }, "configuration not reloaded: the running one stays");
      return { ok: false, path, problems };
    };
    if (path === null) return refuse(["this relay was started without a configuration file: there is nothing to read again"]);
    let next: EdgemxConfig;
    try {
      const fromFile = loadConfigFile(path);
      next = overrides.asRun?.(fromFile) ?? fromFile;
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      return refuse(err.problems);
    }
    const needRestart = settingsNeedingRestart(configs.current, next);
    if (needRestart.length > 0) return refuse(needRestart.map((setting) => `${setting}: changed, and needs a restart`));
    configs.replace(next);
    server.applyLimits(next.relay.limits);
    submission.applyLimits(next.relay.limits);
    logger.level = next.relay.logLevel;
    logger.info({ event: "reload", config: path }, "configuration reloaded: new sessions use it");
    return { ok: true, path };
  };
  reloadWhenStarted = reload;

  return {
    host: address?.host ?? null,
    port: address?.port ?? null,
    learnPort: spam.learnListener?.port ?? null,
    scanPort: scanEndpoint?.port ?? null,
    submissionPorts: submission.ports,
    metricsPort,
    spool,
    delivery,
    logger,
    reloadCertificate,
    acme,
    reload,
    spoolLost,
  };
}
