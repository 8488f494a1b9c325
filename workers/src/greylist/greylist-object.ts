// Greylisting's state at the edge: one Durable Object per client network (named by the network, e.g.
// "192.0.2.0/24"), holding that network's triplets and its count of delivered messages in its own SQLite
// storage — the table the relay's SQLite store keeps (relay-node/src/greylist/store.ts). The decision is
// core's (core/greylist/), the relay's very code.
//
// Why this shape: a Durable Object handles one call at a time and its storage outlives the isolate, so
// an attempt's read-decide-write is atomic without a lock, and a retry an hour later finds the record
// whichever Cloudflare location it lands on. One object per network keeps a network's triplets and its
// auto-allow count together, so each attempt is one call. Times are the object's clock (Date.now()).
import { DurableObject } from "cloudflare:workers";
import { judgeAttempt, type GreylistPolicy, type GreylistRecord } from "../../../core/greylist/greylist.ts";
import type { Finding } from "../../../core/smtp/finding.ts";

/** The part of connection.greylist an attempt needs (the Worker sends it with each call). */
export type GreylistTiming = Pick<GreylistPolicy, "delaySeconds" | "retryWindowSeconds" | "passLifetimeSeconds" | "autoAllowAfter">;

/** One attempt of a triplet of this object's network. */
export interface GreylistAttemptRequest {
  /** tripletKey(): network, sender, recipient. */
  key: string;
  network: string;
  recipient: string;
}

const TRIPLET = "triplet:";
const CLIENT = "client";

/** A stored value read back: a record only if it has the record's shape (anything else counts as absent). */
function parseRecord(text: string | undefined): GreylistRecord | null {
  if (text === undefined) return null;
  const value = JSON.parse(text) as Partial<GreylistRecord>;
  const isTime = (t: unknown): t is number => typeof t === "number" && Number.isFinite(t);
  if (isTime(value.firstSeen) && isTime(value.expiresAt) && (value.passedAt === null || isTime(value.passedAt))) {
    return { firstSeen: value.firstSeen, passedAt: value.passedAt, expiresAt: value.expiresAt };
  }
  return null;
}

export class GreylistObject extends DurableObject {
  constructor(ctx: DurableObjectState, env: Cloudflare.Env) {
    super(ctx, env);
    ctx.storage.sql.exec("CREATE TABLE IF NOT EXISTS greylist (key TEXT PRIMARY KEY, value TEXT NOT NULL, expires_at INTEGER NOT NULL)");
  }

  /** A live row's value; a lapsed row is absent, whether or not the alarm removed it yet. */
  private read(key: string, now: number): string | undefined {
    const [row] = this.ctx.storage.sql.exec<{ value: string }>("SELECT value FROM greylist WHERE key = ? AND expires_at > ?", key, now).toArray();
    return row?.value;
  }

  private async write(key: string, value: string, expiresAt: number): Promise<void> {
    this.ctx.storage.sql.exec(
      "INSERT INTO greylist (key, value, expires_at) VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at",
      key,
      value,
      expiresAt,
    );
    // The alarm removes what lapsed; one is enough, set for the earliest expiry.
    const alarm = await this.ctx.storage.getAlarm();
    if (alarm === null || alarm > expiresAt) await this.ctx.storage.setAlarm(expiresAt);
  }

  /** One attempt at RCPT TO's place: auto-allowed, passed, or deferred with the relay's 451 4.7.1. */
  async check(request: GreylistAttemptRequest, timing: GreylistTiming): Promise<Finding> {
    const now = Date.now();
    const record = parseRecord(this.read(TRIPLET + request.key, now));
    const passes = Number(this.read(CLIENT, now) ?? 0);
    const attempt = judgeAttempt(request.key, request.recipient, { record, passes, network: request.network }, now, timing);
    if (attempt.write !== null) await this.write(TRIPLET + request.key, JSON.stringify(attempt.write), attempt.write.expiresAt);
    return attempt.finding;
  }

  /** A message from this network was accepted: one more towards auto-allow, kept passLifetimeSeconds from now. The new count. */
  async delivered(timing: Pick<GreylistTiming, "passLifetimeSeconds">): Promise<number> {
    const now = Date.now();
    const passes = Number(this.read(CLIENT, now) ?? 0) + 1;
    await this.write(CLIENT, String(passes), now + timing.passLifetimeSeconds * 1000);
    return passes;
  }

  /** Removes what lapsed, and sets the next alarm for the earliest expiry of what is left. */
  override async alarm(): Promise<void> {
    this.ctx.storage.sql.exec("DELETE FROM greylist WHERE expires_at <= ?", Date.now());
    const { next } = this.ctx.storage.sql.exec<{ next: number | null }>("SELECT MIN(expires_at) AS next FROM greylist").one();
    if (next !== null) await this.ctx.storage.setAlarm(next);
  }
}
