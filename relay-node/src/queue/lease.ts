// Who owns a spool directory: one relay at a time delivers from it (the spool's index lives in that
// relay's memory, spool.ts), and a relay that died must not strand what it acknowledged — another relay
// takes the spool over and drains it (`npm run queue -- adopt <dir>`, docs/queue.md).
//
// The owner is the file <dir>/owner.json: {host, pid, until}. The owner rewrites it every quarter of
// LEASE_MS (15 s) with `until` LEASE_MS ahead. It holds the spool while
// - on this host: its process lives (a SIGKILLed relay's spool is free at once; a busy one keeps it),
// - on another host (shared storage): `until` has not passed (a host that died frees it after LEASE_MS).
// Every change of the owner file is made under the lock <dir>/owner.json.takeover, made by link(2)
// (which fails when the name exists) and holding its maker's record: a check of the owner file and
// the change that follows it are one step for every other relay. A relay killed while it holds the lock
// (a renewal is a few file operations every 15 s) leaves it behind; the next one judges it as an owner
// file and removes it when its maker is gone (takeSpoolLease, lock()).
//
// An owner that was stopped in its tracks (SIGSTOP, a partitioned host) past `until` may find, when it
// runs again, that a relay of another host took the spool: it learns so at its next renewal, or sooner,
// when the spool asks assertHeld() before it acknowledges a message or delivers one (spool.ts) — the
// owner file is then no longer the one it wrote last. From then on the spool refuses both. The relay's
// spool asks the cheap form, which reads the file only past half the lease (assertHeldCheaply).
import { hostname } from "node:os";
import { linkSync, mkdirSync, readFileSync, renameSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { randomBytes } from "node:crypto";

export const LEASE_MS = 60_000;

// A test hook, as crash-point.ts is: with EDGEMX_TEST_LEASE=<ms>:<host> in its environment, the process
// writes its leases as a relay of <host> would, lasting <ms> milliseconds and renewed every quarter of
// that — so that a test can stop a relay past its lease and have another relay of this host take its
// spool, which a lease of this host's name would not allow while the stopped process lives. Read once,
// when this module loads; unset (production), the lease is this host's, LEASE_MS long.
export const TEST_LEASE_ENV = "EDGEMX_TEST_LEASE";

/** The lease length and host EDGEMX_TEST_LEASE names; undefined when it is unset or empty. */
export function parseTestLease(text: string | undefined): { leaseMs: number; host: string } | undefined {
  if (text === undefined || text === "") return undefined;
  const [, ms, host] = /^([1-9][0-9]*):([A-Za-z0-9.-]+)$/.exec(text) ?? [];
  if (ms === undefined || host === undefined)
    throw new Error(`${TEST_LEASE_ENV} must be <lease ms>:<host>, e.g. 2000:other.example; not ${JSON.stringify(text)}`);
  return { leaseMs: Number(ms), host };
}

const testLease = parseTestLease(process.env[TEST_LEASE_ENV]);

export interface SpoolOwner {
  host: string;
  pid: number;
  /** Milliseconds since the epoch. */
  until: number;
}

export interface SpoolLease {
  owner: SpoolOwner;
  /**
   * Throws SpoolLost when the owner file is no longer the one this process wrote last (another relay
   * took the spool over, or it was deleted); the first time, the renewal stops and onLost is told.
   */
  assertHeld(): void;
  /**
   * assertHeld() for every message: the owner file is read only once half the lease has passed since
   * the last renewal. Before that no other relay can have taken the spool — one of this host only takes
   * it from a dead process, one of another host only after `until` (host clocks kept within half a
   * lease, NTP) — and a running relay renews every quarter of it, so it reads the file at its
   * renewals; one that was stopped or starved past the mark reads it at its next message.
   */
  assertHeldCheaply(): void;
  /**
   * Gives the spool up (the owner file goes, if it is still ours). `leaveName`: an adopter's release
   * leaves its name behind in <dir>/owner.last.json, for the relay it took the spool from (SpoolLost).
   */
  release(options?: { leaveName?: boolean }): void;
}

/** Another relay holds the spool. */
export class SpoolHeld extends Error {}

/**
 * This process held the spool and no longer does: it must neither acknowledge mail into it nor deliver
 * from it. `by`: the relay that holds it now, or that adopted it and gave it up again (`released`).
 */
export class SpoolLost extends Error {
  readonly by: SpoolOwner | null;
  readonly released: boolean;
  constructor(dir: string, by: SpoolOwner | null, released: boolean) {
    const taker = by === null ? "its owner file is gone" : `relay pid ${by.pid} on ${by.host} took it over${released ? " (an adoption, done since)" : ""}`;
    super(`this relay no longer holds the spool ${dir}: ${taker}`);
    this.by = by;
    this.released = released;
  }
}

/** Whether `owner` still holds the spool, seen by process `self` at `now` (the file's head). */
export function ownerHolds(owner: SpoolOwner, self: { host: string; pid: number }, now: number, pidAlive: (pid: number) => boolean): boolean {
  if (owner.host === self.host) return owner.pid !== self.pid && pidAlive(owner.pid);
  return owner.until > now;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it lives, under another user.
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** The text of a file, or undefined when it does not exist. */
function readText(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch (error) {
    if (isCode(error, "ENOENT")) return undefined;
    throw error;
  }
}

/** An owner record; null when the text is none (absent) or not one. */
function parseOwner(text: string | undefined): SpoolOwner | null {
  if (text === undefined) return null;
  try {
    const value = JSON.parse(text) as Partial<SpoolOwner>;
    if (typeof value.host === "string" && typeof value.pid === "number" && typeof value.until === "number") return value as SpoolOwner;
  } catch {
    // unreadable: no owner
  }
  return null;
}

function readOwner(path: string): SpoolOwner | null {
  try {
    return parseOwner(readText(path));
  } catch {
    return null;
  }
}

function isCode(error: unknown, code: string): boolean {
  return (error as NodeJS.ErrnoException).code === code;
}

function describe(owner: SpoolOwner): string {
  return `relay pid ${owner.pid} on ${owner.host} (lease until ${new Date(owner.until).toISOString()})`;
}

export interface LeaseOptions {
  now?: () => number;
  host?: string;
  pid?: number;
  /** Whether a process of this host lives; kill(pid, 0) by default. */
  pidAlive?: (pid: number) => boolean;
  /**
   * For tests: called where another process may act between two steps of this one — `locked`: with
   * owner.json.takeover held, before owner.json is read and replaced; `breaking`: a stale
   * owner.json.takeover judged so, before it is moved aside.
   */
  interleave?: (point: "locked" | "breaking") => void;
  /** Told once, when a renewal or assertHeld() finds the owner file no longer ours: then stop delivering from the spool. */
  onLost?: (lost: SpoolLost) => void;
  /** Told when a renewal could not be written. */
  onRenewalError?: (error: unknown) => void;
}

/** An owner record written and fsynced under a temporary name, to be linked or renamed into place. */
interface Written {
  owner: SpoolOwner;
  text: string;
  temp: string;
}

/**
 * Takes the spool at `dir` for this process, or throws SpoolHeld naming the relay that holds it; the
 * lease is renewed every quarter of its length (an unref'd timer) until release() or until it is found lost.
 *
 * Every change of <dir>/owner.json — a take, a takeover, a renewal, a release — happens under the lock
 * <dir>/owner.json.takeover, so that a check of the owner file and the change that follows it are not
 * split by another process's change: without it, a renewal that had checked the file was still its own
 * could rename its next record over the record of a relay that took the spool over just then, and
 * both would deliver from it.
 */
export function takeSpoolLease(dir: string, options: LeaseOptions = {}): SpoolLease {
  const now = options.now ?? Date.now;
  const alive = options.pidAlive ?? pidAlive;
  const interleave = options.interleave ?? ((): void => {});
  const self = { host: options.host ?? testLease?.host ?? hostname(), pid: options.pid ?? process.pid };
  const leaseMs = testLease?.leaseMs ?? LEASE_MS;
  const path = join(dir, "owner.json");
  const lastPath = join(dir, "owner.last.json");
  const lockPath = `${path}.takeover`;
  mkdirSync(dir, { recursive: true });
  const write = (): Written => {
    const owner = { ...self, until: now() + leaseMs };
    const text = JSON.stringify(owner);
    const temp = join(dir, `.owner.${randomBytes(4).toString("hex")}.tmp`);
    try {
      writeFileSync(temp, text, { flush: true });
    } catch (error) {
      // A full disk may refuse the bytes after the file was made: no empty file stays behind.
      rmSync(temp, { force: true });
      throw error;
    }
    return { owner, text, temp };
  };
  const aside = (): string => join(dir, `.owner.${randomBytes(4).toString("hex")}.stale`);
  /**
   * A lock file holds the record of the process that made it, so that it can be judged as an owner
   * file is: stale when that process is of this host and dead (a relay SIGKILLed inside a renewal),
   * or of another host and its `until` passed. An unreadable one is never judged stale.
   */
  const stale = (text: string | undefined): boolean => {
    const record = parseOwner(text);
    return record !== null && !ownerHolds(record, self, now(), alive);
  };
  /**
   * Takes the lock with `mine` (its temporary file linked to owner.json.takeover: link(2) fails with
   * EEXIST while another process holds it), or returns the text of the lock file that is in the way.
   *
   * A stale lock file is removed first. Two takers may read the same stale file; had each unlinked
   * the name and linked its own, the later unlink could remove the earlier one's fresh lock, and both
   * would go on. Instead each renames the name to a name of its own, which no other process touches,
   * and judges what it moved again: rename(2) moves whatever the name holds at that instant, so the
   * stale file is moved by one of them only. The other's rename fails (ENOENT) or moves a lock taken
   * since, which it finds live and links back. Only what was judged stale after the move is removed
   * for good: a live lock moved by mistake loses its name only when yet another process took the free
   * name between the move and the link back (EEXIST then), and its holder learns so at its commit
   * (underLock), which then installs the other process's record, not its own.
   */
  const lock = (mine: Written): { locked: true } | { locked: false; holder: string | undefined } => {
    // Three tries: each after the lock was found gone or a stale one removed.
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        linkSync(mine.temp, lockPath);
        return { locked: true };
      } catch (error) {
        if (!isCode(error, "EEXIST")) throw error;
      }
      const holder = readText(lockPath);
      if (holder === undefined) continue;
      if (!stale(holder)) return { locked: false, holder };
      interleave("breaking");
      const moved = aside();
      try {
        renameSync(lockPath, moved);
      } catch (error) {
        if (isCode(error, "ENOENT")) continue;
        throw error;
      }
      if (!stale(readText(moved))) {
        try {
          linkSync(moved, lockPath);
        } catch (error) {
          if (!isCode(error, "EEXIST")) throw error;
        }
      }
      unlinkSync(moved);
    }
    return { locked: false, holder: readText(lockPath) };
  };
  /**
   * Gives the lock up if the name still holds our file: a commit moved it to owner.json, and after a
   * stop longer than the lease it may be another's (the read and the unlink are two steps: a process
   * stopped between them for longer than the lease could remove a lock taken since, as any lease-based
   * lock can be outlived; the commit's check below still keeps the owner file whole).
   */
  const unlock = (mine: Written): void => {
    if (readText(lockPath) === mine.text) rmSync(lockPath, { force: true });
  };
  /**
   * Under the lock: `replace` decides from the owner file's text whether `mine` is to replace it; if
   * so, the lock file itself is renamed over owner.json (the commit). What lands there is whatever the
   * lock name holds at that instant — our record, or, if ours lost its name (above), the record of the
   * process holding the lock now — never a record of ours after another's. The outcome is then read
   * from the owner file: the spool is ours exactly when it holds our text, whichever process's commit
   * put it there. `holder`: the lock file in the way when the lock could not be had.
   */
  const underLock = (
    mine: Written,
    replace: (text: string | undefined) => boolean,
  ): { locked: true; ours: boolean } | { locked: false; holder: string | undefined } => {
    const taken = lock(mine);
    if (!taken.locked) return taken;
    try {
      interleave("locked");
      if (replace(readText(path))) renameSync(lockPath, path);
    } catch (error) {
      // ENOENT: the lock lost its name (above): the owner file says what happened.
      if (!isCode(error, "ENOENT")) {
        unlock(mine);
        throw error;
      }
    }
    unlock(mine);
    return { locked: true, ours: readText(path) === mine.text };
  };

  /** What this process wrote last: the owner file holds exactly this while the spool is ours. */
  let written = "";
  const take = (): SpoolOwner => {
    const mine = write();
    try {
      const outcome = underLock(mine, (text) => {
        const holder = parseOwner(text);
        return holder === null || !ownerHolds(holder, self, now(), alive);
      });
      if (!outcome.locked) {
        const locker = parseOwner(outcome.holder);
        throw new SpoolHeld(
          locker !== null
            ? `${dir} is being taken over or renewed by ${describe(locker)}`
            : outcome.holder === undefined
              ? `${dir} is being taken over by another relay: try again`
              : `${dir} is being taken over by another relay (or one died doing it, leaving ${lockPath} unreadable: then delete it)`,
        );
      }
      if (!outcome.ours) {
        const holder = readOwner(path);
        throw new SpoolHeld(`${dir} is held by ${holder === null ? "another relay" : describe(holder)}`);
      }
      written = mine.text;
      return mine.owner;
    } finally {
      rmSync(mine.temp, { force: true });
    }
  };
  let owner = take();
  // An earlier adopter's name is of no use to this owner.
  rmSync(lastPath, { force: true });
  // The file is compared whole: `until` makes each renewal's text unique, so another relay's file
  // (even of this host and pid, on a shared spool) never passes for ours.
  const ours = (): boolean => {
    try {
      return readFileSync(path, "utf8") === written;
    } catch {
      return false;
    }
  };
  let lost: SpoolLost | null = null;
  const assertHeld = (): void => {
    if (lost === null && !ours()) {
      clearInterval(renewal);
      const holder = readOwner(path);
      const last = holder === null ? readOwner(lastPath) : null;
      lost = holder !== null ? new SpoolLost(dir, holder, false) : new SpoolLost(dir, last, last !== null);
      options.onLost?.(lost);
    }
    if (lost !== null) throw lost;
  };
  const assertHeldCheaply = (): void => {
    if (lost === null && now() < owner.until - leaseMs / 2) return;
    assertHeld();
  };
  const renewal = setInterval(() => {
    try {
      assertHeld();
    } catch {
      return;
    }
    // A renewal that fails (a full disk) is tried again at the next tick: on this host the lease holds
    // while the process lives anyway, and another host waits the lease's length, four ticks. One that
    // finds the lock taken is skipped: a taker under way finds this lease live and gives up, or (this
    // relay was stopped past its lease) takes the spool, which the next assertHeld() finds.
    let next: Written | undefined;
    try {
      next = write();
      const outcome = underLock(next, (text) => text === written);
      if (outcome.locked && outcome.ours) {
        owner = next.owner;
        written = next.text;
      } else if (outcome.locked) assertHeld();
    } catch (error) {
      if (!(error instanceof SpoolLost)) options.onRenewalError?.(error);
    } finally {
      if (next !== undefined) rmSync(next.temp, { force: true });
    }
  }, leaseMs / 4).unref();
  return {
    get owner() {
      return owner;
    },
    assertHeld,
    assertHeldCheaply,
    release(releaseOptions = {}) {
      clearInterval(renewal);
      if (lost !== null || !ours()) return;
      // Under the lock, so that no takeover lands between the check and the unlink, whose file the
      // unlink would remove. A lock held by a live process (a taker now re-reading this live lease, to
      // give up) is not waited for, nor one that cannot be written (a full disk): the file goes
      // without it, and a taker's re-read decides.
      let mine: Written | undefined;
      let locked = false;
      try {
        try {
          mine = write();
          locked = lock(mine).locked;
        } catch {
          // released without the lock
        }
        if (ours()) {
          if (releaseOptions.leaveName === true) writeFileSync(lastPath, JSON.stringify({ ...self, until: now() }));
          rmSync(path, { force: true });
        }
      } finally {
        if (mine !== undefined) {
          if (locked) unlock(mine);
          rmSync(mine.temp, { force: true });
        }
      }
    },
  };
}
