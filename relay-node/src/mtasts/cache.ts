// The MTA-STS policy cache (RFC 8461 §5.1), kept on disk in node:sqlite. MTA-STS protects a domain
// only while its policy is cached: an attacker who can hide the `_mta-sts` record and the policy host
// (§10.2) downgrades every sender that has no policy cached. A cache in memory is empty after each
// restart of the relay, so it is kept here, for each policy's max_age.
//
// A row holds the policy text as it was fetched, and the id of the TXT record it came with; reading a
// row parses the text again with the same parser as a fresh fetch (core/mtasts/policy.ts), so a row damaged on
// disk is dropped like an invalid policy. Expired rows are deleted when read and when the cache opens.
import { DatabaseSync } from "node:sqlite";
import { parseStsPolicy, type StsPolicy } from "../../../core/mtasts/policy.ts";

export interface CachedStsPolicy {
  policy: StsPolicy;
  /** The `id` of the `_mta-sts` TXT record the policy was fetched under (§3.1). */
  id: string;
  expiresAtMs: number;
}

export interface StsPolicyCache {
  /** The unexpired policy cached for a policy domain, or undefined. */
  get(domain: string, nowMs: number): CachedStsPolicy | undefined;
  /** Caches a policy as fetched (its text, which must parse), replacing the domain's earlier one. */
  set(domain: string, entry: { text: string; id: string; expiresAtMs: number }): void;
  close(): void;
}

/** Opens (creating) the cache at `path`; ":memory:" keeps it in memory, for tests. */
export function openStsPolicyCache(path: string, nowMs: number = Date.now()): StsPolicyCache {
  const db = new DatabaseSync(path);
  // WAL with synchronous=NORMAL: a write does not wait for the disk on the event loop; what a power
  // loss can take back is the latest policies, which are then fetched again.
  db.exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000;");
  db.exec(`CREATE TABLE IF NOT EXISTS sts_policies (
    domain TEXT PRIMARY KEY, id TEXT NOT NULL, policy TEXT NOT NULL, expires_at_ms INTEGER NOT NULL) STRICT`);
  const remove = db.prepare("DELETE FROM sts_policies WHERE domain = ?");
  const select = db.prepare("SELECT id, policy, expires_at_ms FROM sts_policies WHERE domain = ?");
  const upsert = db.prepare(`INSERT INTO sts_policies VALUES (?, ?, ?, ?)
    ON CONFLICT (domain) DO UPDATE SET id = excluded.id, policy = excluded.policy, expires_at_ms = excluded.expires_at_ms`);
  db.prepare("DELETE FROM sts_policies WHERE expires_at_ms <= ?").run(nowMs);
  return {
    get(domain, now) {
      const row = select.get(domain);
      if (row === undefined) return undefined;
      const expiresAtMs = Number(row.expires_at_ms);
      const parsed = expiresAtMs > now && typeof row.policy === "string" ? parseStsPolicy(row.policy) : undefined;
      if (parsed?.ok !== true) {
        remove.run(domain);
        return undefined;
      }
      return { policy: parsed.policy, id: String(row.id), expiresAtMs };
    },
    set(domain, entry) {
      upsert.run(domain, entry.id, entry.text, entry.expiresAtMs);
    },
    close() {
      db.close();
    },
  };
}
