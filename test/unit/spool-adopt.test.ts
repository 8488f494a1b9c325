// A spool's owner and its adoption (docs/queue.md): the lease says who delivers from a spool, a dead
// relay's spool is drained into a living one's, and a living relay's is refused.
import { spawnSync } from "node:child_process";
import { readFileSync, statSync, unlinkSync, writeFileSync } from "node:fs";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
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
  vi.useRealTimers();
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

  it("is asked cheaply: the owner file is read only once half the lease has passed", async () => {
    let clock = 0;
    const lease = takeSpoolLease(dir, { host: "mx1", now: () => clock });
    takeSpoolLease(dir, { host: "mx2", now: () => LEASE_MS + 1 });
    // A taker whose clock ran a whole lease ahead is outside what the cheap form assumes: it notices
    // nothing in the first half of the lease, and the file at the half.
    clock = LEASE_MS / 2 - 1;
    expect(() => lease.assertHeldCheaply()).not.toThrow();
    expect(() => lease.assertHeld()).toThrow(SpoolLost);
    const fresh = takeSpoolLease(join(dir, "other"), { host: "mx1", now: () => clock });
    expect(() => fresh.assertHeldCheaply()).not.toThrow();
    clock += LEASE_MS / 2;
    expect(() => fresh.assertHeldCheaply()).not.toThrow(); // past the half, but the file is its own
    await rm(join(dir, "other", "owner.json"));
    expect(() => fresh.assertHeldCheaply()).toThrow(/its owner file is gone/);
    // Once lost, always lost, without reading the file again.
    expect(() => lease.assertHeldCheaply()).toThrow(SpoolLost);
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

describe("the lock on the owner file (owner.json.takeover)", () => {
  const ownerFile = (): SpoolOwner => JSON.parse(readFileSync(join(dir, "owner.json"), "utf8")) as SpoolOwner;
  const lockFile = (): string => join(dir, "owner.json.takeover");
  /** The lease's renewal timer, run by the test. */
  const fakeRenewals = (): void => void vi.useFakeTimers({ toFake: ["setInterval", "clearInterval"] });

  it("makes a takeover that lands between a renewal's check and its rename give up: the owner keeps the spool", async () => {
    fakeRenewals();
    let clock = 0;
    let racing = false;
    const refused: unknown[] = [];
    const lease = takeSpoolLease(dir, {
      host: "mx1",
      now: () => clock,
      interleave: (point) => {
        if (!racing || point !== "locked") return;
        racing = false;
        // A relay of another host, for which the owner's lease has run out, tries to take the spool.
        try {
          takeSpoolLease(dir, { host: "mx2", now: () => LEASE_MS + 2 });
        } catch (error) {
          refused.push(error);
        }
      },
    });
    // The owner was stopped past its lease; it runs again, and its renewal comes first.
    clock = LEASE_MS + 1;
    racing = true;
    vi.advanceTimersByTime(LEASE_MS / 4);
    expect(refused).toHaveLength(1);
    expect(refused[0]).toBeInstanceOf(SpoolHeld);
    expect((refused[0] as Error).message).toMatch(new RegExp(`being taken over or renewed by relay pid ${process.pid} on mx1 `));
    expect(() => lease.assertHeld()).not.toThrow();
    expect(lease.owner).toEqual({ host: "mx1", pid: process.pid, until: 2 * LEASE_MS + 1 });
    expect(ownerFile()).toEqual(lease.owner);
    expect(await readdir(dir)).toEqual(["owner.json"]);
    lease.release();
    expect(await readdir(dir)).toEqual([]);
  });

  it("makes a renewal that comes while a takeover holds it skip: the taker gets the spool, and the owner finds it lost", async () => {
    fakeRenewals();
    let clock = 0;
    const told: (SpoolOwner | null)[] = [];
    const lease = takeSpoolLease(dir, { host: "mx1", now: () => clock, onLost: (lost) => told.push(lost.by) });
    let racing = true;
    // The owner was stopped past its lease; a relay of another host takes the spool, and the owner runs
    // again (its renewal) while the taker holds the lock.
    const taker = takeSpoolLease(dir, {
      host: "mx2",
      now: () => LEASE_MS + 1,
      interleave: (point) => {
        if (!racing || point !== "locked") return;
        racing = false;
        clock = LEASE_MS + 2;
        vi.advanceTimersByTime(LEASE_MS / 4);
        expect(told).toEqual([]);
      },
    });
    expect(racing).toBe(false);
    expect(ownerFile()).toEqual(taker.owner);
    expect(() => taker.assertHeld()).not.toThrow();
    expect(() => lease.assertHeld()).toThrow(`this relay no longer holds the spool ${dir}: relay pid ${process.pid} on mx2 took it over`);
    expect(told).toEqual([taker.owner]);
    // No later renewal of the old owner writes over the taker's file.
    vi.advanceTimersByTime(LEASE_MS);
    expect(ownerFile()).toEqual(taker.owner);
    expect(await readdir(dir)).toEqual(["owner.json"]);
  });

  it("left by a relay killed inside a renewal (its pid gone) is removed, and the spool taken", async () => {
    const dead = deadPid();
    await writeFile(join(dir, "owner.json"), JSON.stringify({ host: hostname(), pid: dead, until: Date.now() }));
    await writeFile(lockFile(), JSON.stringify({ host: hostname(), pid: dead, until: Date.now() + LEASE_MS }));
    const lease = takeSpoolLease(dir);
    expect(lease.owner).toMatchObject({ host: hostname(), pid: process.pid });
    expect(ownerFile()).toEqual(lease.owner);
    expect(await readdir(dir)).toEqual(["owner.json"]);
    lease.release();
    expect(await readdir(dir)).toEqual([]);
  });

  it("left stale is removed by the owner's renewal too", async () => {
    fakeRenewals();
    let clock = 0;
    const lease = takeSpoolLease(dir, { host: "mx1", pid: 100, pidAlive: alive, now: () => clock });
    // A taker of this host, pid 300, died holding the lock.
    writeFileSync(lockFile(), JSON.stringify({ host: "mx1", pid: 300, until: LEASE_MS }));
    clock = 1000;
    vi.advanceTimersByTime(LEASE_MS / 4);
    expect(ownerFile()).toEqual({ host: "mx1", pid: 100, until: 1000 + LEASE_MS });
    expect(await readdir(dir)).toEqual(["owner.json"]);
    lease.release();
  });

  it("held by a living process is respected, and another host's until its lease has passed", async () => {
    const dead = deadPid();
    await writeFile(join(dir, "owner.json"), JSON.stringify({ host: hostname(), pid: dead, until: 0 }));
    const living = JSON.stringify({ host: hostname(), pid: process.ppid, until: 0 });
    await writeFile(lockFile(), living);
    expect(() => takeSpoolLease(dir)).toThrow(new RegExp(`being taken over or renewed by relay pid ${process.ppid} on `));
    expect(await readFile(lockFile(), "utf8")).toBe(living);
    const elsewhere = JSON.stringify({ host: "elsewhere.example", pid: 1, until: Date.now() + LEASE_MS });
    await writeFile(lockFile(), elsewhere);
    expect(() => takeSpoolLease(dir)).toThrow(/being taken over or renewed by relay pid 1 on elsewhere\.example/);
    expect(await readFile(lockFile(), "utf8")).toBe(elsewhere);
    expect((await readdir(dir)).sort()).toEqual(["owner.json", "owner.json.takeover"]);
    const later = Date.now() + LEASE_MS + 1;
    const lease = takeSpoolLease(dir, { now: () => later });
    expect(ownerFile()).toEqual(lease.owner);
    expect(await readdir(dir)).toEqual(["owner.json"]);
  });

  it("judged stale by two takers is removed by one: the later puts back the lock the earlier took since", async () => {
    await writeFile(join(dir, "owner.json"), JSON.stringify({ host: hostname(), pid: deadPid(), until: 0 }));
    await writeFile(lockFile(), JSON.stringify({ host: hostname(), pid: deadPid(), until: 0 }));
    const earlier = JSON.stringify({ host: hostname(), pid: process.ppid, until: 0 });
    let inode = 0;
    const later = (): unknown =>
      takeSpoolLease(dir, {
        interleave: (point) => {
          if (point !== "breaking") return;
          // Another taker moved the stale file aside (it is gone) and took the lock.
          unlinkSync(lockFile());
          writeFileSync(lockFile(), earlier);
          inode = statSync(lockFile()).ino;
        },
      });
    expect(later).toThrow(new RegExp(`being taken over or renewed by relay pid ${process.ppid} on `));
    expect(await readFile(lockFile(), "utf8")).toBe(earlier);
    expect(statSync(lockFile()).ino).toBe(inode);
    expect((await readdir(dir)).sort()).toEqual(["owner.json", "owner.json.takeover"]);
  });

  it("judged stale by two takers: the later one finds it gone, and the spool taken by the earlier", async () => {
    await writeFile(join(dir, "owner.json"), JSON.stringify({ host: hostname(), pid: deadPid(), until: 0 }));
    await writeFile(lockFile(), JSON.stringify({ host: hostname(), pid: deadPid(), until: 0 }));
    const earlier = { host: hostname(), pid: process.ppid, until: 0 };
    const later = (): unknown =>
      takeSpoolLease(dir, {
        interleave: (point) => {
          if (point !== "breaking") return;
          // Another taker removed the stale file and took the spool over.
          unlinkSync(lockFile());
          writeFileSync(join(dir, "owner.json"), JSON.stringify(earlier));
        },
      });
    expect(later).toThrow(new RegExp(`is held by relay pid ${process.ppid} on `));
    expect(ownerFile()).toEqual(earlier);
    expect(await readdir(dir)).toEqual(["owner.json"]);
  });

  it("that lost its name to another process: the commit puts that process's record in place, not this one's", async () => {
    await writeFile(join(dir, "owner.json"), JSON.stringify({ host: hostname(), pid: deadPid(), until: 0 }));
    const other = { host: hostname(), pid: process.ppid, until: 0 };
    const taker = (): unknown =>
      takeSpoolLease(dir, {
        interleave: (point) => {
          if (point !== "locked") return;
          unlinkSync(lockFile());
          writeFileSync(lockFile(), JSON.stringify(other));
        },
      });
    expect(taker).toThrow(new RegExp(`is held by relay pid ${process.ppid} on `));
    expect(ownerFile()).toEqual(other);
    expect(await readdir(dir)).toEqual(["owner.json"]);
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

  it("stops when another relay takes the spool over meanwhile", async () => {
    const foreignDir = join(dir, "dead");
    const foreign = await Spool.open(foreignDir);
    const id = await foreign.enqueue({ envelope: { mailFrom: "a@sender.test", rcptTo: ["b@example.org"] }, message: MESSAGE });
    await writeFile(join(foreignDir, "owner.json"), JSON.stringify({ host: hostname(), pid: deadPid(), until: 0 }));
    const into = await Spool.open(join(dir, "living"));
    const adoption = adoptSpool(foreignDir, into);
    // The lease is taken at once; while the adoption opens the spool, another relay's file replaces it.
    const other = { host: "elsewhere.example", pid: 1, until: Date.now() + LEASE_MS };
    writeFileSync(join(foreignDir, "owner.json"), JSON.stringify(other));
    await expect(adoption).rejects.toThrow("relay pid 1 on elsewhere.example took it over");
    expect(into.list()).toEqual([]);
    expect(await readdir(join(foreignDir, "queue"))).toEqual([id]);
    expect(JSON.parse(await readFile(join(foreignDir, "owner.json"), "utf8"))).toEqual(other);
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
