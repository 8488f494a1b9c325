// Where greylisting keeps its state: triplet records and per-network counts of delivered messages,
// each with an expiry. SqliteGreylistStore (node:sqlite) serves one relay, or several on one host;
// RedisGreylistStore lets relays on several hosts share one state, so a retry that lands on another
// relay is recognised.
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { DatabaseSync } from "node:sqlite";
import type { Redis } from "ioredis";
import { fastFailingRedis } from "../redis/client.ts";
import type { GreylistRecord } from "../../../core/greylist/greylist.ts";

export interface GreylistStore {
  /** The live record of a triplet, or null. */
  get(key: string): Promise<GreylistRecord | null>;
  put(key: string, record: GreylistRecord, ttlSeconds: number): Promise<void>;
  /** Counts `amount` delivered messages from the network, keeping the count `ttlSeconds` from now; the new count. */
  incrementClientPasses(network: string, amount: number, ttlSeconds: number): Promise<number>;
  /** Delivered messages counted for the network (0 once its count lapsed). */
  clientPasses(network: string): Promise<number>;
  close(): Promise<void>;
}

/** A stored value read back: a record only if it has the record's shape (anything else counts as absent). */
function parseRecord(text: string | null | undefined): GreylistRecord | null {
  if (text === null || text === undefined) return null;
  try {
    const value = JSON.parse(text) as Partial<GreylistRecord>;
    const isTime = (t: unknown): t is number => typeof t === "number" && Number.isFinite(t);
    if (isTime(value.firstSeen) && isTime(value.expiresAt) && (value.passedAt === null || isTime(value.passedAt))) {
      return { firstSeen: value.firstSeen, passedAt: value.passedAt, expiresAt: value.expiresAt };
    }
  } catch {
    // not JSON: absent
  }
  return null;
}

const TRIPLET = "triplet:";
const CLIENT = "client:";

/**
 * One table of keys, values and expiry times, in WAL mode (readers never wait for the writer, and
 * several relay processes may share the file). Expired rows are invisible at once and deleted at
 * start-up and then hourly.
 */
export class SqliteGreylistStore implements GreylistStore {
  private readonly db: DatabaseSync;
  private readonly clock: () => number;
  private readonly cleaner: NodeJS.Timeout;
  private readonly statements;

  constructor(path: string, options: { clock?: () => number } = {}) {
    mkdirSync(dirname(path), { recursive: true });
    this.db = new DatabaseSync(path);
    this.clock = options.clock ?? Date.now;
    // Greylisting state may lose its last writes in a power cut (a triplet is asked to retry once
    // more): synchronous=NORMAL, which in WAL mode still never corrupts the file.
    this.db.exec(`PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000;
      CREATE TABLE IF NOT EXISTS greylist (key TEXT PRIMARY KEY, value TEXT NOT NULL, expires_at INTEGER NOT NULL) WITHOUT ROWID;
      CREATE INDEX IF NOT EXISTS greylist_expiry ON greylist (expires_at);`);
    this.statements = {
      read: this.db.prepare("SELECT value FROM greylist WHERE key = ? AND expires_at > ?"),
      write: this.db.prepare(
        "INSERT INTO greylist (key, value, expires_at) VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at",
      ),
      // One statement, so concurrent relays on the file never lose a count; a lapsed count restarts at the amount.
      increment: this.db.prepare(
        `INSERT INTO greylist (key, value, expires_at) VALUES (:key, :amount, :expiresAt)
         ON CONFLICT (key) DO UPDATE SET value = CASE WHEN expires_at > :now THEN CAST(value AS INTEGER) + :amount ELSE :amount END, expires_at = excluded.expires_at
         RETURNING value`,
      ),
      deleteExpired: this.db.prepare("DELETE FROM greylist WHERE expires_at <= ?"),
    };
    this.deleteExpired();
    this.cleaner = setInterval(() => this.deleteExpired(), 3_600_000).unref();
  }

  /** Removes the rows past their expiry; how many. */
  deleteExpired(): number {
    return Number(this.statements.deleteExpired.run(this.clock()).changes);
  }

  private read(key: string): string | undefined {
    const row = this.statements.read.get(key, this.clock());
    return row === undefined ? undefined : String(row.value);
  }

  // node:sqlite answers synchronously: each method runs in a promise executor, so what it throws (a busy
  // or closed database) is the rejection the interface promises, not an exception in the caller.
  get(key: string): Promise<GreylistRecord | null> {
    return new Promise((resolve) => resolve(parseRecord(this.read(TRIPLET + key))));
  }

  put(key: string, record: GreylistRecord, ttlSeconds: number): Promise<void> {
    return new Promise((resolve) => {
      this.statements.write.run(TRIPLET + key, JSON.stringify(record), this.clock() + ttlSeconds * 1000);
      resolve();
    });
  }

  incrementClientPasses(network: string, amount: number, ttlSeconds: number): Promise<number> {
    return new Promise((resolve) => {
      const now = this.clock();
      resolve(Number(this.statements.increment.get({ key: CLIENT + network, amount, expiresAt: now + ttlSeconds * 1000, now })?.value));
    });
  }

  clientPasses(network: string): Promise<number> {
    return new Promise((resolve) => resolve(Number(this.read(CLIENT + network) ?? 0)));
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      clearInterval(this.cleaner);
      this.db.close();
      resolve();
    });
  }
}

/**
 * Redis keys with TTLs (Redis expires them itself): a triplet's record as JSON under
 * "edgemx:greylist:triplet:…", a network's count under "edgemx:greylist:client:…", so every relay
 * pointed at the same Redis shares both. A count is INCRBY and EXPIRE in one MULTI, so concurrent
 * relays never lose a count. A record is written with one SET … EX; the read-decide-write of a
 * triplet is not a transaction, and needs none: two relays racing on one triplet write the same
 * decision (both "first seen" within a moment, or both "passed"), and an early retry writes nothing.
 *
 * A Redis outage must answer fast (the check then tempfails): commands time out after
 * `commandTimeoutMs`, are retried on one reconnect at most, and reconnects continue in the background.
 */
export class RedisGreylistStore implements GreylistStore {
  private readonly client: Redis;
  private readonly prefix = "edgemx:greylist:";

  constructor(url: string, options: { commandTimeoutMs?: number } = {}) {
    this.client = fastFailingRedis(url, options.commandTimeoutMs);
  }

  async get(key: string): Promise<GreylistRecord | null> {
    return parseRecord(await this.client.get(this.prefix + TRIPLET + key));
  }

  async put(key: string, record: GreylistRecord, ttlSeconds: number): Promise<void> {
    await this.client.set(this.prefix + TRIPLET + key, JSON.stringify(record), "EX", ttlSeconds);
  }

  async incrementClientPasses(network: string, amount: number, ttlSeconds: number): Promise<number> {
    const key = this.prefix + CLIENT + network;
    const results = await this.client.multi().incrby(key, amount).expire(key, ttlSeconds).exec();
    const [incr] = results ?? [];
    if (incr === undefined || incr[0] !== null) throw incr?.[0] ?? new Error("MULTI was discarded");
    return Number(incr[1]);
  }

  async clientPasses(network: string): Promise<number> {
    return Number((await this.client.get(this.prefix + CLIENT + network)) ?? 0);
  }

  close(): Promise<void> {
    this.client.disconnect(); // synchronous, and throws nothing
    return Promise.resolve();
  }
}
