// Three relays and one Redis on loopback (docs/scaling.md): each relay a process of its own
// (test/harness/relay-entry.ts, main.ts's start with remote delivery's port), on its own ports, spool
// and control socket, sharing only redis-server (relay.store) and the Maildir they deliver to.
// The load goes across them, and what one relay alone could not show holds:
// - the hourly quota and the login throttle of submission count the attempts at all three;
// - a greylisted first attempt at one relay passes when retried at another;
// - TLS-RPT counts of the sessions of all three make one report, sent by one relay;
// - a relay SIGKILLed in the middle of a burst strands nothing: its spool, adopted by a living relay
//   (`npm run queue -- adopt`), is delivered, so every message any relay answered 250 arrives.
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { Redis } from "ioredis";
import PostalMime from "postal-mime";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { UserStore } from "../../relay-node/src/users/store.ts";
import { readQueuedMessage, readSpoolEntries } from "../../relay-node/src/queue/spool.ts";
import { utcDay } from "../../relay-node/src/tlsrpt/counts.ts";
import { copiesById, sendShare } from "../harness/burst.ts";
import { freePort } from "../harness/process.ts";
import { LOCAL, maildirMessages, relayDocument, testMessage } from "../harness/relay.ts";
import { npmRun, startRelayWithConfig, type RelayProcess } from "../harness/relay-process.ts";
import { startRedis, type RedisService } from "../harness/services.ts";
import { openSmtp } from "../harness/smtp-client.ts";
import { startSmtpSink, type SmtpSink } from "../harness/smtp-sink.ts";
import { runSwaks, writeSwaksData, type SwaksRun } from "../harness/swaks.ts";
import { TEST_DNS } from "../harness/zones.ts";
import { until } from "../harness/until.ts";

const harness = inject("harness");
const dir = mkdtempSync(join(tmpdir(), "edgemx-multi-relay-"));
const { sender, dane } = TEST_DNS;
const MAILDIR = join(dir, "Maildir");
const ALICE = { user: LOCAL.mailbox, password: "correct horse battery" };
const BOB = { user: `bob@${LOCAL.domain}`, password: "another good one" };
/** Sends to another domain (the TLS-RPT test), untouched by the quota's and the throttle's tests. */
const DAVE = { user: `dave@${LOCAL.domain}`, password: "a third good one" };
const MAX_PER_HOUR = 3;
const MAX_AUTH_FAILURES = 3;
const GREYLIST_DELAY_SECONDS = 2;
const SENDER = `carol@${sender.domain}`;

interface Relay {
  name: string;
  spool: string;
  mx: number;
  submission: number;
  process: RelayProcess;
}

let redis: RedisService;
let sink: SmtpSink;
const relays: Relay[] = [];
let files = 0;

beforeAll(async () => {
  redis = await startRedis();
  // dane.test's MX host, without STARTTLS: DANE (RFC 7672 §2.2) refuses it, and each session counts as a TLS-RPT failure.
  sink = await startSmtpSink(dane.match.mxAddress);
  const usersPath = join(dir, "users.sqlite");
  const users = new UserStore(usersPath, { N: 2 ** 10, r: 8, p: 1 });
  await users.add(ALICE.user, ALICE.password);
  await users.add(BOB.user, BOB.password);
  await users.add(DAVE.user, DAVE.password);
  users.close();
  for (const name of ["one", "two", "three"]) {
    const folder = join(dir, name);
    const mx = await freePort();
    const submission = await freePort();
    const document = relayDocument(
      folder,
      harness.dnsPort,
      {
        listeners: { mx: { host: "127.0.0.1", port: mx }, submission: { host: "127.0.0.1", port: submission } },
        // The third relay's mailbox host does not answer: what it accepts stays in its spool until adopted.
        nextHop: name === "three" ? { type: "lmtp", host: "127.0.0.1", port: await freePort() } : { type: "maildir", path: MAILDIR },
        store: { type: "redis", url: redis.url },
        users: { path: usersPath },
        submission: { maxMessagesPerHour: MAX_PER_HOUR, maxAuthFailures: MAX_AUTH_FAILURES },
        metrics: { enabled: false },
      },
      { greylist: { enabled: true, delaySeconds: GREYLIST_DELAY_SECONDS } },
    );
    const configPath = join(dir, `${name}.json`);
    writeFileSync(configPath, JSON.stringify(document));
    const overrides = JSON.stringify({ remote: { port: sink.port } });
    const child = await startRelayWithConfig(configPath, { env: { EDGEMX_TEST_OVERRIDES: overrides }, entry: "test/harness/relay-entry.ts", tailOnly: true });
    relays.push({ name, spool: join(folder, "spool"), mx, submission, process: child });
  }
}, 120_000);

afterAll(async () => {
  for (const relay of relays) {
    if (relay.process.child.exitCode === null && relay.process.child.signalCode === null) relay.process.child.kill("SIGTERM");
    await relay.process.exited;
  }
  await sink?.stop();
  await redis?.stop();
  rmSync(dir, { recursive: true, force: true });
});

function submit(relay: Relay, auth: { user: string; password: string }, options: { to?: string; ip?: string } = {}): Promise<SwaksRun> {
  const data = join(dir, `message-${++files}.eml`);
  const to = options.to ?? ALICE.user;
  writeSwaksData(data, testMessage({ from: auth.user, to, subject: `via ${relay.name}` }));
  return runSwaks([
    ...["--server", `127.0.0.1:${relay.submission}`, "--local-interface", options.ip ?? "127.0.0.1", "--ehlo", "laptop.home.test"],
    ...["--from", auth.user, "--to", to, "--data", `@${data}`, "--tls"],
    ...["--auth", "PLAIN", "--auth-user", auth.user, "--auth-password", auth.password],
  ]);
}

function replyTo(run: SwaksRun, command: RegExp): string {
  const exchange = run.exchanges.find((e) => command.test(e.command));
  if (!exchange) throw new Error(`no ${command} in:\n${run.transcript}`);
  return exchange.reply;
}

describe("three relays sharing Redis", () => {
  it("hold one hourly quota: the messages a user sent through any relay count at all of them", async () => {
    for (const relay of relays) {
      const run = await submit(relay, ALICE);
      expect(run.status, run.transcript).toBe(0);
    }
    for (const relay of relays) {
      const run = await submit(relay, ALICE);
      expect(replyTo(run, /^MAIL FROM/i), run.transcript).toMatch(/^450 4\.7\.1 /);
    }
  });

  it("hold one login throttle: failures at three relays lock the user and the address at all of them", async () => {
    const ip = "127.0.0.78";
    for (const relay of relays) {
      const run = await submit(relay, { user: BOB.user, password: "wrong" }, { ip });
      expect(replyTo(run, /^AUTH/i), run.transcript).toMatch(/^535 5\.7\.8 /);
    }
    for (const relay of relays) {
      // The right password now: locked, without the password being looked at (RFC 4954 §6).
      const run = await submit(relay, BOB, { ip });
      expect(replyTo(run, /^AUTH/i), run.transcript).toMatch(/^454 4\.7\.0 /);
    }
  });

  it("pass a greylisted triplet retried at another relay than the first attempt", async () => {
    const transaction = async (relay: Relay): Promise<string> => {
      const smtp = await openSmtp(relay.mx, { localAddress: sender.authorizedIp });
      try {
        await smtp.reply();
        await smtp.command(`EHLO ${sender.mailHost}`);
        expect(await smtp.command(`MAIL FROM:<${SENDER}>`)).toMatch(/^250 /);
        const rcpt = await smtp.command(`RCPT TO:<${LOCAL.mailbox}>`);
        if (!rcpt.startsWith("250 ")) return rcpt;
        expect(await smtp.command("DATA")).toMatch(/^354 /);
        smtp.write(`${testMessage({ from: SENDER, messageId: `<greylist-${Date.now()}@${sender.domain}>` })}.\r\n`);
        return await smtp.reply();
      } finally {
        smtp.close();
      }
    };
    expect(await transaction(relays[0]!)).toMatch(/^451 4\.7\.1 .*Greylisted/s);
    await new Promise((resolve) => setTimeout(resolve, GREYLIST_DELAY_SECONDS * 1000 + 200));
    expect(await transaction(relays[1]!)).toMatch(/^250 /);
  });

  it("count the TLS sessions of all three relays in one TLS-RPT report, sent by one relay", async () => {
    const day = utcDay(Date.now());
    const to = `postmaster@${dane.match.domain}`;
    for (const relay of relays) {
      const run = await submit(relay, DAVE, { to });
      expect(run.status, run.transcript).toBe(0);
    }
    // Each relay tries dane.test's MX once (the next try is a minute away): three failed sessions.
    const client = new Redis(redis.url);
    const total = async (): Promise<number> =>
      Object.values(await client.hgetall(`edgemx:tlsrpt:counts:${day}`)).reduce((sum, count) => sum + Number(count), 0);
    await until("a TLS session counted by each relay", async () => ((await total()) >= relays.length ? true : undefined));
    client.disconnect();
    // The count reaches Redis just before the relay's log line reaches this process: wait for the line.
    for (const relay of relays) await relay.process.waitForLog((line) => line.msg === "outbound TLS check failed");

    const first = npmRun("queue", ["--spool", relays[0]!.spool, "tlsrpt-send", "--day", day], dir);
    expect(first.stdout, first.stderr).toContain(`${day} ${dane.match.domain}: sent`);
    // The others find the domain's day done: one report, under one report-id (RFC 8460 §4.4).
    for (const relay of relays.slice(1)) {
      const again = npmRun("queue", ["--spool", relay.spool, "tlsrpt-send", "--day", day], dir);
      expect(again.stdout, again.stderr).toContain(`${day} ${dane.match.domain}: already-sent`);
    }
    const queued = (await readSpoolEntries(relays[0]!.spool)).filter((entry) => entry.envelope.rcptTo.includes(dane.tlsRptMailbox));
    expect(queued).toHaveLength(1);
    const message = await readQueuedMessage(relays[0]!.spool, queued[0]!.id);
    const parsed = await PostalMime.parse(Buffer.from(message!));
    const report = JSON.parse(gunzipSync(Buffer.from(parsed.attachments[0]!.content as ArrayBuffer)).toString()) as {
      "report-id": string;
      policies: { policy: { "policy-domain": string }; summary: Record<string, number>; "failure-details": { "result-type": string }[] }[];
    };
    expect(report["report-id"]).toBe(`${day}_${dane.match.domain}`);
    expect(report.policies).toHaveLength(1);
    expect(report.policies[0]!.summary).toEqual({ "total-successful-session-count": 0, "total-failure-session-count": relays.length });
    expect(report.policies[0]!["failure-details"]).toMatchObject([{ "result-type": "starttls-not-supported" }]);
  });

  it("strand nothing of a relay killed in the middle of a burst: its spool, adopted by another, is delivered", async () => {
    const [one, two, three] = relays as [Relay, Relay, Relay];
    const MESSAGES = 240;
    const SESSIONS = 6;
    const KILL_AFTER = 30;
    const run = Math.random().toString(36).slice(2);
    const ids = Array.from({ length: MESSAGES }, (_, n) => `burst-${n}-${run}@${sender.domain}`);
    let acknowledgedByThree = 0;
    const sessions = await Promise.all(
      Array.from({ length: SESSIONS }, (_, s) => {
        const relay = relays[s % relays.length]!;
        return sendShare({
          port: relay.mx,
          ids: ids.filter((_, n) => n % SESSIONS === s),
          from: SENDER,
          onAcknowledged: () => {
            if (relay === three && ++acknowledgedByThree === KILL_AFTER) three.process.child.kill("SIGKILL");
          },
        });
      }),
    );
    expect(await three.process.exited, three.process.tail()).toBe("SIGKILL");
    const acknowledged = new Set(sessions.flatMap((s) => s.acknowledged));
    expect(sessions.flatMap((s) => s.unanswered).length).toBeGreaterThan(0);

    // A living relay's spool is not adopted: its lease holds.
    const refused = npmRun("queue", ["--spool", one.spool, "adopt", two.spool], dir);
    expect(refused.status).toBe(1);
    expect(refused.stderr).toMatch(/is held by relay pid \d+/);

    const stranded = (await readSpoolEntries(three.spool)).filter((entry) => entry.envelope.rcptTo.includes(LOCAL.mailbox)).length;
    expect(stranded).toBeGreaterThanOrEqual(KILL_AFTER);
    const adopted = npmRun("queue", ["--spool", one.spool, "adopt", three.spool], dir);
    expect(adopted.status, adopted.stderr).toBe(0);
    expect(adopted.stdout).toContain(`adopted from ${three.spool}`);
    expect(readdirSync(join(three.spool, "queue")).filter((name) => !name.startsWith("."))).toEqual([]);

    await deliveryFinished([one.spool, two.spool]);
    const copies = copiesById(MAILDIR);
    const lost = [...acknowledged].filter((id) => !copies.has(id));
    const duplicates = [...copies.entries()].filter(([id]) => id.startsWith("burst-")).reduce((n, [, count]) => n + count - 1, 0);
    console.log(
      `multi-relay burst: ${MESSAGES} messages over ${SESSIONS} sessions to 3 relays, SIGKILL of one after its ${KILL_AFTER}th 250; ` +
        `${acknowledged.size} acknowledged, ${stranded} entries in the dead relay's spool adopted, ${duplicates} duplicate copies, ${lost.length} lost`,
    );
    expect(lost).toEqual([]);
  }, 240_000);
});

/** Waits until no spool holds mail for the mailbox and the Maildir's count stopped changing. */
async function deliveryFinished(spools: readonly string[]): Promise<void> {
  let last = -1;
  for (;;) {
    const waiting = (await Promise.all(spools.map((spool) => readSpoolEntries(spool)))).flat().filter((entry) => entry.envelope.rcptTo.includes(LOCAL.mailbox));
    const count = maildirMessages(MAILDIR, LOCAL.mailbox).length;
    if (waiting.length === 0 && count === last) return;
    last = count;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}
