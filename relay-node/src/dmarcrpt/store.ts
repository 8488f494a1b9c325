// Where the DMARC evaluations of inbound mail wait for their aggregate report: counted per UTC day,
// policy domain and distinct record (RFC 9990 "row": identical evaluations are one row with a count),
// beside the last policy record seen that day (RFC 9990: a report SHOULD note the final configuration
// observed). Kept as greylisting's state is (relay.greylist.store): node:sqlite for one relay, Redis
// for relays that share it — then one daily report covers all of them, and a claim lets only one relay
// send it. A domain's day is deleted once its report went out (sender.ts).
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { DatabaseSync } from "node:sqlite";
import type { Redis } from "ioredis";
import { dmarcEvaluationOf, type DmarcEvaluation } from "../../../core/dmarcrpt/evaluation.ts";
import type { CountedEvaluation, ReportedEvaluation } from "../../../core/dmarcrpt/sending.ts";
import { fastFailingRedis } from "../redis/client.ts";

/** A domain's day as stored: the record last seen and the counted rows. */
export interface StoredReport {
  record: string;
  rows: CountedEvaluation[];
}

export interface DmarcReportStore {
  /** Counts `count` (default 1) identical evaluations on the UTC day of `at` (ms). */
  record(evaluation: DmarcEvaluation, at: number, count?: number): Promise<void>;
  /** The days with evaluations waiting, oldest first. */
  days(): Promise<string[]>;
  /** The policy domains with evaluations on `day`, sorted. */
  domains(day: string): Promise<string[]>;
  /** The domain's day, or null when nothing is stored for it. */
  report(day: string, policyDomain: string): Promise<StoredReport | null>;
  /** Whether the report of the domain's day went to `target` (one destination address). */
  isSent(day: string, policyDomain: string, target: string): Promise<boolean>;
  markSent(day: string, policyDomain: string, target: string): Promise<void>;
  /** Takes the domain's day for `ms`, so that one sender works on it; false while another holds it. */
  claim(day: string, policyDomain: string, ms: number): Promise<boolean>;
  /** Gives the claim up before it runs out. */
  release(day: string, policyDomain: string): Promise<void>;
  /** Deletes the domain's day: its rows, its record, what was sent, the claim. */
  remove(day: string, policyDomain: string): Promise<void>;
  close(): Promise<void>;
}

/** "2026-03-04" for a UTC instant. */
export function utcDay(at: number): string {
  return new Date(at).toISOString().slice(0, 10);
}

/** The row's identity: the evaluation without the policy domain and record, its fields in a fixed order. */
export function rowKey(evaluation: DmarcEvaluation): string {
  const { sourceIp, headerFrom, envelopeFrom, disposition, dkim, spf, reasons, dkimResults, spfResult } = evaluation;
  const row: ReportedEvaluation = { sourceIp, headerFrom, envelopeFrom, disposition, dkim, spf, reasons, dkimResults, spfResult };
  return JSON.stringify(row);
}

/** A stored row read back; null when it does not have the evaluation's shape (then it is not reported). */
function rowOf(key: string, policyDomain: string, record: string): ReportedEvaluation | null {
  let value: unknown;
  try {
    value = JSON.parse(key);
  } catch {
    return null;
  }
  if (typeof value !== "object" || value === null) return null;
  const parsed = dmarcEvaluationOf({ ...value, policyDomain, record });
  if (parsed === undefined) return null;
  const { sourceIp, headerFrom, envelopeFrom, disposition, dkim, spf, reasons, dkimResults, spfResult } = parsed;
  return { sourceIp, headerFrom, envelopeFrom, disposition, dkim, spf, reasons, dkimResults, spfResult };
}

/** The rows in a stable order (by their identity), those that do not read back left out. */
function counted(entries: Iterable<[string, number]>, policyDomain: string, record: string): CountedEvaluation[] {
  return [...entries]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .flatMap(([key, count]) => {
      const evaluation = rowOf(key, policyDomain, record);
      return evaluation === null ? [] : [{ evaluation, count }];
    });
}

/**
 * Tables in WAL mode (like greylisting's, several relays on one host may share the file). node:sqlite
 * answers synchronously: each method runs in a promise executor, so what it throws (a busy or closed
 * database) is the rejection the interface promises.
 */
export class SqliteDmarcReportStore implements DmarcReportStore {
  private readonly db: DatabaseSync;
  private readonly clock: () => number;
  private readonly statements;

  constructor(path: string, options: { clock?: () => number } = {}) {
    if (path !== ":memory:") mkdirSync(dirname(path), { recursive: true });
    this.db = new DatabaseSync(path);
    this.clock = options.clock ?? Date.now;
    // Counts may lose their last writes in a power cut (a report then counts a few messages less):
    // synchronous=NORMAL, which in WAL mode spares each message an fsync and still never corrupts the file.
    this.db.exec(`PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000;
      CREATE TABLE IF NOT EXISTS dmarc_rows (day TEXT NOT NULL, policy_domain TEXT NOT NULL, row TEXT NOT NULL, count INTEGER NOT NULL,
        PRIMARY KEY (day, policy_domain, row)) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS dmarc_records (day TEXT NOT NULL, policy_domain TEXT NOT NULL, record TEXT NOT NULL, PRIMARY KEY (day, policy_domain));
      CREATE TABLE IF NOT EXISTS dmarc_sent (day TEXT NOT NULL, policy_domain TEXT NOT NULL, target TEXT NOT NULL, PRIMARY KEY (day, policy_domain, target));
      CREATE TABLE IF NOT EXISTS dmarc_claims (day TEXT NOT NULL, policy_domain TEXT NOT NULL, until INTEGER NOT NULL, PRIMARY KEY (day, policy_domain));`);
    this.statements = {
      count: this.db.prepare("INSERT INTO dmarc_rows VALUES (?, ?, ?, ?) ON CONFLICT DO UPDATE SET count = count + excluded.count"),
      keepRecord: this.db.prepare("INSERT INTO dmarc_records VALUES (?, ?, ?) ON CONFLICT DO UPDATE SET record = excluded.record"),
      days: this.db.prepare("SELECT DISTINCT day FROM dmarc_records ORDER BY day"),
      domains: this.db.prepare("SELECT policy_domain FROM dmarc_records WHERE day = ? ORDER BY policy_domain"),
      readRecord: this.db.prepare("SELECT record FROM dmarc_records WHERE day = ? AND policy_domain = ?"),
      rows: this.db.prepare("SELECT row, count FROM dmarc_rows WHERE day = ? AND policy_domain = ?"),
      isSent: this.db.prepare("SELECT 1 FROM dmarc_sent WHERE day = ? AND policy_domain = ? AND target = ?"),
      markSent: this.db.prepare("INSERT OR IGNORE INTO dmarc_sent VALUES (?, ?, ?)"),
      // One statement: of two senders racing, one inserts or takes over an expired claim, the other changes nothing.
      claim: this.db.prepare(
        "INSERT INTO dmarc_claims VALUES (:day, :domain, :until) ON CONFLICT DO UPDATE SET until = excluded.until WHERE until <= :now RETURNING until",
      ),
      release: this.db.prepare("DELETE FROM dmarc_claims WHERE day = ? AND policy_domain = ?"),
      remove: ["dmarc_rows", "dmarc_records", "dmarc_sent", "dmarc_claims"].map((table) =>
        this.db.prepare(`DELETE FROM ${table} WHERE day = ? AND policy_domain = ?`),
      ),
    };
  }

  record(evaluation: DmarcEvaluation, at: number, count = 1): Promise<void> {
    return new Promise((resolve) => {
      const day = utcDay(at);
      this.db.exec("BEGIN IMMEDIATE");
      try {
        this.statements.count.run(day, evaluation.policyDomain, rowKey(evaluation), count);
        this.statements.keepRecord.run(day, evaluation.policyDomain, evaluation.record);
        this.db.exec("COMMIT");
      } catch (error) {
        this.db.exec("ROLLBACK");
        throw error;
      }
      resolve();
    });
  }

  days(): Promise<string[]> {
    return new Promise((resolve) => resolve(this.statements.days.all().map((row) => String(row.day))));
  }

  domains(day: string): Promise<string[]> {
    return new Promise((resolve) => resolve(this.statements.domains.all(day).map((row) => String(row.policy_domain))));
  }

  report(day: string, policyDomain: string): Promise<StoredReport | null> {
    return new Promise((resolve) => {
      const found = this.statements.readRecord.get(day, policyDomain);
      if (found === undefined) return resolve(null);
      const record = String(found.record);
      const entries = this.statements.rows.all(day, policyDomain).map((row): [string, number] => [String(row.row), Number(row.count)]);
      resolve({ record, rows: counted(entries, policyDomain, record) });
    });
  }

  isSent(day: string, policyDomain: string, target: string): Promise<boolean> {
    return new Promise((resolve) => resolve(this.statements.isSent.get(day, policyDomain, target) !== undefined));
  }

  markSent(day: string, policyDomain: string, target: string): Promise<void> {
    return new Promise((resolve) => {
      this.statements.markSent.run(day, policyDomain, target);
      resolve();
    });
  }

  claim(day: string, policyDomain: string, ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      const now = this.clock();
      resolve(this.statements.claim.get({ day, domain: policyDomain, until: now + ms, now }) !== undefined);
    });
  }

  release(day: string, policyDomain: string): Promise<void> {
    return new Promise((resolve) => {
      this.statements.release.run(day, policyDomain);
      resolve();
    });
  }

  remove(day: string, policyDomain: string): Promise<void> {
    return new Promise((resolve) => {
      for (const statement of this.statements.remove) statement.run(day, policyDomain);
      resolve();
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.db.close();
      resolve();
    });
  }
}

/** How long Redis keeps a day that was never sent (a lasting DNS failure, no relay running at midnight). */
export const REDIS_KEEP_SECONDS = 8 * 86_400;

/**
 * Keys under "edgemx:dmarc:": the set `days`, per day the set `day:<day>` of policy domains, per domain
 * and day the hash `rows:<day>:<domain>` (row → count by HINCRBY, so concurrent relays never lose a
 * count), `record:…`, the set `sent:…` and the claim `claim:…` (SET NX PX). A day's keys expire after
 * REDIS_KEEP_SECONDS; `days` forgets days whose set is gone. An outage answers fast (redis/client.ts):
 * the evaluation is then not counted, and the relay says so in its log.
 */
export class RedisDmarcReportStore implements DmarcReportStore {
  private readonly client: Redis;
  private readonly prefix = "edgemx:dmarc:";

  constructor(url: string, options: { commandTimeoutMs?: number } = {}) {
    this.client = fastFailingRedis(url, options.commandTimeoutMs);
  }

  private key(kind: "rows" | "record" | "sent" | "claim", day: string, policyDomain: string): string {
    return `${this.prefix}${kind}:${day}:${policyDomain}`;
  }

  async record(evaluation: DmarcEvaluation, at: number, count = 1): Promise<void> {
    const day = utcDay(at);
    const { policyDomain } = evaluation;
    const dayKey = `${this.prefix}day:${day}`;
    const rows = this.key("rows", day, policyDomain);
    const results = await this.client
      .multi()
      .hincrby(rows, rowKey(evaluation), count)
      .expire(rows, REDIS_KEEP_SECONDS)
      .set(this.key("record", day, policyDomain), evaluation.record, "EX", REDIS_KEEP_SECONDS)
      .sadd(dayKey, policyDomain)
      .expire(dayKey, REDIS_KEEP_SECONDS)
      .sadd(`${this.prefix}days`, day)
      .exec();
    const failed = (results ?? [[new Error("MULTI was discarded"), null]]).find(([error]) => error !== null);
    if (failed !== undefined) throw failed[0]!;
  }

  async days(): Promise<string[]> {
    const days = (await this.client.smembers(`${this.prefix}days`)).sort();
    const live: string[] = [];
    for (const day of days) {
      if ((await this.client.exists(`${this.prefix}day:${day}`)) === 1) live.push(day);
      else await this.client.srem(`${this.prefix}days`, day);
    }
    return live;
  }

  async domains(day: string): Promise<string[]> {
    return (await this.client.smembers(`${this.prefix}day:${day}`)).sort();
  }

  async report(day: string, policyDomain: string): Promise<StoredReport | null> {
    const [record, rows] = await Promise.all([
      this.client.get(this.key("record", day, policyDomain)),
      this.client.hgetall(this.key("rows", day, policyDomain)),
    ]);
    if (record === null) return null;
    return {
      record,
      rows: counted(
        Object.entries(rows).map(([key, count]): [string, number] => [key, Number(count)]),
        policyDomain,
        record,
      ),
    };
  }

  async isSent(day: string, policyDomain: string, target: string): Promise<boolean> {
    return (await this.client.sismember(this.key("sent", day, policyDomain), target)) === 1;
  }

  async markSent(day: string, policyDomain: string, target: string): Promise<void> {
    const sent = this.key("sent", day, policyDomain);
    await this.client.multi().sadd(sent, target).expire(sent, REDIS_KEEP_SECONDS).exec();
  }

  async claim(day: string, policyDomain: string, ms: number): Promise<boolean> {
    return (await this.client.set(this.key("claim", day, policyDomain), "1", "PX", ms, "NX")) === "OK";
  }

  async release(day: string, policyDomain: string): Promise<void> {
    await this.client.del(this.key("claim", day, policyDomain));
  }

  async remove(day: string, policyDomain: string): Promise<void> {
    const dayKey = `${this.prefix}day:${day}`;
    await this.client.del(...(["rows", "record", "sent", "claim"] as const).map((kind) => this.key(kind, day, policyDomain)));
    await this.client.srem(dayKey, policyDomain);
    if ((await this.client.scard(dayKey)) === 0) await this.client.srem(`${this.prefix}days`, day);
  }

  close(): Promise<void> {
    this.client.disconnect();
    return Promise.resolve();
  }
}

/** The store relay.greylist.store points to: that Redis, else the SQLite file `path` (relay.dmarcReports.path or its default). */
export function openDmarcReportStore(greylistStore: { type: "sqlite" } | { type: "redis"; url: string }, path: string): DmarcReportStore {
  return greylistStore.type === "redis" ? new RedisDmarcReportStore(greylistStore.url) : new SqliteDmarcReportStore(path);
}
