// `npm run bench -- scale`: inbound SMTP through 1, 2 and 3 relays that share their state in one Redis
// (relay.store; docs/scaling.md), on this machine, in one run — beside one relay with its state
// in SQLite, the same relay without Redis. Each relay is `node relay-node/src/main.ts` with the mx
// benchmark's checks (DNSBL, FCrDNS, HELO, sender, greylisting, the in-process judge, the fsynced spool,
// Maildir delivery), its own spool and ports; a load generator per relay (bench/support/smtp-load.ts)
// shares the sessions among them. On one machine more relays cannot beat its cores: the point is
// what sharing the state costs, so each row gives the Redis commands and round trips per message and
// redis-server's CPU. Round trips are counted by a forwarding proxy in this process between the relays
// and redis-server (each burst of bytes a relay writes before it reads is one); commands by redis-server's
// INFO commandstats.
import { fork } from "node:child_process";
import { once } from "node:events";
import { existsSync, mkdtempSync, readdirSync, writeFileSync } from "node:fs";
import { createConnection, createServer, type Server, type Socket } from "node:net";
import { cpus } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { Redis } from "ioredis";
import { clientNetwork } from "../core/greylist/greylist.ts";
import { parseConfig } from "../core/config/load.ts";
import type { SharedStoreConfig } from "../core/config/schema.ts";
import { RedisGreylistStore, SqliteGreylistStore } from "../relay-node/src/greylist/store.ts";
import { startHarness, type Harness } from "../test/harness/index.ts";
import { freePort } from "../test/harness/process.ts";
import { startRedis, type RedisService } from "../test/harness/services.ts";
import { TEST_DNS } from "../test/harness/zones.ts";
import { sleep, spawnLogged, stopChild, waitForGreeting } from "./support/child.ts";
import { buildMxMessage } from "./support/mx-message.ts";
import { childrenNamed, sumTreeCpuSeconds, treeCpuSeconds } from "./support/proc-tree.ts";
import { STEADY_STATE, optionsOrUsage, wholeFlagIn } from "./support/options.ts";
import { loadAverage, phaseProblems } from "./support/report.ts";
import { scratchChoice, scratchDir, type ScratchChoice } from "./support/scratch-fs.ts";
import type { LoadTask, PhaseResult } from "./support/smtp-load.ts";

const REPO_ROOT = fileURLToPath(new URL("../", import.meta.url));
const RELAY_MAIN = join(REPO_ROOT, "relay-node/src/main.ts");
const LOAD_GENERATOR = fileURLToPath(new URL("./support/smtp-load.ts", import.meta.url));
const { sender, dnsbl } = TEST_DNS;
const HOSTNAME = "mx.example.org";
const DOMAIN = "example.org";
const RECIPIENT = `user@${DOMAIN}`;
const MESSAGE_BYTES = 10 * 1024;
const START_LIMIT_MS = 60_000;
const DRAIN_LIMIT_MS = 120_000;

const USAGE = `usage: npm run bench -- scale [--seconds N] [--warmup N] [--sessions N] [--per-session N] [--fs KIND] [--keep]

  --seconds N      measured load per row, whole seconds (default ${STEADY_STATE.seconds})
  --warmup N       unmeasured load per row before it, whole seconds (default ${STEADY_STATE.warmup})
  --sessions N     concurrent SMTP sessions, shared among the relays of a row (default 40)
  --per-session N  messages per connection (default 20)
  --fs KIND        ext4-journal (default, as root) or tmp: where spools and Maildirs live
  --keep           keep the temp folder (configurations, relay logs)`;

interface Options {
  seconds: number;
  warmup: number;
  sessions: number;
  perSession: number;
  fs: ScratchChoice;
  keep: boolean;
}

function parseOptions(args: string[]): Options {
  const { values } = parseArgs({
    args,
    options: {
      seconds: { type: "string", default: STEADY_STATE.seconds },
      warmup: { type: "string", default: STEADY_STATE.warmup },
      sessions: { type: "string", default: "40" },
      "per-session": { type: "string", default: "20" },
      fs: { type: "string", default: "ext4-journal" },
      keep: { type: "boolean", default: false },
    },
  });
  return {
    seconds: wholeFlagIn("seconds", values.seconds, 1, 600),
    warmup: wholeFlagIn("warmup", values.warmup, 1, 120),
    sessions: wholeFlagIn("sessions", values.sessions, 3, 400),
    perSession: wholeFlagIn("per-session", values["per-session"], 1, 100_000),
    fs: scratchChoice(values.fs),
    keep: values.keep,
  };
}

/** The mx benchmark's relay: every check on, against the harness; the state in `store`. */
function relayConfig(dir: string, port: number, dnsPort: number, store: SharedStoreConfig): unknown {
  return {
    hostname: HOSTNAME,
    domains: [{ name: DOMAIN, mx: [HOSTNAME], mailboxes: [RECIPIENT.split("@")[0]] }],
    connection: {
      dnsbl: { action: "reject", zones: [{ zone: dnsbl.zone }] },
      fcrdns: { action: "reject" },
      helo: { action: "reject" },
      sender: { action: "reject" },
      greylist: { enabled: true },
    },
    relay: {
      listeners: { mx: { host: "127.0.0.1", port }, submission: { enabled: false }, submissions: { enabled: false } },
      resolver: { host: "127.0.0.1", port: dnsPort, timeoutMs: 3000 },
      store,
      clamd: { enabled: false },
      nextHop: { type: "maildir", path: join(dir, "Maildir") },
      spool: join(dir, "spool"),
      limits: { maxConnections: 500, maxConnectionsPerIp: 1000 },
      outbound: { dnssecProbeName: sender.domain },
      metrics: { enabled: false },
    },
  };
}

/** Forwards every connection to redis-server and counts round trips: a client's writes up to its next read of a reply. */
async function countingProxy(redisPort: number): Promise<{ port: number; roundTrips: () => number; close: () => Promise<void> }> {
  let roundTrips = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = createConnection({ host: "127.0.0.1", port: redisPort });
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    sockets.add(client).add(upstream);
    let awaitingReply = false;
    client.on("data", (chunk) => {
      if (!awaitingReply) roundTrips++;
      awaitingReply = true;
      upstream.write(chunk);
    });
    upstream.on("data", (chunk) => {
      awaitingReply = false;
      client.write(chunk);
    });
    const end = (): void => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on("close", end).on("error", end);
    upstream.on("close", end).on("error", end);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as { port: number }).port,
    roundTrips: () => roundTrips,
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

interface RelayProcess {
  pid: number;
  port: number;
  delivered: () => number;
  stop: () => Promise<void>;
}

async function startRelay(dir: string, harness: Harness, store: SharedStoreConfig): Promise<RelayProcess> {
  const port = await freePort();
  const document = relayConfig(dir, port, harness.dnsPort, store);
  parseConfig(document, "the scale benchmark's relay configuration");
  const configFile = join(dir, "edgemx.json");
  writeFileSync(configFile, JSON.stringify(document));
  const log = join(dir, "relay.log");
  const child = spawnLogged(process.execPath, [RELAY_MAIN], log, { cwd: dir, env: { ...process.env, EDGEMX_CONFIG: configFile } });
  try {
    await waitForGreeting(child, "127.0.0.1", port, log, START_LIMIT_MS);
  } catch (err) {
    await stopChild(child);
    throw err;
  }
  const maildirNew = join(dir, "Maildir", DOMAIN, RECIPIENT.split("@")[0]!, "new");
  return {
    pid: child.pid!,
    port,
    delivered: () => (existsSync(maildirNew) ? readdirSync(maildirNew).length : 0),
    stop: () => stopChild(child, 40_000),
  };
}

/** The client's network seeded as auto-allowed (as the mx benchmark does): greylisting passes, as for a known sender. */
async function seedGreylist(store: SharedStoreConfig): Promise<void> {
  const greylist = parseConfig(relayConfig("/", 25, 53, store)).connection.greylist;
  const network = clientNetwork(sender.authorizedIp, greylist.ipv4Prefix, greylist.ipv6Prefix);
  const seeded = store.type === "redis" ? new RedisGreylistStore(store.url) : new SqliteGreylistStore(store.path);
  await seeded.incrementClientPasses(network, greylist.autoAllowAfter, greylist.passLifetimeSeconds);
  await seeded.close();
}

/** One load generator per relay, run through the same phases at once. */
async function generators(tasks: LoadTask[], dir: string): Promise<{ phase: (seconds: number) => Promise<PhaseResult[]>; stop: () => Promise<void> }> {
  const children = tasks.map((task) => {
    const child = fork(LOAD_GENERATOR, [JSON.stringify(task)], { stdio: ["ignore", "inherit", "inherit", "ipc"], cwd: dir });
    const inbox: { ready?: boolean; result?: PhaseResult }[] = [];
    const waiters: ((m: { ready?: boolean; result?: PhaseResult }) => void)[] = [];
    child.on("message", (m: { ready?: boolean; result?: PhaseResult }) => (waiters.shift() ?? ((x) => inbox.push(x)))(m));
    const next = (): Promise<{ ready?: boolean; result?: PhaseResult }> =>
      new Promise((resolve, reject) => {
        const queued = inbox.shift();
        if (queued) return resolve(queued);
        child.once("exit", () => reject(new Error("a load generator exited")));
        waiters.push(resolve);
      });
    return { child, next };
  });
  await Promise.all(children.map((c) => c.next()));
  return {
    async phase(seconds) {
      for (const c of children) c.child.send({ run: seconds });
      return Promise.all(
        children.map(async (c) => {
          const { result } = await c.next();
          if (result === undefined) throw new Error("a load generator answered without a result");
          return result;
        }),
      );
    },
    async stop() {
      for (const c of children) {
        if (c.child.connected) c.child.send({ exit: true });
        await Promise.race([once(c.child, "exit"), sleep(5000)]);
        if (c.child.exitCode === null) c.child.kill("SIGKILL");
      }
    },
  };
}

async function waitForDeliveries(relays: readonly RelayProcess[], accepted: number): Promise<void> {
  const deadline = performance.now() + DRAIN_LIMIT_MS;
  while (relays.reduce((sum, relay) => sum + relay.delivered(), 0) < accepted) {
    if (performance.now() > deadline)
      throw new Error(`the relays delivered fewer than the ${accepted} messages they accepted within ${DRAIN_LIMIT_MS / 1000} s`);
    await sleep(100);
  }
}

interface Row {
  name: string;
  relays: number;
  accepted: number;
  wallSeconds: number;
  relayCpu: number;
  redisCpu: number;
  commands: number;
  transactions: number;
  roundTrips: number;
  p99Ms: number;
  load: [number, number];
}

/** Redis's commands so far and the MULTI … EXEC transactions among them (INFO commandstats), the INFO asked for by this benchmark left out. */
async function redisCommands(admin: Redis): Promise<{ commands: number; transactions: number }> {
  const info = await admin.info("commandstats");
  let commands = 0;
  let transactions = 0;
  for (const match of info.matchAll(/^cmdstat_(\w+(?:\|\w+)?):calls=(\d+)/gm)) {
    if (match[1] !== "info") commands += Number(match[2]);
    if (match[1] === "exec") transactions += Number(match[2]);
  }
  return { commands, transactions };
}

async function measureRow(
  name: string,
  count: number,
  store: (proxyPort: number) => SharedStoreConfig,
  context: { harness: Harness; redis: RedisService; options: Options; messageFile: string; dir: string },
): Promise<Row> {
  const { harness, redis, options, messageFile } = context;
  const proxy = await countingProxy(redis.port);
  const admin = new Redis(redis.url);
  const rowDir = scratchDir("edgemx-bench-scale-row-", options.fs);
  const relays: RelayProcess[] = [];
  let load: Awaited<ReturnType<typeof generators>> | undefined;
  try {
    const settings = store(proxy.port);
    if (settings.type === "redis") await admin.flushall();
    const folders = Array.from({ length: count }, (_, i) => mkdtempSync(join(rowDir.dir, `relay-${i + 1}-`)));
    await seedGreylist(settings.type === "sqlite" ? { type: "sqlite", path: join(folders[0]!, "greylist.sqlite") } : settings);
    for (const folder of folders)
      relays.push(await startRelay(folder, harness, settings.type === "sqlite" ? { type: "sqlite", path: join(folder, "greylist.sqlite") } : settings));
    const sessions = Array.from({ length: count }, (_, i) => Math.floor(options.sessions / count) + (i < options.sessions % count ? 1 : 0));
    load = await generators(
      relays.map((relay, i) => ({
        host: "127.0.0.1",
        port: relay.port,
        localAddress: sender.authorizedIp,
        helo: sender.mailHost,
        mailFrom: `alice@${sender.domain}`,
        rcptTo: RECIPIENT,
        messageFile,
        sessions: sessions[i]!,
        perSession: options.perSession,
        replyTimeoutMs: 30_000,
      })),
      context.dir,
    );
    console.error(`loading ${name}…`);
    const warm = await load.phase(options.warmup);
    for (const result of warm) {
      const problem = phaseProblems(result);
      if (problem !== undefined) throw new Error(`${name}, warm-up: ${problem}`);
    }
    let accepted = warm.reduce((sum, r) => sum + r.accepted, 0);
    await waitForDeliveries(relays, accepted);
    const redisPids = childrenNamed(process.pid, "redis-server");
    const statsBefore = await redisCommands(admin);
    const before = {
      relays: relays.reduce((sum, relay) => sum + treeCpuSeconds(relay.pid), 0),
      redis: sumTreeCpuSeconds(redisPids),
      roundTrips: proxy.roundTrips(),
      load: loadAverage(),
    };
    const measured = await load.phase(options.seconds);
    for (const result of measured) {
      const problem = phaseProblems(result);
      if (problem !== undefined) throw new Error(`${name}: ${problem}`);
    }
    const acceptedNow = measured.reduce((sum, r) => sum + r.accepted, 0);
    accepted += acceptedNow;
    await waitForDeliveries(relays, accepted);
    const statsAfter = await redisCommands(admin);
    return {
      name,
      relays: count,
      accepted: acceptedNow,
      wallSeconds: Math.max(...measured.map((r) => r.wallSeconds)),
      relayCpu: relays.reduce((sum, relay) => sum + treeCpuSeconds(relay.pid), 0) - before.relays,
      redisCpu: sumTreeCpuSeconds(redisPids) - before.redis,
      commands: statsAfter.commands - statsBefore.commands,
      transactions: statsAfter.transactions - statsBefore.transactions,
      roundTrips: proxy.roundTrips() - before.roundTrips,
      p99Ms: Math.max(...measured.map((r) => r.p99Ms)),
      load: [before.load, loadAverage()],
    };
  } finally {
    await load?.stop();
    await Promise.all(relays.map((relay) => relay.stop()));
    admin.disconnect();
    await proxy.close();
    rowDir.remove(options.keep);
  }
}

function table(rows: string[][]): string {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, col) => (widths[col] = Math.max(widths[col] ?? 0, cell.length)));
  return rows.map((row) => row.map((cell, col) => (col === 0 ? cell.padEnd(widths[col] ?? 0) : cell.padStart(widths[col] ?? 0))).join("  ")).join("\n");
}

function report(rows: Row[], options: Options): string {
  const rate = (row: Row): number => row.accepted / row.wallSeconds;
  const peer = rows[0]!;
  const lines = [
    [
      "relays",
      "msg/s",
      "vs 1 relay, SQLite",
      "relay CPU ms/msg",
      "Redis cmds/msg",
      "MULTI/EXEC/msg",
      "Redis round trips/msg",
      "redis-server CPU ms/msg",
      "p99 ms",
      "load avg",
    ],
    ...rows.map((row) => [
      row.name,
      rate(row).toFixed(0),
      `${(rate(row) / rate(peer)).toFixed(2)}×`,
      ((row.relayCpu * 1000) / row.accepted).toFixed(3),
      (row.commands / row.accepted).toFixed(2),
      (row.transactions / row.accepted).toFixed(2),
      (row.roundTrips / row.accepted).toFixed(2),
      ((row.redisCpu * 1000) / row.accepted).toFixed(3),
      row.p99Ms.toFixed(1),
      `${row.load[0].toFixed(2)}→${row.load[1].toFixed(2)}`,
    ]),
  ];
  return [
    `scale: ${options.sessions} concurrent sessions shared among the relays of a row, ${options.perSession} messages per connection, ${MESSAGE_BYTES / 1024} KiB DKIM-signed messages; ${options.warmup} s warm-up, ${options.seconds} s measured; ${cpus().length} cores`,
    "each relay: node relay-node/src/main.ts, every check of the mx benchmark, delivery into the Maildir before the 250 (counted in its CPU), metrics off",
    "",
    table(lines),
    "",
    "Redis commands and MULTI/EXEC transactions: INFO commandstats. Round trips: a relay's writes up to its next read of a reply, counted by a proxy",
    "between the relays and redis-server; commands of concurrent sessions share one (ioredis pipelines what is sent while a reply is awaited).",
  ].join("\n");
}

export async function run(args: string[]): Promise<number> {
  const options = optionsOrUsage(parseOptions, args, USAGE);
  if (options === undefined) return 2;
  const scratch = scratchDir("edgemx-bench-scale-", options.fs);
  let harness: Harness | undefined;
  let redis: RedisService | undefined;
  try {
    console.error("building the message, starting the DNS harness and redis-server…");
    const messageFile = join(scratch.dir, "message.eml");
    writeFileSync(messageFile, await buildMxMessage(MESSAGE_BYTES, RECIPIENT));
    harness = await startHarness();
    redis = await startRedis();
    const context = { harness, redis, options, messageFile, dir: scratch.dir };
    const redisStore = (proxyPort: number): SharedStoreConfig => ({ type: "redis", url: `redis://127.0.0.1:${proxyPort}` });
    const rows: Row[] = [];
    rows.push(await measureRow("1 relay, SQLite state", 1, () => ({ type: "sqlite", path: "" }), context));
    for (const count of [1, 2, 3]) rows.push(await measureRow(`${count} relay${count === 1 ? "" : "s"}, shared Redis`, count, redisStore, context));
    console.log(report(rows, options));
    return 0;
  } catch (err) {
    console.error(`NOT MEASURABLE: ${(err as Error).message}`);
    return 1;
  } finally {
    await redis?.stop();
    await harness?.stop();
    scratch.remove(options.keep);
  }
}
