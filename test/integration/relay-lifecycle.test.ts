// The relay's lifecycle: a start that fails late and a normal stop both leave nothing open — no bound
// port, no control socket, no file handle under the data folder, no judge thread, nothing that keeps the
// process alive.
// What is open is read from the process itself: /proc/self/fd (every descriptor, sockets included)
// and the async resources the start created that were never destroyed (async_hooks: servers, sockets,
// timers, unref'd or not; process.getActiveResourcesInfo() would miss unref'd timers and count the
// test runner's own).
import { createHook } from "node:async_hooks";
import { existsSync, mkdtempSync, readdirSync, readlinkSync, rmSync } from "node:fs";
import { Agent as HttpsAgent, request as httpsRequest } from "node:https";
import { connect, createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { join } from "node:path";
import { afterAll, describe, expect, inject, it } from "vitest";
import { parseConfig } from "../../core/config/load.ts";
import type { EdgemxConfig } from "../../core/config/schema.ts";
import { controlSocketPath, RelayNotRunning, sendControlRequest } from "../../relay-node/src/control/control.ts";
import { createLogger } from "../../relay-node/src/log/log.ts";
import { startRelay, type RelayOverrides, type RunningRelay } from "../../relay-node/src/relay.ts";
import { SpamFilterSetupError } from "../../relay-node/src/spam/spam-filter.ts";
import { freePort } from "../harness/process.ts";
import { LOCAL, relayDocument } from "../harness/relay.ts";
import { startSmtpSink } from "../harness/smtp-sink.ts";
import { TEST_DNS } from "../harness/zones.ts";

const harness = inject("harness");
const dir = mkdtempSync(join(tmpdir(), "edgemx-relay-lifecycle-"));
const LEARN_TOKEN = "test-learn-token";
let runs = 0;

afterAll(() => rmSync(dir, { recursive: true, force: true }));

/**
 * A relay with every state store on disk in its own folder (spool, greylist, TLS-RPT counts, MTA-STS
 * cache, users), a learn listener (which needs EDGEMX_LEARN_TOKEN) and, where asked, the submission
 * listeners. rspamd's controller is never contacted at start.
 */
function lifecycleConfig(folder: string, submission: boolean): EdgemxConfig {
  return parseConfig(
    relayDocument(
      folder,
      harness.dnsPort,
      {
        store: { type: "sqlite", path: join(folder, "greylist.sqlite") },
        rspamd: { controllerUrl: "http://127.0.0.1:11334/", learnListener: {} },
        users: { path: join(folder, "users.sqlite") },
        listeners: { submission: { enabled: submission }, submissions: { enabled: submission } },
        // The judge pool's threads, however many cores this machine has.
        threads: 2,
      },
      { greylist: { enabled: true } },
    ),
  );
}

/** Every open descriptor of this process, as its /proc link reads: a path, `socket:[inode]`, `pipe:[…]`. */
function openDescriptors(): string[] {
  const links: string[] = [];
  for (const fd of readdirSync("/proc/self/fd")) {
    try {
      links.push(readlinkSync(`/proc/self/fd/${fd}`));
    } catch {
      // the directory listing's own descriptor, closed by now
    }
  }
  return links.sort();
}

/**
 * The async resources (other than promises) created from now on and not destroyed yet, by type. The
 * check's own waiting is not recorded: `stopRecording()` before it, then `alive()` and `disable()`.
 */
function trackAsyncResources(): { alive(): string[]; stopRecording(): void; disable(): void } {
  const alive = new Map<number, string>();
  let recording = true;
  const hook = createHook({
    init(asyncId, type) {
      if (recording && type !== "PROMISE") alive.set(asyncId, type);
    },
    destroy(asyncId) {
      alive.delete(asyncId);
    },
  }).enable();
  return { alive: () => [...alive.values()].sort(), stopRecording: () => (recording = false), disable: () => hook.disable() };
}

/** What the process holds before a relay starts, and what the relay's start creates. */
interface Snapshot {
  descriptors: string[];
  created: ReturnType<typeof trackAsyncResources>;
}

function snapshot(): Snapshot {
  return { descriptors: openDescriptors(), created: trackAsyncResources() };
}

/** smtp-server's wait before the greeting (smtp-connection.js, init()), to catch early talkers. */
const SMTP_SERVER_GREETING_DELAY_MS = 100;

/** How long Node's HTTP server keeps its cached Date header: at most to the next full second. */
const NODE_HTTP_DATE_CACHE_MS = 1000;

/** A full garbage collection: --expose-gc, set from here as vitest starts the process. */
const collectGarbage = (): void => (setFlagsFromString("--expose-gc"), runInNewContext("gc") as () => void)();

/**
 * Lets destroy hooks run: they follow close callbacks by a turn of the event loop, and a finished
 * request (a crypto job, a TLS wrap) is destroyed only when it is collected.
 */
async function settle(): Promise<void> {
  // smtp-server gives every accepted connection a 100 ms timer before its greeting and never clears it
  // (unref'd, it holds nothing open): a timer due later fires after it, so this one outlasts them all.
  await new Promise((resolve) => setTimeout(resolve, SMTP_SERVER_GREETING_DELAY_MS * 2));
  // Node's HTTP server caches its Date header until the next full second (node:internal/http utcDate(),
  // an unref'd timer the process owns, not the relay): after an HTTP answer, wait that second out.
  await new Promise((resolve) => setTimeout(resolve, NODE_HTTP_DATE_CACHE_MS));
  for (let turn = 0; turn < 5; turn++) await new Promise((resolve) => setImmediate(resolve));
  collectGarbage();
  for (let turn = 0; turn < 5; turn++) await new Promise((resolve) => setTimeout(resolve, 0));
}

function connects(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1");
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

/** The ports the relay said it listens on ("listen" log lines), by listener. */
function listenedPorts(logs: Record<string, unknown>[]): Record<string, number> {
  return Object.fromEntries(logs.filter((line) => line.event === "listen").map((line) => [line.listener as string, line.port as number]));
}

/** Checks (each on its own, so a failure lists every leak) that nothing the relay opened since `before` is still open. */
async function expectNothingLeftOpen(folder: string, config: EdgemxConfig, before: Snapshot, ports: number[]): Promise<void> {
  before.created.stopRecording();
  await settle();
  const leftAlive = before.created.alive();
  before.created.disable();

  for (const port of ports) expect.soft(await connects(port), `port ${port} still accepts connections`).toBe(false);
  const socketPath = controlSocketPath(config.relay.spool);
  await expect.soft(sendControlRequest(socketPath, { op: "list" }), "the control socket still answers").rejects.toThrow(RelayNotRunning);
  expect.soft(existsSync(socketPath), "the control socket file is left").toBe(false);
  const descriptors = openDescriptors();
  expect
    .soft(
      descriptors.filter((link) => link.startsWith(folder)),
      "descriptors of files in the data folder",
    )
    .toEqual([]);
  expect
    .soft(
      descriptors.filter((link) => !before.descriptors.includes(link)),
      "descriptors opened since the start",
    )
    .toEqual([]);
  expect.soft(leftAlive, "async resources (servers, sockets, timers) created by the start and not destroyed").toEqual([]);
}

function logsTo(): { logs: Record<string, unknown>[]; overrides: Pick<RelayOverrides, "logger"> } {
  const logs: Record<string, unknown>[] = [];
  return { logs, overrides: { logger: createLogger("info", { write: (line: string) => void logs.push(JSON.parse(line) as Record<string, unknown>) }) } };
}

const LISTEN_ANYWHERE: RelayOverrides = {
  listen: { host: "127.0.0.1", port: 0 },
  learnListen: { host: "127.0.0.1", port: 0 },
  submissionListen: { submission: { host: "127.0.0.1", port: 0 }, submissions: { host: "127.0.0.1", port: 0 } },
  metricsListen: { host: "127.0.0.1", port: 0 },
};

describe("the relay's lifecycle", () => {
  it("a start the spam filter refuses (a learn listener without EDGEMX_LEARN_TOKEN) closes everything it had opened", async () => {
    const folder = join(dir, `relay-${++runs}`);
    const config = lifecycleConfig(folder, false);
    const { logs, overrides } = logsTo();
    const before = snapshot();

    await expect(startRelay(config, { ...LISTEN_ANYWHERE, ...overrides, env: {} })).rejects.toThrow(SpamFilterSetupError);

    // The start got as far as the stores before the spam filter refused: they were opened.
    for (const store of ["greylist.sqlite", "tlsrpt.sqlite", "mta-sts.sqlite"]) expect(existsSync(join(folder, store)), store).toBe(true);
    await expectNothingLeftOpen(folder, config, before, Object.values(listenedPorts(logs)));
  });

  it("a start that fails once its listeners are bound (the submissions port is taken) frees every port", async () => {
    const folder = join(dir, `relay-${++runs}`);
    const config = lifecycleConfig(folder, true);
    const { logs, overrides } = logsTo();
    const taken: Server = createServer();
    await new Promise<void>((resolve) => taken.listen(0, "127.0.0.1", resolve));
    const takenPort = (taken.address() as { port: number }).port;
    const before = snapshot();

    await expect(
      startRelay(config, {
        ...LISTEN_ANYWHERE,
        submissionListen: { submission: { host: "127.0.0.1", port: 0 }, submissions: { host: "127.0.0.1", port: takenPort } },
        ...overrides,
        env: { EDGEMX_LEARN_TOKEN: LEARN_TOKEN },
      }),
    ).rejects.toThrow(`cannot listen on 127.0.0.1 port ${takenPort}`);
    await new Promise((resolve) => taken.close(resolve));

    const bound = listenedPorts(logs);
    expect(Object.keys(bound).sort()).toEqual(["learn", "mx", "submission"]);
    await expectNothingLeftOpen(folder, config, before, Object.values(bound));
  });

  it("stop() closes everything a successful start opened", async () => {
    const folder = join(dir, `relay-${++runs}`);
    const config = lifecycleConfig(folder, true);
    const { logs, overrides } = logsTo();
    const before = snapshot();

    const relay: RunningRelay = await startRelay(config, { ...LISTEN_ANYWHERE, ...overrides, env: { EDGEMX_LEARN_TOKEN: LEARN_TOKEN } });
    const bound = listenedPorts(logs);
    expect(Object.keys(bound).sort()).toEqual(["learn", "metrics", "mx", "submission", "submissions"]);
    for (const port of Object.values(bound)) expect(await connects(port)).toBe(true);
    expect(await sendControlRequest(controlSocketPath(config.relay.spool), { op: "list" })).toEqual({ ok: true, entries: [] });
    expect(openDescriptors().filter((link) => link.startsWith(folder)).length).toBeGreaterThan(0);
    // The judge pool runs (relay.threads): its threads are among what the start created, and must go with stop().
    expect(logs.find((line) => line.listener === "mx")?.judgeThreads).toBe(2);
    expect(before.created.alive().filter((type) => type === "WORKER")).toHaveLength(2);

    await relay.stop();
    await expectNothingLeftOpen(folder, config, before, Object.values(bound));
  });

  it("stop() closes the outbound SMTP session it kept open for the next message", async () => {
    const folder = join(dir, `relay-${++runs}`);
    const config = parseConfig(relayDocument(folder, harness.dnsPort));
    // The MX host of insecure.test; started before the snapshot, so only its connections count.
    const sinkPort = await freePort();
    const sink = await startSmtpSink(TEST_DNS.insecure.mxAddress, sinkPort);
    const { logs, overrides } = logsTo();
    const before = snapshot();

    // Sessions kept idle far longer than the test: only stop() can close this one.
    const relay = await startRelay(config, { ...LISTEN_ANYWHERE, ...overrides, remote: { port: sinkPort }, outboundSessions: { idleMs: 600_000 } });
    const bound = listenedPorts(logs);
    const message = new TextEncoder().encode(`From: ${LOCAL.mailbox}\r\nTo: bob@${TEST_DNS.insecure.domain}\r\nSubject: kept\r\n\r\nHello.\r\n`);
    await relay.spool.enqueue({ envelope: { mailFrom: LOCAL.mailbox, rcptTo: [`bob@${TEST_DNS.insecure.domain}`] }, message });
    relay.delivery.notify();
    while (relay.spool.list().length > 0) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(sink.transactions.map((t) => t.rcptTo)).toEqual([[`bob@${TEST_DNS.insecure.domain}`]]);
    expect(sink.openConnections(), "the session is kept open after the message").toBe(1);

    await relay.stop();
    await expectNothingLeftOpen(folder, config, before, Object.values(bound));
    expect(sink.openConnections()).toBe(0);
    await sink.stop();
  });

  it("stop() closes the scan endpoint and a client's kept-alive TLS connection to it", async () => {
    const folder = join(dir, `relay-${++runs}`);
    // clamd and rspamd on a port nothing listens on: they are only pinged at start, and a request
    // without the token is refused before any scan.
    const closed: Server = createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const closedPort = (closed.address() as { port: number }).port;
    await new Promise((resolve) => closed.close(resolve));
    const config = parseConfig(
      relayDocument(folder, harness.dnsPort, {
        clamd: { enabled: true, host: "127.0.0.1", port: closedPort },
        rspamd: { url: `http://127.0.0.1:${closedPort}/` },
        scanListener: {},
      }),
    );
    const { logs, overrides } = logsTo();
    const before = snapshot();

    const relay = await startRelay(config, { ...LISTEN_ANYWHERE, scanListen: { host: "127.0.0.1", port: 0 }, ...overrides, env: { EDGEMX_SCAN_TOKEN: "t" } });
    const bound = listenedPorts(logs);
    expect(Object.keys(bound).sort()).toEqual(["metrics", "mx", "scan"]);
    const agent = new HttpsAgent({ keepAlive: true, rejectUnauthorized: false });
    const status = await new Promise<number>((resolve, reject) => {
      const req = httpsRequest({ host: "127.0.0.1", port: bound.scan, path: "/v1/scan", method: "POST", agent }, (response) => {
        response.resume();
        response.on("end", () => resolve(response.statusCode ?? 0));
      });
      req.on("error", reject);
      req.end("x");
    });
    expect(status).toBe(401);

    await relay.stop();
    agent.destroy();
    await expectNothingLeftOpen(folder, config, before, Object.values(bound));
  });

  it("stop() with ACME closes its HTTP-01 responder and its retry timer, after a look that found no CA", async () => {
    const folder = join(dir, `relay-${++runs}`);
    // A port nothing listens on: the first look fails at once, and the service waits to retry.
    const closed: Server = createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const closedPort = (closed.address() as { port: number }).port;
    await new Promise((resolve) => closed.close(resolve));
    const config = parseConfig(relayDocument(folder, harness.dnsPort, { acme: { directoryUrl: `https://127.0.0.1:${closedPort}/dir` } }));
    const { logs, overrides } = logsTo();
    const before = snapshot();

    const relay = await startRelay(config, { ...LISTEN_ANYWHERE, acmeChallengeListen: { host: "127.0.0.1", port: 0 }, ...overrides });
    const bound = listenedPorts(logs);
    expect(Object.keys(bound).sort()).toEqual(["acme-http-01", "metrics", "mx"]);
    while (!logs.some((line) => line.msg === "no certificate from the CA this time")) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(logs.find((line) => line.msg === "no certificate from the CA this time")?.err).toMatch(
      `cannot reach the ACME directory https://127.0.0.1:${closedPort}/dir`,
    );

    await relay.stop();
    await expectNothingLeftOpen(folder, config, before, Object.values(bound));
  });
});
