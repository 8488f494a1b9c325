// What `npm start` says when mail lands: each new file in a Maildir's new/ (relay-node/src/deliver/
// maildir.ts: <root>/<domain>/<local part>/new/<unique>) with the Authentication-Results fields the
// relay wrote into it, so a quickstart user sees where the message is and what the checks found.
// Polled, not fs.watch'ed: a recipient's Maildir is created by the delivery itself, and a watch on a new
// folder would start after the file it should report was already renamed into it.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parseHeaderSection } from "../../core/mime/header.ts";

const POLL_MS = 500;

/** The files in every <root>/<domain>/<local part>/new/; none where a folder does not exist (yet). */
export function maildirFiles(root: string): string[] {
  const list = (folder: string): string[] => {
    try {
      return readdirSync(folder);
    } catch {
      return [];
    }
  };
  return list(root).flatMap((domain) =>
    list(join(root, domain)).flatMap((local) => list(join(root, domain, local, "new")).map((name) => join(root, domain, local, "new", name))),
  );
}

/** The Authentication-Results fields of a message, unfolded, folding white space as one space. */
export function authenticationResults(message: Uint8Array): string[] {
  return parseHeaderSection(message, 0, () => false)
    .fields.filter((field) => field.name === "authentication-results")
    .map((field) => field.value.replace(/\s+/g, " ").trim());
}

/** Calls `onDelivered` for each file that appears in the Maildirs under `root` after this call; stop() ends the polling. */
export function watchDeliveries(root: string, onDelivered: (path: string, message: Uint8Array) => void): { stop(): void } {
  const seen = new Set(maildirFiles(root));
  const timer = setInterval(() => {
    for (const path of maildirFiles(root)) {
      if (seen.has(path)) continue;
      seen.add(path);
      let message: Uint8Array;
      try {
        message = readFileSync(path);
      } catch {
        continue; // a mail client moved it to cur/ already
      }
      onDelivered(path, message);
    }
  }, POLL_MS);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
