// A spool's owner and its adoption (docs/queue.md): the lease says who delivers from a spool, a dead
// relay's spool is drained into a living one's, and a living relay's is refused.
import { spawnSync } from "node:child_process";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { adoptSpool } from "../../relay-node/src/queue/adopt.ts";
import { LEASE_MS, ownerHolds, parseTestLease, SpoolHeld, SpoolLost, takeSpoolLease, type SpoolOwner } from "../../relay-node/src/queue/lease.ts";
import { Spool } from "../../relay-node/src/queue/spool.ts";
import { parseQueueCommand } from "../../relay-node/src/cli/queue-commands.ts";
import { parseControlRequest } from "../../relay-node/src/control/control.ts";

const SELF = { host: "mx1", pid: 100 };
const alive = (pid: number): boolean => pid === 200;
const MESSAGE = Buffer.from("Subject: adopted\r\n\r\nbody\r\n");

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "edgemx-adopt-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** The pid of a process that has exited. */
function deadPid(): number {
  return spawnSync("true").pid;
}

describe("who holds a spool", () => {
  it("on this host: a living other process; on another host: a lease not yet run out", () => {
    expect(ownerHolds({ host: "mx1", pid: 200, until: 0 }, SELF, 1_000, alive)).toBe(true);
    expect(ownerHolds({ host: "mx1", pid: 300, until: 5_000 }, SELF, 1_000, alive)).toBe(false);
    // This very process (a spool opened again after a crash it simulated) takes it back.
    expect(ownerHolds({ host: "mx1", pid: 100, until: 5_000 }, SELF, 1_000, alive)).toBe(false);
    expect(ownerHolds({ host: "mx2", pid: 300, until: 5_000 }, SELF, 1_000, alive)).toBe(true);
    expect(ownerHolds({ host: "mx2", pid: 200, until: 1_000 }, SELF, 1_000, alive)).toBe(false);
  });

  it("is refused to a second taker while the first lives, and free once it is released", async () => {
    await writeFile(join(dir, "owner.json"), JSON.stringify({ host: hostname(), pid: process.ppid, until: Date.now() + LEASE_MS }));
    expect(() => takeSpoolLease(dir)).toThrow(SpoolHeld);
    expect(() => takeSpoolLease(dir)).toThrow(new RegExp(`is held by relay pid ${process.ppid} on `));
    await writeFile(join(dir, "owner.json"), JSON.stringify({ host: hostname(), pid: deadPid(), until: Date.now() + LEASE_MS }));
    const lease = takeSpoolLease(dir);
    expect(lease.owner).toMatchObject({ host: hostname(), pid: process.pid });
    lease.release();
    expect(await readdir(dir)).toEqual([]);
  });

  it("on another host, waits for the lease to run out", async () => {
    await writeFile(join(dir, "owner.json"), JSON.stringify({ host: "elsewhere.example", pid: 1, until: Date.now() + LEASE_MS }));
    expect(() => takeSpoolLease(dir)).toThrow(/held by relay pid 1 on elsewhere\.example/);
    const later = Date.now() + LEASE_MS + 1;
    const lease = takeSpoolLease(dir, { now: () => later });
    expect(lease.owner.until).toBe(later + LEASE_MS);
    lease.release();
  });

  it("is not taken while another taker's takeover is under way", async () => {
    await writeFile(join(dir, "owner.json"), JSON.stringify({ host: hostname(), pid: deadPid(), until: 0 }));
    await writeFile(join(dir, "owner.json.takeover"), "{}");
    expect(() => takeSpoolLease(dir)).toThrow(/being taken over by another relay/);
  });
});

describe("a lease taken over while its relay was stopped", () => {
  it("is found lost: assertHeld names the taker (onLost once), and release leaves the taker's file", async () => {
    const told: (SpoolOwner | null)[] = [];
    const start = Date.now();
    const lease = takeSpoolLease(dir, { host: "mx1", now: () => start, onLost: (lost) => told.push(lost.by) });
    expect(() => lease.assertHeld()).not.toThrow();
    // Another host's relay takes the spool once the lease ran out.
    const taker = takeSpoolLease(dir, { host: "mx2", now: () => start + LEASE_MS + 1 });
    expect(() => lease.assertHeld()).toThrow(SpoolLost);
    expect(() => lease.assertHeld()).toThrow(`this relay no longer holds the spool ${dir}: relay pid ${process.pid} on mx2 took it over`);
    expect(told).toEqual([taker.owner]);
    lease.release();
    expect(JSON.parse(await readFile(join(dir, "owner.json"), "utf8"))).toEqual(taker.owner);
    taker.release();
    expect(await readdir(dir)).toEqual([]);
  });

  it("is found lost to an adopter that gave the spool up again: its name is left", async () => {
    const lease = takeSpoolLease(dir, { host: "mx1", now: () => 0 });
    const adopter = takeSpoolLease(dir, { host: "mx2", now: () => LEASE_MS + 1 });
    adopter.release({ leaveName: true });
    expect(() => lease.assertHeld()).toThrow(
      `this relay no longer holds the spool ${dir}: relay pid ${process.pid} on mx2 took it over (an adoption, done since)`,
    );
    // The next owner clears it.
    takeSpoolLease(dir).release();
    expect(await readdir(dir)).toEqual([]);
  });

  it("is found lost when the owner file is gone", async () => {
    const lease = takeSpoolLease(dir);
    await rm(join(dir, "owner.json"));
    expect(() => lease.assertHeld()).toThrow(/its owner file is gone/);
    lease.release();
  });

  it("makes the spool refuse a message (its file goes again) and a delivery", async () => {
    const lease = takeSpoolLease(dir, { host: "mx1", now: () => 0 });
    const spool = await Spool.open(join(dir, "spool"), { assertHeld: () => lease.assertHeld() });
    const kept = await spool.enqueue({ envelope: { mailFrom: "a@sender.test", rcptTo: ["b@example.org"] }, message: MESSAGE });
    expect((await spool.read(kept))?.entry.id).toBe(kept);
    takeSpoolLease(dir, { host: "mx2", now: () => LEASE_MS + 1 });
    await expect(spool.enqueue({ envelope: { mailFrom: "a@sender.test", rcptTo: ["b@example.org"] }, message: MESSAGE })).rejects.toThrow(SpoolLost);
    expect(await readdir(join(dir, "spool", "queue"))).toEqual([kept]);
    expect(spool.list().map((entry) => entry.id)).toEqual([kept]);
    await expect(spool.read(kept)).rejects.toThrow(SpoolLost);
  });

  it("is shortened and put on another host by EDGEMX_TEST_LEASE, a test hook", () => {
    expect(parseTestLease(undefined)).toBeUndefined();
    expect(parseTestLease("")).toBeUndefined();
    expect(parseTestLease("3000:stopped.example")).toEqual({ leaseMs: 3000, host: "stopped.example" });
    expect(() => parseTestLease("3000")).toThrow("EDGEMX_TEST_LEASE must be <lease ms>:<host>");
    expect(() => parseTestLease("0:x")).toThrow("EDGEMX_TEST_LEASE must be <lease ms>:<host>");
  });
});

describe("adopting a dead relay's spool", () => {
  it("moves each entry with its pending recipients and arrival time, empties the spool, and frees it", async () => {
    const foreignDir = join(dir, "dead");
    const foreign = await Spool.open(foreignDir);
    const createdAt = Date.now() - 3_600_000;
    const partly = await foreign.enqueue({ envelope: { mailFrom: "a@sender.test", rcptTo: ["b@example.org", "c@example.org"] }, message: MESSAGE }, createdAt);
    await foreign.recordAttempt(partly, {
      at: createdAt + 1000,
      results: [{ rcpt: "b@example.org", status: "delivered", reply: "250 ok" }],
      nextAttemptAt: createdAt + 60_000,
    });
    const done = await foreign.enqueue({ envelope: { mailFrom: "a@sender.test", rcptTo: ["d@example.org"] }, message: MESSAGE });
    await foreign.recordAttempt(done, { at: Date.now(), results: [{ rcpt: "d@example.org", status: "failed", reply: "550 no" }], nextAttemptAt: Date.now() });
    // Its relay died: the owner file names a process that is gone.
    await writeFile(join(foreignDir, "owner.json"), JSON.stringify({ host: hostname(), pid: deadPid(), until: Date.now() + LEASE_MS }));

    const into = await Spool.open(join(dir, "living"));
    const adoption = await adoptSpool(foreignDir, into);
    expect(adoption.moved).toEqual([{ was: partly, now: expect.any(String) as string }]);
    expect(adoption.finished).toEqual([done]);
    const [entry] = into.list();
    expect(entry).toMatchObject({ envelope: { mailFrom: "a@sender.test", rcptTo: ["c@example.org"] }, createdAt, attempts: 0 });
    expect(Buffer.from((await into.read(entry!.id))!.message)).toEqual(MESSAGE);
    expect(await readdir(join(foreignDir, "queue"))).toEqual([]);
    expect(await readdir(join(foreignDir, "state"))).toEqual([]);
    expect((await readdir(foreignDir)).includes("owner.json")).toBe(false);
  });

  it("is refused while the spool's relay lives, and for the relay's own spool", async () => {
    const foreignDir = join(dir, "alive");
    const foreign = await Spool.open(foreignDir);
    await foreign.enqueue({ envelope: { mailFrom: "", rcptTo: ["b@example.org"] }, message: MESSAGE });
    await writeFile(join(foreignDir, "owner.json"), JSON.stringify({ host: hostname(), pid: process.ppid, until: Date.now() + LEASE_MS }));
    const into = await Spool.open(join(dir, "living"));
    await expect(adoptSpool(foreignDir, into)).rejects.toThrow(SpoolHeld);
    expect(foreign.list()).toHaveLength(1);
    expect(into.list()).toEqual([]);
    await expect(adoptSpool(join(dir, "living"), into)).rejects.toThrow(/this relay's own spool/);
  });

  it("is asked for by `npm run queue -- adopt <dir>`, the folder made absolute", () => {
    expect(parseQueueCommand(["adopt", "/srv/mx2/spool"])).toEqual({ request: { op: "adopt", dir: "/srv/mx2/spool" } });
    expect(parseQueueCommand(["adopt", "spool"])).toEqual({ request: { op: "adopt", dir: join(process.cwd(), "spool") } });
    expect(parseQueueCommand(["adopt"])).toBe("adopt needs the spool folder of the dead relay");
    expect(parseControlRequest('{"op":"adopt","dir":"/srv/mx2/spool"}')).toEqual({ op: "adopt", dir: "/srv/mx2/spool" });
    expect(parseControlRequest('{"op":"adopt"}')).toBe("adopt needs dir, a spool folder");
  });
});
