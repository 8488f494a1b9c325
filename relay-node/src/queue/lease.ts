// Who owns a spool directory: one relay at a time delivers from it (the spool's index lives in that
// relay's memory, spool.ts), and a relay that died must not strand what it acknowledged — another relay
// takes the spool over and drains it (`npm run queue -- adopt <dir>`, docs/queue.md).
//
// The owner is the file <dir>/owner.json: {host, pid, until}. The owner rewrites it every RENEW_MS with
// `until` LEASE_MS ahead. It holds the spool while
// - on this host: its process lives (a SIGKILLed relay's spool is free at once; a busy one keeps it),
// - on another host (shared storage): `until` has not passed (a host that died frees it after LEASE_MS).
// A fresh owner file appears by link(2), which fails when the name exists, so of two takers one wins; a
// stale one is replaced only under <dir>/owner.json.takeover, itself made by link(2). A taker that dies
// inside the takeover (a few file operations) leaves that file behind: the next taker names it.
import { hostname } from "node:os";
import { linkSync, mkdirSync, readFileSync, renameSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { randomBytes } from "node:crypto";

export const LEASE_MS = 60_000;
export const RENEW_MS = 15_000;

export interface SpoolOwner {
  host: string;
  pid: number;
  /** Milliseconds since the epoch. */
  until: number;
}

export interface SpoolLease {
  owner: SpoolOwner;
  /** Gives the spool up (the owner file goes, if it is still ours). */
  release(): void;
}

/** Another relay holds the spool. */
export class SpoolHeld extends Error {}

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
  /** Told when a renewal finds the owner file no longer ours: then stop delivering from the spool. */
  onLost?: (by: SpoolOwner | null) => void;
  /** Told when a renewal could not be written. */
  onRenewalError?: (error: unknown) => void;
}

/**
 * Takes the spool at `dir` for this process, or throws SpoolHeld naming the relay that holds it; the
 * lease is renewed every RENEW_MS (an unref'd timer) until release().
 */
export function takeSpoolLease(dir: string, options: LeaseOptions = {}): SpoolLease {
  const now = options.now ?? Date.now;
  const self = { host: options.host ?? hostname(), pid: options.pid ?? process.pid };
  const path = join(dir, "owner.json");
  mkdirSync(dir, { recursive: true });
  /** The owner file's next contents, written and fsynced under a temporary name. */
  const write = (): { owner: SpoolOwner; temp: string } => {
    const owner = { ...self, until: now() + LEASE_MS };
    const temp = join(dir, `.owner.${randomBytes(4).toString("hex")}.tmp`);
    writeFileSync(temp, JSON.stringify(owner), { flush: true });
    return { owner, temp };
  };
  const take = (): SpoolOwner => {
    const mine = write();
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
  const ours = (found: SpoolOwner | null): boolean => found !== null && found.host === self.host && found.pid === self.pid;
  const renewal = setInterval(() => {
    const found = readOwner(path);
    if (!ours(found)) {
      clearInterval(renewal);
      options.onLost?.(found);
      return;
    }
    // A renewal that fails (a full disk) is tried again at the next tick: on this host the lease holds
    // while the process lives anyway, and another host waits LEASE_MS, four ticks.
    let next: { owner: SpoolOwner; temp: string } | undefined;
    try {
      next = write();
      renameSync(next.temp, path);
      owner = next.owner;
    } catch (error) {
      if (next !== undefined) rmSync(next.temp, { force: true });
      options.onRenewalError?.(error);
    }
  }, RENEW_MS).unref();
  return {
    get owner() {
      return owner;
    },
    release() {
      clearInterval(renewal);
      if (!ours(readOwner(path))) return;
      try {
        unlinkSync(path);
      } catch (error) {
        if (!isCode(error, "ENOENT")) throw error;
      }
    },
  };
}
