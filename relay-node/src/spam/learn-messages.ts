// The messages a path holds, for `npm run learn`: a file is one message; a Maildir folder
// (https://cr.yp.to/proto/maildir.html) holds one message per file in cur/ and new/ — tmp/ holds mail
// still being written, and is left alone.
import { readdir, stat } from "node:fs/promises";
import { join } from "node:path";

export class NotAMessageSource extends Error {
  constructor(message: string) {
    super(message);
    this.name = "NotAMessageSource";
  }
}

/** The message files under `path`, sorted; a folder must be a Maildir. */
export async function messageFiles(path: string): Promise<string[]> {
  const info = await stat(path).catch((err: unknown) => {
    throw new NotAMessageSource(`${path}: ${err instanceof Error ? ((err as NodeJS.ErrnoException).code ?? err.message) : String(err)}`);
  });
  if (info.isFile()) return [path];
  if (!info.isDirectory()) throw new NotAMessageSource(`${path}: neither a file nor a Maildir folder`);
  const files: string[] = [];
  let maildir = false;
  for (const sub of ["cur", "new"]) {
    const folder = join(path, sub);
    const entries = await readdir(folder, { withFileTypes: true }).catch(() => null);
    if (entries === null) continue;
    maildir = true;
    files.push(...entries.filter((entry) => entry.isFile() && !entry.name.startsWith(".")).map((entry) => join(folder, entry.name)));
  }
  if (!maildir) throw new NotAMessageSource(`${path}: not a Maildir (it has no cur/ or new/ folder)`);
  return files.sort();
}
