// `npm run bench -- mx`: inbound SMTP, messages per second and server CPU per message, for 10 KiB
// DKIM-signed messages over many concurrent sessions, in one run for:
//   - Postfix's smtp-sink, the protocol ceiling (accepts and forgets);
//   - Postfix itself (a private instance, as root) with its fsynced queue, no checks;
//   - Haraka (npm, installed into a temp folder at bench time) with its plugins that do what
//     edgemx's checks do, once with a discard queue and once with its durable (fsynced) outbound
//     queue delivering to a second smtp-sink;
//   - the edgemx relay (relay-node/src/main.ts, a child process) with every check of issue 4 on,
//     the in-process judge, the fsynced spool and Maildir delivery, metrics off; without clamd (the
//     comparison) and, when clamd is installed, with it; and once more with its metrics on
//     (relay.metrics), scraped every few seconds as Prometheus would, for what counting costs.
// DNS is the test harness (Knot + unbound) on loopback. The load comes from a separate process
// (bench/support/smtp-load.ts) bound to 127.0.0.11, the harness's mail.sender.test, so SPF, DKIM,
// DMARC, FCrDNS, HELO and the DNSBL all pass; every server must answer 250 to every message, or the
// run fails. CPU is utime + stime of the server's process tree from /proc, before and after the
// measured load (and, for servers that deliver after accepting, after their queue drained).
import { fork, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, cpus, totalmem } from "node:os";
import { basename, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { clientNetwork } from "../core/greylist/greylist.ts";
import { SqliteGreylistStore } from "../relay-node/src/greylist/store.ts";
import { parseConfig } from "../core/config/load.ts";
import type { EdgemxConfig } from "../core/config/schema.ts";
import { startHarness, type Harness } from "../test/harness/index.ts";
import { findProgram, freePort } from "../test/harness/process.ts";
import { startClamd, type ClamdService } from "../test/harness/services.ts";
import { CLAM_EXE } from "../test/harness/clamd.ts";
import { TEST_DNS } from "../test/harness/zones.ts";
import { HARAKA_PLUGINS, installHaraka, writeHarakaInstance, type HarakaInstall } from "./support/haraka.ts";
import { sleep, spawnLogged, stopChild, waitForGreeting, waitUntil } from "./support/child.ts";
import { buildMxMessage } from "./support/mx-message.ts";
import { postfixAvailable, postfixUser, postfixVersion, startPostfix, writePostfixInstance } from "./support/postfix.ts";
import { busiestThreadSeconds, childrenNamed, sumTreeCpuSeconds, treeCpuSeconds, treeThreadCpuSeconds } from "./support/proc-tree.ts";
import { loadAverage, phaseProblems } from "./support/report.ts";
import { STEADY_STATE, onlyFlag, optionsOrUsage, wholeFlagIn } from "./support/options.ts";
import { measureMetricsCost, type MetricsCost } from "./support/metrics-cost.ts";
import { mainThreadProfile, profileSummary } from "./support/profile.ts";
import { scratchChoice, scratchDir, type ScratchChoice } from "./support/scratch-fs.ts";
import type { LoadTask, PhaseResult } from "./support/smtp-load.ts";

const REPO_ROOT = fileURLToPath(new URL("../", import.meta.url));
const RELAY_MAIN = join(REPO_ROOT, "relay-node/src/main.ts");
const SHARED_PORT_RELAYS = fileURLToPath(new URL("./support/shared-port-relays.ts", import.meta.url));
const LOAD_GENERATOR = fileURLToPath(new URL("./support/smtp-load.ts", import.meta.url));

const { sender, dnsbl } = TEST_DNS;
const CLIENT_IP = sender.authorizedIp;
const HOSTNAME = "mx.example.org";
const DOMAIN = "example.org";
const RECIPIENT = `user@${DOMAIN}`;
const MAIL_FROM = `alice@${sender.domain}`;
const MESSAGE_BYTES = 10 * 1024;
/** Issue 4's figure for Postfix smtpd with its fsynced queue (2 cores, 10 KB, 40 sessions): the reference when Postfix is not measured. */
const POSTFIX_DURABLE_CPU_MS = 1.81;
/** The goal: edgemx at least this many times Haraka's rate. */
const GOAL_VS_HARAKA = 1.5;
/** Issue 17's goals, by msg/s in the same run: edgemx on every core against Postfix's fsynced queue and against Haraka. */
const GOAL_RATE_VS_POSTFIX = 1.2;
const GOAL_RATE_VS_HARAKA = 2.5;
/** Servers that deliver after accepting get this long to drain their queue before CPU is read. */
const DRAIN_LIMIT_MS = 120_000;
const START_LIMIT_MS = 60_000;

const USAGE = `usage: npm run bench -- mx [--seconds N] [--warmup N] [--sessions N] [--per-session N]
                            [--haraka-dir DIR] [--haraka-nodes N] [--no-clamd] [--only LIST] [--fs KIND] [--keep] [--profile]
                            [--compare DIR [--pairs N]]

  --seconds N      measured load per server, whole seconds (default ${STEADY_STATE.seconds})
  --warmup N       unmeasured load per server before it, whole seconds (default ${STEADY_STATE.warmup}: the relay's
                   optimizing compiler is busy for about that long, docs/benchmarks.md)
  --sessions N     concurrent SMTP sessions (default 40)
  --per-session N  messages per connection before QUIT and a new connection (default 20)
  --haraka-dir DIR install Haraka there, or reuse the install found there (default: a temp folder)
  --haraka-nodes N Haraka's cluster workers (smtp.ini nodes; default 0: unset, a master and one worker)
  --no-clamd       skip the row with clamd
  --only LIST      only these rows, comma-separated: sink, postfix, postfix-maildir, haraka, haraka-durable, edgemx,
                   edgemx-pool, edgemx-main-thread, edgemx-processes, edgemx-spool, edgemx-metrics, edgemx-clamd
  --fs KIND        where the queues and mailboxes live: ext4-journal (default: a fresh ext4 with a
                   journal on a loop device, as root; else the temp folder) or tmp (the temp folder)
  --keep           keep the temp folder (configurations, server logs) and say where it is
  --profile        afterwards, run the relay once more under node --cpu-prof and print its top costs (with its
                   metrics on when the rows chosen have edgemx-metrics and not edgemx)
  --compare DIR    after each edgemx row, a row of the relay of another checkout of this repository (a git
                   worktree of a change, say: DIR/relay-node/src/main.ts) with the same configuration, and
                   per pair its ratios to this checkout's row: the machine's load moves from minute to minute,
                   so a change is judged by rows that ran one after the other
  --pairs N        with --compare, that many alternating pairs (default 1, at most 10)`;

interface Options {
  seconds: number;
  warmup: number;
  sessions: number;
  perSession: number;
  harakaDir: string | undefined;
  harakaNodes: number;
  clamd: boolean;
  only: Set<string> | undefined;
  fs: ScratchChoice;
  keep: boolean;
  profile: boolean;
  /** Another checkout's relay entry (DIR/relay-node/src/main.ts), for --compare. */
  compare: { dir: string; main: string } | undefined;
  pairs: number;
}

const ROWS = [
  "sink",
  "postfix",
  "postfix-maildir",
  "haraka",
  "haraka-durable",
  "edgemx",
  "edgemx-pool",
  "edgemx-main-thread",
  "edgemx-processes",
  "edgemx-spool",
  "edgemx-metrics",
  "edgemx-clamd",
] as const;
/** How often the metrics row's relay is scraped: Prometheus's default interval is 60 s, 15 s is common. */
const SCRAPE_EVERY_MS = 5_000;

function parseOptions(args: string[]): Options {
  const { values } = parseArgs({
    args,
    options: {
      seconds: { type: "string", default: STEADY_STATE.seconds },
      warmup: { type: "string", default: STEADY_STATE.warmup },
      sessions: { type: "string", default: "40" },
      "per-session": { type: "string", default: "20" },
      "haraka-dir": { type: "string" },
      "haraka-nodes": { type: "string", default: "0" },
      "no-clamd": { type: "boolean", default: false },
      only: { type: "string" },
      fs: { type: "string", default: "ext4-journal" },
      keep: { type: "boolean", default: false },
      profile: { type: "boolean", default: false },
      compare: { type: "string" },
      pairs: { type: "string", default: "1" },
    },
  });
  const only = values.only === undefined ? undefined : onlyFlag(values.only, ROWS);
  const compare = values.compare === undefined ? undefined : compareFlag(values.compare);
  if (compare !== undefined && only !== undefined && !only.has("edgemx")) throw new Error("--compare pairs its rows with the edgemx row: add edgemx to --only");
  if (compare === undefined && values.pairs !== "1") throw new Error("--pairs needs --compare");
  return {
    seconds: wholeFlagIn("seconds", values.seconds, 1, 600),
    warmup: wholeFlagIn("warmup", values.warmup, 1, 120),
    sessions: wholeFlagIn("sessions", values.sessions, 1, 400),
    perSession: wholeFlagIn("per-session", values["per-session"], 1, 100_000),
    harakaDir: values["haraka-dir"],
    harakaNodes: wholeFlagIn("haraka-nodes", values["haraka-nodes"], 0, 64),
    clamd: !values["no-clamd"],
    only,
    fs: scratchChoice(values.fs),
    keep: values.keep,
    profile: values.profile,
    compare,
    pairs: wholeFlagIn("pairs", values.pairs, 1, 10),
  };
}

/** --compare's checkout: a folder with the relay's entry where this checkout has it. */
function compareFlag(text: string): { dir: string; main: string } {
  const dir = resolve(text);
  const main = join(dir, relative(REPO_ROOT, RELAY_MAIN));
  if (!existsSync(main)) throw new Error(`--compare wants another checkout of this repository, with ${relative(REPO_ROOT, RELAY_MAIN)}; ${main} is missing`);
  return { dir, main };
}

/** The name of the edgemx row of `pair` (1 is the row the goals are judged by) and of --compare's row beside it. */
function pairRowNames(pair: number, compareDir: string): { own: string; other: string } {
  return { own: pair === 1 ? "edgemx" : `edgemx, pair ${pair}`, other: `edgemx of ${basename(compareDir)}, pair ${pair}` };
}

// ---------------------------------------------------------------------------------------------------
// Servers

interface Server {
  /** The row's name. */
  name: string;
  /** What runs, for the notes under the table. */
  description: string;
  port: number;
  /** The process whose tree's CPU is the server's. */
  pid: number;
  /** Helpers whose CPU is shown beside the server's but not in it (a downstream sink, clamd). */
  helperPids: () => number[];
  /** Waits until everything accepted so far has been delivered (for servers that deliver); resolves with the seconds it took. */
  drain: (accepted: number) => Promise<number>;
  stop: () => Promise<void>;
}

/** Polls `count` until it reaches `target`; the seconds it took. Throws past DRAIN_LIMIT_MS. */
function waitForCount(what: string, count: () => number, target: number): Promise<number> {
  return waitUntil(
    () => `${what}: ${count()} of ${target}`,
    () => count() >= target,
    DRAIN_LIMIT_MS,
  );
}

async function startSink(dir: string, name: string): Promise<{ child: ChildProcess; port: number }> {
  const program = findProgram("smtp-sink");
  if (program === undefined)
    throw new Error("smtp-sink is not installed; on Debian: apt-get install -y postfix (debconf: No configuration; the service need not run)");
  const port = await freePort();
  const log = join(dir, `${name}.log`);
  // -u: the user to run as, required as root; -m 1000: concurrent connections; backlog 1000.
  const user = process.getuid?.() === 0 ? ["-u", "nobody"] : [];
  const child = spawnLogged(program, [...user, "-m", "1000", `127.0.0.1:${port}`, "1000"], log);
  await waitForGreeting(child, "127.0.0.1", port, log, START_LIMIT_MS);
  return { child, port };
}

async function sinkServer(dir: string): Promise<Server> {
  const { child, port } = await startSink(dir, "smtp-sink");
  return {
    name: "Postfix smtp-sink",
    description: "Postfix smtp-sink: the protocol ceiling, accepts every message and keeps nothing",
    port,
    pid: child.pid!,
    helperPids: () => [],
    drain: () => Promise.resolve(0),
    stop: () => stopChild(child),
  };
}

async function harakaServer(dir: string, install: HarakaInstall, harness: Harness, queue: "discard" | "durable", nodes: number): Promise<Server> {
  const sink = queue === "durable" ? await startSink(dir, "haraka-downstream-sink") : undefined;
  const port = await freePort();
  const instance = writeHarakaInstance(install, {
    port,
    dnsPort: harness.dnsPort,
    clientIp: CLIENT_IP,
    hostname: HOSTNAME,
    domain: DOMAIN,
    senderDomain: sender.domain,
    dnsblZone: dnsbl.zone,
    queue: sink ? { type: "durable", sinkPort: sink.port } : { type: "discard" },
    nodes,
    logLevel: "notice",
  });
  rmSync(instance.queueDir, { recursive: true, force: true });
  mkdirSync(instance.queueDir, { recursive: true });
  const log = join(dir, `haraka-${queue}.log`);
  const child = spawnLogged(process.execPath, ["--require", instance.preload, install.bin, "-c", install.dir], log, { cwd: install.dir, env: instance.env });
  try {
    await waitForGreeting(child, "127.0.0.1", port, log, START_LIMIT_MS);
  } catch (err) {
    await stopChild(child);
    if (sink) await stopChild(sink.child);
    throw err;
  }
  // Queue files are named without a leading dot once complete; delivered ones are removed.
  const queued = (): number => readdirSync(instance.queueDir).filter((name) => !name.startsWith(".") && !name.startsWith("error.")).length;
  const plugins = [...HARAKA_PLUGINS].join(", ");
  return {
    name: queue === "discard" ? `Haraka ${install.version}, discard` : `Haraka ${install.version}, durable`,
    description:
      queue === "discard"
        ? `Haraka ${install.version} (${nodes === 0 ? "smtp.ini nodes unset: its master and one worker process" : `${nodes} cluster workers`}; log level notice, to a file), plugins ${plugins}, then a verification plugin, then queue/discard. DNS through the harness's unbound and the client counted as public by a preload (see bench/support/haraka.ts)`
        : `Haraka ${install.version}, the same plugins, then its outbound queue (each file fsynced, then renamed) delivering by SMTP to a second smtp-sink (its CPU under "helpers")`,
    port,
    pid: child.pid!,
    helperPids: () => (sink ? [sink.child.pid!] : []),
    drain: async () => (sink ? waitForCount("Haraka's outbound queue", () => (queued() === 0 ? 1 : 0), 1) : 0),
    async stop() {
      await stopChild(child);
      if (sink) await stopChild(sink.child);
    },
  };
}

/** Where the Postfix row puts what it accepted: the discard transport, or a Maildir as edgemx's row does. */
type PostfixDelivery = "discard" | "maildir";

/**
 * main.cf lines for Postfix's Maildir row: the domain becomes a virtual mailbox domain, and virtual(8)
 * writes every recipient's mail to one Maildir (a mailbox path that ends in "/" is a Maildir; virtual(8)
 * writes tmp/, fsyncs, links into new/), as the postfix user, which owns the mail folder.
 */
function postfixMaildirMain(mailBase: string): string[] {
  const { uid, gid } = postfixUser();
  mkdirSync(mailBase, { recursive: true });
  chownSync(mailBase, uid, gid);
  return [
    "mydestination =",
    `virtual_mailbox_domains = ${DOMAIN}`,
    `virtual_mailbox_base = ${mailBase}`,
    "virtual_mailbox_maps = static:Maildir/",
    `virtual_uid_maps = static:${uid}`,
    `virtual_gid_maps = static:${gid}`,
    `virtual_minimum_uid = ${uid}`,
    "virtual_transport = virtual",
  ];
}

async function postfixServer(dir: string, delivery: PostfixDelivery): Promise<Server> {
  const folder = mkdtempSync(join(dir, "postfix-"));
  const port = await freePort();
  const mailBase = join(folder, "mail");
  const instance = writePostfixInstance(folder, port, HOSTNAME, DOMAIN, delivery === "maildir" ? postfixMaildirMain(mailBase) : []);
  const { child, stop } = await startPostfix(instance, port, join(folder, "start-fg.log"), START_LIMIT_MS);
  const maildirNew = join(mailBase, "Maildir", "new");
  const delivered = (): number => (existsSync(maildirNew) ? readdirSync(maildirNew).length : 0);
  return {
    name: delivery === "discard" ? "Postfix smtpd, fsynced queue" : "Postfix smtpd, fsynced queue, Maildir",
    description: `Postfix ${postfixVersion()} itself, a private instance: smtpd → cleanup → queue file fsynced before 250 → qmgr → ${delivery === "discard" ? "the discard transport" : "virtual(8), which writes each message into a Maildir (fsynced) as edgemx's row does"}; no checks (Postfix's resolver is the C library's, which cannot ask the harness), no peer name lookup; its log in a file`,
    port,
    pid: child.pid!,
    helperPids: () => [],
    drain: async (accepted) =>
      delivery === "discard"
        ? waitForCount("Postfix's queue", () => (instance.queued() === 0 ? 1 : 0), 1)
        : waitForCount("Postfix's Maildir deliveries", delivered, accepted),
    stop,
  };
}

/** The relay's configuration: every check of issue 4 on, against the harness; metrics on `metricsPort`, or off. */
function relayConfig(
  dir: string,
  port: number,
  dnsPort: number,
  clamd: ClamdService | undefined,
  metricsPort: number | undefined,
  threads: number | undefined,
  maildir = join(dir, "Maildir"),
  reusePort = false,
  threadsFromBytes?: number,
  deliverBeforeReply = true,
): unknown {
  return {
    hostname: HOSTNAME,
    domains: [{ name: DOMAIN, mx: [HOSTNAME], mailboxes: [RECIPIENT.split("@")[0]] }],
    connection: {
      dnsbl: { action: "reject", zones: [{ zone: dnsbl.zone }] },
      fcrdns: { action: "reject", dynamicPatterns: ["(^|[.-])(dyn|dynamic|dhcp|dialup|ppp|pool|cable|dsl|adsl)[0-9.-]", "\\d+[.-]\\d+[.-]\\d+[.-]\\d+"] },
      helo: { action: "reject" },
      sender: { action: "reject" },
      // The defaults (300 s delay, auto-allow after 5 delivered messages); the client's network is
      // seeded as auto-allowed before the start.
      greylist: { enabled: true },
    },
    relay: {
      listeners: { mx: { host: "127.0.0.1", port, reusePort }, submission: { enabled: false }, submissions: { enabled: false } },
      resolver: { host: "127.0.0.1", port: dnsPort, timeoutMs: 3000 },
      store: { type: "sqlite", path: join(dir, "greylist.sqlite") },
      clamd: clamd ? { enabled: true, host: clamd.host, port: clamd.port, timeoutMs: 5000 } : { enabled: false },
      nextHop: { type: "maildir", path: maildir, deliverBeforeReply },
      spool: join(dir, "spool"),
      // Every session of the benchmark comes from one address: the per-address bound (default 20) must let 40 in.
      limits: { maxConnections: 500, maxConnectionsPerIp: 1000 },
      logLevel: "info",
      // The DNS health probe asks this name: the harness's resolver serves only its test zones.
      outbound: { dnssecProbeName: sender.domain },
      metrics: metricsPort === undefined ? { enabled: false } : { enabled: true, host: "127.0.0.1", port: metricsPort },
      // Unset: the default, a judge thread per core.
      ...(threads === undefined ? {} : { threads }),
      // Unset: the default, messages of 64 KiB and more to the pool (this benchmark's are smaller).
      ...(threadsFromBytes === undefined ? {} : { threadsFromBytes }),
    },
  };
}

/** Reads /metrics every SCRAPE_EVERY_MS, as Prometheus would; the relay's CPU for it is in its row. */
function scrapeEvery(url: string): () => void {
  const timer = setInterval(() => {
    fetch(url).then(
      (response) => response.text(),
      (err: unknown) => console.error(`scrape of ${url} failed: ${(err as Error).message}`),
    );
  }, SCRAPE_EVERY_MS);
  return () => clearInterval(timer);
}

interface EdgemxRowOptions {
  metrics: boolean;
  /** relay.threads; unset: the default (one per core). */
  threads?: number;
  /** relay.threadsFromBytes; unset: the default (64 KiB). */
  threadsFromBytes?: number;
  /** Relay processes sharing the port (SO_REUSEPORT); unset: one, relay-node/src/main.ts. */
  processes?: number;
  /** relay.nextHop.deliverBeforeReply false: every message through the spool. */
  spooled?: boolean;
  /** The default row under this name, run from this relay entry (--compare) instead of this checkout's. */
  as?: { name: string; main: string; description: string };
}

async function edgemxServer(
  dir: string,
  harness: Harness,
  clamd: ClamdService | undefined,
  nodeArgs: string[] = [],
  options: EdgemxRowOptions = { metrics: false },
): Promise<Server> {
  const folder = mkdtempSync(join(dir, clamd ? "edgemx-clamd-" : options.metrics ? "edgemx-metrics-" : "edgemx-"));
  const port = await freePort();
  const metricsPort = options.metrics ? await freePort() : undefined;
  const processes = options.processes ?? 1;
  // One folder per relay process (spool, relay.store's SQLite file, control socket, TLS-RPT counts), one Maildir for all of them.
  const configFiles: string[] = [];
  let network = "";
  for (let i = 0; i < processes; i++) {
    const own = processes === 1 ? folder : join(folder, `relay-${i + 1}`);
    mkdirSync(own, { recursive: true });
    const document = relayConfig(
      own,
      port,
      harness.dnsPort,
      clamd,
      metricsPort,
      options.threads,
      join(folder, "Maildir"),
      processes > 1,
      options.threadsFromBytes,
      options.spooled !== true,
    );
    const config: EdgemxConfig = parseConfig(document, "the mx benchmark's relay configuration");
    const configFile = join(own, "edgemx.yaml");
    writeFileSync(configFile, `${JSON.stringify(document, null, 2)}\n`);
    configFiles.push(configFile);

    // Greylisting passes as for a known sender: the client's network has the auto-allow count.
    const greylist = config.connection.greylist;
    const storeSettings = config.relay.store;
    if (storeSettings.type !== "sqlite") throw new Error("expected relay.store to be SQLite");
    const store = new SqliteGreylistStore(storeSettings.path);
    network = clientNetwork(CLIENT_IP, greylist.ipv4Prefix, greylist.ipv6Prefix);
    await store.incrementClientPasses(network, greylist.autoAllowAfter, greylist.passLifetimeSeconds);
    await store.close();
  }

  const log = join(folder, "relay.log");
  const child =
    processes === 1
      ? spawnLogged(process.execPath, [...nodeArgs, options.as?.main ?? RELAY_MAIN], log, {
          cwd: folder,
          env: { ...process.env, EDGEMX_CONFIG: configFiles[0]! },
        })
      : spawnLogged(process.execPath, [...nodeArgs, SHARED_PORT_RELAYS, ...configFiles], log, { cwd: folder });
  try {
    await waitForGreeting(child, "127.0.0.1", port, log, START_LIMIT_MS);
  } catch (err) {
    await stopChild(child);
    throw err;
  }
  const maildirNew = join(folder, "Maildir", DOMAIN, RECIPIENT.split("@")[0]!, "new");
  const delivered = (): number => (existsSync(maildirNew) ? readdirSync(maildirNew).length : 0);
  const clamdPids = clamd ? childrenNamed(process.pid, "clamd") : [];
  const stopScraping = metricsPort === undefined ? () => {} : scrapeEvery(`http://127.0.0.1:${metricsPort}/metrics`);
  if (options.metrics) {
    return {
      name: "edgemx, metrics on",
      description: `edgemx as above with relay.metrics on (prom-client counters and histograms per session, command and delivery; the DNS health probe at each scrape), /metrics read every ${SCRAPE_EVERY_MS / 1000} s from the warm-up on`,
      port,
      pid: child.pid!,
      helperPids: () => [],
      drain: (accepted) => waitForCount("edgemx's Maildir deliveries", delivered, accepted),
      async stop() {
        stopScraping();
        await stopChild(child, 40_000);
      },
    };
  }
  if (options.processes !== undefined || options.threads === 0 || options.threadsFromBytes === 0 || options.spooled === true) {
    return {
      name:
        options.spooled === true
          ? "edgemx, every message through the spool"
          : options.processes !== undefined
            ? `edgemx, ${processes} processes (SO_REUSEPORT)`
            : options.threads === 0
              ? "edgemx, judge on the main thread"
              : "edgemx, every message in the judge pool",
      description:
        options.spooled === true
          ? "edgemx as below with relay.nextHop.deliverBeforeReply false: every message spooled (fsynced) before its 250 and delivered into the Maildir from the spool after it, as before delivery before the reply"
          : options.processes === undefined
            ? options.threads === 0
              ? "edgemx as below with relay.threads 0: the judge on the main thread, one core's worth (issue 4's shape)"
              : "edgemx as below with relay.threadsFromBytes 0: every message judged in the pool of worker threads (relay.threads unset: one per core), however small"
            : `edgemx as below in ${processes} relay processes (bench/support/shared-port-relays.ts), each with relay.threads ${options.threads ?? "default"}, its own spool and relay.store, all listening on one port with SO_REUSEPORT and delivering into one Maildir: the multi-process alternative to the judge pool`,
      port,
      pid: child.pid!,
      helperPids: () => [],
      drain: (accepted) => waitForCount("edgemx's Maildir deliveries", delivered, accepted),
      stop: () => stopChild(child, 40_000),
    };
  }
  return {
    name: options.as?.name ?? (clamd ? "edgemx, with clamd" : "edgemx"),
    description: options.as
      ? options.as.description
      : clamd
        ? 'edgemx as above, plus clamd INSTREAM for every message (clamd\'s CPU under "helpers")'
        : `edgemx relay (node relay-node/src/main.ts, one process, the default shape: relay.threads unset, a judge pool of one worker thread per core for messages of relay.threadsFromBytes (64 KiB) and more, so these 10 KB messages are judged on the main thread): DNSBL ${dnsbl.zone}, FCrDNS, HELO, sender domain, recipient (mailboxes), greylisting (SQLite, default delay; ${network} seeded as auto-allowed: the store read once a minute, deliveries counted in memory and written every 5 s), in-process judge (SPF, DKIM, DMARC, ARC, banned content, RFC checks), delivery into the Maildir before the 250 (each copy and new/ fsynced; the spool only for what the Maildir does not take), pino log lines to a file, clamd off, metrics off`,
    port,
    pid: child.pid!,
    helperPids: () => clamdPids,
    drain: (accepted) => waitForCount("edgemx's Maildir deliveries", delivered, accepted),
    stop: () => stopChild(child, 40_000),
  };
}

/** The edgemx row; with --compare, pairs of it and the other checkout's relay, alternating. */
function edgemxRows(harness: Harness, options: Options): ((rowDir: string) => Promise<Server>)[] {
  const compare = options.compare;
  if (compare === undefined) return [(rowDir) => edgemxServer(rowDir, harness, undefined)];
  return Array.from({ length: options.pairs }, (_, i) => {
    const names = pairRowNames(i + 1, compare.dir);
    const other = { name: names.other, main: compare.main, description: `the edgemx row's configuration, run by ${compare.main}` };
    const again = { name: names.own, main: RELAY_MAIN, description: "the edgemx row again" };
    return [
      (rowDir: string) => (i === 0 ? edgemxServer(rowDir, harness, undefined) : edgemxServer(rowDir, harness, undefined, [], { metrics: false, as: again })),
      (rowDir: string) => edgemxServer(rowDir, harness, undefined, [], { metrics: false, as: other }),
    ];
  }).flat();
}

// ---------------------------------------------------------------------------------------------------
// Measuring

interface Row {
  server: Server;
  measured?: PhaseResult & {
    serverCpu: number;
    busiestThreadCpu: number;
    dnsCpu: number;
    helperCpu: number;
    drainSeconds: number;
    loadAverage: [number, number];
  };
  problem?: string;
}

function harnessDnsPids(): number[] {
  return [...childrenNamed(process.pid, "unbound"), ...childrenNamed(process.pid, "knotd")];
}

async function measure(server: Server, options: Options, messageFile: string, dir: string): Promise<Row> {
  const task: LoadTask = {
    host: "127.0.0.1",
    port: server.port,
    localAddress: CLIENT_IP,
    helo: sender.mailHost,
    mailFrom: MAIL_FROM,
    rcptTo: RECIPIENT,
    messageFile,
    sessions: options.sessions,
    perSession: options.perSession,
    replyTimeoutMs: 30_000,
  };
  const generator = fork(LOAD_GENERATOR, [JSON.stringify(task)], { stdio: ["ignore", "inherit", "inherit", "ipc"], cwd: dir });
  const messages: { ready?: boolean; result?: PhaseResult }[] = [];
  const waiters: ((m: { ready?: boolean; result?: PhaseResult }) => void)[] = [];
  generator.on("message", (m: { ready?: boolean; result?: PhaseResult }) => {
    const waiter = waiters.shift();
    if (waiter) waiter(m);
    else messages.push(m);
  });
  const next = (): Promise<{ ready?: boolean; result?: PhaseResult }> =>
    new Promise((resolve, reject) => {
      const ready = messages.shift();
      if (ready) return resolve(ready);
      const onExit = (): void => reject(new Error("the load generator exited"));
      generator.once("exit", onExit);
      waiters.push((m) => {
        generator.off("exit", onExit);
        resolve(m);
      });
    });
  const phase = async (seconds: number): Promise<PhaseResult> => {
    generator.send({ run: seconds });
    // The generator bounds each phase itself (deadline, then 60 s for the transactions in flight); this is the backstop.
    let timer: NodeJS.Timeout | undefined;
    const limit = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`the load generator did not finish a ${seconds} s phase in ${seconds + 120} s`)), (seconds + 120) * 1000);
    });
    const { result } = await Promise.race([next(), limit]).finally(() => clearTimeout(timer));
    if (result === undefined) throw new Error("the load generator answered without a result");
    return result;
  };
  try {
    await next(); // ready
    const warm = await phase(options.warmup);
    const warmProblem = phaseProblems(warm);
    if (warmProblem !== undefined) return { server, problem: `warm-up: ${warmProblem}` };
    let accepted = warm.accepted;
    await server.drain(accepted);
    const before = {
      server: treeCpuSeconds(server.pid),
      threads: treeThreadCpuSeconds(server.pid),
      dns: sumTreeCpuSeconds(harnessDnsPids()),
      helpers: sumTreeCpuSeconds(server.helperPids()),
      load: loadAverage(),
    };
    const load = await phase(options.seconds);
    accepted += load.accepted;
    const loadProblem = phaseProblems(load);
    if (loadProblem !== undefined) return { server, problem: loadProblem };
    const drainSeconds = await server.drain(accepted);
    const after = {
      server: treeCpuSeconds(server.pid),
      threads: treeThreadCpuSeconds(server.pid),
      dns: sumTreeCpuSeconds(harnessDnsPids()),
      helpers: sumTreeCpuSeconds(server.helperPids()),
    };
    return {
      server,
      measured: {
        ...load,
        serverCpu: after.server - before.server,
        busiestThreadCpu: busiestThreadSeconds(before.threads, after.threads),
        dnsCpu: after.dns - before.dns,
        helperCpu: after.helpers - before.helpers,
        drainSeconds,
        loadAverage: [before.load, loadAverage()],
      },
    };
  } finally {
    if (generator.connected) generator.send({ exit: true });
    await Promise.race([once(generator, "exit"), sleep(5000)]);
    if (generator.exitCode === null) generator.kill("SIGKILL");
  }
}

// ---------------------------------------------------------------------------------------------------
// Reporting

function table(rows: string[][]): string {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, col) => (widths[col] = Math.max(widths[col] ?? 0, cell.length)));
  return rows.map((row) => row.map((cell, col) => (col === 0 ? cell.padEnd(widths[col] ?? 0) : cell.padStart(widths[col] ?? 0))).join("  ")).join("\n");
}

const rate = (row: Row): number => (row.measured ? row.measured.accepted / row.measured.wallSeconds : NaN);
const cpuMs = (row: Row): number => (row.measured ? (row.measured.serverCpu / row.measured.accepted) * 1000 : NaN);
const busiestMs = (row: Row): number => (row.measured ? (row.measured.busiestThreadCpu / row.measured.accepted) * 1000 : NaN);

const ratio = (a: number, b: number): string => (Number.isFinite(a) && Number.isFinite(b) && b > 0 ? `${(a / b).toFixed(2)}×` : "-");

/** --compare: per pair, the other checkout's row against this checkout's, the row before it. */
function comparisonLines(rows: Row[], options: Options): string[] {
  const compare = options.compare;
  if (compare === undefined) return [];
  const lines = [`Compared (--compare ${compare.dir}): its row ÷ this checkout's row of the same pair (msg/s higher is better, CPU lower)`];
  for (let pair = 1; pair <= options.pairs; pair++) {
    const names = pairRowNames(pair, compare.dir);
    const own = rows.find((r) => r.server.name === names.own);
    const other = rows.find((r) => r.server.name === names.other);
    if (!own?.measured || !other?.measured) {
      lines.push(`  pair ${pair}: not measurable (a row failed; see above)`);
      continue;
    }
    lines.push(
      `  pair ${pair}: msg/s ${rate(other).toFixed(0)} vs ${rate(own).toFixed(0)} = ${ratio(rate(other), rate(own))}; CPU ms/msg ${cpuMs(other).toFixed(3)} vs ${cpuMs(own).toFixed(3)} = ${ratio(cpuMs(other), cpuMs(own))}; busiest thread ms/msg ${busiestMs(other).toFixed(3)} vs ${busiestMs(own).toFixed(3)} = ${ratio(busiestMs(other), busiestMs(own))}`,
    );
  }
  return lines;
}

function report(rows: Row[], options: Options, messageBytes: number, fileSystem: string, metricsCost?: MetricsCost): { text: string; goalMet: boolean } {
  const find = (prefix: string): Row | undefined => rows.find((r) => r.server.name.startsWith(prefix));
  const sink = find("Postfix smtp-sink");
  const haraka = rows.find((r) => r.server.name.startsWith("Haraka") && r.server.name.endsWith("discard"));
  const edgemx = rows.find((r) => r.server.name === "edgemx");
  const postfix = rows.find((r) => r.server.name === "Postfix smtpd, fsynced queue");
  const postfixMaildir = rows.find((r) => r.server.name === "Postfix smtpd, fsynced queue, Maildir");
  const header = [
    "server",
    "messages",
    "msg/s",
    "CPU ms/msg",
    "msg per CPU-s",
    "busiest thread ms/msg",
    "server busy",
    "DNS ms/msg",
    "helpers ms/msg",
    "p50 ms",
    "p99 ms",
    "drain s",
    "load avg",
    "msg/s vs Haraka",
    "msg/s vs sink",
    "CPU vs Haraka",
    "CPU vs sink",
  ];
  const lines = rows.map((row) => {
    const m = row.measured;
    if (!m) return [row.server.name, ...header.slice(1).map(() => "-")];
    const per = (seconds: number): string => ((seconds / m.accepted) * 1000).toFixed(3);
    return [
      row.server.name,
      String(m.accepted),
      rate(row).toFixed(0),
      cpuMs(row).toFixed(3),
      (1000 / cpuMs(row)).toFixed(0),
      per(m.busiestThreadCpu),
      `${((m.serverCpu / (m.wallSeconds + m.drainSeconds)) * 100).toFixed(0)}%`,
      per(m.dnsCpu),
      per(m.helperCpu),
      m.p50Ms.toFixed(1),
      m.p99Ms.toFixed(1),
      m.drainSeconds.toFixed(2),
      `${m.loadAverage[0].toFixed(1)}→${m.loadAverage[1].toFixed(1)}`,
      haraka ? ratio(rate(row), rate(haraka)) : "-",
      sink ? ratio(rate(row), rate(sink)) : "-",
      haraka ? ratio(cpuMs(row), cpuMs(haraka)) : "-",
      sink ? ratio(cpuMs(row), cpuMs(sink)) : "-",
    ];
  });
  lines.push([
    "Postfix smtpd, fsynced queue: issue 4's figure",
    "-",
    "-",
    POSTFIX_DURABLE_CPU_MS.toFixed(3),
    (1000 / POSTFIX_DURABLE_CPU_MS).toFixed(0),
    "-",
    "-",
    "-",
    "-",
    "-",
    "-",
    "-",
    "-",
    "-",
    "-",
    haraka ? ratio(POSTFIX_DURABLE_CPU_MS, cpuMs(haraka)) : "-",
    sink ? ratio(POSTFIX_DURABLE_CPU_MS, cpuMs(sink)) : "-",
  ]);

  const generatorMs = rows.flatMap((r) => (r.measured ? [(r.measured.generatorCpuSeconds / r.measured.accepted) * 1000] : []));
  const notes = [
    `${options.seconds} s measured per server after ${options.warmup} s warm-up; ${options.sessions} concurrent sessions from ${CLIENT_IP} (${sender.mailHost}), ${options.perSession} messages per connection, MAIL/RCPT/DATA pipelined; ${messageBytes} bytes per message, DKIM-signed; every message answered 250.`,
    "msg/s: 250 replies over the wall time of the measured load. CPU ms/msg: utime+stime of the server's process tree (all its threads) over the load and, for servers that deliver, until their queue drained (drain s after the load). msg per CPU-s: 1000 / CPU ms/msg, the rate of one fully busy core. busiest thread ms/msg: the CPU of the server's busiest thread (for a Node server, its event loop) per message: 1000 / it is the rate at which that thread alone would fill a core. server busy: that CPU over that time (100% = one core; the relay's libuv and GC threads and Postfix's processes can exceed it). load avg: the machine's 1-minute load average before and after (other work on the machine lowers msg/s, much less CPU ms/msg).",
    "DNS ms/msg: the harness's unbound + Knot (not in the server's figure). helpers ms/msg: a downstream sink or clamd (not in the server's figure).",
    `The load generator (a separate Node process) used ${generatorMs.length ? `${Math.min(...generatorMs).toFixed(3)}–${Math.max(...generatorMs).toFixed(3)}` : "-"} ms CPU per message.`,
    `Machine: ${cpus().length} × ${cpus()[0]?.model ?? "?"}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}. Queues and mailboxes, each row on a file system of its own: ${fileSystem}.`,
    "",
    ...rows.map((r) => `${r.server.name}: ${r.server.description}`),
    ...rows.flatMap((r) => (r.problem ? [`NOT MEASURABLE: ${r.server.name}: ${r.problem}`] : [])),
  ];

  const goal: string[] = [];
  let goalMet = false;
  if (edgemx?.measured && haraka?.measured) {
    // Issue 4: "Compare servers by CPU per message": at saturation, rate = cores / CPU per message.
    const byCpu = cpuMs(haraka) / cpuMs(edgemx);
    const metHaraka = byCpu >= GOAL_VS_HARAKA;
    const postfixCpu = postfix?.measured ? cpuMs(postfix) : POSTFIX_DURABLE_CPU_MS;
    const postfixSource = postfix?.measured ? "measured in this run" : "issue 4's figure, not measured here";
    const vsPostfix = postfixCpu / cpuMs(edgemx);
    const metPostfix = vsPostfix >= 1;
    goalMet = metHaraka && metPostfix;
    goal.push(
      `Goal (issue 4): edgemx ≥ ${GOAL_VS_HARAKA}× the rate of ${haraka.server.name}, compared by CPU per message (the rate on equal cores): ${byCpu.toFixed(2)}× → ${metHaraka ? "MET" : "MISSED"} (measured msg/s ratio in this run: ${(rate(edgemx) / rate(haraka)).toFixed(2)}×, which the machine's other load moves from run to run)`,
      `Goal (issue 4): edgemx ≥ Postfix's durable rate, compared by CPU per message: edgemx ${cpuMs(edgemx).toFixed(3)} ms, Postfix smtpd with its fsynced queue ${postfixCpu.toFixed(3)} ms (${postfixSource}): ${vsPostfix.toFixed(2)}× → ${metPostfix ? "MET" : "MISSED"}${postfix?.measured ? ` (measured msg/s ratio: ${(rate(edgemx) / rate(postfix)).toFixed(2)}×)` : ""}`,
    );
    // The goal is decided on the row above, whose Postfix delivers nowhere; this one does the same
    // work after the queue as edgemx's row (a Maildir file per message, fsynced), still without checks.
    if (postfixMaildir?.measured) {
      goal.push(
        `Like for like: Postfix delivering into a Maildir as edgemx does, ${cpuMs(postfixMaildir).toFixed(3)} ms: edgemx ${(cpuMs(postfixMaildir) / cpuMs(edgemx)).toFixed(2)}× its rate by CPU per message (msg/s ratio ${(rate(edgemx) / rate(postfixMaildir)).toFixed(2)}×)`,
      );
    }
  } else {
    goal.push("Goal (issue 4): not decidable, edgemx or Haraka was not measured");
  }
  // Issue 17: every core of the machine, compared by msg/s in this run (the same cores, the same other load).
  if (edgemx?.measured && postfix?.measured) {
    const byRate = rate(edgemx) / rate(postfix);
    const cpuAtMost = cpuMs(edgemx) <= cpuMs(postfix);
    goal.push(
      `Goal (issue 17): edgemx msg/s ≥ ${GOAL_RATE_VS_POSTFIX}× Postfix smtpd with its fsynced queue, same run: ${rate(edgemx).toFixed(0)} vs ${rate(postfix).toFixed(0)} msg/s = ${byRate.toFixed(2)}× → ${byRate >= GOAL_RATE_VS_POSTFIX ? "MET" : "MISSED"}; CPU per message at most Postfix's: ${cpuMs(edgemx).toFixed(3)} vs ${cpuMs(postfix).toFixed(3)} ms → ${cpuAtMost ? "MET" : "MISSED"}`,
    );
  }
  if (edgemx?.measured && haraka?.measured) {
    const byRate = rate(edgemx) / rate(haraka);
    goal.push(
      `Goal (issue 17): edgemx msg/s ≥ ${GOAL_RATE_VS_HARAKA}× ${haraka.server.name}, same run: ${byRate.toFixed(2)}× → ${byRate >= GOAL_RATE_VS_HARAKA ? "MET" : "MISSED"}`,
    );
  }
  const shapes = ["edgemx, every message in the judge pool", "edgemx, judge on the main thread"].map((name) => rows.find((r) => r.server.name === name));
  const processes = rows.find((r) => r.server.name.startsWith("edgemx, ") && r.server.name.endsWith("(SO_REUSEPORT)"));
  for (const other of [...shapes, processes]) {
    if (edgemx?.measured && other?.measured) {
      goal.push(
        `Shape (issue 17): the default (${edgemx.server.name}) ${rate(edgemx).toFixed(0)} msg/s, ${cpuMs(edgemx).toFixed(3)} ms CPU; ${other.server.name} ${rate(other).toFixed(0)} msg/s, ${cpuMs(other).toFixed(3)} ms CPU: the default ${ratio(rate(edgemx), rate(other))} its msg/s`,
      );
    }
  }
  goal.push(...comparisonLines(rows, options));
  const withMetrics = rows.find((r) => r.server.name === "edgemx, metrics on");
  if (edgemx?.measured && withMetrics?.measured) {
    const postfixPart = postfix?.measured
      ? `; Postfix smtpd with its fsynced queue in this run ${cpuMs(postfix).toFixed(3)} ms: metrics on ${ratio(cpuMs(withMetrics), cpuMs(postfix))}, off ${ratio(cpuMs(edgemx), cpuMs(postfix))} of it`
      : "";
    goal.push(
      `Metrics (issue 12): edgemx with metrics on ${cpuMs(withMetrics).toFixed(3)} ms CPU per message, without ${cpuMs(edgemx).toFixed(3)} ms: ${ratio(cpuMs(withMetrics), cpuMs(edgemx))} (${(((cpuMs(withMetrics) - cpuMs(edgemx)) / cpuMs(edgemx)) * 100).toFixed(1)} %)${postfixPart}`,
    );
  }
  if (metricsCost && edgemx?.measured) {
    const share = metricsCost.microsecondsPerMessage / 1000 / cpuMs(edgemx);
    goal.push(
      `Metrics (issue 12), in-process (bench/support/metrics-cost.ts, ${metricsCost.messages} messages' metric calls and a scrape every ${SCRAPE_EVERY_MS / 1000} s at this run's rate): ${metricsCost.microsecondsPerMessage.toFixed(1)} µs CPU per message (the scrapes ${metricsCost.scrapeMicrosecondsPerMessage.toFixed(2)} µs), ${(share * 100).toFixed(2)} % of edgemx's ${cpuMs(edgemx).toFixed(3)} ms`,
    );
  }
  return { text: [table([header, ...lines]), "", ...goal, "", ...notes].join("\n"), goalMet };
}

// ---------------------------------------------------------------------------------------------------

export async function run(args: string[]): Promise<number> {
  const options = optionsOrUsage(parseOptions, args, USAGE);
  if (options === undefined) return 2;
  if (findProgram("smtp-sink") === undefined) {
    console.error(
      "smtp-sink is not installed; on Debian: DEBIAN_FRONTEND=noninteractive apt-get install -y postfix (debconf postfix/main_mailer_type: No configuration)",
    );
    return 2;
  }
  const scratch = scratchDir("edgemx-bench-mx-", options.fs);
  const dir = scratch.dir;
  let harness: Harness | undefined;
  let clamd: ClamdService | undefined;
  const rows: Row[] = [];
  try {
    const wanted = (row: (typeof ROWS)[number]): boolean => options.only === undefined || options.only.has(row);
    const withHaraka = wanted("haraka") || wanted("haraka-durable");
    console.error(`building the message, starting the DNS harness${withHaraka ? ", installing Haraka (npm)" : ""}…`);
    const messageFile = join(dir, "message.eml");
    const message = await buildMxMessage(MESSAGE_BYTES, RECIPIENT);
    writeFileSync(messageFile, message);
    const [started, haraka] = await Promise.all([startHarness(), withHaraka ? installHaraka(options.harakaDir ?? join(dir, "haraka")) : undefined]);
    harness = started;
    const withClamd = options.clamd && wanted("edgemx-clamd") && findProgram("clamd") !== undefined && existsSync(CLAM_EXE);
    if (options.clamd && !withClamd) console.error("clamd row skipped: apt-get install -y clamav-daemon clamav-testfiles");
    if (withClamd) clamd = await startClamd();
    const postfixProblem = postfixAvailable();
    if ((wanted("postfix") || wanted("postfix-maildir")) && postfixProblem !== undefined) console.error(`Postfix row skipped: ${postfixProblem}`);

    // Each row on a scratch file system of its own: what one server wrote and deleted (thousands of
    // queue files) is then never in the next one's way, in the kernel's journal or in its caches.
    const servers: ((rowDir: string) => Promise<Server>)[] = [
      ...(wanted("sink") ? [(rowDir: string) => sinkServer(rowDir)] : []),
      ...(wanted("postfix") && postfixProblem === undefined ? [(rowDir: string) => postfixServer(rowDir, "discard")] : []),
      ...(wanted("postfix-maildir") && postfixProblem === undefined ? [(rowDir: string) => postfixServer(rowDir, "maildir")] : []),
      ...(haraka && wanted("haraka") ? [(rowDir: string) => harakaServer(rowDir, haraka, started, "discard", options.harakaNodes)] : []),
      ...(haraka && wanted("haraka-durable") ? [(rowDir: string) => harakaServer(rowDir, haraka, started, "durable", options.harakaNodes)] : []),
      ...(wanted("edgemx") ? edgemxRows(started, options) : []),
      ...(wanted("edgemx-pool") ? [(rowDir: string) => edgemxServer(rowDir, started, undefined, [], { metrics: false, threadsFromBytes: 0 })] : []),
      ...(wanted("edgemx-main-thread") ? [(rowDir: string) => edgemxServer(rowDir, started, undefined, [], { metrics: false, threads: 0 })] : []),
      ...(wanted("edgemx-processes")
        ? [(rowDir: string) => edgemxServer(rowDir, started, undefined, [], { metrics: false, threads: 0, processes: availableParallelism() })]
        : []),
      ...(wanted("edgemx-spool") ? [(rowDir: string) => edgemxServer(rowDir, started, undefined, [], { metrics: false, spooled: true })] : []),
      ...(wanted("edgemx-metrics") ? [(rowDir: string) => edgemxServer(rowDir, started, undefined, [], { metrics: true })] : []),
      ...(clamd ? [(rowDir: string) => edgemxServer(rowDir, started, clamd)] : []),
    ];
    for (const start of servers) {
      const row = scratchDir("edgemx-bench-mx-row-", options.fs);
      try {
        let server: Server;
        try {
          server = await start(row.dir);
        } catch (err) {
          console.error(`NOT MEASURABLE: ${(err as Error).message}`);
          rows.push({
            server: {
              name: "a server that did not start",
              description: (err as Error).message.split("\n")[0]!,
              port: 0,
              pid: 0,
              helperPids: () => [],
              drain: () => Promise.resolve(0),
              stop: async () => {},
            },
            problem: "did not start",
          });
          continue;
        }
        console.error(`loading ${server.name} on port ${server.port}…`);
        try {
          rows.push(await measure(server, options, messageFile, row.dir));
        } finally {
          await server.stop();
        }
      } finally {
        row.remove(options.keep);
      }
    }
    // The metrics' own cost, measured in-process where the machine's noise cannot hide it (see metrics-cost.ts).
    const edgemxRow = rows.find((r) => r.server.name === "edgemx");
    const metricsCost =
      wanted("edgemx-metrics") && edgemxRow?.measured
        ? await measureMetricsCost(20_000, options.perSession, Math.max(1, Math.round((rate(edgemxRow) * SCRAPE_EVERY_MS) / 1000)))
        : undefined;
    const { text } = report(rows, options, message.byteLength, scratch.fileSystem, metricsCost);
    console.log(text);

    if (options.profile) {
      const withMetrics = wanted("edgemx-metrics") && !wanted("edgemx");
      console.error(`profiling the relay (node --cpu-prof${withMetrics ? ", metrics on" : ""})…`);
      const profileDir = join(dir, "profile");
      const profiled = scratchDir("edgemx-bench-mx-row-", options.fs);
      try {
        const server = await edgemxServer(profiled.dir, started, undefined, ["--cpu-prof", `--cpu-prof-dir=${profileDir}`], { metrics: withMetrics });
        try {
          const row = await measure(server, options, messageFile, profiled.dir);
          if (row.problem) console.log(`NOT MEASURABLE under the profiler: ${row.problem}`);
          else console.log(`\nedgemx under --cpu-prof (slower than above): ${rate(row).toFixed(0)} msg/s, ${cpuMs(row).toFixed(3)} ms CPU per message`);
        } finally {
          await server.stop();
        }
      } finally {
        profiled.remove(options.keep);
      }
      const profile = mainThreadProfile(profileDir);
      console.log(profile ? profileSummary(profile, 25) : "no profile was written");
    }
    return rows.some((r) => r.problem !== undefined) ? 1 : 0;
  } finally {
    await clamd?.stop();
    await harness?.stop();
    scratch.remove(options.keep);
  }
}
