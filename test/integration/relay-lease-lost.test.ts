// A relay that loses its spool's lease (docs/queue.md): stopped in its tracks (SIGSTOP, as a host
// partitioned or a process frozen would be) past its lease, its spool adopted by another relay, it runs
// again (SIGCONT) and must not acknowledge mail into a spool that is no longer its own, nor deliver from
// it. Both relays are processes (main.ts); the stopped one writes its lease as a relay of another host
// would, 3 s long (EDGEMX_TEST_LEASE, relay-node/src/queue/lease.ts), since on one host a frozen
// process keeps its spool as long as it lives.
//
// The stopped relay's next hop does not answer until it is stopped, so what it acknowledged waits in its
// spool; then its next hop (an SMTP sink) is up, so any delivery it still made would be seen there. A
// session open on it sends its message's final dot while it is stopped: the message is taken only after
// it runs again, and must get 451 4.3.0. The relay logs who took its spool and exits with status 1 (for
// systemd's restart). The adopter delivers every message the stopped relay acknowledged, once.
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, inject, it } from "vitest";
import { TEST_LEASE_ENV } from "../../relay-node/src/queue/lease.ts";
import { copiesById, deliveryFinished, sendShare } from "../harness/burst.ts";
import { freePort } from "../harness/process.ts";
import { LOCAL, relayDocument, testMessage, type RelaySettings } from "../harness/relay.ts";
import { npmRun, startRelayWithConfig, type RelayProcess } from "../harness/relay-process.ts";
import { openSmtp } from "../harness/smtp-client.ts";
import { startSmtpSink, type SmtpSink } from "../harness/smtp-sink.ts";
import { TEST_DNS } from "../harness/zones.ts";

const harness = inject("harness");
const dir = mkdtempSync(join(tmpdir(), "edgemx-lease-lost-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const { sender } = TEST_DNS;
const SENDER = `alice@${sender.domain}`;
/** Messages the stopped relay acknowledges before it is stopped. */
const HELD = 20;
const STOPPED_HOST = "stopped.example";
const LEASE_MS = 3000;

it("a relay stopped past its lease, its spool adopted, answers 451 when it runs again, exits for a restart, and delivers nothing twice", async () => {
  const maildir = join(dir, "Maildir");
  const nextHopPort = await freePort();
  type NextHop = NonNullable<RelaySettings["nextHop"]>;
  const relayConfig = (name: string, port: number, nextHop: NextHop): { path: string; spool: string } => {
    const folder = join(dir, name);
    const document = relayDocument(folder, harness.dnsPort, {
      listeners: { mx: { host: "127.0.0.1", port } },
      nextHop,
      // The SMTP next hop is not asked about recipients (it does not answer at first).
      recipientCheck: false,
      threads: 0,
      // Two processes on one host: the metrics listener's default port would be taken twice.
      metrics: { enabled: false },
    });
    const path = join(dir, `${name}.json`);
    writeFileSync(path, JSON.stringify(document));
    return { path, spool: join(folder, "spool") };
  };
  const stoppedPort = await freePort();
  const adopterPort = await freePort();
  const stoppedConfig = relayConfig("stopped", stoppedPort, { type: "smtp", host: "127.0.0.1", port: nextHopPort });
  const adopterConfig = relayConfig("adopter", adopterPort, { type: "maildir", path: maildir });

  const stopped = await startRelayWithConfig(stoppedConfig.path, { env: { [TEST_LEASE_ENV]: `${LEASE_MS}:${STOPPED_HOST}` } });
  const adopter = await startRelayWithConfig(adopterConfig.path);
  let sink: SmtpSink | undefined;
  let restarted: RelayProcess | undefined;
  try {
    const run = Math.random().toString(36).slice(2);
    const ids = Array.from({ length: HELD }, (_, n) => `lease-${n}-${run}@${sender.domain}`);
    const share = await sendShare({ port: stoppedPort, ids, from: SENDER });
    expect(share.acknowledged).toEqual(ids);
    // Its next hop refuses connections: every message waits in its spool for the next attempt.
    const queued = (): string[] => readdirSync(join(stoppedConfig.spool, "queue")).filter((name) => !name.startsWith("."));
    expect(queued()).toHaveLength(HELD);

    // A session whose message is complete but for its final dot.
    const late = await openSmtp(stoppedPort, { localAddress: sender.authorizedIp });
    await late.reply();
    await late.command(`EHLO ${sender.mailHost}`);
    expect(await late.command(`MAIL FROM:<${SENDER}>`)).toMatch(/^250 /);
    expect(await late.command(`RCPT TO:<${LOCAL.mailbox}>`)).toMatch(/^250 /);
    expect(await late.command("DATA")).toMatch(/^354 /);
    late.write(testMessage({ from: SENDER, messageId: `<late-${run}@${sender.domain}>` }));

    stopped.child.kill("SIGSTOP");
    // Its lease runs out (it renews no more); then its next hop answers.
    const owner = (): { host: string; pid: number; until: number } => JSON.parse(readFileSync(join(stoppedConfig.spool, "owner.json"), "utf8")) as never;
    expect(owner().host).toBe(STOPPED_HOST);
    // Stopped inside a renewal, it holds the lock on its owner file too, with a later `until` (lease.ts).
    const lockPath = join(stoppedConfig.spool, "owner.json.takeover");
    const lockUntil = existsSync(lockPath) ? (JSON.parse(readFileSync(lockPath, "utf8")) as { until: number }).until : 0;
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, owner().until - Date.now(), lockUntil - Date.now()) + 200));
    sink = await startSmtpSink("127.0.0.1", nextHopPort);

    const adopted = npmRun("queue", ["--spool", adopterConfig.spool, "adopt", stoppedConfig.spool], dir);
    expect(adopted.status, adopted.stderr).toBe(0);
    expect(adopted.stdout).toContain(`${HELD} entries adopted from ${stoppedConfig.spool}`);
    expect(queued()).toEqual([]);

    // The final dot arrives while it is stopped; it reads it after SIGCONT, when the spool is the adopter's.
    late.write(".\r\n");
    stopped.child.kill("SIGCONT");
    const reply = await late.reply();
    expect(reply).toMatch(/^451 4\.3\.0 /);
    late.close();
    const lostLine = await stopped.waitForLog((line) => line.event === "spool" && line.level === 50 && typeof line.by === "object");
    expect(lostLine.msg).toContain(`relay pid ${adopter.child.pid} on ${hostname()} took it over (an adoption, done since)`);
    const refusedLine = await stopped.waitForLog((line) => line.event === "spool" && line.msg === "the spool could not take the message");
    expect(JSON.stringify(refusedLine.err)).toContain(`this relay no longer holds the spool ${stoppedConfig.spool}`);
    expect(await stopped.exited, stopped.tail()).toBe(1);
    // The refused message's file went again: nothing of it waits in the spool.
    expect(queued()).toEqual([]);

    await deliveryFinished([adopterConfig.spool], maildir);
    const copies = copiesById(maildir);
    console.log(
      `lease lost: ${HELD} messages acknowledged by the stopped relay, adopted and delivered by the other: ` +
        `${ids.filter((id) => copies.has(id)).length} delivered, ${[...copies.values()].filter((n) => n > 1).length} twice; ` +
        `${sink.transactions.length} deliveries by the stopped relay after it ran again; the late message: ${reply}`,
    );
    expect(ids.filter((id) => copies.get(id) !== 1)).toEqual([]);
    expect(copies.has(`late-${run}@${sender.domain}`)).toBe(false);
    expect(sink.transactions).toEqual([]);

    // systemd starts it again: the adopter gave the spool up, so it starts on it.
    restarted = await startRelayWithConfig(stoppedConfig.path);
    expect(owner()).toMatchObject({ host: hostname(), pid: restarted.child.pid });
  } finally {
    if (stopped.child.exitCode === null && stopped.child.signalCode === null) {
      stopped.child.kill("SIGCONT");
      await stopped.stop();
    }
    await restarted?.stop();
    await adopter.stop();
    await sink?.stop();
  }
}, 120_000);
