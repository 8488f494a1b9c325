// The submission users (relay.users.path): one row per user — the login address (RFC 4954 §4 user
// name = the full address) and its scrypt hash (password.ts) — and the addresses each may send as:
// the login address itself and its aliases. node:sqlite, one file, shared by the relay and the CLI
// (WAL mode: the CLI's changes are seen by the running relay at its next query).
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { DatabaseSync, type StatementSync } from "node:sqlite";
import { DEFAULT_SCRYPT, hashPassword, verifyPassword, type ScryptParameters } from "./password.ts";

export interface UserRecord {
  address: string;
  aliases: string[];
}

/** Addresses compare case-insensitively here: the domain always (RFC 5321 §2.4), the local part by our choice. */
export function normalizeAddress(address: string): string {
  return address.trim().toLowerCase();
}

const ADDRESS_RE = /^[^\s@<>()",;:\\[\]]+@[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)+$/i;

export function isPlainAddress(address: string): boolean {
  return address.length <= 254 && ADDRESS_RE.test(address);
}

export class UserStoreError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UserStoreError";
  }
}

export class UserStore {
  readonly #db: DatabaseSync;
  readonly #params: ScryptParameters;
  readonly #statements: Record<"user" | "addresses" | "owner" | "all", StatementSync>;
  /** The hash checked when the user does not exist, so an unknown user costs the same time as a wrong password. */
  #decoy: Promise<string> | null = null;

  constructor(path: string, params: ScryptParameters = DEFAULT_SCRYPT) {
    if (path !== ":memory:") mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    this.#db = new DatabaseSync(path);
    this.#params = params;
    this.#db.exec(`PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = ON;
      CREATE TABLE IF NOT EXISTS users (address TEXT PRIMARY KEY, hash TEXT NOT NULL, created_at INTEGER NOT NULL);
      CREATE TABLE IF NOT EXISTS addresses (address TEXT PRIMARY KEY, user TEXT NOT NULL REFERENCES users(address) ON DELETE CASCADE);`);
    this.#statements = {
      user: this.#db.prepare("SELECT hash FROM users WHERE address = ?"),
      addresses: this.#db.prepare("SELECT address FROM addresses WHERE user = ? AND address <> user ORDER BY address"),
      owner: this.#db.prepare("SELECT user FROM addresses WHERE address = ?"),
      all: this.#db.prepare("SELECT address FROM users ORDER BY address"),
    };
  }

  #checkFree(address: string): void {
    if (this.#statements.owner.get(address) !== undefined) throw new UserStoreError(`${address} already belongs to a user`);
  }

  async add(address: string, password: string, aliases: readonly string[] = []): Promise<void> {
    const user = normalizeAddress(address);
    const own = [user, ...aliases.map(normalizeAddress)];
    for (const a of own) if (!isPlainAddress(a)) throw new UserStoreError(`${a} is not an e-mail address`);
    if (password.length === 0) throw new UserStoreError("the password is empty");
    for (const a of own) this.#checkFree(a);
    const hash = await hashPassword(password, this.#params);
    this.#db.exec("BEGIN");
    try {
      this.#db.prepare("INSERT INTO users (address, hash, created_at) VALUES (?, ?, ?)").run(user, hash, Date.now());
      const insert = this.#db.prepare("INSERT INTO addresses (address, user) VALUES (?, ?)");
      for (const a of new Set(own)) insert.run(a, user);
      this.#db.exec("COMMIT");
    } catch (err) {
      this.#db.exec("ROLLBACK");
      throw err;
    }
  }

  async setPassword(address: string, password: string): Promise<void> {
    const user = normalizeAddress(address);
    if (password.length === 0) throw new UserStoreError("the password is empty");
    if (this.#statements.user.get(user) === undefined) throw new UserStoreError(`no user ${user}`);
    this.#db.prepare("UPDATE users SET hash = ? WHERE address = ?").run(await hashPassword(password, this.#params), user);
  }

  delete(address: string): void {
    const user = normalizeAddress(address);
    if (this.#db.prepare("DELETE FROM users WHERE address = ?").run(user).changes === 0) throw new UserStoreError(`no user ${user}`);
  }

  list(): UserRecord[] {
    return this.#statements.all.all().map((row) => {
      const address = String(row["address"]);
      return { address, aliases: this.#aliasesOf(address) };
    });
  }

  #aliasesOf(user: string): string[] {
    return this.#statements.addresses.all(user).map((row) => String(row["address"]));
  }

  /** The user when `password` is theirs, else null; unknown users take as long as wrong passwords. */
  async authenticate(address: string, password: string): Promise<UserRecord | null> {
    const user = normalizeAddress(address);
    const row = this.#statements.user.get(user);
    if (row === undefined) {
      this.#decoy ??= hashPassword(`decoy-${Math.random()}`, this.#params);
      await verifyPassword(password, await this.#decoy);
      return null;
    }
    if (!(await verifyPassword(password, String(row["hash"])))) return null;
    return { address: user, aliases: this.#aliasesOf(user) };
  }

  /** Every address `user` may send as: the login address and its aliases (lower case). */
  ownedAddresses(address: string): Set<string> {
    const user = normalizeAddress(address);
    return new Set([user, ...this.#aliasesOf(user)]);
  }

  close(): void {
    this.#db.close();
  }
}
