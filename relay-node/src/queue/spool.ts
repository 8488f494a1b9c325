// The durable spool: what the relay has answered 250 for lives here until every recipient is delivered
// or bounced. Layout, durability argument and recovery: docs/queue.md.
//
//   <dir>/queue/<id>        the message: one JSON line (the entry as enqueued), then the message bytes;
//                           written once, never changed
//   <dir>/state/<id>.json   the entry's delivery state after the latest attempt; absent until the first
//                           attempt is recorded, and then it supersedes the queue file's JSON line
//   <dir>/free/<id>         queue files of removed entries, kept to be rewritten for new messages: on a
//                           file system that searches past recently deleted inodes when it creates one
//                           (ext4 without a journal), a create per message after a delete per message
//                           was the relay's largest single cost (docs/benchmarks.md, mx, round 3)
//
// Every write is write-temp → fsync → rename → fsync the directory (POSIX rename(2) replaces the name
// atomically; the directory fsync makes the new name itself durable), so after a crash a name points to
// a complete file or does not exist. Temp files start with "." and end in ".tmp"; open() deletes them.
//
// One process owns a spool directory: the index of entries is kept in memory. Which one, the lease
// says (lease.ts); a spool opened with `assertHeld` asks it before it acknowledges a message (the end of
// enqueue()) and before it hands one to delivery (read()), and refuses both once the lease is lost.
import { randomInt } from "node:crypto";
import { open, readdir, readFile, rename, unlink } from "node:fs/promises";
import { join } from "node:path";
import type { RecipientResult } from "./deliverer.ts";
import { crashPoint } from "./crash-point.ts";
import { makeDirectories, rewriteFileSynced, syncDirectory, writeNewFileSynced, type StepListener } from "./durable.ts";

export interface QueuedEnvelope {
  /** The reverse path; "" is the null sender of bounces (RFC 5321 §4.5.5). */
  mailFrom: string;
  rcptTo: string[];
}

/** A recipient's state in the queue: pending until delivered or failed (bounced). */
export interface RecipientState {
  rcpt: string;
  status: "pending" | "delivered" | "failed";
  /** The latest reply for this recipient, null before the first attempt. */
  reply: string | null;
}

/** The metadata of a queued message. Times are milliseconds since the epoch. */
export interface QueueEntry {
  id: string;
  envelope: QueuedEnvelope;
  /** When the relay accepted the message (the DSN's Arrival-Date, RFC 3464 §2.2.5). */
  createdAt: number;
  /** Size of the message in octets. */
  size: number;
  attempts: number;
  lastAttemptAt: number | null;
  nextAttemptAt: number;
  recipients: RecipientState[];
  /** A "delayed" DSN (RFC 3464 §2.3.3) was sent for this message. */
  delayWarned: boolean;
}

export interface EnqueueRequest {
  envelope: QueuedEnvelope;
  message: Uint8Array;
  /** A queue id made beforehand with newQueueId(), e.g. to name it in the Received header. */
  id?: string;
}

/** The outcome of one delivery attempt, as the scheduler decided it. */
export interface AttemptRecord {
  at: number;
  /** Results for the recipients that were attempted; the others keep their state. */
  results: readonly RecipientResult[];
  nextAttemptAt: number;
  delayWarned?: boolean;
}

/** What open() found and repaired after an unclean stop. */
export interface RecoveryReport {
  entries: number;
  tempFilesRemoved: number;
  orphanStatesRemoved: number;
  /** Queue files whose JSON line does not parse, moved to <dir>/corrupt/ for the postmaster. */
  quarantined: string[];
}

// Queue ids: 11 hex digits of the time in milliseconds (fixed width, so ids sort by arrival until the
// year 2527), then 7 hex digits (28 bits): random for the first id of a millisecond, counting up from
// there for the next ones of this process, so a process never repeats an id and two processes or
// restarts clash only by meeting in the same millisecond with the same 28 random bits. Upper-case hex
// like Postfix's; only [0-9A-F], so always a safe file name.
const QUEUE_ID = /^[0-9A-F]{18}$/;
const TEMP_FILE = /^\..*\.tmp$/;
const STATE_SUFFIX = ".json";
const ID_SPACE = 0x10000000;
let lastIdTime = -1;
let lastIdNumber = 0;

/** A new queue id: sortable by time, never repeated by this process, unique across restarts. */
export function newQueueId(now: number = Date.now()): string {
  lastIdNumber = now === lastIdTime ? (lastIdNumber + 1) % ID_SPACE : randomInt(ID_SPACE);
  lastIdTime = now;
  return (now.toString(16).padStart(11, "0") + lastIdNumber.toString(16).padStart(7, "0")).toUpperCase();
}

export function isQueueId(text: string): boolean {
  return QUEUE_ID.test(text);
}

function tempName(id: string): string {
  return `.${id}.${randomInt(0x100000000).toString(16)}.tmp`;
}

function isNotFound(error: unknown): boolean {
  return (error as NodeJS.ErrnoException).code === "ENOENT";
}

/**
 * Writes `chunks` to `dir/name` durably: a temp file in the same directory (rename is atomic only
 * within one file system), fsync, rename over the name, fsync the directory. `crashPoints`: the queue
 * file's write passes the crash points of its steps (crash-point.ts).
 */
async function writeDurably(dir: string, name: string, chunks: readonly (string | Uint8Array)[], crashPoints = false): Promise<void> {
  const temp = join(dir, tempName(name));
  const onStep: StepListener | undefined = crashPoints ? crashPoint : undefined;
  try {
    // One writev call for the whole file, its chunks never copied into one buffer.
    await writeNewFileSynced(temp, chunks, onStep);
    await rename(temp, join(dir, name));
  } catch (error) {
    await unlink(temp).catch(() => undefined);
    throw error;
  }
  if (crashPoints) crashPoint("rename");
  await syncDirectory(dir);
  if (crashPoints) crashPoint("directory-fsync");
}

/** The entry's JSON line and the message bytes after it. */
function splitQueueFile(bytes: Buffer): { entry: QueueEntry; message: Buffer } {
  const newline = bytes.indexOf(0x0a);
  if (newline === -1) throw new Error("no JSON line");
  return { entry: JSON.parse(bytes.subarray(0, newline).toString("utf8")) as QueueEntry, message: bytes.subarray(newline + 1) };
}

/** The JSON line of a queue file, read without reading the message. */
async function readQueueFileEntry(path: string): Promise<QueueEntry> {
  const handle = await open(path, "r");
  try {
    let head = Buffer.alloc(0);
    for (;;) {
      const { buffer, bytesRead } = await handle.read({ buffer: Buffer.alloc(64 * 1024), position: head.length });
      if (bytesRead === 0) throw new Error("no JSON line");
      head = Buffer.concat([head, buffer.subarray(0, bytesRead)]);
      if (head.includes(0x0a)) return splitQueueFile(head).entry;
    }
  } finally {
    await handle.close();
  }
}

/** The mutable part of an entry, as the state file holds it. */
type DeliveryState = Pick<QueueEntry, "attempts" | "lastAttemptAt" | "nextAttemptAt" | "recipients" | "delayWarned">;

function deliveryState(entry: QueueEntry): DeliveryState {
  const { attempts, lastAttemptAt, nextAttemptAt, recipients, delayWarned } = entry;
  return { attempts, lastAttemptAt, nextAttemptAt, recipients, delayWarned };
}

/** Merges one attempt's per-recipient results into the recipients' states. */
export function applyAttempt(entry: QueueEntry, attempt: AttemptRecord): QueueEntry {
  const byRcpt = new Map(attempt.results.map((result) => [result.rcpt, result]));
  const recipients = entry.recipients.map((state): RecipientState => {
    const result = state.status === "pending" ? byRcpt.get(state.rcpt) : undefined;
    if (!result) return state;
    return { rcpt: state.rcpt, status: result.status === "deferred" ? "pending" : result.status, reply: result.reply };
  });
  return {
    ...entry,
    attempts: entry.attempts + 1,
    lastAttemptAt: attempt.at,
    nextAttemptAt: attempt.nextAttemptAt,
    recipients,
    delayWarned: attempt.delayWarned ?? entry.delayWarned,
  };
}

/** Told of every change to the spool's entries: the new state, or undefined once removed. */
export type SpoolListener = (id: string, entry: QueueEntry | undefined) => void;

export interface SpoolOptions {
  /** Throws (lease.ts, SpoolLost) when this process no longer holds the spool. */
  assertHeld?: () => void;
}

/** Messages of fresh entries kept in memory for their first delivery attempt, at most this many octets. */
const FRESH_MESSAGE_BYTES = 32 * 1024 * 1024;
/** At most this many free files are kept, and only of messages up to FREE_FILE_MAX_BYTES: together they bound the disk they hold. */
const FREE_FILES_MAX = 512;
const FREE_FILE_MAX_BYTES = 256 * 1024;

export class Spool {
  readonly dir: string;
  readonly recovery: RecoveryReport;
  readonly #queueDir: string;
  readonly #stateDir: string;
  readonly #freeDir: string;
  /** Names in free/ ready to be rewritten; each is taken by one enqueue() at a time. */
  readonly #free: string[] = [];
  /** Files moved to free/ whose move is not yet fsynced (remove()), counted against FREE_FILES_MAX. */
  #freeing = 0;
  readonly #entries: Map<string, QueueEntry>;
  /** Ids being written by enqueue(), so that two writes never race for one name. */
  readonly #writing = new Set<string>();
  /** Ids that have a state file on disk (loaded by open() or written by recordAttempt()). */
  readonly #withState: Set<string>;
  readonly #listeners = new Set<SpoolListener>();
  /** The bytes of recently enqueued messages, so that their first attempt need not read them back. */
  readonly #fresh = new Map<string, Uint8Array>();
  #freshBytes = 0;
  readonly #assertHeld: () => void;

  private constructor(dir: string, entries: Map<string, QueueEntry>, withState: Set<string>, recovery: RecoveryReport, options: SpoolOptions) {
    this.dir = dir;
    this.#assertHeld = options.assertHeld ?? (() => {});
    this.#queueDir = join(dir, "queue");
    this.#stateDir = join(dir, "state");
    this.#freeDir = join(dir, "free");
    this.#entries = entries;
    this.#withState = withState;
    this.recovery = recovery;
  }

  /**
   * Opens (creating) the spool at `dir` and recovers it: temp files of interrupted writes are deleted,
   * state files without a message are deleted, and every entry is loaded with its latest state. An
   * entry that was being delivered when the process died keeps its due time, so it is due again:
   * delivery is at-least-once.
   */
  static async open(dir: string, options: SpoolOptions = {}): Promise<Spool> {
    const queueDir = join(dir, "queue");
    const stateDir = join(dir, "state");
    const freeDir = join(dir, "free");
    await makeDirectories([queueDir, stateDir, freeDir]);
    // Free files are not reused across a restart: after a crash, one may share its inode with a queued
    // message (a rename whose removal of the old name was not yet durable). Their names go.
    for (const name of await readdir(freeDir)) await unlink(join(freeDir, name));
    const report: RecoveryReport = { entries: 0, tempFilesRemoved: 0, orphanStatesRemoved: 0, quarantined: [] };
    const entries = new Map<string, QueueEntry>();
    const withState = new Set<string>();

    for (const name of await readdir(queueDir)) {
      if (TEMP_FILE.test(name)) {
        await unlink(join(queueDir, name));
        report.tempFilesRemoved++;
      } else if (isQueueId(name)) {
        try {
          entries.set(name, await readQueueFileEntry(join(queueDir, name)));
        } catch {
          await makeDirectories([join(dir, "corrupt")]);
          await rename(join(queueDir, name), join(dir, "corrupt", name));
          report.quarantined.push(name);
        }
      }
    }
    for (const name of await readdir(stateDir)) {
      const id = name.slice(0, -STATE_SUFFIX.length);
      const entry = name.endsWith(STATE_SUFFIX) ? entries.get(id) : undefined;
      if (TEMP_FILE.test(name)) {
        await unlink(join(stateDir, name));
        report.tempFilesRemoved++;
      } else if (entry) {
        // A state file is complete or absent (rename), so a parse error means outside damage: the
        // entry then starts again from its queue file, delivering to every recipient (at-least-once).
        try {
          Object.assign(entry, JSON.parse(await readFile(join(stateDir, name), "utf8")) as DeliveryState);
          withState.add(id);
        } catch {
          await unlink(join(stateDir, name));
        }
      } else if (isQueueId(id)) {
        // remove() deletes the queue file first: a crash in between leaves this.
        await unlink(join(stateDir, name));
        report.orphanStatesRemoved++;
      }
    }
    if (report.tempFilesRemoved + report.orphanStatesRemoved + report.quarantined.length > 0) {
      await syncDirectory(queueDir);
      await syncDirectory(stateDir);
    }
    report.entries = entries.size;
    return new Spool(dir, entries, withState, report, options);
  }

  /**
   * Queues a message. When the promise resolves, the message and its entry are on disk and fsynced:
   * only then may the relay answer 250 (docs/architecture.md, "Promises the code keeps"). When the
   * lease turns out lost once the message is on disk, its file goes again and the lease's error is
   * thrown (a 451): another relay drains this spool now and may have listed it before the file came,
   * so a 250 could leave it waiting in a spool nobody delivers from; the sender's retry is the copy
   * that counts.
   */
  async enqueue(request: EnqueueRequest, now: number = Date.now()): Promise<string> {
    const taken = (id: string) => this.#entries.has(id) || this.#writing.has(id);
    let id = request.id ?? newQueueId(now);
    // Only after the clock stepped back can a made id meet a queued one: make another.
    while (request.id === undefined && taken(id)) id = newQueueId(now);
    if (!isQueueId(id)) throw new Error(`not a queue id: ${JSON.stringify(id)}`);
    if (taken(id)) throw new Error(`queue id ${id} is already queued`);
    const rcptTo = [...new Set(request.envelope.rcptTo)];
    if (rcptTo.length === 0) throw new Error("a message needs at least one recipient");
    // Addresses end up in header fields (Return-Path, Delivered-To, the DSN): no line breaks or NULs.
    const unsafe = [request.envelope.mailFrom, ...rcptTo].find((address) => /[\r\n\0]/.test(address));
    if (unsafe !== undefined) throw new Error(`envelope address with a line break or NUL: ${JSON.stringify(unsafe)}`);
    const entry: QueueEntry = {
      id,
      envelope: { mailFrom: request.envelope.mailFrom, rcptTo },
      createdAt: now,
      size: request.message.byteLength,
      attempts: 0,
      lastAttemptAt: null,
      nextAttemptAt: now,
      recipients: rcptTo.map((rcpt) => ({ rcpt, status: "pending", reply: null })),
      delayWarned: false,
    };
    this.#writing.add(id);
    try {
      // JSON.stringify escapes every line break, so the first "\n" ends the JSON line.
      await this.#writeQueueFile(id, [JSON.stringify(entry) + "\n", request.message]);
      try {
        this.#assertHeld();
      } catch (error) {
        await unlink(join(this.#queueDir, id)).catch(() => undefined);
        throw error;
      }
      this.#entries.set(id, entry);
    } finally {
      this.#writing.delete(id);
    }
    if (this.#freshBytes + request.message.byteLength <= FRESH_MESSAGE_BYTES) {
      this.#fresh.set(id, request.message);
      this.#freshBytes += request.message.byteLength;
    }
    this.#emit(id, entry);
    return id;
  }

  /**
   * Writes a queue file durably. With a free file at hand, its contents are replaced and fsynced and it
   * is renamed into queue/ (then queue/ is fsynced): the same guarantee as writeDurably — the name
   * appears only for complete, fsynced bytes — without creating an inode.
   */
  async #writeQueueFile(id: string, chunks: readonly (string | Uint8Array)[]): Promise<void> {
    const free = this.#free.pop();
    if (free === undefined) return writeDurably(this.#queueDir, id, chunks, true);
    const path = join(this.#freeDir, free);
    try {
      await rewriteFileSynced(path, chunks, crashPoint);
      await rename(path, join(this.#queueDir, id));
    } catch (error) {
      await unlink(path).catch(() => undefined);
      throw error;
    }
    crashPoint("rename");
    await syncDirectory(this.#queueDir);
    crashPoint("directory-fsync");
  }

  /**
   * Calls `listener` after every enqueue, recorded attempt and removal (the delivery scheduler's
   * index of due entries); returns the function that stops it.
   */
  watch(listener: SpoolListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #emit(id: string, entry: QueueEntry | undefined): void {
    for (const listener of this.#listeners) listener(id, entry);
  }

  #forget(id: string): void {
    const message = this.#fresh.get(id);
    if (message === undefined) return;
    this.#fresh.delete(id);
    this.#freshBytes -= message.byteLength;
  }

  /** Every queued entry, in no particular order. */
  list(): QueueEntry[] {
    return [...this.#entries.values()];
  }

  /** The entry's latest state, or undefined when it is not (or no longer) queued. */
  get(id: string): QueueEntry | undefined {
    return this.#entries.get(id);
  }

  /**
   * The entry and the message bytes, or undefined when it is not queued. The first read of a message
   * this process enqueued gets the bytes it wrote (the same as the file's: it is never changed). Throws
   * once the lease is lost: the relay that took the spool delivers its entries now.
   */
  async read(id: string): Promise<{ entry: QueueEntry; message: Uint8Array } | undefined> {
    this.#assertHeld();
    const entry = this.#entries.get(id);
    if (!entry) return undefined;
    const fresh = this.#fresh.get(id);
    if (fresh !== undefined) {
      this.#forget(id);
      return { entry, message: fresh };
    }
    const { message } = splitQueueFile(await readFile(join(this.#queueDir, id)));
    return { entry, message };
  }

  /** Records an attempt durably (same write-temp-fsync-rename) and returns the entry's new state. */
  async recordAttempt(id: string, attempt: AttemptRecord): Promise<QueueEntry> {
    const entry = this.#entries.get(id);
    if (!entry) throw new Error(`queue id ${id} is not queued`);
    const next = applyAttempt(entry, attempt);
    this.#withState.add(id); // before the write: a failed write may still have left the file
    await writeDurably(this.#stateDir, id + STATE_SUFFIX, [JSON.stringify(deliveryState(next))]);
    this.#entries.set(id, next);
    this.#emit(id, next);
    return next;
  }

  /**
   * Makes an entry due at `at` (`edgemx queue flush`), written durably like an attempt's state but
   * without counting as one. Undefined when the entry is not queued.
   */
  async reschedule(id: string, at: number): Promise<QueueEntry | undefined> {
    const entry = this.#entries.get(id);
    if (!entry) return undefined;
    const next = { ...entry, nextAttemptAt: at };
    this.#withState.add(id);
    await writeDurably(this.#stateDir, id + STATE_SUFFIX, [JSON.stringify(deliveryState(next))]);
    this.#entries.set(id, next);
    this.#emit(id, next);
    return next;
  }

  /**
   * Removes an entry after its final delivery or bounce. The queue file goes first — moved to free/
   * to be rewritten for a later message, or deleted when enough are kept or it is large — and its
   * removal from queue/ is fsynced (only then is a file in free/ rewritten); a crash before that
   * delivers the message again (a duplicate, never a loss), a crash after it leaves a state file that
   * open() deletes. An entry whose first attempt finished it never had a state file: only the queue
   * file goes.
   */
  async remove(id: string): Promise<void> {
    const path = join(this.#queueDir, id);
    const size = this.#entries.get(id)?.size ?? Infinity;
    let freed = false;
    try {
      if (this.#free.length + this.#freeing < FREE_FILES_MAX && size <= FREE_FILE_MAX_BYTES) {
        // Counted before the rename, so that removals running beside this one keep to FREE_FILES_MAX.
        this.#freeing++;
        try {
          await rename(path, join(this.#freeDir, id));
          freed = true;
        } catch (error) {
          this.#freeing--;
          if (isNotFound(error)) throw error;
          // free/ could not take it — on a full disk a directory that must grow gets no block (ENOSPC).
          // Delete it instead, which needs none: a removal that failed would deliver the message again.
          await unlink(path);
        }
      } else {
        await unlink(path);
      }
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
    crashPoint("removal");
    this.#entries.delete(id);
    this.#forget(id);
    this.#emit(id, undefined);
    try {
      await syncDirectory(this.#queueDir);
    } finally {
      if (freed) this.#freeing--;
    }
    // Only now may the file be rewritten: until the move out of queue/ is on disk, a crash could bring
    // the old name back, and it would then name a half-rewritten file.
    if (freed) this.#free.push(id);
    if (!this.#withState.delete(id)) return;
    await unlink(join(this.#stateDir, id + STATE_SUFFIX)).catch((error: unknown) => {
      if (!isNotFound(error)) throw error;
    });
  }
}

/**
 * The spool's entries as the files say, read without changing anything (no recovery, no locks): for
 * `edgemx queue list` while the relay is not running. Unreadable files are skipped.
 */
export async function readSpoolEntries(dir: string): Promise<QueueEntry[]> {
  const names = (await readdir(join(dir, "queue")).catch(() => [])).filter(isQueueId);
  const entries = await Promise.all(
    names.map(async (id) => {
      try {
        const entry = await readQueueFileEntry(join(dir, "queue", id));
        const state = await readFile(join(dir, "state", id + STATE_SUFFIX), "utf8").then(
          (text) => JSON.parse(text) as DeliveryState,
          () => undefined,
        );
        return { ...entry, ...state };
      } catch {
        return undefined;
      }
    }),
  );
  return entries.filter((entry) => entry !== undefined);
}

/** The message bytes of a queued entry straight from its queue file, or undefined when it is absent. */
export async function readQueuedMessage(dir: string, id: string): Promise<Uint8Array | undefined> {
  if (!isQueueId(id)) return undefined;
  const bytes = await readFile(join(dir, "queue", id)).catch((error: unknown) => {
    if (isNotFound(error)) return undefined;
    throw error;
  });
  return bytes === undefined ? undefined : splitQueueFile(bytes).message;
}
