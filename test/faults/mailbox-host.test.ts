// The mailbox host failing (issue 16, item 3): the relay delivers over LMTP to a host that refuses
// connections, answers 451, hangs before its greeting, takes the message and drops the connection
// before its reply, or takes it and never replies (support/mailbox-host.ts). The load is accepted
// (the spool holds it); while the fault lasts every message stays queued and is retried with the
// scheduler's backoff, as its recorded state shows; once the host is back everything is delivered.
// Duplicates: none, except where the host took a message whose reply the relay never got — SMTP's
// "reply lost" window (RFC 1047), where a retry is the only safe choice — and then exactly one per
// reply lost, counted.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, inject, it } from "vitest";
import { relayDocument, startTestRelay } from "../harness/relay.ts";
import { drained, printRow, spoolIds, tally } from "./support/checker.ts";
import { runLoad } from "./support/load.ts";
import { startMailboxHost, type MailboxHostMode } from "./support/mailbox-host.ts";

const harness = inject("harness");
const work = mkdtempSync(join(tmpdir(), "edgemx-mailbox-host-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** The retry schedule in seconds, short for the test: 0.2, 0.4, 0.8, then 1.6 at most. */
const backoff = (attempt: number): number => 0.2 * 2 ** Math.min(attempt - 1, 3);
/** The LMTP client's waits, seconds where RFC 5321 §4.5.3.2 says minutes: a hung host costs a second per attempt. */
const timeouts = { connectMs: 1000, greetingMs: 1000, idleMs: 1000, totalMs: 5000 };
const MESSAGES = 40;

type Fault = { name: string; mode: MailboxHostMode | "refused" };
const FAULTS: Fault[] = [
  { name: "connection refused", mode: "refused" },
  { name: "451 to every recipient", mode: "tempfail" },
  { name: "hangs before its greeting", mode: "hang" },
  { name: "drops the connection after the message, before its reply", mode: "drop-after-data" },
  { name: "takes the message and never replies", mode: "hang-after-data" },
];

describe("the mailbox host failing: messages stay queued, are retried with backoff, and are delivered once it is back", () => {
  it.for(FAULTS)("$name", async ({ name, mode }) => {
    const mailbox = await startMailboxHost(mode === "refused" ? "accept" : mode);
    if (mode === "refused") await mailbox.refuse();
    const folder = join(work, mode);
    const document = relayDocument(folder, harness.dnsPort, { nextHop: { type: "lmtp", host: "127.0.0.1", port: mailbox.port }, deliveryConcurrency: 64 });
    const test = await startTestRelay(document, {}, { delivery: { pollIntervalMs: 200, backoff }, nextHop: { timeouts } });
    const spool = join(folder, "spool");
    try {
      const load = await runLoad({ port: test.port, prefix: mode, dir: work, sessions: 4, maxMessages: MESSAGES, seconds: 10 });
      expect(load.messages.map((m) => m.code)).toEqual(load.messages.map(() => 250));

      // Every message deferred at least twice, each time due again after the backoff of its attempt count.
      for (;;) {
        const entries = test.relay.spool.list();
        if (entries.length === MESSAGES && entries.every((entry) => entry.attempts >= 2)) break;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      for (const entry of test.relay.spool.list()) {
        expect(entry.recipients.map((r) => r.status)).toEqual(["pending"]);
        expect(entry.nextAttemptAt - entry.lastAttemptAt!).toBeCloseTo(backoff(entry.attempts) * 1000, 0);
      }

      // The host is back.
      const back = performance.now();
      if (mode === "refused") await mailbox.listen();
      mailbox.mode = "accept";
      await drained(spool, () => mailbox.messages.length);
      const row = tally(`mailbox host: ${name}`, load.messages, mailbox.taken, spoolIds(spool), performance.now() - back);
      printRow(row);
      console.log(`mailbox host ${mode}: ${mailbox.connections} connections, ${mailbox.unanswered} messages taken without a reply`);

      expect(row.lost).toBe(0);
      expect(row.queued).toBe(0);
      expect(row.delivered).toBe(MESSAGES);
      // Only a reply lost makes a copy more, and each makes exactly one.
      expect(row.duplicated).toBe(mailbox.unanswered);
      if (mode === "drop-after-data" || mode === "hang-after-data") expect(mailbox.unanswered).toBeGreaterThanOrEqual(2 * MESSAGES);
      else expect(mailbox.unanswered).toBe(0);
    } finally {
      await test.relay.stop();
      await mailbox.stop();
    }
  });
});
