// The file-system steps that make a write survive a crash (POSIX: fsync(2) of a file makes its data
// durable; a new, renamed or removed name is durable once its directory is fsynced). Used by the spool
// and by Maildir delivery.
import { closeSync, constants, fdatasync, fstatSync, fsync, ftruncateSync, openSync, renameSync, writev, writevSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { dirname, resolve } from "node:path";

// The hot paths (one spool file, one Maildir file and a share of a folder fsync per message) use plain
// file descriptors: a FileHandle of node:fs/promises costs noticeably more main-thread CPU per step
// (docs/benchmarks.md, mx, round 2). Only the steps that wait for the disk go to libuv's thread pool:
// fsync(2), and writes larger than SYNC_WRITE_MAX_BYTES. open(2), a smaller write (a copy into the page
// cache), rename(2) and close(2) change memory and directory entries and run on the main thread, where
// they cost less than the hand-off to the pool and back (docs/benchmarks.md, mx, round 3).
const SYNC_WRITE_MAX_BYTES = 64 * 1024;
const fsyncFd = (fd: number): Promise<void> => new Promise((done, fail) => fsync(fd, (err) => (err ? fail(err) : done())));
const fdatasyncFd = (fd: number): Promise<void> => new Promise((done, fail) => fdatasync(fd, (err) => (err ? fail(err) : done())));
const writevFd = (fd: number, chunks: readonly Uint8Array[], position: number): Promise<number> => {
  const bytes = chunks.reduce((sum, chunk) => sum + chunk.byteLength, 0);
  if (bytes <= SYNC_WRITE_MAX_BYTES) return Promise.resolve(writevSync(fd, chunks as Uint8Array[], position));
  return new Promise((done, fail) => writev(fd, chunks as Uint8Array[], position, (err, written) => (err ? fail(err) : done(written))));
};

/** rename(2) on the main thread (see above); syncDirectory makes it durable. */
export function renameNow(from: string, to: string): void {
  renameSync(from, to);
}

async function fsyncDirectory(path: string): Promise<void> {
  const fd = openSync(path, "r");
  try {
    await fsyncFd(fd);
  } finally {
    closeSync(fd);
  }
}

/** Writes `chunks` at the start of `fd` — one writev(2) call unless the kernel takes less, then the rest; the bytes written. */
async function writeAll(fd: number, chunks: readonly (string | Uint8Array)[]): Promise<number> {
  let rest = chunks.map((chunk) => (typeof chunk === "string" ? Buffer.from(chunk) : chunk)).filter((chunk) => chunk.byteLength > 0);
  let position = 0;
  while (rest.length > 0) {
    let written = await writevFd(fd, rest, position);
    position += written;
    const left: Uint8Array[] = [];
    for (const chunk of rest) {
      if (written >= chunk.byteLength) written -= chunk.byteLength;
      else {
        left.push(written === 0 ? chunk : chunk.subarray(written));
        written = 0;
      }
    }
    rest = left;
  }
  return position;
}

/** Told when a write finished each of its steps: the spool's crash points (crash-point.ts). */
export type StepListener = (step: "write" | "fsync") => void;

/**
 * Creates `path` (it must not exist: O_EXCL, mode 0600), writes `chunks` into it and fsyncs and closes
 * it. The caller makes the name durable (rename, then syncDirectory).
 */
export async function writeNewFileSynced(path: string, chunks: readonly (string | Uint8Array)[], onStep?: StepListener): Promise<void> {
  const fd = openSync(path, "wx", 0o600);
  try {
    await writeAll(fd, chunks);
    onStep?.("write");
    await fsyncFd(fd);
    onStep?.("fsync");
  } finally {
    closeSync(fd);
  }
}

/**
 * Replaces the contents of the existing file `path` (it is not created) with `chunks`, and makes them
 * durable: a file recycled under the same inode (the spool's free files, docs/queue.md). The new bytes
 * are written over the old ones and only a longer old file is cut to the new length, so a message the
 * size of the last one reuses its blocks: nothing is freed or allocated, and fdatasync(2), which
 * flushes the data and only the metadata needed to read it back (the size, when it changed), has no
 * block allocation to commit.
 */
export async function rewriteFileSynced(path: string, chunks: readonly (string | Uint8Array)[], onStep?: StepListener): Promise<void> {
  const fd = openSync(path, constants.O_WRONLY, 0o600);
  try {
    const oldSize = fstatSync(fd).size;
    const newSize = await writeAll(fd, chunks);
    if (oldSize > newSize) ftruncateSync(fd, newSize);
    onStep?.("write");
    await fdatasyncFd(fd);
    onStep?.("fsync");
  } finally {
    closeSync(fd);
  }
}

/** Per directory: the fsync running now, and the one that will run after it for the callers that came since. */
const syncs = new Map<string, { running: Promise<void>; next: Promise<void> | undefined }>();

/**
 * fsync of a directory, so that the names created, renamed or removed in it survive a crash.
 * Group commit: callers that arrive while an fsync of the same directory runs share the one fsync
 * started after it ends (never the running one, which may have begun before their change), so
 * concurrent spool writes pay one open/fsync/close between them, not one each.
 */
export function syncDirectory(path: string): Promise<void> {
  const state = syncs.get(path);
  if (!state) {
    const running = fsyncDirectory(path).finally(() => advance(path));
    syncs.set(path, { running, next: undefined });
    return running;
  }
  state.next ??= state.running
    .then(
      () => undefined,
      () => undefined,
    )
    .then(() => fsyncDirectory(path));
  return state.next;
}

function advance(path: string): void {
  const state = syncs.get(path);
  if (!state) return;
  if (state.next === undefined) {
    syncs.delete(path);
    return;
  }
  const next = state.next;
  state.running = next;
  state.next = undefined;
  void next.then(
    () => advance(path),
    () => advance(path),
  );
}

/**
 * Creates `dirs` with any missing parents (mode 0700: mail is private) and fsyncs every directory
 * that got a new entry, so that a file later fsynced inside them cannot vanish with its folder.
 */
export async function makeDirectories(dirs: readonly string[]): Promise<void> {
  const changed = new Set<string>();
  for (const dir of dirs.map((d) => resolve(d))) {
    const firstCreated = await mkdir(dir, { recursive: true, mode: 0o700 });
    if (firstCreated === undefined) continue;
    for (let created = dir; ; created = dirname(created)) {
      changed.add(dirname(created));
      if (created === resolve(firstCreated) || created === dirname(created)) break;
    }
  }
  for (const dir of changed) await syncDirectory(dir);
}
