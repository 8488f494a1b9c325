// Services that only some tests need — clamd, redis-server, rspamd — started from a test file's
// beforeAll (not the global setup), each unprivileged on a free loopback port in its own temp folder.
// stop() ends the daemon (SIGTERM, SIGKILL after a grace period) and removes the folder; a daemon that
// fails to become ready is stopped before the error is thrown, so nothing is ever left running.
import { existsSync } from "node:fs";
import { get } from "node:https";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CLAM_EXE, clamdConfig, writeSignatures } from "./clamd.ts";
import type { Daemon, Signalable } from "./process.ts";
import { findProgram, freePort, spawnDaemon, waitUntilReady } from "./process.ts";
import { PEBBLE_ENV, writePebbleConfig } from "./pebble.ts";
import { writeRspamdConfig } from "./rspamd.ts";
import { tcpExchange } from "./tcp-probe.ts";

export interface ClamdService extends Signalable {
  host: string;
  port: number;
  stop(): Promise<void>;
}

export interface RedisService extends Signalable {
  url: string;
  port: number;
  stop(): Promise<void>;
}

export interface PebbleService {
  /** The ACME directory (RFC 8555 §7.1.1). */
  directoryUrl: string;
  /** The CA certificate of pebble's own HTTPS, to trust for the directory (relay.acme.caFile). */
  caPath: string;
  caPem: string;
  /** The root its certificates chain to (made anew on each start). */
  rootPem(): Promise<string>;
  stop(): Promise<void>;
}

export interface RspamdService extends Signalable {
  /** The normal worker: POST /checkv2. */
  normalUrl: string;
  /** The controller: /ping, /learnspam, /learnham, /stat. */
  controllerUrl: string;
  stop(): Promise<void>;
}

export interface ClamdOptions {
  /** clamd's StreamMaxLength in bytes; 25 MiB by default. */
  streamMaxLength?: number;
  /**
   * A signature database to load instead of this run's test signatures (clamd.ts): the quickstart
   * passes freshclam's /var/lib/clamav when it has one. The full database takes tens of seconds to load.
   */
  databaseDir?: string;
}

/** clamd with this run's signature database (clamd.ts) or `databaseDir`; ready when it answers PING. */
export async function startClamd(options: ClamdOptions = {}): Promise<ClamdService> {
  requirePackages(options.databaseDir === undefined ? { clamd: "clamav-daemon", [CLAM_EXE]: "clamav-testfiles" } : { clamd: "clamav-daemon" });
  return withFolder("clamd", async (dir) => {
    let databaseDir = options.databaseDir;
    if (databaseDir === undefined) {
      databaseDir = join(dir, "db");
      await mkdir(databaseDir);
      writeSignatures(databaseDir);
    }
    const port = await freePort();
    const config = join(dir, "clamd.conf");
    await writeFile(config, clamdConfig({ dir, databaseDir, port, streamMaxLength: options.streamMaxLength ?? 25 * 1024 * 1024 }));
    return {
      launch: () => spawnDaemon("clamd", "clamd", ["-c", config], join(dir, "clamd.log")),
      ready: async () => (await tcpExchange(port, "zPING\0", (reply) => reply.includes("\0"))) === "PONG\0",
      readyMs: options.databaseDir === undefined ? undefined : 180_000,
      service: { host: "127.0.0.1", port },
    };
  });
}

/** redis-server without persistence; ready when it answers PING. `port`: to restart one where clients expect it. */
export async function startRedis(options: { port?: number } = {}): Promise<RedisService> {
  requirePackages({ "redis-server": "redis-server" });
  return withFolder("redis", async (dir) => {
    const port = options.port ?? (await freePort());
    const args = ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir, "--daemonize", "no"];
    return {
      launch: () => spawnDaemon("redis-server", "redis-server", args, join(dir, "redis.log")),
      ready: async () => (await tcpExchange(port, "PING\r\n", (reply) => reply.includes("\r\n"))) === "+PONG\r\n",
      service: { url: `redis://127.0.0.1:${port}`, port },
    };
  });
}

/**
 * pebble, the ACME test server (pebble.ts), asking the harness's unbound (`dnsPort`) for the names it
 * validates and connecting to `httpPort` for HTTP-01; ready when its directory answers over HTTPS.
 */
export async function startPebble(options: { dnsPort: number; httpPort: number; validitySeconds: number }): Promise<PebbleService> {
  requirePackages({ pebble: "pebble" });
  return withFolder("pebble", async (dir) => {
    const port = await freePort();
    const managementPort = await freePort();
    const { configPath, ca } = writePebbleConfig(dir, { port, managementPort, httpPort: options.httpPort, validitySeconds: options.validitySeconds });
    const directoryUrl = `https://127.0.0.1:${port}/dir`;
    return {
      launch: () =>
        spawnDaemon("pebble", "pebble", ["-config", configPath, "-dnsserver", `127.0.0.1:${options.dnsPort}`], join(dir, "pebble.log"), { env: PEBBLE_ENV }),
      ready: async () => (await httpsGet(directoryUrl, ca.certPem)).includes('"newOrder"'),
      service: { directoryUrl, caPath: ca.certPath, caPem: ca.certPem, rootPem: () => httpsGet(`https://127.0.0.1:${managementPort}/roots/0`, ca.certPem) },
    };
  });
}

/** The body of a GET over HTTPS trusting `ca` alone; a status other than 200 throws. */
function httpsGet(url: string, ca: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const request = get(url, { ca, agent: false }, (response) => {
      let body = "";
      response.setEncoding("utf8");
      response.on("data", (chunk: string) => (body += chunk));
      response.on("end", () => (response.statusCode === 200 ? resolve(body) : reject(new Error(`${url}: HTTP ${response.statusCode}`))));
    });
    request.on("error", reject);
  });
}

/**
 * rspamd on Debian's configuration plus this run's local.d/override.d (rspamd.ts), its DNS the
 * harness's unbound (`inject("harness").dnsPort`); ready when the controller answers /ping with "pong".
 * A cold Hyperscan cache makes the first start on a machine take ~20 s: give the hook time.
 */
export async function startRspamd(options: { redisUrl: string; dnsPort: number }): Promise<RspamdService> {
  requirePackages({ rspamd: "rspamd" });
  return withFolder("rspamd", async (dir) => {
    const [normalPort, controllerPort, fuzzyPort] = [await freePort(), await freePort(), await freePort()];
    const confDir = join(dir, "conf");
    writeRspamdConfig({ dir: confDir, normalPort, controllerPort, fuzzyPort, redisUrl: options.redisUrl, dnsPort: options.dnsPort });
    const vars = { DBDIR: join(dir, "db"), RUNDIR: join(dir, "run"), LOGDIR: join(dir, "log"), LOCAL_CONFDIR: confDir };
    for (const folder of [vars.DBDIR, vars.RUNDIR, vars.LOGDIR]) await mkdir(folder);
    // -i: allow running as root (then -u/-g keep it root rather than switching to _rspamd).
    const asRoot = process.getuid?.() === 0 ? ["-u", "root", "-g", "root"] : [];
    const args = ["-f", "-i", ...asRoot, ...Object.entries(vars).flatMap(([name, value]) => ["--var", `${name}=${value}`])];
    const controllerUrl = `http://127.0.0.1:${controllerPort}`;
    return {
      launch: () => spawnDaemon("rspamd", "rspamd", args, join(dir, "rspamd.log"), { processGroup: true }),
      ready: async () => (await (await fetch(`${controllerUrl}/ping`, { signal: AbortSignal.timeout(500) })).text()).trim() === "pong",
      readyMs: 60_000,
      service: { normalUrl: `http://127.0.0.1:${normalPort}`, controllerUrl },
    };
  });
}

/** Each program (or file, by absolute path) → the Debian package that provides it. */
function requirePackages(needs: Readonly<Record<string, string>>): void {
  const missing = Object.entries(needs)
    .filter(([what]) => (what.startsWith("/") ? !existsSync(what) : findProgram(what) === undefined))
    .map(([, pkg]) => pkg);
  if (missing.length > 0) throw new Error(`this test needs Debian packages: apt-get install -y ${[...new Set(missing)].join(" ")}`);
}

/** How to run a service prepared in its folder: the daemon's start, its readiness probe and how long it may take. */
interface Launch<S> {
  launch: () => Daemon;
  ready: () => Promise<boolean>;
  readyMs?: number;
  service: S;
}

/**
 * Prepares the service in a fresh temp folder with `start` and runs it until ready; the service's stop()
 * also removes the folder, as does a failure. restart() runs the same daemon again, in the same folder.
 */
async function withFolder<S>(name: string, start: (dir: string) => Promise<Launch<S>>): Promise<S & Signalable & { stop(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), `edgemx-${name}-`));
  try {
    const { launch, ready, readyMs, service } = await start(dir);
    let daemon = launch();
    await readyOrStopped(daemon, ready, readyMs);
    return {
      ...service,
      signal: (signal) => daemon.signal(signal),
      async restart() {
        await daemon.stop();
        daemon = launch();
        await readyOrStopped(daemon, ready, readyMs);
      },
      async stop() {
        await daemon.stop();
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

/** Waits for readiness; a daemon that does not get there is stopped before the error propagates. */
async function readyOrStopped(daemon: Daemon, ready: () => Promise<boolean>, timeoutMs?: number): Promise<void> {
  try {
    await waitUntilReady(daemon, ready, timeoutMs);
  } catch (err) {
    await daemon.stop();
    throw err;
  }
}
