// The file-system steps that make a write survive a crash (POSIX: fsync(2) of a file makes its data
// durable; a new, renamed or removed name is durable once its directory is fsynced). Used by the spool
// and by Maildir delivery.
import { mkdir, open } from "node:fs/promises";
import { dirname, resolve } from "node:path";

/** fsync of a directory, so that the names created, renamed or removed in it survive a crash. */
export async function syncDirectory(path: string): Promise<void> {
  const handle = await open(path, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
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
