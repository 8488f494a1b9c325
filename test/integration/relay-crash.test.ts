// docs/architecture.md: "A 250 means the message is on disk (written and fsynced). A crash after it loses
// nothing." The relay runs as a child process (node relay-node/src/main.ts, the real entry point) and
// takes a burst of messages over several concurrent SMTP sessions; in the middle of the burst it is
// killed with SIGKILL — no handler runs, nothing is flushed. Restarted on the same spool, it delivers
// what it had; every message that got a 250 must then be in the Maildir. Duplicates (a delivery or an
// acknowledgement cut short) and messages delivered without a 250 (on disk, the reply never sent) are
// allowed, counted and printed.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, inject, it } from "vitest";
import { copiesById, deliveryFinished, sendShare } from "../harness/burst.ts";
import { freePort } from "../harness/process.ts";
import { relayDocument } from "../harness/relay.ts";
import { startRelayWithConfig } from "../harness/relay-process.ts";
import { TEST_DNS } from "../harness/zones.ts";

const harness = inject("harness");
const dir = mkdtempSync(join(tmpdir(), "edgemx-relay-crash-"));
const { sender } = TEST_DNS;

/** The burst: this many messages, spread over SESSIONS concurrent sessions. */
const MESSAGES = 1000;
const SESSIONS = 10;
/** SIGKILL once this many messages got their 250: the middle of the burst. */
const KILL_AFTER = 500;
const SENDER = `alice@${sender.domain}`;
/** A body of some size, so that spool writes and deliveries take their real time. */
const BODY = Array.from({ length: 40 }, (_, i) => `line ${i} of the crash test's message body, long enough to be a real line of text.`).join("\r\n");

afterAll(() => rmSync(dir, { recursive: true, force: true }));

// Both shapes of the judge (relay.threads): in a pool of worker threads (every message there: relay.threadsFromBytes 0) and on the main thread.
it.each([
  { threads: 2, shape: "the judge in a pool of 2 threads" },
  { threads: 0, shape: "the judge on the main thread" },
])(
  `every message acknowledged with 250 before a SIGKILL is delivered after the restart (${MESSAGES} messages, ${SESSIONS} sessions, killed after ${KILL_AFTER} acknowledgements; $shape)`,
  async ({ threads }) => {
    const folder = join(dir, `relay-${threads}`);
    const port = await freePort();
    const document = relayDocument(folder, harness.dnsPort, { listeners: { mx: { host: "127.0.0.1", port } }, threads, threadsFromBytes: 0 });
    const configPath = join(dir, `edgemx-${threads}.json`);
    writeFileSync(configPath, JSON.stringify(document));
    const spool = join(folder, "spool");
    const maildir = join(folder, "Maildir");

    const first = await startRelayWithConfig(configPath, { tailOnly: true });
    const run = Math.random().toString(36).slice(2);
    const ids = Array.from({ length: MESSAGES }, (_, n) => `crash-${n}-${run}@${sender.domain}`);
    let acknowledgedSoFar = 0;
    const onAcknowledged = (): void => {
      if (++acknowledgedSoFar === KILL_AFTER) first.child.kill("SIGKILL");
    };
    const sessions = await Promise.all(
      Array.from({ length: SESSIONS }, (_, s) => sendShare({ port, ids: ids.filter((_, n) => n % SESSIONS === s), from: SENDER, body: BODY, onAcknowledged })),
    );
    expect(await first.exited, first.tail()).toBe("SIGKILL");
    const acknowledged = new Set(sessions.flatMap((s) => s.acknowledged));
    const unanswered = sessions.flatMap((s) => s.unanswered);
    // The kill came in the middle of the burst: after KILL_AFTER acknowledgements, before the end.
    expect(acknowledged.size).toBeGreaterThanOrEqual(KILL_AFTER);
    expect(acknowledged.size + unanswered.length).toBe(MESSAGES);
    expect(unanswered.length).toBeGreaterThan(0);

    const second = await startRelayWithConfig(configPath, { tailOnly: true });
    try {
      await deliveryFinished([spool], maildir);
    } finally {
      second.child.kill("SIGTERM");
      await second.exited;
    }

    const copies = copiesById(maildir);
    const lost = [...acknowledged].filter((id) => !copies.has(id));
    const duplicates = [...copies.values()].reduce((n, count) => n + count - 1, 0);
    const withoutAcknowledgement = [...copies.keys()].filter((id) => !acknowledged.has(id)).length;
    console.log(
      `relay crash: ${MESSAGES} messages over ${SESSIONS} sessions, SIGKILL after ${KILL_AFTER} acknowledgements; ` +
        `${acknowledged.size} acknowledged (250), ${unanswered.length} unanswered or never sent; ` +
        `${copies.size} distinct messages present in the Maildir, ${duplicates} duplicate copies, ` +
        `${withoutAcknowledgement} delivered without a 250; ${lost.length} acknowledged but lost`,
    );
    expect(lost).toEqual([]);
  },
  300_000,
);
