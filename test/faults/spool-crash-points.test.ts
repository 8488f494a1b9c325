// Crash points in the spool (issue 16, item 6): the relay as a process takes a bounded burst over SMTP
// and kills itself with SIGKILL right after a chosen durable step of the n-th message through it —
// the write of its queue file, the fsync, the rename into queue/, the fsync of queue/, its delivery to
// the next hop, the removal of its queue file (EDGEMX_CRASH_AT, relay-node/src/queue/crash-point.ts), or
// its delivery into the Maildir before the reply (docs/queue.md) — not at a moment timing luck picks. Restarted on the same spool without the hook (in the test's
// process), it delivers what it had. Every message that got a 250 must then be in the Maildir; duplicates and deliveries without a
// 250 are counted per step and printed.
//
// SIGKILL keeps the page cache: this proves the order of the steps and the recovery, not the fsyncs
// against power loss (docs/queue.md, durability argument).
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, inject, it } from "vitest";
import { CRASH_AT_ENV, CRASH_STEPS, type CrashStep } from "../../relay-node/src/queue/crash-point.ts";
import { freePort } from "../harness/process.ts";
import { relayDocument, startTestRelay } from "../harness/relay.ts";
import { startRelayWithConfig } from "../harness/relay-process.ts";
import { countIds, drained, maildirContents, printRow, spoolIds, tally } from "./support/checker.ts";
import { runLoad } from "./support/load.ts";

const harness = inject("harness");
const dir = mkdtempSync(join(tmpdir(), "edgemx-crash-points-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The burst: at most this many messages over SESSIONS sessions… */
const MESSAGES = 200;
const SESSIONS = 8;
/** …and the process dies at the step of this message (the spool's steps) or delivery (the next hop's). */
const KILL_AT: Record<CrashStep, number> = { write: 50, fsync: 50, rename: 50, "directory-fsync": 50, delivery: 30, removal: 30 };

// Every message of the load goes to the Maildir: delivered before the reply by default, so the spool's
// steps are run with deliverBeforeReply off, and the delivery before the reply is a case of its own.
const CASES: { step: CrashStep; beforeReply: boolean }[] = [
  ...CRASH_STEPS.map((step) => ({ step, beforeReply: false })),
  { step: "delivery", beforeReply: true },
];

describe("the relay SIGKILLed at each durable step loses no acknowledged message", () => {
  it.for(CASES)("after $step (delivery before the reply: $beforeReply)", async ({ step, beforeReply }) => {
    const name = beforeReply ? `${step}-before-reply` : step;
    const folder = join(dir, name);
    const port = await freePort();
    const configPath = join(dir, `${name}.json`);
    const document = relayDocument(folder, harness.dnsPort, {
      listeners: { mx: { host: "127.0.0.1", port } },
      nextHop: { type: "maildir", path: join(folder, "Maildir"), deliverBeforeReply: beforeReply },
    });
    writeFileSync(configPath, JSON.stringify(document));
    const spool = join(folder, "spool");
    const maildir = join(folder, "Maildir");

    const first = await startRelayWithConfig(configPath, { env: { [CRASH_AT_ENV]: `${step}:${KILL_AT[step]}` }, tailOnly: true });
    const load = await runLoad({ port, prefix: name, dir, sessions: SESSIONS, maxMessages: MESSAGES, seconds: 20 });
    // The process killed itself: the load did not run to its end.
    expect(await first.exited, first.tail()).toBe("SIGKILL");
    expect(load.messages.length).toBeLessThan(MESSAGES);

    // The restart runs in this process (a process start per case would double the suite's time); it
    // recovers the spool the killed process left.
    const restarted = performance.now();
    const second = await startTestRelay(document);
    try {
      await drained(spool, () => maildirContents(maildir).length);
    } finally {
      await second.relay.stop();
    }
    const row = tally(
      `SIGKILL after ${step}${beforeReply ? " before the reply" : ""} (message ${KILL_AT[step]})`,
      load.messages,
      countIds(maildirContents(maildir)),
      spoolIds(spool),
      performance.now() - restarted,
    );
    printRow(row);
    expect(row.accepted).toBeGreaterThanOrEqual(KILL_AT[step] - SESSIONS);
    expect(row.lost).toBe(0);
    expect(row.queued).toBe(0);
  });
});
