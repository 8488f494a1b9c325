// The file-system steps that make a write survive a crash (POSIX: fsync(2) of a file makes its data
// durable; a new, renamed or removed name is durable once its directory is fsynced). Used by the spool
// and by Maildir delivery.
import { mkdir, open } from "node:fs/promises";
import { dirname, resolve } from "node:path";

async function fsyncDirectory(path: string): Promise<void> {
  const handle = await open(path, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
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
  state.next ??= state.running.then(
    () => undefined,
    () => undefined,
  ).then(() => fsyncDirectory(path));
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
