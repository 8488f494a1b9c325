// The submission limits as the listeners ask them — failed logins (login-throttle.ts) and messages per
// hour (send-quota.ts) — kept in this process, or in the Redis that relay.store names, so that
// N relays behind one MX or submission name allow what one relay allows, not N times it
// (docs/scaling.md).
//
// Redis down: each relay goes on counting in its own memory (the limits then hold per relay again, as
// without Redis) rather than refusing every login (fail closed would stop all submission for an outage
// of a store that only limits abuse) or counting nothing (fail open would let a password guesser run
// unchecked for the outage). The error goes to `onError` (the relay's log).
import { randomBytes } from "node:crypto";
import type { Redis } from "ioredis";
import { failureDelayMs, type LoginDecision, type LoginThrottle, type ThrottlePolicy } from "./login-throttle.ts";
import { HOUR_MS, type SendQuota } from "./send-quota.ts";

/** Failed logins per client IP and per user (RFC 4954 §6). */
export interface LoginLimiter {
  check(ip: string, user: string): Promise<LoginDecision>;
  /** Counts a failure for both; how long to wait before answering it. */
  failed(ip: string, user: string): Promise<number>;
  succeeded(user: string): Promise<void>;
}

/** Accepted messages per user in a sliding hour. */
export interface SendLimiter {
  allows(user: string): Promise<boolean>;
  /** One message of `user` was accepted. */
  record(user: string): Promise<void>;
}

/** The limits of this process alone. */
export function localLoginLimiter(throttle: LoginThrottle): LoginLimiter {
  return {
    check: (ip, user) => Promise.resolve(throttle.check(ip, user)),
    failed: (ip, user) => Promise.resolve(throttle.failed(ip, user)),
    succeeded: (user) => Promise.resolve(throttle.succeeded(user)),
  };
}

export function localSendLimiter(quota: SendQuota): SendLimiter {
  return {
    allows: (user) => Promise.resolve(quota.allows(user)),
    record: (user) => Promise.resolve(quota.record(user)),
  };
}

const PREFIX = "edgemx:";

function userName(user: string): string {
  return user.trim().toLowerCase();
}

/** The results of a MULTI … EXEC, or the first error in it. */
function execResults(results: [Error | null, unknown][] | null): unknown[] {
  if (results === null) throw new Error("MULTI was discarded");
  const failed = results.find(([error]) => error !== null);
  if (failed !== undefined) throw failed[0]!;
  return results.map(([, value]) => value);
}

/**
 * Keys "edgemx:auth:ip:<ip>" and "edgemx:auth:user:<user>": the failure count, expiring `windowSeconds`
 * after the latest failure (PEXPIRE renewed with each INCR, in one MULTI) — the in-memory throttle's
 * rule, "until the window since its latest failure has passed". One round trip per AUTH (MGET), one
 * more per failure (MULTI) or success (DEL).
 */
export function redisLoginLimiter(client: Redis, policy: ThrottlePolicy, fallback: LoginThrottle, onError: (err: unknown) => void): LoginLimiter {
  const ipKey = (ip: string): string => `${PREFIX}auth:ip:${ip}`;
  const userKey = (user: string): string => `${PREFIX}auth:user:${userName(user)}`;
  const windowMs = policy.windowSeconds * 1000;
  const local = localLoginLimiter(fallback);
  const orLocal = async <T>(shared: () => Promise<T>, inMemory: () => Promise<T>): Promise<T> => {
    try {
      return await shared();
    } catch (err) {
      onError(err);
      return inMemory();
    }
  };
  return {
    check: (ip, user) =>
      orLocal(
        async () => {
          // A key that lives holds the failures within the window (Redis expired the others).
          const counts = await client.mget(ipKey(ip), userKey(user));
          const locked = counts.some((count) => Number(count ?? 0) >= policy.maxFailures);
          return locked ? { status: "locked" } : { status: "allowed" };
        },
        () => local.check(ip, user),
      ),
    failed: (ip, user) =>
      orLocal(
        async () => {
          const [ipFailures, , userFailures] = execResults(
            await client.multi().incr(ipKey(ip)).pexpire(ipKey(ip), windowMs).incr(userKey(user)).pexpire(userKey(user), windowMs).exec(),
          );
          return failureDelayMs(Math.max(Number(ipFailures), Number(userFailures)), policy);
        },
        () => local.failed(ip, user),
      ),
    succeeded: (user) =>
      orLocal(
        async () => {
          await client.del(userKey(user));
        },
        () => local.succeeded(user),
      ),
  };
}

/**
 * Key "edgemx:quota:<user>": a sorted set of the user's accepted messages scored by their time, its
 * members older than an hour dropped as it is read; the key expires an hour after the latest. One round
 * trip (MULTI) at MAIL FROM, one when the message is queued. Like the in-memory quota, two messages of
 * one user in flight at once both pass the check: the bound may be passed by the messages in flight.
 */
export function redisSendLimiter(
  client: Redis,
  maxPerHour: number,
  fallback: SendQuota,
  onError: (err: unknown) => void,
  now: () => number = Date.now,
): SendLimiter {
  const key = (user: string): string => `${PREFIX}quota:${userName(user)}`;
  const local = localSendLimiter(fallback);
  return {
    async allows(user) {
      try {
        const [, count] = execResults(
          await client
            .multi()
            .zremrangebyscore(key(user), "-inf", now() - HOUR_MS)
            .zcard(key(user))
            .exec(),
        );
        return Number(count) < maxPerHour;
      } catch (err) {
        onError(err);
        return local.allows(user);
      }
    },
    async record(user) {
      const at = now();
      try {
        execResults(
          await client
            .multi()
            .zadd(key(user), at, `${at}:${randomBytes(6).toString("hex")}`)
            .pexpire(key(user), HOUR_MS)
            .exec(),
        );
      } catch (err) {
        onError(err);
        await local.record(user);
      }
    },
  };
}
