// Who owns a spool directory: one relay at a time delivers from it (the spool's index lives in that
// relay's memory, spool.ts), and a relay that died must not strand what it acknowledged — another relay
// takes the spool over and drains it (`npm run queue -- adopt <dir>`, docs/queue.md).
//
// The owner is the file <dir>/owner.json: {host, pid, until}. The owner rewrites it every quarter of
// LEASE_MS (15 s) with `until` LEASE_MS ahead. It holds the spool while
// - on this host: its process lives (a SIGKILLed relay's spool is free at once; a busy one keeps it),
// - on another host (shared storage): `until` has not passed (a host that died frees it after LEASE_MS).
// A fresh owner file appears by link(2), which fails when the name exists, so of two takers one wins; a
// stale one is replaced only under <dir>/owner.json.takeover, itself made by link(2). A taker that dies
// inside the takeover (a few file operations) leaves that file behind: the next taker names it.
//
// An owner that was stopped in its tracks (SIGSTOP, a partitioned host) past `until` may find, when it
// runs again, that a relay of another host took the spool: it learns so at its next renewal, or sooner,
// when the spool asks assertHeld() before it acknowledges a message or delivers one (spool.ts) — the
// owner file is then no longer the one it wrote last. From then on the spool refuses both.
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

function readOwner(path: string): SpoolOwner | null {
  try {
    const value = JSON.parse(readFileSync(path, "utf8")) as Partial<SpoolOwner>;
    if (typeof value.host === "string" && typeof value.pid === "number" && typeof value.until === "number") return value as SpoolOwner;
  } catch {
    // absent or unreadable: no owner
  }
  return null;
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
  /** Told once, when a renewal or assertHeld() finds the owner file no longer ours: then stop delivering from the spool. */
  onLost?: (lost: SpoolLost) => void;
  /** Told when a renewal could not be written. */
  onRenewalError?: (error: unknown) => void;
}

/**
 * Takes the spool at `dir` for this process, or throws SpoolHeld naming the relay that holds it; the
 * lease is renewed every quarter of its length (an unref'd timer) until release() or until it is found lost.
 */
export function takeSpoolLease(dir: string, options: LeaseOptions = {}): SpoolLease {
  const now = options.now ?? Date.now;
  const self = { host: options.host ?? testLease?.host ?? hostname(), pid: options.pid ?? process.pid };
  const leaseMs = testLease?.leaseMs ?? LEASE_MS;
  const path = join(dir, "owner.json");
  const lastPath = join(dir, "owner.last.json");
  mkdirSync(dir, { recursive: true });
  /** The owner file's next contents, written and fsynced under a temporary name. */
  const write = (): { owner: SpoolOwner; text: string; temp: string } => {
    const owner = { ...self, until: now() + leaseMs };
    const text = JSON.stringify(owner);
    const temp = join(dir, `.owner.${randomBytes(4).toString("hex")}.tmp`);
    writeFileSync(temp, text, { flush: true });
    return { owner, text, temp };
  };
  /** What this process wrote last: the owner file holds exactly this while the spool is ours. */
  let written = "";
  const take = (): SpoolOwner => {
    const mine = write();
    written = mine.text;
    try {
      linkSync(mine.temp, path);
      return mine.owner;
    } catch (error) {
      if (!isCode(error, "EEXIST")) throw error;
      const current = readOwner(path);
      if (current !== null && ownerHolds(current, self, now(), pidAlive)) throw new SpoolHeld(`${dir} is held by ${describe(current)}`);
      const takeover = `${path}.takeover`;
      try {
        linkSync(mine.temp, takeover);
      } catch (takeoverError) {
        if (isCode(takeoverError, "EEXIST"))
          throw new SpoolHeld(`${dir} is being taken over by another relay (or a taker died doing it: then delete ${takeover})`, { cause: takeoverError });
        throw takeoverError;
      }
      try {
        const again = readOwner(path);
        if (again !== null && ownerHolds(again, self, now(), pidAlive)) throw new SpoolHeld(`${dir} is held by ${describe(again)}`);
        renameSync(mine.temp, path);
        return mine.owner;
      } finally {
        unlinkSync(takeover);
      }
    } finally {
      try {
        unlinkSync(mine.temp);
      } catch {
        // renamed into place
      }
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
  const renewal = setInterval(() => {
    try {
      assertHeld();
    } catch {
      return;
    }
    // A renewal that fails (a full disk) is tried again at the next tick: on this host the lease holds
    // while the process lives anyway, and another host waits the lease's length, four ticks.
    let next: { owner: SpoolOwner; text: string; temp: string } | undefined;
    try {
      next = write();
      renameSync(next.temp, path);
      owner = next.owner;
      written = next.text;
    } catch (error) {
      if (next !== undefined) rmSync(next.temp, { force: true });
      options.onRenewalError?.(error);
    }
  }, leaseMs / 4).unref();
  return {
    get owner() {
      return owner;
    },
    assertHeld,
    release(releaseOptions = {}) {
      clearInterval(renewal);
      if (lost !== null || !ours()) return;
      if (releaseOptions.leaveName === true) writeFileSync(lastPath, JSON.stringify({ ...self, until: now() }));
      try {
        unlinkSync(path);
      } catch (error) {
        if (!isCode(error, "ENOENT")) throw error;
      }
    },
  };
}
