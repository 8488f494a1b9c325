// The fault suite's shared checker: per case, what happened to every message the load sent. A message
// is found by its id header (load.ts) — in the Maildir or at an LMTP next hop ("delivered"), or in
// the spool's queue/ ("still queued"). Lost: answered 250 but neither delivered nor queued (the promise
// a 250 makes, docs/reliability.md). Duplicated: copies delivered beyond the first. Every case prints
// its row (formatRow) so that docs/reliability.md can carry the table.
import { closeSync, openSync, readdirSync, readFileSync, readSync } from "node:fs";
import { join } from "node:path";
import type { MessageOutcome } from "../../../bench/support/smtp-load.ts";
import { ID_HEADER } from "./load.ts";

export interface FaultRow {
  fault: string;
  sent: number;
  /** Got 250 to the final dot. */
  accepted: number;
  /** Distinct messages found delivered. */
  delivered: number;
  tempfail: number;
  permfail: number;
  /** The connection ended without a reply to the message (the process died, say). */
  noReply: number;
  /** Still in the spool when the case ended (answered 250 or not). */
  queued: number;
  lost: number;
  duplicated: number;
  /** Delivered though the client never saw a 250 (the reply was lost with the process): allowed. */
  deliveredWithout250: number;
  /** From the end of the fault to the relay's first success after it (what "success" is, the case says); null: not measured. */
  recoveryMs: number | null;
}

const ID_FIELD = new RegExp(`^${ID_HEADER}: (\\S+)\\r?$`, "im");

/** The id in a message's header (its header section only), or undefined. */
export function messageId(message: string): string | undefined {
  const end = message.indexOf("\r\n\r\n");
  return ID_FIELD.exec(end < 0 ? message : message.slice(0, end))?.[1];
}

/** Id → copies, over messages. */
export function countIds(messages: Iterable<string>): Map<string, number> {
  const copies = new Map<string, number>();
  for (const message of messages) {
    const id = messageId(message);
    if (id !== undefined) copies.set(id, (copies.get(id) ?? 0) + 1);
  }
  return copies;
}

function names(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/** Every message in every mailbox of a Maildir (<maildir>/<domain>/<local>/new). */
export function maildirContents(maildir: string): string[] {
  return names(maildir).flatMap((domain) =>
    names(join(maildir, domain)).flatMap((local) => {
      const folder = join(maildir, domain, local, "new");
      return names(folder).map((name) => readFileSync(join(folder, name), "latin1"));
    }),
  );
}

/** How many files the Maildir holds in all its mailboxes (new/). */
export function maildirFiles(maildir: string): number {
  return names(maildir).reduce(
    (sum, domain) => sum + names(join(maildir, domain)).reduce((n, local) => n + names(join(maildir, domain, local, "new")).length, 0),
    0,
  );
}

/**
 * Id → copies over every mailbox of a Maildir, reading only each file's first 16 KiB (where the id
 * header is): for runs that deliver too much to hold in memory at once (the soak).
 */
export function maildirCopies(maildir: string): Map<string, number> {
  const head = Buffer.alloc(16 * 1024);
  const heads = names(maildir).flatMap((domain) =>
    names(join(maildir, domain)).flatMap((local) => {
      const folder = join(maildir, domain, local, "new");
      return names(folder).map((name) => {
        const fd = openSync(join(folder, name), "r");
        try {
          return head.toString("latin1", 0, readSync(fd, head, 0, head.length, 0));
        } finally {
          closeSync(fd);
        }
      });
    }),
  );
  return countIds(heads);
}

/** The ids of the messages in a spool's queue/ (temporary ".…tmp" files aside). */
export function spoolIds(spool: string): Set<string> {
  const queue = join(spool, "queue");
  const ids = names(queue)
    .filter((name) => !name.startsWith("."))
    .map((name) => messageId(readFileSync(join(queue, name), "latin1")));
  return new Set(ids.filter((id) => id !== undefined));
}

/** The row of one case: the load's outcomes against what was delivered and what is still queued. */
export function tally(
  fault: string,
  outcomes: readonly MessageOutcome[],
  copies: ReadonlyMap<string, number>,
  queued: ReadonlySet<string>,
  recoveryMs: number | null,
): FaultRow {
  const accepted = outcomes.filter((o) => o.code === 250).map((o) => o.id);
  const sentIds = new Set(outcomes.map((o) => o.id));
  const acceptedIds = new Set(accepted);
  const count = (test: (code: number | null) => boolean): number => outcomes.filter((o) => test(o.code)).length;
  const deliveredIds = [...copies.keys()].filter((id) => sentIds.has(id));
  return {
    fault,
    sent: outcomes.length,
    accepted: accepted.length,
    delivered: deliveredIds.length,
    tempfail: count((code) => code !== null && code >= 400 && code < 500),
    permfail: count((code) => code !== null && code >= 500),
    noReply: count((code) => code === null),
    queued: [...queued].filter((id) => sentIds.has(id)).length,
    lost: accepted.filter((id) => !copies.has(id) && !queued.has(id)).length,
    duplicated: deliveredIds.reduce((n, id) => n + copies.get(id)! - 1, 0),
    deliveredWithout250: deliveredIds.filter((id) => !acceptedIds.has(id)).length,
    recoveryMs,
  };
}

export const TABLE_HEAD =
  "| fault | sent | 250 | delivered | 4xx | 5xx | no reply | queued | lost | duplicated | delivered without 250 | recovery |\n" +
  "| --- | --: | --: | --: | --: | --: | --: | --: | --: | --: | --: | --: |";

/** The row as a Markdown table row. */
export function formatRow(row: FaultRow): string {
  const recovery = row.recoveryMs === null ? "–" : `${(row.recoveryMs / 1000).toFixed(2)} s`;
  const cells = [row.sent, row.accepted, row.delivered, row.tempfail, row.permfail, row.noReply, row.queued, row.lost, row.duplicated, row.deliveredWithout250];
  return `| ${row.fault} | ${cells.join(" | ")} | ${recovery} |`;
}

/** Prints the row under the table's head, for the run's output (docs/reliability.md carries the table). */
export function printRow(row: FaultRow): void {
  console.log(`fault suite:\n${TABLE_HEAD}\n${formatRow(row)}`);
}

/**
 * Resolves once the spool's queue/ is empty and `delivered()` (a count of delivered copies) stopped
 * changing: everything that was queued has gone out. Bounded by the calling test's timeout.
 */
export async function drained(spool: string, delivered: () => number): Promise<void> {
  let last = -1;
  for (;;) {
    const count = delivered();
    if (names(join(spool, "queue")).filter((name) => !name.startsWith(".")).length === 0 && count === last) return;
    last = count;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}
