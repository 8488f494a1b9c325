// The file-system steps that make a write survive a crash (POSIX: fsync(2) of a file makes its data
// durable; a new, renamed or removed name is durable once its directory is fsynced). Used by the spool
// and by Maildir delivery.
import { close, constants, fdatasync, fstat, fsync, ftruncate, open, writev } from "node:fs";
import { mkdir } from "node:fs/promises";
import { dirname, resolve } from "node:path";

// Every step runs in libuv's thread pool; the event loop only hands it over and takes the result back.
// Run on the main thread, open(2), write(2) and rename(2) of the Maildir and spool files cost it more
// CPU per message than that hand-off (docs/benchmarks.md, mx, round 7), and the main thread is what
// limits the relay's rate. The steps use plain file descriptors: a FileHandle of node:fs/promises costs
// noticeably more main-thread CPU per step (docs/benchmarks.md, mx, round 2).
const openFd = (path: string, flags: string | number, mode: number): Promise<number> =>
  new Promise((done, fail) => open(path, flags, mode, (err, fd) => (err ? fail(err) : done(fd))));
const fsyncFd = (fd: number): Promise<void> => new Promise((done, fail) => fsync(fd, (err) => (err ? fail(err) : done())));
const fdatasyncFd = (fd: number): Promise<void> => new Promise((done, fail) => fdatasync(fd, (err) => (err ? fail(err) : done())));
const sizeOf = (fd: number): Promise<number> => new Promise((done, fail) => fstat(fd, (err, stats) => (err ? fail(err) : done(stats.size))));
const truncateFd = (fd: number, length: number): Promise<void> => new Promise((done, fail) => ftruncate(fd, length, (err) => (err ? fail(err) : done())));
const writevFd = (fd: number, chunks: readonly Uint8Array[], position: number): Promise<number> =>
  new Promise((done, fail) => writev(fd, chunks as Uint8Array[], position, (err, written) => (err ? fail(err) : done(written))));
/**
 * close(2) without waiting for it: the fd stays taken until the pool has closed it, and by then the
 * bytes were fsynced or the file is being discarded, so there is nothing its result could change.
 */
const closeFd = (fd: number): void => close(fd, () => undefined);

async function fsyncDirectory(path: string): Promise<void> {
  const fd = await openFd(path, "r", 0);
  try {
    await fsyncFd(fd);
  } finally {
    closeFd(fd);
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
  const fd = await openFd(path, "wx", 0o600);
  try {
    await writeAll(fd, chunks);
    onStep?.("write");
    await fsyncFd(fd);
    onStep?.("fsync");
  } finally {
    closeFd(fd);
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
  const fd = await openFd(path, constants.O_WRONLY, 0o600);
  try {
    const oldSize = await sizeOf(fd);
    const newSize = await writeAll(fd, chunks);
    if (oldSize > newSize) await truncateFd(fd, newSize);
    onStep?.("write");
    await fdatasyncFd(fd);
    onStep?.("fsync");
  } finally {
    closeFd(fd);
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
