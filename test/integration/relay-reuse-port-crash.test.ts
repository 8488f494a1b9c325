// Two relay processes on one MX port (relay.listeners.mx.reusePort, docs/scaling.md "One machine:
// every core"), each with its own spool, both delivering to one Maildir. A burst goes over many
// sessions, which the kernel spreads across both; in the middle of it one relay is SIGKILLed. The
// other keeps accepting throughout: its sessions go on getting replies, and the sessions that died
// with the killed relay connect again and land on it. The killed relay is restarted on its spool, as
// systemd would (Restart=on-failure), and delivers what it had: every message either relay answered
// 250 is then in the Maildir. Duplicates (a delivery or an acknowledgement cut short) and messages
// delivered without a 250 (on disk, the reply never sent) are allowed, counted and printed, as in
// relay-crash.test.ts.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, inject, it } from "vitest";
import { copiesById, deliveryFinished, sendShare } from "../harness/burst.ts";
import { freePort } from "../harness/process.ts";
import { relayDocument } from "../harness/relay.ts";
import { startRelayWithConfig, type RelayProcess } from "../harness/relay-process.ts";
import { TEST_DNS } from "../harness/zones.ts";

const harness = inject("harness");
const dir = mkdtempSync(join(tmpdir(), "edgemx-reuse-port-crash-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const { sender } = TEST_DNS;

/** The burst: this many messages over SESSIONS concurrent sessions (each a connection of its own, which the kernel gives to either relay). */
const MESSAGES = 600;
const SESSIONS = 16;
/** SIGKILL the first relay once it answered this many messages with 250. */
const KILL_AFTER = 100;
const SENDER = `alice@${sender.domain}`;
/** Each relay says its name in its greeting, so that a session knows which one it talks to. */
const NAMES = { killed: "mx1.example.org", survivor: "mx2.example.org" } as const;

it(`two relays on one port: one SIGKILLed in the middle of a burst (${MESSAGES} messages, ${SESSIONS} sessions), the other keeps accepting, and every 250 is delivered after the restart`, async () => {
  const port = await freePort();
  const maildir = join(dir, "Maildir");
  const configOf = (name: string): { path: string; spool: string } => {
    const folder = join(dir, name);
    const document = relayDocument(folder, harness.dnsPort, {
      listeners: { mx: { host: "127.0.0.1", port, reusePort: true } },
      nextHop: { type: "maildir", path: maildir },
      threads: 0,
      // Two processes on one host: the metrics listener's default port would be taken twice.
      metrics: { enabled: false },
    });
    const path = join(dir, `${name}.json`);
    writeFileSync(path, JSON.stringify({ ...document, hostname: name }));
    return { path, spool: join(folder, "spool") };
  };
  const killedConfig = configOf(NAMES.killed);
  const survivorConfig = configOf(NAMES.survivor);
  const killed = await startRelayWithConfig(killedConfig.path, { tailOnly: true });
  const survivor = await startRelayWithConfig(survivorConfig.path, { tailOnly: true });
  let restarted: RelayProcess | undefined;
  try {
    const run = Math.random().toString(36).slice(2);
    const ids = Array.from({ length: MESSAGES }, (_, n) => `reuse-crash-${n}-${run}@${sender.domain}`);
    let killedAcknowledged = 0;
    let killSent = false;
    const acknowledgedAfterKill = { [NAMES.killed]: 0, [NAMES.survivor]: 0 };
    const greetedBy = (greeting: string): keyof typeof acknowledgedAfterKill => (greeting.includes(NAMES.killed) ? NAMES.killed : NAMES.survivor);
    const onAcknowledged = (_id: string, greeting: string): void => {
      const by = greetedBy(greeting);
      if (killSent) acknowledgedAfterKill[by]++;
      if (by === NAMES.killed && ++killedAcknowledged === KILL_AFTER) {
        killed.child.kill("SIGKILL");
        killSent = true;
      }
    };
    const sessions = await Promise.all(
      Array.from({ length: SESSIONS }, (_, s) =>
        sendShare({ port, ids: ids.filter((_, n) => n % SESSIONS === s), from: SENDER, onAcknowledged, reconnect: true }),
      ),
    );
    expect(await killed.exited, killed.tail()).toBe("SIGKILL");
    const acknowledged = new Set(sessions.flatMap((s) => s.acknowledged));
    const unanswered = sessions.flatMap((s) => s.unanswered);
    const broken = sessions.flatMap((s) => s.broken);
    const reconnections = sessions.flatMap((s) => s.greetings.slice(1));
    // The kernel gave sessions to both relays, and the kill came in the middle of the burst.
    expect(killedAcknowledged).toBeGreaterThanOrEqual(KILL_AFTER);
    expect(sessions.some((s) => greetedBy(s.greetings[0]!) === NAMES.survivor)).toBe(true);
    expect(acknowledged.size + unanswered.length).toBe(MESSAGES);
    // Only the killed relay's connections died; the survivor's sessions got replies after the kill,
    // and every session that lost its relay connected again — to the survivor — and went on.
    expect(broken.length).toBeGreaterThan(0);
    expect(broken.every((greeting) => greetedBy(greeting) === NAMES.killed)).toBe(true);
    expect(acknowledgedAfterKill[NAMES.survivor]).toBeGreaterThan(0);
    expect(reconnections.length).toBeGreaterThanOrEqual(broken.length);
    expect(reconnections.every((greeting) => greetedBy(greeting) === NAMES.survivor)).toBe(true);

    // Restarted on its spool (as systemd's Restart=on-failure does), it delivers what it acknowledged.
    restarted = await startRelayWithConfig(killedConfig.path, { tailOnly: true });
    await deliveryFinished([killedConfig.spool, survivorConfig.spool], maildir);

    const copies = copiesById(maildir);
    const lost = [...acknowledged].filter((id) => !copies.has(id));
    const duplicates = [...copies.values()].reduce((n, count) => n + count - 1, 0);
    const withoutAcknowledgement = [...copies.keys()].filter((id) => !acknowledged.has(id)).length;
    console.log(
      `relays sharing a port, one SIGKILLed: ${MESSAGES} messages over ${SESSIONS} sessions, SIGKILL after the killed relay's ${KILL_AFTER}th 250; ` +
        `${acknowledged.size} acknowledged (250), ${unanswered.length} unanswered; ${broken.length} connections died with the killed relay, ` +
        `${reconnections.length} reconnections, all to the survivor, which acknowledged ${acknowledgedAfterKill[NAMES.survivor]} messages after the kill; ` +
        `${copies.size} distinct messages in the Maildir, ${duplicates} duplicate copies, ${withoutAcknowledgement} delivered without a 250; ` +
        `${lost.length} acknowledged but lost`,
    );
    expect(lost).toEqual([]);
  } finally {
    await restarted?.stop();
    await survivor.stop();
    if (killed.child.signalCode === null && killed.child.exitCode === null) await killed.stop();
  }
}, 300_000);
