// Disk full on the spool's file system (issue 16, item 1). The spool lives on a small ext4 of its own
// (a loop device, bench/support/scratch-fs.ts), the mailbox host (LMTP) first defers everything so
// that mail waits in the queue; then the file system is filled to its last block. Promises checked:
// new messages get 452 4.3.1 (core/smtp/replies.ts, insufficientStorage) and nothing else; the mail
// queued before goes on being delivered while the disk is full; nothing half-written is ever delivered;
// acceptance resumes once space returns, during the same load; no message that got a 250 is lost or
// delivered twice.
import { closeSync, mkdirSync, mkdtempSync, openSync, readdirSync, rmSync, writeFileSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, inject, it } from "vitest";
import { smallFileSystem } from "../../bench/support/scratch-fs.ts";
import { relayDocument, startTestRelay } from "../harness/relay.ts";
import { drained, printRow, spoolIds, tally } from "./support/checker.ts";
import { BODY_LAST_LINE, runLoad } from "./support/load.ts";
import { startMailboxHost } from "./support/mailbox-host.ts";

const harness = inject("harness");
const work = mkdtempSync(join(tmpdir(), "edgemx-disk-full-"));
/** 16 MiB: ext4 then uses 1 KiB blocks, and a few hundred messages fill a good part of it. */
const spoolFs = smallFileSystem("edgemx-disk-full-spool-", 16 * 1024 * 1024);
afterAll(() => {
  spoolFs.remove(false);
  rmSync(work, { recursive: true, force: true });
});

/**
 * Fills the file system `dir` is on: one large file until ENOSPC (halving the chunk at each), then
 * files of one 1 KiB block each until not even that fits — a large file can be refused its next
 * extent while single blocks are still free.
 */
function fillUp(dir: string): void {
  mkdirSync(dir, { recursive: true });
  const noSpace = (error: unknown): boolean => (error as NodeJS.ErrnoException).code === "ENOSPC";
  const fd = openSync(join(dir, "large"), "a");
  try {
    const buffer = Buffer.alloc(1024 * 1024);
    for (let size = buffer.length; size >= 1;) {
      try {
        writeSync(fd, buffer, 0, size);
      } catch (error) {
        if (!noSpace(error)) throw error;
        size = Math.floor(size / 2);
      }
    }
  } finally {
    closeSync(fd);
  }
  for (let n = 0; ; n++) {
    try {
      writeFileSync(join(dir, `block-${n}`), Buffer.alloc(1024), { flush: true });
    } catch (error) {
      if (!noSpace(error)) throw error;
      return;
    }
  }
}

/** Whether a 4 KiB file no longer fits (ext4 keeps a few blocks back that statfs counts as available). */
function full(dir: string): boolean {
  const probe = join(dir, "probe");
  try {
    writeFileSync(probe, Buffer.alloc(4096), { flush: true });
    return false;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOSPC") throw error;
    return true;
  } finally {
    rmSync(probe, { force: true });
  }
}

it("answers 452 4.3.1 while the spool's disk is full, delivers what it had queued, and accepts again once space returns", async () => {
  const spool = join(spoolFs.dir, "spool");
  const fill = join(spoolFs.dir, "fill");
  const mailbox = await startMailboxHost("tempfail");
  const document = relayDocument(work, harness.dnsPort, {
    spool,
    nextHop: { type: "lmtp", host: "127.0.0.1", port: mailbox.port },
    deliveryConcurrency: 64,
    // Only the spool on the small file system: the stores that live beside it by default go elsewhere.
    outbound: { tlsRptPath: join(work, "tlsrpt.sqlite"), mtaStsCachePath: join(work, "mta-sts.sqlite") },
    // A session is closed after maxErrors 4xx/5xx replies (Postfix's smtpd_hard_error_limit), the 452s
    // included: raised here, so that each session of the load goes on through the whole fault.
    limits: { maxErrors: 1000 },
  });
  // While the mailbox host defers, a deferred message waits an hour by the scheduler's clock: nothing in
  // the spool changes, so the full disk stays full. When the host is back, the clock moves two hours
  // on and retries come after 0.2 s (an attempt in flight at the switch records its deferral then).
  let clockAhead = 0;
  let retrySeconds = 3600;
  const test = await startTestRelay(
    document,
    {},
    { selfSignedDir: join(work, "tls"), delivery: { pollIntervalMs: 200, backoff: () => retrySeconds, now: () => Date.now() + clockAhead } },
  );
  const hostBack = (): void => {
    mailbox.mode = "accept";
    retrySeconds = 0.2;
    clockAhead += 2 * 3600 * 1000;
    test.relay.delivery.notify();
  };
  const load = { port: test.port, dir: work, sessions: 4, seconds: 10 };
  try {
    // Queued before the disk fills: all accepted, all waiting for the mailbox host.
    const before = await runLoad({ ...load, prefix: "full-before", maxMessages: 60 });
    expect(before.messages.map((m) => m.code)).toEqual(before.messages.map(() => 250));
    await test.relay.delivery.idle();

    for (let round = 0; round < 3 && !full(spoolFs.dir); round++) fillUp(fill);
    expect(full(spoolFs.dir)).toBe(true);
    // New messages while full: every one 452 4.3.1, none accepted.
    const during = await runLoad({ ...load, prefix: "full-during", maxMessages: 40 });
    expect(during.messages.map((m) => m.code)).toEqual(during.messages.map(() => 452));
    expect(Object.keys(during.refused)).toEqual(["452 4.3.1 Insufficient system storage"]);

    // The mailbox host takes mail again: what was queued goes out with the fill still in place (each
    // delivery frees its message's blocks, so the disk is not full for long after it).
    hostBack();
    await drained(spool, () => mailbox.messages.length);
    const deliveredWhileFull = mailbox.taken.size;

    // Full again, the mailbox host deferring again (so that no delivered message's file can be
    // rewritten for a new one), and space returns in the middle of a load: acceptance resumes.
    mailbox.mode = "tempfail";
    retrySeconds = 3600;
    for (let round = 0; round < 3 && !full(spoolFs.dir); round++) fillUp(fill);
    expect(full(spoolFs.dir)).toBe(true);
    // Space returns once the relay refused this load's first message with 452 (the files of delivered
    // messages taken first): at that reply, not at a fixed time, which a loaded machine may not reach.
    let freedAt = 0;
    let loadDone = false;
    const logsBefore = test.logs.length;
    const refusedFull = (): boolean => test.logs.slice(logsBefore).some((line) => line.event === "refusal" && String(line.reply).startsWith("452 "));
    const freeing = (async () => {
      while (!refusedFull() && !loadDone) await new Promise((resolve) => setTimeout(resolve, 20));
      rmSync(fill, { recursive: true });
      freedAt = Date.now();
    })();
    const after = await runLoad({ ...load, sessions: 2, prefix: "full-after", maxMessages: 2000, seconds: 8 });
    loadDone = true;
    await freeing;
    hostBack();
    await drained(spool, () => mailbox.messages.length);

    const outcomes = [...before.messages, ...during.messages, ...after.messages];
    const refusedAfter = after.messages.filter((m) => m.code !== 250);
    expect(refusedAfter.every((m) => m.code === 452)).toBe(true);
    const firstAcceptedAfterFree = Math.min(...after.messages.filter((m) => m.code === 250 && m.at >= freedAt).map((m) => m.at));
    const row = tally("spool disk full (16 MiB ext4), then freed", outcomes, mailbox.taken, spoolIds(spool), firstAcceptedAfterFree - freedAt);
    printRow(row);
    const acceptedWhileFull = after.messages.filter((m) => m.code === 250 && m.at < freedAt).length;
    console.log(
      `disk full: ${deliveredWhileFull} of ${before.messages.length} queued messages delivered while the disk was full; in the last load ` +
        `${acceptedWhileFull} accepted before space returned (into the files of delivered messages), ${refusedAfter.length} of ${after.messages.length} refused`,
    );

    expect(deliveredWhileFull).toBe(before.messages.length);
    expect(refusedAfter.length).toBeGreaterThan(0);
    expect(after.messages.at(-1)?.code).toBe(250);
    expect(row.lost).toBe(0);
    expect(row.duplicated).toBe(0);
    expect(row.delivered).toBe(row.accepted);
    // Nothing half-written went out: every message the mailbox host got is whole.
    expect(mailbox.messages.filter((m) => !m.endsWith(BODY_LAST_LINE))).toEqual([]);
    expect(readdirSync(join(spool, "queue")).filter((name) => name.endsWith(".tmp"))).toEqual([]);
  } finally {
    await test.relay.stop();
    await mailbox.stop();
  }
});
