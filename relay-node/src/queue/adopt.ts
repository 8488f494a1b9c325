// A dead relay's spool drained by a living one (`npm run queue -- adopt <dir>`, docs/queue.md): the
// adopting relay takes the foreign spool's lease (lease.ts: refused while its relay lives), then moves
// each entry into its own spool — written and fsynced there first, removed from the foreign spool
// after — and gives the lease up, leaving an empty spool its relay may start on again (and the
// adopter's name in owner.last.json).
//
// An entry keeps its arrival time (so its DSN's Arrival-Date and its lifetime in the queue) and only
// the recipients still pending; it gets a queue id of the new spool and is due at once. A crash of the
// adopter between the two writes leaves the entry in both spools: adopted again, it is delivered twice
// — a duplicate, never a loss, the spool's own rule (spool.ts, remove()).
import { resolve } from "node:path";
import { takeSpoolLease } from "./lease.ts";
import { Spool } from "./spool.ts";

export interface Adoption {
  /** The foreign spool, as an absolute path. */
  from: string;
  /** Each entry moved: its id there and here. */
  moved: { was: string; now: string }[];
  /** Entries with no pending recipient left, removed without a copy. */
  finished: string[];
}

export async function adoptSpool(dir: string, into: Spool): Promise<Adoption> {
  const from = resolve(dir);
  if (from === resolve(into.dir)) throw new Error(`${from} is this relay's own spool`);
  const lease = takeSpoolLease(from);
  try {
    // Asked before each entry is read, as a relay's own spool is: should another relay take the
    // spool over meanwhile (lease.ts), the adoption stops rather than move what that relay delivers.
    const foreign = await Spool.open(from, { assertHeld: () => lease.assertHeld() });
    const adoption: Adoption = { from, moved: [], finished: [] };
    for (const entry of foreign.list().sort((a, b) => (a.id < b.id ? -1 : 1))) {
      const pending = entry.recipients.filter((recipient) => recipient.status === "pending").map((recipient) => recipient.rcpt);
      if (pending.length === 0) adoption.finished.push(entry.id);
      else {
        const read = await foreign.read(entry.id);
        if (read === undefined) continue;
        const now = await into.enqueue({ envelope: { mailFrom: entry.envelope.mailFrom, rcptTo: pending }, message: read.message }, entry.createdAt);
        adoption.moved.push({ was: entry.id, now });
      }
      await foreign.remove(entry.id);
    }
    return adoption;
  } finally {
    // Its relay, if it was only stopped past its lease, learns from the name left who took its spool.
    lease.release({ leaveName: true });
  }
}
