// The local blocklist the spamtrap fills (spamtrap.ts): client addresses, each with an expiry. It lives
// where greylisting keeps its state (relay.greylist.store): the same node:sqlite file, in a table of its
// own, or the same Redis — so relays sharing a greylist also share the blocklist.
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { DatabaseSync } from "node:sqlite";
import type { Redis } from "ioredis";
import { fastFailingRedis } from "../redis/client.ts";
import type { EdgemxConfig } from "../../../core/config/schema.ts";

export interface BlocklistStore {
  /** Lists the address for `ttlSeconds` from now (again, if it was); when the listing ends, in ms since the epoch. */
  add(ip: string, ttlSeconds: number): Promise<number>;
  /** When the address's listing ends (ms since the epoch), or null when it is not listed. */
  listedUntil(ip: string): Promise<number | null>;
  close(): Promise<void>;
}

export function openBlocklistStore(store: EdgemxConfig["relay"]["greylist"]["store"]): BlocklistStore {
  return store.type === "redis" ? new RedisBlocklistStore(store.url) : new SqliteBlocklistStore(store.path);
}

/** Table `spamtrap_blocklist` beside the greylist's; WAL mode, as the greylist store opens the file. */
export class SqliteBlocklistStore implements BlocklistStore {
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
export class RedisBlocklistStore implements BlocklistStore {
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

  close(): Promise<void> {
    this.client.disconnect(); // synchronous, and throws nothing
    return Promise.resolve();
  }
}
