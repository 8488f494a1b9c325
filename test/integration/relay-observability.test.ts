// What an operator sees of the relay (docs/operations.md): one log line per refused command with the
// tracking id, client, HELO, sender, recipient, check and reply; `npm run why` telling a session's
// story from that log (the real CLI, over the log file a real relay wrote, and over standard input);
// the Prometheus metrics the same traffic counted, which Debian's promtool accepts; a scan and a score
// that fail in traffic (clamd and rspamd gone) and a delivery that fails at a real LMTP next hop, with
// the DSN it queues, counted; and /healthz and /readyz over real dependencies — the harness's
// resolver, clamd, Redis, rspamd and the Worker's verdict API in workerd — answering, and the same
// dependencies gone.
import { spawnSync } from "node:child_process";
import { createSocket } from "node:dgram";
import { appendFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { SMTPServer } from "smtp-server";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { parseConfig } from "../../core/config/load.ts";
import type { ConfigInput } from "../../core/config/schema.ts";
import { workerPart } from "../../core/config/worker.ts";
import { createLogger } from "../../relay-node/src/log/log.ts";
import { PROBE_LIMIT_MS } from "../../relay-node/src/metrics/health.ts";
import { startRelay, type RelayOverrides, type RunningRelay } from "../../relay-node/src/relay.ts";
import { startBlackhole } from "../harness/blackhole.ts";
import { freePort } from "../harness/process.ts";
import { LOCAL, messageWithAttachment, relayDocument, testMessage, type ConnectionSettings, type RelaySettings } from "../harness/relay.ts";
import { startClamd, startRedis, startRspamd, type ClamdService, type RedisService, type RspamdService } from "../harness/services.ts";
import { openSmtp, type SmtpDialogue } from "../harness/smtp-client.ts";
import { bundleWorker, startWorker, type RunningWorker } from "../harness/worker.ts";
import { TEST_DNS } from "../harness/zones.ts";

const harness = inject("harness");
const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const NODE = join(ROOT, "node_modules/.bin/node");
const dir = mkdtempSync(join(tmpdir(), "edgemx-observability-"));
const { sender, dnsbl } = TEST_DNS;
const GOOD_IP = sender.authorizedIp;
/** A sender domain whose mail is taken only over TLS (connection.mandatoryTls): MAIL FROM without STARTTLS gets 530. */
const TLS_ONLY_DOMAIN = TEST_DNS.insecure.domain;
const VERDICT_TOKEN = "observability-verdict-token";

afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface LoggedRelay {
  relay: RunningRelay;
  /** The relay's log as pino wrote it, one JSON line each. */
  logFile: string;
  logs: Record<string, unknown>[];
  metricsUrl: string;
}

let runs = 0;

/** A relay of the harness (relay.ts's document) whose log lines also go to a file, metrics on a free port. */
async function startLoggedRelay(
  relay: RelaySettings,
  env: NodeJS.ProcessEnv = {},
  overrides: RelayOverrides = {},
  connection: ConnectionSettings = {},
): Promise<LoggedRelay> {
  const folder = join(dir, `relay-${++runs}`);
  // The DNS health probe asks relay.outbound.dnssecProbeName: the harness's resolver serves only its test zones.
  const document: ConfigInput = relayDocument(folder, harness.dnsPort, { outbound: { dnssecProbeName: sender.domain }, ...relay }, connection);
  const logFile = join(dir, `relay-${runs}.log`);
  const logs: Record<string, unknown>[] = [];
  const logger = createLogger("info", {
    write: (line: string) => {
      appendFileSync(logFile, line);
      logs.push(JSON.parse(line) as Record<string, unknown>);
    },
  });
  const running = await startRelay(parseConfig(document), {
    listen: { host: "127.0.0.1", port: 0 },
    metricsListen: { host: "127.0.0.1", port: 0 },
    logger,
    env,
    delivery: { pollIntervalMs: 200 },
    ...overrides,
  });
  return { relay: running, logFile, logs, metricsUrl: `http://127.0.0.1:${running.metricsPort}` };
}

async function greeted(port: number, localAddress: string, helo = sender.mailHost): Promise<SmtpDialogue> {
  const smtp = await openSmtp(port, { localAddress });
  expect(await smtp.reply()).toMatch(/^220 /);
  expect(await smtp.command(`EHLO ${helo}`)).toMatch(/^250[- ]/);
  return smtp;
}

/** DATA with the message (no line of it starts with a dot); the final reply, its text UTF-8 (the en dash of ours). */
async function data(smtp: SmtpDialogue, message: string): Promise<string> {
  expect(await smtp.command("DATA")).toMatch(/^354 /);
  smtp.write(`${message}\r\n.\r\n`);
  return Buffer.from(await smtp.reply(), "latin1").toString("utf8");
}

async function quit(smtp: SmtpDialogue): Promise<void> {
  await smtp.command("QUIT");
  await smtp.closed;
}

/** Waits for a condition on the log (the session line is written once the session's checks are in). */
async function until(what: string, condition: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !condition(); i++) await new Promise((resolve) => setTimeout(resolve, 25));
  if (!condition()) throw new Error(`timed out waiting for ${what}`);
}

/** `npm run why` as an operator runs it: the CLI in a process of its own. */
function why(args: string[], stdin?: string): { status: number | null; stdout: string; stderr: string } {
  const run = spawnSync(NODE, ["relay-node/src/cli/why.ts", ...args], { cwd: ROOT, encoding: "utf8", input: stdin ?? "", timeout: 30_000 });
  return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}

/** One sample of the Prometheus text format, by its exact series (name and labels as printed). */
function sample(text: string, series: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

function promtool(args: string[], input?: string): { status: number | null; output: string } {
  const run = spawnSync("promtool", args, { encoding: "utf8", input: input ?? "", timeout: 30_000 });
  return { status: run.status, output: `${run.stdout}${run.stderr}` };
}

describe("a refused command's log line, its count and its story", () => {
  let logged: LoggedRelay;
  const refused: { clean: string; banned: string; dnsbl: string } = { clean: "", banned: "", dnsbl: "" };

  beforeAll(async () => {
    // The judge in a pool of two threads, every message there however small (relay.threadsFromBytes 0), whose CPU per verdict is counted (edgemx_judge_cpu_seconds).
    logged = await startLoggedRelay({ threads: 2, threadsFromBytes: 0 }, {}, {}, { mandatoryTls: { domains: [TLS_ONLY_DOMAIN] } });
    const port = logged.relay.port!;

    // A session from a good client: a MAIL the parser refuses, a MAIL that needs TLS, an unknown
    // recipient, a banned attachment (its reply names an id), then a clean message.
    const good = await greeted(port, GOOD_IP);
    expect(await good.command("MAIL FROM:<no closing bracket")).toMatch(/^501 /);
    expect(await good.command(`MAIL FROM:<carol@${TLS_ONLY_DOMAIN}>`)).toBe("530 5.7.0 Must issue a STARTTLS command first");
    expect(await good.command(`MAIL FROM:<bob@${sender.domain}>`)).toMatch(/^250 /);
    expect(await good.command(`RCPT TO:<nobody@${LOCAL.domain}>`)).toMatch(/^550 5\.1\.1 /);
    expect(await good.command(`RCPT TO:<${LOCAL.mailbox}>`)).toMatch(/^250 /);
    refused.banned = await data(good, messageWithAttachment("invoice.exe", Buffer.from("MZ not really a program")));
    expect(refused.banned).toMatch(/^554 5\.7\.0 Reject, id=\d{5}-\d{2} /);
    expect(await good.command(`MAIL FROM:<bob@${sender.domain}>`)).toMatch(/^250 /);
    expect(await good.command(`RCPT TO:<${LOCAL.mailbox}>`)).toMatch(/^250 /);
    refused.clean = await data(good, testMessage());
    expect(refused.clean).toMatch(/^250 2\.0\.0 Ok: queued as /);
    await quit(good);

    // A session from a listed client: the DNSBL's finding answers at RCPT TO.
    const listed = await greeted(port, dnsbl.listedIp);
    expect(await listed.command(`MAIL FROM:<bob@${sender.domain}>`)).toMatch(/^250 /);
    refused.dnsbl = await listed.command(`RCPT TO:<${LOCAL.mailbox}>`);
    expect(refused.dnsbl).toBe(`554 5.7.1 Service unavailable; Client host [${dnsbl.listedIp}] blocked using ${dnsbl.zone}`);
    await quit(listed);

    await logged.relay.delivery.idle();
    await until("both session lines", () => logged.logs.filter((l) => l.event === "session").length === 2);
  }, 60_000);
  afterAll(() => logged?.relay.stop());

  const refusals = (clientIp: string): Record<string, unknown>[] => logged.logs.filter((l) => l.event === "refusal" && l.clientIp === clientIp);

  it("logs each refused command on a line of its own, the tracking id on the DATA refusal's", () => {
    const good = refusals(GOOD_IP);
    expect(good.map((l) => [l.stage, l.check, String(l.reply).slice(0, 3)])).toEqual([
      ["mail", "protocol", "501"],
      ["mail", "tls", "530"],
      ["rcpt", "recipient", "550"],
      ["data", "BANNED", "554"],
    ]);
    const session = good[0]!.session;
    const bannedId = /id=(\d{5}-\d{2})/.exec(refused.banned)![1];
    for (const line of good) expect(line).toMatchObject({ listener: "mx", session, clientIp: GOOD_IP, helo: sender.mailHost });
    expect(good[1]).toMatchObject({ mailFrom: `carol@${TLS_ONLY_DOMAIN}`, id: null, reply: "530 5.7.0 Must issue a STARTTLS command first" });
    // From RCPT TO on, the connect checks are in: the client's confirmed name is on the line.
    expect(good[2]).toMatchObject({ mailFrom: `bob@${sender.domain}`, rcpt: `nobody@${LOCAL.domain}`, verifiedName: sender.mailHost, id: null });
    expect(good[3]).toMatchObject({
      id: bannedId,
      mailFrom: `bob@${sender.domain}`,
      rcptTo: [LOCAL.mailbox],
      verifiedName: sender.mailHost,
      reply: refused.banned,
    });
    // The message line of the refused message carries the same id.
    expect(logged.logs.find((l) => l.event === "message" && l.id === bannedId)).toMatchObject({ reply: refused.banned, session });

    const [listed] = refusals(dnsbl.listedIp);
    expect(refusals(dnsbl.listedIp)).toHaveLength(1);
    expect(listed).toMatchObject({ stage: "rcpt", check: "dnsbl", rcpt: LOCAL.mailbox, id: null, reply: refused.dnsbl });
    expect(logged.logs.find((l) => l.event === "session" && l.session === session)).toMatchObject({ refusals: 4, messages: 1 });
  });

  it("counts the same traffic in /metrics, in a format promtool accepts", async () => {
    const response = await fetch(`${logged.metricsUrl}/metrics`);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await response.text();
    const check = promtool(["check", "metrics"], text);
    expect(check.output).toBe("");
    expect(check.status).toBe(0);

    const refusal = (stage: string, check: string, code: number): number | undefined =>
      sample(text, `edgemx_smtp_refusals_total{listener="mx",stage="${stage}",check="${check}",code="${code}"}`);
    expect([refusal("mail", "protocol", 501), refusal("mail", "tls", 530), refusal("rcpt", "recipient", 550)]).toEqual([1, 1, 1]);
    expect([refusal("data", "BANNED", 554), refusal("rcpt", "dnsbl", 554)]).toEqual([1, 1]);
    expect(sample(text, 'edgemx_messages_accepted_total{listener="mx"}')).toBe(1);
    expect(sample(text, 'edgemx_smtp_sessions_total{listener="mx"}')).toBe(2);
    expect(sample(text, 'edgemx_smtp_sessions_open{listener="mx"}')).toBe(0);
    expect(sample(text, 'edgemx_deliveries_total{next_hop="maildir",result="delivered"}')).toBe(1);
    expect(sample(text, 'edgemx_delivery_latency_seconds_count{next_hop="maildir"}')).toBe(1);
    expect(sample(text, 'edgemx_judge_seconds_count{judge="in-process",action="reject"}')).toBe(1);
    expect(sample(text, 'edgemx_judge_seconds_count{judge="in-process",action="accept"}')).toBe(1);
    expect(sample(text, 'edgemx_judge_cpu_seconds_count{action="reject"}')).toBe(1);
    expect(sample(text, 'edgemx_judge_cpu_seconds_count{action="accept"}')).toBe(1);
    // Each RCPT TO answered (three of the good client, one of the listed one) and each DATA decided.
    expect(sample(text, 'edgemx_smtp_stage_seconds_count{listener="mx",stage="rcpt"}')).toBe(4);
    expect(sample(text, 'edgemx_smtp_stage_seconds_count{listener="mx",stage="data"}')).toBe(2);
    expect(sample(text, 'edgemx_smtp_stage_seconds_count{listener="mx",stage="connect"}')).toBe(2);
    expect(sample(text, "edgemx_queue_messages")).toBe(0);
    expect(sample(text, "edgemx_queue_oldest_message_age_seconds")).toBe(0);
    // The self-signed certificate of a relay without relay.tls: ten years.
    expect(sample(text, "edgemx_tls_certificate_not_after_seconds")).toBeGreaterThan(Date.now() / 1000 + 9 * 365 * 86400);
    expect(sample(text, 'edgemx_dependency_up{dependency="dns"}')).toBe(1);
  });

  it("`npm run why` tells the refused session's story from the tracking id, the log file read", () => {
    const bannedId = /id=(\d{5}-\d{2})/.exec(refused.banned)![1]!;
    const queueId = /queued as (\S+)/.exec(refused.clean)![1]!;
    const { status, stdout } = why([bannedId, logged.logFile]);
    expect(status).toBe(0);
    const session = String(refusals(GOOD_IP)[0]!.session);
    const lines = stdout.split("\n");
    expect(lines[0]).toBe(`session ${session} (mx)`);
    const told = (pattern: string): number => lines.findIndex((l) => l.includes(pattern));
    const story = [
      `connect from ${GOOD_IP} (${sender.mailHost})`,
      `MAIL FROM refused (check protocol): 501 `,
      `MAIL FROM <carol@${TLS_ONLY_DOMAIN}> refused (check tls): 530 5.7.0 Must issue a STARTTLS command first`,
      `RCPT TO <nobody@${LOCAL.domain}> refused (check recipient): 550 5.1.1`,
      `message ${bannedId} from <bob@${sender.domain}> to <${LOCAL.mailbox}>`,
      `DATA refused (check BANNED, id ${bannedId}): ${refused.banned}`,
      `: ${refused.clean}`,
      `closed: 1 message(s) accepted, 4 command(s) refused`,
    ].map(told);
    expect(
      story.every((at) => at > 0),
      stdout,
    ).toBe(true);
    expect(story).toEqual([...story].sort((a, b) => a - b));
    // The accepted message's delivery into the Maildir, before its 250 (docs/queue.md, delivery before the reply).
    const delivery = told(`delivery attempt 1 of ${queueId} (done)`);
    expect(delivery, stdout).toBeGreaterThan(told(`DATA refused (check BANNED`));
    expect(delivery, stdout).toBeLessThan(told(`: ${refused.clean}`));
    expect(stdout).toContain(`<${LOCAL.mailbox}> delivered: 250 `);
    expect(stdout).not.toContain(dnsbl.listedIp);
  });

  it("`npm run why` finds an id-less refusal by the client address it names, reading standard input", () => {
    const log = logged.logs.map((l) => JSON.stringify(l)).join("\n");
    const { status, stdout } = why([dnsbl.listedIp], log);
    expect(status).toBe(0);
    expect(stdout).toContain(`RCPT TO <${LOCAL.mailbox}> refused (check dnsbl): ${refused.dnsbl}`);
    expect(stdout).toContain(`connect from ${dnsbl.listedIp}`);
    expect(stdout).not.toContain(GOOD_IP);

    const none = why(["00000-00", logged.logFile]);
    expect(none.status).toBe(1);
    expect(none.stderr).toBe(`edgemx why: no line of ${logged.logFile} names 00000-00\n`);
  });
});

describe("a dependency that fails in traffic", () => {
  it("answers 451 with a tracking id, logs the refusal under `temporary`, and counts the failed scan and score", async () => {
    // clamd and rspamd gone after the start: the relay starts (and warns), and each message fails closed.
    const [closedClamd, closedRspamd] = [await freePort(), await freePort()];
    const logged = await startLoggedRelay({
      clamd: { enabled: true, host: "127.0.0.1", port: closedClamd, timeoutMs: 2000 },
      rspamd: { url: `http://127.0.0.1:${closedRspamd}` },
    });
    try {
      const smtp = await greeted(logged.relay.port!, GOOD_IP);
      expect(await smtp.command(`MAIL FROM:<bob@${sender.domain}>`)).toMatch(/^250 /);
      expect(await smtp.command(`RCPT TO:<${LOCAL.mailbox}>`)).toMatch(/^250 /);
      const reply = await data(smtp, testMessage());
      await quit(smtp);
      expect(reply).toMatch(/^451 4\.3\.0 .*id=\d{5}-\d{2}\b/);
      const id = /id=(\d{5}-\d{2})/.exec(reply)![1];

      const text = await (await fetch(`${logged.metricsUrl}/metrics`)).text();
      expect(sample(text, 'edgemx_dependency_errors_total{dependency="clamd"}')).toBe(1);
      expect(sample(text, 'edgemx_dependency_errors_total{dependency="rspamd"}')).toBe(1);
      expect(sample(text, 'edgemx_smtp_refusals_total{listener="mx",stage="data",check="temporary",code="451"}')).toBe(1);
      expect(sample(text, 'edgemx_messages_accepted_total{listener="mx"}')).toBeUndefined();
      expect(logged.logs.filter((l) => l.event === "refusal")).toMatchObject([{ stage: "data", check: "temporary", id, clientIp: GOOD_IP, reply }]);
    } finally {
      await logged.relay.stop();
    }
  });
});

describe("a delivery that fails", () => {
  it("counts the attempt by next hop and result, the bounce (DSN) queued, and the queue it leaves", async () => {
    // An LMTP next hop that has no such user: the recipient fails (5.1.1) and the sender gets a DSN.
    const lmtp = new SMTPServer({
      lmtp: true,
      disabledCommands: ["AUTH"],
      logger: false,
      onRcptTo: (_address, _session, callback) => callback(Object.assign(new Error("5.1.1 No such user"), { responseCode: 550 })),
    });
    await new Promise<void>((resolve) => lmtp.listen(0, "127.0.0.1", resolve));
    // The DSN's own delivery, to the sender's MX (127.0.0.10), meets a closed port and is deferred: it stays queued.
    const closedMx = await freePort();
    const logged = await startLoggedRelay(
      { nextHop: { type: "lmtp", host: "127.0.0.1", port: (lmtp.server.address() as { port: number }).port } },
      {},
      { remote: { port: closedMx, timeouts: { connectMs: 2000, greetingMs: 2000, idleMs: 2000, totalMs: 5000 } } },
    );
    try {
      const smtp = await greeted(logged.relay.port!, GOOD_IP);
      expect(await smtp.command(`MAIL FROM:<bob@${sender.domain}>`)).toMatch(/^250 /);
      expect(await smtp.command(`RCPT TO:<${LOCAL.mailbox}>`)).toMatch(/^250 /);
      expect(await data(smtp, testMessage())).toMatch(/^250 2\.0\.0 Ok: queued as /);
      await quit(smtp);
      const attempts = (): Record<string, unknown>[] => logged.logs.filter((l) => l.msg === "delivery attempt");
      await until("the message's and the DSN's delivery attempts", () => attempts().length === 2);

      const text = await (await fetch(`${logged.metricsUrl}/metrics`)).text();
      expect(sample(text, 'edgemx_deliveries_total{next_hop="lmtp",result="failed"}')).toBe(1);
      expect(sample(text, 'edgemx_delivery_latency_seconds_count{next_hop="lmtp"}')).toBeUndefined();
      expect(sample(text, 'edgemx_dsns_total{action="failed"}')).toBe(1);
      expect(sample(text, 'edgemx_deliveries_total{next_hop="remote",result="deferred"}')).toBe(1);
      expect(sample(text, "edgemx_queue_messages")).toBe(1);
      expect(sample(text, "edgemx_queue_oldest_message_age_seconds")).toBeGreaterThan(0);
    } finally {
      await logged.relay.stop();
      await new Promise<void>((resolve) => lmtp.close(() => resolve()));
    }
  });
});

describe("health: /healthz and /readyz over the real dependencies", () => {
  let clamd: ClamdService;
  let redis: RedisService;
  let rspamd: RspamdService;
  let worker: RunningWorker;
  let verdictUrl: string;

  beforeAll(async () => {
    [clamd, redis] = await Promise.all([startClamd(), startRedis()]);
    const bundle = await bundleWorker(join(dir, "worker"));
    [rspamd, worker] = await Promise.all([
      startRspamd({ redisUrl: redis.url, dnsPort: harness.dnsPort }),
      startWorker({
        bundle,
        configJson: JSON.stringify(workerPart(parseConfig(relayDocument(join(dir, "worker-config"), harness.dnsPort)))),
        bindings: { DOH_URL: harness.dohUrl, VERDICT_TOKEN },
      }),
    ]);
    verdictUrl = new URL("/v1/verdict", worker.url).href;
  }, 180_000);
  afterAll(async () => {
    await Promise.all([clamd?.stop(), rspamd?.stop(), worker?.stop()]);
    await redis?.stop();
  });

  /** Greylisting on, so that its Redis store is a dependency (connection.greylist; the store is relay.store). */
  const GREYLISTING: ConnectionSettings = { greylist: { enabled: true } };

  /** Every dependency a configuration can name, at `where` (with GREYLISTING for Redis). */
  function dependencies(where: { dnsPort: number; clamdPort: number; redisUrl: string; rspamdUrl: string }): RelaySettings {
    return {
      resolver: { host: "127.0.0.1", port: where.dnsPort, timeoutMs: 3000 },
      clamd: { enabled: true, host: "127.0.0.1", port: where.clamdPort, timeoutMs: 5000 },
      store: { type: "redis", url: where.redisUrl },
      rspamd: { url: where.rspamdUrl },
      verdict: { url: verdictUrl, timeoutMs: 5000 },
    };
  }

  it("answers ready, with each dependency named, when all of them answer", async () => {
    const logged = await startLoggedRelay(
      dependencies({ dnsPort: harness.dnsPort, clamdPort: clamd.port, redisUrl: redis.url, rspamdUrl: rspamd.normalUrl }),
      { EDGEMX_VERDICT_TOKEN: VERDICT_TOKEN },
      {},
      GREYLISTING,
    );
    try {
      const health = await fetch(`${logged.metricsUrl}/healthz`);
      expect([health.status, await health.text()]).toEqual([200, "ok\n"]);
      const ready = await fetch(`${logged.metricsUrl}/readyz`);
      expect([ready.status, await ready.text()]).toEqual([200, "ready\ndns ok\nclamd ok\nrspamd ok\nredis ok\nverdict_api ok\n"]);
      const metrics = await (await fetch(`${logged.metricsUrl}/metrics`)).text();
      for (const name of ["dns", "clamd", "rspamd", "redis", "verdict_api"])
        expect(sample(metrics, `edgemx_dependency_up{dependency="${name}"}`), name).toBe(1);
    } finally {
      await logged.relay.stop();
    }
  });

  it("answers 503 naming each one that does not, a silent one after the probe bound, and says so in the metrics", async () => {
    // A resolver that takes queries and never answers, and a clamd that takes connections and never answers.
    const silentDns = createSocket("udp4");
    await new Promise<void>((resolve) => silentDns.bind(0, "127.0.0.1", resolve));
    const silentClamd = await startBlackhole();
    const [closedRedis, closedRspamd] = [await freePort(), await freePort()];
    const logged = await startLoggedRelay(
      dependencies({
        dnsPort: silentDns.address().port,
        clamdPort: silentClamd.port,
        redisUrl: `redis://127.0.0.1:${closedRedis}`,
        rspamdUrl: `http://127.0.0.1:${closedRspamd}`,
      }),
      { EDGEMX_VERDICT_TOKEN: "not-the-token" },
      {},
      GREYLISTING,
    );
    try {
      const ready = await fetch(`${logged.metricsUrl}/readyz`);
      expect(ready.status).toBe(503);
      const lines = (await ready.text()).trimEnd().split("\n");
      expect(lines[0]).toBe("not ready");
      expect(lines.slice(1).map((l) => /^(\S+) down: /.exec(l)?.[1])).toEqual(["dns", "clamd", "rspamd", "redis", "verdict_api"]);
      expect(lines).toContain(`dns down: no answer within ${PROBE_LIMIT_MS} ms`);
      expect(lines).toContain(`clamd down: clamd 127.0.0.1:${silentClamd.port}: no reply within ${PROBE_LIMIT_MS} ms`);
      expect(lines).toContain(`rspamd down: fetch failed: connect ECONNREFUSED 127.0.0.1:${closedRspamd}`);
      expect(lines).toContain(`redis down: connect ECONNREFUSED 127.0.0.1:${closedRedis}`);
      expect(lines).toContain("verdict_api down: the verdict API refuses the token in EDGEMX_VERDICT_TOKEN");
      const metrics = await (await fetch(`${logged.metricsUrl}/metrics`)).text();
      for (const name of ["dns", "clamd", "rspamd", "redis", "verdict_api"])
        expect(sample(metrics, `edgemx_dependency_up{dependency="${name}"}`), name).toBe(0);
      const health = await fetch(`${logged.metricsUrl}/healthz`);
      expect(health.status).toBe(200);
    } finally {
      await logged.relay.stop();
      await silentClamd.close();
      silentDns.close();
    }
  });
});
