// Dependencies dying mid-load (issue 16, item 2): clamd, rspamd, Redis (relay.store, greylisting's state), unbound
// (the relay's resolver) and the Worker's verdict API, each killed (SIGKILL, then restarted) or hung
// (SIGSTOP, then SIGCONT — a hung daemon is worse than a dead one: nothing refuses the connection, only
// the relay's timeout ends the wait) for four seconds in the middle of a burst (support/dependency-fault.ts).
// Promises checked, per case:
// - every message got a reply; the good mail got 250 or a 4xx (451 while the dependency was away),
//   the bad mail — which only the dependency can refuse — never a 250: nothing is accepted unchecked;
// - the fault was felt (some 451s), and a hung daemon's 451 came within the configured timeout
//   (printed beside it: a measured figure, not asserted);
// - every 250 delivered exactly once; the relay takes good mail again after the fault, without a restart
//   (recovery printed);
// - the metrics and the log lines name the dependency.
// Greylisting with Redis gone fails closed: 451 4.3.0, never a pass (docs/greylisting.md).
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { parseConfig } from "../../core/config/load.ts";
import { workerPart } from "../../core/config/worker.ts";
import { TEST_PATTERN } from "../harness/clamd.ts";
import { GTUBE } from "../harness/gtube.ts";
import { startValidatingDns } from "../harness/index.ts";
import { freePort, type Signalable } from "../harness/process.ts";
import { LOCAL, messageWithAttachment, relayDocument, startTestRelay, testMessage, type TestRelay } from "../harness/relay.ts";
import { startClamd, startRedis, startRspamd, type ClamdService, type RedisService, type RspamdService } from "../harness/services.ts";
import { bundleWorker, startWorker, type RunningWorker, type WorkerBundle } from "../harness/worker.ts";
import { TEST_DNS, TEST_ZONES } from "../harness/zones.ts";
import { countIds, drained, maildirContents, printRow, spoolIds, tally } from "./support/checker.ts";
import { loadThroughFault, metricsText, sampleValue, type DependencyRun, type StreamPlan } from "./support/dependency-fault.ts";
import { BODY, SENDER } from "./support/load.ts";

const harness = inject("harness");
const work = mkdtempSync(join(tmpdir(), "edgemx-dependencies-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** The relay's waits, short so that a hung dependency costs seconds: each case prints how long its 451s took. */
const TIMEOUT_MS = 2000;
const SIGNALS = ["SIGKILL", "SIGSTOP"] as const;
type Signal = (typeof SIGNALS)[number];

const good: StreamPlan = { sessions: 3 };
const message = (body: string): string => testMessage({ from: SENDER, to: LOCAL.mailbox, subject: "fault suite", body: `${BODY}\r\n${body}` });

interface Case {
  dependency: string;
  signal: Signal;
  test: TestRelay;
  daemon: Signalable;
  bad: StreamPlan;
  /** What the bad stream gets while the dependency answers. */
  badCode: number;
  /** The metric series that counts the dependency's failures, and a word the log lines carry. */
  series: string;
  logWord: string;
  /** The relay's wait for this dependency, ms. */
  timeoutMs: number;
}

async function runCase(c: Case): Promise<DependencyRun> {
  const spool = join(c.test.config.relay.spool);
  const maildir = c.test.maildir!;
  const before = sampleValue(await metricsText(c.test), c.series);
  // Ids are one word (checker.ts reads the id header's first word).
  const run = await loadThroughFault(
    c.test,
    work,
    `${c.dependency.replace(/\W+/g, "-")}-${c.signal}`,
    { good, bad: c.bad },
    {
      signal: c.signal,
      inject: () => c.daemon.signal(c.signal),
      end: c.signal === "SIGSTOP" ? () => Promise.resolve(c.daemon.signal("SIGCONT")) : () => c.daemon.restart(),
    },
  );
  await drained(spool, () => maildirContents(maildir).length);
  const outcomes = [...run.good.messages, ...run.bad.messages];
  const row = tally(
    `${c.dependency}: ${c.signal} for 4 s, then ${c.signal === "SIGSTOP" ? "SIGCONT" : "restarted"}`,
    outcomes,
    countIds(maildirContents(maildir)),
    spoolIds(spool),
    run.recoveryMs,
  );
  printRow(row);
  const during = outcomes.filter((o) => o.code === 451 && o.at >= run.faultStartedAt && o.at <= run.faultEndedAt + c.timeoutMs);
  const slowest = Math.max(0, ...during.map((o) => o.ms));
  const failures = sampleValue(await metricsText(c.test), c.series) - before;
  const byCode = (refused: Record<string, number>): Record<string, number> => {
    const counts: Record<string, number> = {};
    for (const [line, n] of Object.entries(refused)) counts[line.slice(0, 9)] = (counts[line.slice(0, 9)] ?? 0) + n;
    return counts;
  };
  console.log(
    `${c.dependency} ${c.signal}: ${during.length} messages answered 451 during the fault, the slowest after ${(slowest / 1000).toFixed(2)} s ` +
      `(the relay's timeout ${c.timeoutMs / 1000} s); ${c.series} +${failures}; refusals of the good mail ${JSON.stringify(byCode(run.good.refused))}, of the bad ${JSON.stringify(byCode(run.bad.refused))}`,
  );

  expect(row.noReply).toBe(0);
  expect(row.lost).toBe(0);
  expect(row.duplicated).toBe(0);
  expect(row.queued).toBe(0);
  expect(row.delivered).toBe(row.accepted);
  expect(run.good.messages.filter((o) => o.code !== 250 && o.code !== 451)).toEqual([]);
  // Nothing accepted unchecked: the bad mail is refused when the dependency answers, deferred when it does not.
  expect(new Set(run.bad.messages.map((o) => o.code))).toEqual(new Set([c.badCode, 451]));
  expect(during.length).toBeGreaterThan(0);
  expect(failures).toBeGreaterThan(0);
  expect(c.test.logs.some((line) => JSON.stringify(line).includes(c.logWord))).toBe(true);
  return run;
}

async function relayFor(
  name: string,
  relay: Parameters<typeof relayDocument>[2],
  connection: Parameters<typeof relayDocument>[3] = {},
  env: NodeJS.ProcessEnv = {},
  dnsPort = harness.dnsPort,
) {
  const folder = join(work, name);
  // A session is closed after maxErrors 4xx/5xx replies (Postfix's smtpd_hard_error_limit): raised, so
  // that each session of the load goes on through the whole fault, as in disk-full.test.ts.
  const document = relayDocument(folder, dnsPort, { limits: { maxErrors: 1000 }, ...relay }, connection);
  return startTestRelay(document, env);
}

describe("clamd dying mid-load: 451 while it is away, no virus accepted", () => {
  let clamd: ClamdService;
  beforeAll(async () => {
    clamd = await startClamd();
  });
  afterAll(() => clamd?.stop());
  it.for(SIGNALS)("%s", async (signal) => {
    const test = await relayFor(`clamd-${signal}`, { clamd: { enabled: true, host: clamd.host, port: clamd.port, timeoutMs: TIMEOUT_MS } });
    try {
      await runCase({
        dependency: "clamd",
        signal,
        test,
        daemon: clamd,
        bad: { sessions: 1, message: message(`the virus scanner's test pattern: ${TEST_PATTERN}`) },
        badCode: 554,
        series: 'edgemx_dependency_errors_total{dependency="clamd"}',
        logWord: "clamd",
        timeoutMs: TIMEOUT_MS,
      });
    } finally {
      await test.relay.stop();
    }
  });
});

describe("rspamd dying mid-load: 451 while it is away, no GTUBE accepted", () => {
  let redis: RedisService;
  let rspamd: RspamdService;
  beforeAll(async () => {
    redis = await startRedis();
    rspamd = await startRspamd({ redisUrl: redis.url, dnsPort: harness.dnsPort });
  }, 120_000);
  afterAll(async () => {
    await rspamd?.stop();
    await redis?.stop();
  });
  it.for(SIGNALS)("%s", async (signal) => {
    const test = await relayFor(`rspamd-${signal}`, { rspamd: { url: rspamd.normalUrl, timeoutMs: TIMEOUT_MS } });
    try {
      await runCase({
        dependency: "rspamd",
        signal,
        test,
        daemon: rspamd,
        bad: { sessions: 1, message: message(GTUBE) },
        badCode: 554,
        series: 'edgemx_dependency_errors_total{dependency="rspamd"}',
        logWord: "rspamd",
        timeoutMs: TIMEOUT_MS,
      });
    } finally {
      await test.relay.stop();
    }
  });
});

describe("Redis (relay.store, greylisting's state) dying mid-load: greylisting fails closed, 451 4.3.0", () => {
  let redis: RedisService;
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(() => redis?.stop());
  it.for(SIGNALS)("%s", async (signal) => {
    // A second's delay: the good stream's one triplet passes after its first retry; the bad stream's
    // sender is new with every message, a new triplet greylisted each time (451 4.7.1).
    // Deliveries never auto-allow the network (autoAllowAfter out of reach), or the bad stream would pass.
    const test = await relayFor(
      `redis-${signal}`,
      { store: { type: "redis", url: redis.url } },
      { greylist: { enabled: true, delaySeconds: 1, autoAllowAfter: 1_000_000_000 } },
    );
    try {
      const run = await runCase({
        dependency: "redis",
        signal,
        test,
        daemon: redis,
        bad: { sessions: 1, mailFrom: `grey-${signal}-{n}@${TEST_DNS.sender.domain}` },
        badCode: 451,
        series: 'edgemx_dependency_errors_total{dependency="redis"}',
        logWord: "greylist store",
        // The Redis client's own command timeout (docs/greylisting.md).
        timeoutMs: 1000,
      });
      // Fails closed: the good mail's triplet passes while Redis answers; with Redis gone it gets 451 4.3.0, never a pass.
      expect(Object.keys(run.good.refused).some((reply) => reply.startsWith("451 4.3.0 "))).toBe(true);
    } finally {
      await test.relay.stop();
    }
  });
});

describe("unbound (the relay's resolver) dying mid-load: 451 4.4.3 where a lookup was needed", () => {
  let dns: { dnsPort: number; unbound: Signalable };
  const stops: (() => Promise<void>)[] = [];
  beforeAll(async () => {
    const dir = mkdtempSync(join(work, "dns-"));
    dns = await startValidatingDns(dir, TEST_ZONES, stops);
  });
  afterAll(async () => {
    for (const stop of stops.reverse()) await stop();
  });
  it.for(SIGNALS)("%s", async (signal) => {
    // resolver.timeoutMs is the resolver's own setting; the other timeouts stay.
    const test = await relayFor(`dns-${signal}`, { resolver: { host: "127.0.0.1", port: dns.dnsPort, timeoutMs: TIMEOUT_MS / 2 } }, {}, {}, dns.dnsPort);
    try {
      await runCase({
        dependency: "unbound",
        signal,
        test,
        daemon: dns.unbound,
        // Each message's sender domain is new and does not exist: a lookup the cache cannot answer, NXDOMAIN → 554 5.1.8.
        bad: { sessions: 1, mailFrom: `someone@missing-${signal.toLowerCase()}-{n}.${TEST_DNS.sender.domain}` },
        badCode: 554,
        series: 'edgemx_dependency_errors_total{dependency="dns"}',
        logWord: "DNS",
        timeoutMs: TIMEOUT_MS / 2,
      });
    } finally {
      await test.relay.stop();
    }
  });
});

/** workerd's pid: Miniflare's child of this process. */
function workerdPid(): number {
  const children = readFileSync(`/proc/${process.pid}/task/${process.pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number);
  const all =
    children.length > 0
      ? children
      : readdirSync("/proc")
          .filter((n) => /^\d+$/.test(n))
          .map(Number);
  const pid = all.find((candidate) => {
    try {
      const stat = readFileSync(`/proc/${candidate}/stat`, "utf8");
      return stat.includes("(workerd)") && Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]) === process.pid;
    } catch {
      return false;
    }
  });
  if (pid === undefined)
    throw new Error(`no workerd child of ${process.pid}: ${execFileSync("ps", ["-o", "pid,ppid,comm", "--ppid", String(process.pid)]).toString()}`);
  return pid;
}

describe("the Worker's verdict API dying mid-load: 451 while it is away, no banned attachment accepted", () => {
  const VERDICT_TOKEN = "fault-suite-verdict-token";
  let bundle: WorkerBundle;
  let worker: RunningWorker | undefined;
  let port: number;
  let configJson: string;
  const start = async (): Promise<void> => {
    worker = await startWorker({ bundle, configJson, bindings: { DOH_URL: harness.dohUrl, VERDICT_TOKEN }, port });
  };
  beforeAll(async () => {
    bundle = await bundleWorker(join(work, "worker"));
    port = await freePort();
    configJson = JSON.stringify(workerPart(parseConfig(relayDocument(work, harness.dnsPort))));
    await start();
  }, 180_000);
  afterAll(() => worker?.stop());
  it.for(SIGNALS)("%s", async (signal) => {
    const test = await relayFor(
      `verdict-${signal}`,
      { verdict: { url: `http://127.0.0.1:${port}/v1/verdict`, timeoutMs: TIMEOUT_MS } },
      {},
      { EDGEMX_VERDICT_TOKEN: VERDICT_TOKEN },
    );
    const workerd: Signalable = {
      signal: (name) => process.kill(workerdPid(), name),
      restart: async () => {
        await worker?.stop();
        await start();
      },
    };
    try {
      await runCase({
        dependency: "verdict API",
        signal,
        test,
        daemon: workerd,
        bad: { sessions: 1, message: messageWithAttachment("tool.exe", Buffer.from("MZ not really a program"), { from: SENDER, to: LOCAL.mailbox }) },
        badCode: 554,
        series: 'edgemx_dependency_errors_total{dependency="verdict_api"}',
        logWord: "verdict",
        timeoutMs: TIMEOUT_MS,
      });
    } finally {
      await test.relay.stop();
    }
  });
});
