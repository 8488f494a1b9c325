// The durable spool: what enqueue() resolved for is there after a reopen, with its state; interrupted
// writes leave nothing behind (docs/queue.md).
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { applyAttempt, isQueueId, newQueueId, Spool } from "../../relay-node/src/queue/spool.ts";

const MESSAGE = Buffer.from("Received: from a by b; Thu, 27 Nov 2025 19:11:00 +0000\r\nSubject: hi\r\n\r\nline one\r\n.dot line\r\n\u00e4\r\n", "utf8");
const ENVELOPE = { mailFrom: "alice@sender.example", rcptTo: ["bob@example.org", "carol@example.org"] };

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "edgemx-spool-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("queue ids", () => {
  it("are 18 upper-case hex digits that sort by time", () => {
    const ids = [1_000, 2_000_000, 1_764_270_660_000, 1_764_270_660_001].map((t) => newQueueId(t));
    for (const id of ids) expect(id).toMatch(/^[0-9A-F]{18}$/);
    expect([...ids].sort()).toEqual(ids);
    expect(isQueueId(ids[0]!)).toBe(true);
    expect(isQueueId("../etc/passwd")).toBe(false);
  });

  it("differ within one millisecond", () => {
    const ids = new Set(Array.from({ length: 10_000 }, () => newQueueId(1_764_270_660_000)));
    expect(ids.size).toBe(10_000);
  });
});

describe("Spool", () => {
  it("has an enqueued message and its entry after a reopen, byte for byte", async () => {
    const spool = await Spool.open(dir);
    const id = await spool.enqueue({ envelope: ENVELOPE, message: MESSAGE }, 1_764_270_660_000);
    expect(isQueueId(id)).toBe(true);

    const reopened = await Spool.open(dir);
    expect(reopened.recovery).toEqual({ entries: 1, tempFilesRemoved: 0, orphanStatesRemoved: 0, quarantined: [] });
    const stored = await reopened.read(id);
    expect(Buffer.from(stored!.message).equals(MESSAGE)).toBe(true);
    expect(stored!.entry).toEqual({
      id,
      envelope: ENVELOPE,
      createdAt: 1_764_270_660_000,
      size: MESSAGE.length,
      attempts: 0,
      lastAttemptAt: null,
      nextAttemptAt: 1_764_270_660_000,
      recipients: [
        { rcpt: "bob@example.org", status: "pending", reply: null },
        { rcpt: "carol@example.org", status: "pending", reply: null },
      ],
      delayWarned: false,
    });
  });

  it("keeps one file per message: the entry as a JSON line, then the message", async () => {
    const spool = await Spool.open(dir);
    const id = await spool.enqueue({ envelope: ENVELOPE, message: MESSAGE });
    expect(await readdir(join(dir, "queue"))).toEqual([id]);
    expect(await readdir(join(dir, "state"))).toEqual([]);
    const file = await readFile(join(dir, "queue", id));
    const newline = file.indexOf(0x0a);
    expect((JSON.parse(file.subarray(0, newline).toString()) as { envelope: unknown }).envelope).toEqual(ENVELOPE);
    expect(file.subarray(newline + 1).equals(MESSAGE)).toBe(true);
  });

  it("takes a queue id made beforehand, and refuses a duplicate or a malformed one", async () => {
    const spool = await Spool.open(dir);
    const id = newQueueId();
    expect(await spool.enqueue({ envelope: ENVELOPE, message: MESSAGE, id })).toBe(id);
    await expect(spool.enqueue({ envelope: ENVELOPE, message: MESSAGE, id })).rejects.toThrow(/already queued/);
    const racing = newQueueId();
    const both = await Promise.allSettled([0, 1].map(() => spool.enqueue({ envelope: ENVELOPE, message: MESSAGE, id: racing })));
    expect(both.map((r) => r.status)).toEqual(["fulfilled", "rejected"]);
    await expect(spool.enqueue({ envelope: ENVELOPE, message: MESSAGE, id: "../x" })).rejects.toThrow(/not a queue id/);
    await expect(spool.enqueue({ envelope: { mailFrom: "", rcptTo: [] }, message: MESSAGE })).rejects.toThrow(/recipient/);
    await expect(spool.enqueue({ envelope: { mailFrom: "a@b.example\r\nBcc: x", rcptTo: ["c@d.example"] }, message: MESSAGE })).rejects.toThrow(/line break/);
    expect(spool.list().map((e) => e.id)).toEqual([id, racing]);
  });

  it("queues a recipient given twice once", async () => {
    const spool = await Spool.open(dir);
    const id = await spool.enqueue({ envelope: { mailFrom: "", rcptTo: ["bob@example.org", "bob@example.org"] }, message: MESSAGE });
    expect(spool.get(id)!.recipients).toHaveLength(1);
  });

  it("records attempts durably, per recipient, and lists the latest state after a reopen", async () => {
    const spool = await Spool.open(dir);
    const id = await spool.enqueue({ envelope: ENVELOPE, message: MESSAGE }, 1_000);
    await spool.recordAttempt(id, {
      at: 2_000,
      nextAttemptAt: 62_000,
      results: [
        { rcpt: "bob@example.org", status: "delivered", reply: "250 2.0.0 Ok" },
        { rcpt: "carol@example.org", status: "deferred", reply: "450 4.2.1 Try later" },
      ],
    });
    await spool.recordAttempt(id, {
      at: 62_000,
      nextAttemptAt: 182_000,
      delayWarned: true,
      // A late result for a delivered recipient does not undo the delivery.
      results: [
        { rcpt: "bob@example.org", status: "failed", reply: "550 5.1.1 no" },
        { rcpt: "carol@example.org", status: "deferred", reply: "451 4.3.0 Again" },
      ],
    });
    expect(await readdir(join(dir, "state"))).toEqual([`${id}.json`]);

    const reopened = await Spool.open(dir);
    expect(reopened.list()).toHaveLength(1);
    expect(reopened.get(id)).toMatchObject({
      attempts: 2,
      lastAttemptAt: 62_000,
      nextAttemptAt: 182_000,
      delayWarned: true,
      recipients: [
        { rcpt: "bob@example.org", status: "delivered", reply: "250 2.0.0 Ok" },
        { rcpt: "carol@example.org", status: "pending", reply: "451 4.3.0 Again" },
      ],
    });
  });

  it("removes an entry with its state for good", async () => {
    const spool = await Spool.open(dir);
    const id = await spool.enqueue({ envelope: ENVELOPE, message: MESSAGE });
    await spool.recordAttempt(id, { at: 1, nextAttemptAt: 2, results: [] });
    await spool.remove(id);
    expect(spool.get(id)).toBeUndefined();
    expect(await spool.read(id)).toBeUndefined();
    const reopened = await Spool.open(dir);
    expect(reopened.list()).toEqual([]);
    expect(await readdir(join(dir, "queue"))).toEqual([]);
    expect(await readdir(join(dir, "state"))).toEqual([]);
  });

  it("rewrites the file of a removed entry for the next message, under the same inode, shorter or longer", async () => {
    const spool = await Spool.open(dir);
    const first = await spool.enqueue({ envelope: ENVELOPE, message: Buffer.alloc(4096, 0x61) });
    const { ino } = await stat(join(dir, "queue", first));
    await spool.remove(first);
    expect(await readdir(join(dir, "queue"))).toEqual([]);
    expect(await readdir(join(dir, "free"))).toEqual([first]);

    const second = await spool.enqueue({ envelope: ENVELOPE, message: MESSAGE });
    expect(await readdir(join(dir, "free"))).toEqual([]);
    expect((await stat(join(dir, "queue", second))).ino).toBe(ino);
    const reopened = await Spool.open(dir);
    expect(Buffer.from((await reopened.read(second))!.message).equals(MESSAGE)).toBe(true);
    await reopened.remove(second);
    const third = await reopened.enqueue({ envelope: ENVELOPE, message: Buffer.alloc(8192, 0x62) });
    expect(Buffer.from((await (await Spool.open(dir)).read(third))!.message).equals(Buffer.alloc(8192, 0x62))).toBe(true);
  });

  it("rewrites a removed entry's file only once its move out of queue/ is fsynced", async () => {
    const spool = await Spool.open(dir);
    const first = await spool.enqueue({ envelope: ENVELOPE, message: MESSAGE });
    const { ino } = await stat(join(dir, "queue", first));
    const removing = spool.remove(first); // moved to free/ now, queue/ fsynced later
    const during = await spool.enqueue({ envelope: ENVELOPE, message: MESSAGE });
    await removing;
    expect((await stat(join(dir, "queue", during))).ino).not.toBe(ino);
    const after = await spool.enqueue({ envelope: ENVELOPE, message: MESSAGE });
    expect((await stat(join(dir, "queue", after))).ino).toBe(ino);
  });

  it("deletes the file of a removed entry when free/ cannot take it, and the entry is gone", async () => {
    // On a full disk free/ may get no block to grow (ENOSPC, test/faults/disk-full.test.ts); here free/
    // is a plain file (ENOTDIR), which fails the move the same way.
    const spool = await Spool.open(dir);
    const id = await spool.enqueue({ envelope: ENVELOPE, message: MESSAGE });
    await rm(join(dir, "free"), { recursive: true });
    await writeFile(join(dir, "free"), "");
    await spool.remove(id);
    expect(spool.get(id)).toBeUndefined();
    expect(await readdir(join(dir, "queue"))).toEqual([]);
    await rm(join(dir, "free"));
    expect((await Spool.open(dir)).list()).toEqual([]);
  });

  it("keeps at most 512 free files when removals run side by side", async () => {
    // Each removal's move into free/ runs in the thread pool: the bound must hold while the moves of
    // the others are still under way.
    const spool = await Spool.open(dir);
    const ids = await Promise.all(Array.from({ length: 530 }, () => spool.enqueue({ envelope: ENVELOPE, message: MESSAGE })));
    await Promise.all(ids.map((id) => spool.remove(id)));
    expect(await readdir(join(dir, "queue"))).toEqual([]);
    expect((await readdir(join(dir, "free"))).length).toBe(512);
  });

  it("deletes the free files at open, and never keeps the file of a large message", async () => {
    const spool = await Spool.open(dir);
    const small = await spool.enqueue({ envelope: ENVELOPE, message: MESSAGE });
    const large = await spool.enqueue({ envelope: ENVELOPE, message: Buffer.alloc(300 * 1024, 0x61) });
    await spool.remove(small);
    await spool.remove(large);
    expect(await readdir(join(dir, "free"))).toEqual([small]);
    await Spool.open(dir);
    expect(await readdir(join(dir, "free"))).toEqual([]);
  });

  it("deletes the temp files of interrupted writes and states left by an interrupted remove", async () => {
    const spool = await Spool.open(dir);
    const id = await spool.enqueue({ envelope: ENVELOPE, message: MESSAGE });
    const gone = newQueueId();
    await writeFile(join(dir, "queue", `.${newQueueId()}.1a2b.tmp`), "half a messa");
    await writeFile(join(dir, "state", `.${id}.json.3c4d.tmp`), '{"attem');
    await writeFile(join(dir, "state", `${gone}.json`), "{}");

    const reopened = await Spool.open(dir);
    expect(reopened.recovery).toEqual({ entries: 1, tempFilesRemoved: 2, orphanStatesRemoved: 1, quarantined: [] });
    expect(await readdir(join(dir, "queue"))).toEqual([id]);
    expect(await readdir(join(dir, "state"))).toEqual([]);
    expect(reopened.get(id)!.attempts).toBe(0);
  });

  it("moves a queue file it cannot read to corrupt/ rather than refusing to start", async () => {
    await Spool.open(dir);
    const bad = newQueueId();
    await writeFile(join(dir, "queue", bad), "not json\nbody");
    const spool = await Spool.open(dir);
    expect(spool.recovery.quarantined).toEqual([bad]);
    expect(await readdir(join(dir, "corrupt"))).toEqual([bad]);
  });

  it("reads the JSON line of an entry with many recipients beyond the first read", async () => {
    const spool = await Spool.open(dir);
    const rcptTo = Array.from({ length: 3000 }, (_, i) => `recipient-number-${i}@example.org`);
    const id = await spool.enqueue({ envelope: { mailFrom: "a@b.example", rcptTo }, message: MESSAGE });
    const reopened = await Spool.open(dir);
    expect(reopened.get(id)!.recipients).toHaveLength(3000);
  });
});

describe("applyAttempt", () => {
  it("counts the attempt and leaves recipients without a result as they were", () => {
    const entry = {
      id: "X",
      envelope: ENVELOPE,
      createdAt: 0,
      size: 1,
      attempts: 3,
      lastAttemptAt: null,
      nextAttemptAt: 0,
      recipients: [
        { rcpt: "bob@example.org", status: "pending" as const, reply: null },
        { rcpt: "carol@example.org", status: "pending" as const, reply: "451 x" },
      ],
      delayWarned: false,
    };
    const next = applyAttempt(entry, { at: 5, nextAttemptAt: 9, results: [{ rcpt: "bob@example.org", status: "failed", reply: "550 5.1.1 no" }] });
    expect(next.attempts).toBe(4);
    expect(next.recipients).toEqual([
      { rcpt: "bob@example.org", status: "failed", reply: "550 5.1.1 no" },
      { rcpt: "carol@example.org", status: "pending", reply: "451 x" },
    ]);
    expect(entry.attempts).toBe(3);
  });
});
