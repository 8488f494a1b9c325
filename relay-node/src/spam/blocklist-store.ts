// The local blocklist the spamtrap fills (spamtrap.ts): client addresses, each with an expiry. It lives
// in the state relays share (relay.store): greylisting's node:sqlite file, in a table of its
// own, or the same Redis — so relays sharing greylisting's state also share the blocklist. `npm run blocklist`
// (cli/blocklist.ts) lists, adds and removes listings in whichever the configuration names.
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { DatabaseSync } from "node:sqlite";
import type { Redis } from "ioredis";
import { fastFailingRedis } from "../redis/client.ts";
import type { SharedStoreConfig } from "../../../core/config/schema.ts";

export interface BlocklistStore {
  /** Lists the address for `ttlSeconds` from now (again, if it was); when the listing ends, in ms since the epoch. */
  add(ip: string, ttlSeconds: number): Promise<number>;
  /** When the address's listing ends (ms since the epoch), or null when it is not listed. */
  listedUntil(ip: string): Promise<number | null>;
  close(): Promise<void>;
}

/** One live listing: the address and when it ends (ms since the epoch). */
export interface Listing {
  ip: string;
  until: number;
}

/** The store as the postmaster's command sees it: besides what the relay does, every listing, and unblocking. */
export interface ManagedBlocklistStore extends BlocklistStore {
  /** The live listings, by address. */
  list(): Promise<Listing[]>;
  /** Ends the address's listing; false when it was not listed. */
  remove(ip: string): Promise<boolean>;
}

export function openBlocklistStore(store: SharedStoreConfig): ManagedBlocklistStore {
  return store.type === "redis" ? new RedisBlocklistStore(store.url) : new SqliteBlocklistStore(store.path);
}

/** Table `spamtrap_blocklist` beside greylisting's in relay.store's file; WAL mode, as greylisting's store opens the file. */
export class SqliteBlocklistStore implements ManagedBlocklistStore {
  private readonly db: DatabaseSync;
  private readonly clock: () => number;
  private readonly statements;

  constructor(path: string, options: { clock?: () => number } = {}) {
    mkdirSync(dirname(path), { recursive: true });
    this.db = new DatabaseSync(path);
    this.clock = options.clock ?? Date.now;
    this.db.exec(`PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000;
      CREATE TABLE IF NOT EXISTS spamtrap_blocklist (ip TEXT PRIMARY KEY, expires_at INTEGER NOT NULL) WITHOUT ROWID;`);
    this.statements = {
      write: this.db.prepare("INSERT INTO spamtrap_blocklist (ip, expires_at) VALUES (?, ?) ON CONFLICT (ip) DO UPDATE SET expires_at = excluded.expires_at"),
      read: this.db.prepare("SELECT expires_at FROM spamtrap_blocklist WHERE ip = ? AND expires_at > ?"),
      deleteExpired: this.db.prepare("DELETE FROM spamtrap_blocklist WHERE expires_at <= ?"),
      live: this.db.prepare("SELECT ip, expires_at FROM spamtrap_blocklist WHERE expires_at > ? ORDER BY ip"),
      remove: this.db.prepare("DELETE FROM spamtrap_blocklist WHERE ip = ? AND expires_at > ?"),
    };
  }

  // node:sqlite answers synchronously: each method runs in a promise executor, so what it throws (a busy
  // or closed database) is the rejection the interface promises, not an exception in the caller.
  add(ip: string, ttlSeconds: number): Promise<number> {
    return new Promise((resolve) => {
      const now = this.clock();
      // Expired listings go whenever one is added: the table stays as small as the live listings.
      this.statements.deleteExpired.run(now);
      const until = now + ttlSeconds * 1000;
      this.statements.write.run(ip, until);
      resolve(until);
    });
  }

  listedUntil(ip: string): Promise<number | null> {
    return new Promise((resolve) => {
      const row = this.statements.read.get(ip, this.clock());
      resolve(row === undefined ? null : Number(row.expires_at));
    });
  }

  list(): Promise<Listing[]> {
    return new Promise((resolve) => {
      resolve(this.statements.live.all(this.clock()).map((row) => ({ ip: String(row.ip), until: Number(row.expires_at) })));
    });
  }

  remove(ip: string): Promise<boolean> {
    return new Promise((resolve) => {
      resolve(Number(this.statements.remove.run(ip, this.clock()).changes) > 0);
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.db.close();
      resolve();
    });
  }
}

/**
 * "edgemx:blocklist:<ip>" with a TTL, which Redis expires. Like the greylist's Redis store, a Redis
 * outage answers fast (1 s per command), and the connect check then fails temporary.
 */
export class RedisBlocklistStore implements ManagedBlocklistStore {
  private readonly client: Redis;
  private readonly prefix = "edgemx:blocklist:";

  constructor(url: string, options: { commandTimeoutMs?: number } = {}) {
    this.client = fastFailingRedis(url, options.commandTimeoutMs);
  }

  async add(ip: string, ttlSeconds: number): Promise<number> {
    await this.client.set(this.prefix + ip, "spamtrap", "EX", ttlSeconds);
    return Date.now() + ttlSeconds * 1000;
  }

  async listedUntil(ip: string): Promise<number | null> {
    const ttl = await this.client.pttl(this.prefix + ip);
    return ttl > 0 ? Date.now() + ttl : null;
  }

  async list(): Promise<Listing[]> {
    // SCAN, not KEYS: a Redis shared with greylisting may hold many keys, and SCAN never blocks it.
    const keys: string[] = [];
    let cursor = "0";
    do {
      const [next, found] = await this.client.scan(cursor, "MATCH", `${this.prefix}*`, "COUNT", 500);
      keys.push(...found);
      cursor = next;
    } while (cursor !== "0");
    const now = Date.now();
    const listings = await Promise.all([...new Set(keys)].map(async (key) => ({ ip: key.slice(this.prefix.length), ttl: await this.client.pttl(key) })));
    return listings
      .filter((l) => l.ttl > 0)
      .map((l) => ({ ip: l.ip, until: now + l.ttl }))
      .sort((a, b) => a.ip.localeCompare(b.ip));
  }

  async remove(ip: string): Promise<boolean> {
    return (await this.client.del(this.prefix + ip)) > 0;
  }

  close(): Promise<void> {
    this.client.disconnect(); // synchronous, and throws nothing
    return Promise.resolve();
  }
}
