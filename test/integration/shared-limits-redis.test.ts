// The submission limits and the TLS-RPT counts in a real redis-server (the harness's startRedis): two
// relays' limiters count into the same keys, the keys expire, and an outage falls back to the relay's
// own memory (submission/shared-limits.ts) or drops the count, said in the log (tlsrpt/shared-counts.ts).
import type { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fastFailingRedis } from "../../relay-node/src/redis/client.ts";
import { LoginThrottle, type ThrottlePolicy } from "../../relay-node/src/submission/login-throttle.ts";
import { SendQuota } from "../../relay-node/src/submission/send-quota.ts";
import { redisLoginLimiter, redisSendLimiter, type LoginLimiter, type SendLimiter } from "../../relay-node/src/submission/shared-limits.ts";
import { redisTlsRptStore } from "../../relay-node/src/tlsrpt/shared-counts.ts";
import { redisAnswers } from "../../relay-node/src/smtp/recipient-callout.ts";
import { startRedis, type RedisService } from "../harness/services.ts";

const POLICY: ThrottlePolicy = { maxFailures: 3, windowSeconds: 600, baseDelayMs: 500, maxDelayMs: 4000 };
let redis: RedisService;
const clients: Redis[] = [];
const errors: unknown[] = [];

function relay(): { logins: LoginLimiter; sends: SendLimiter; client: Redis } {
  const client = fastFailingRedis(redis.url);
  clients.push(client);
  const onError = (err: unknown): void => void errors.push(err);
  return {
    logins: redisLoginLimiter(client, POLICY, new LoginThrottle(POLICY), onError),
    sends: redisSendLimiter(client, 2, new SendQuota(2), onError),
    client,
  };
}

beforeAll(async () => {
  redis = await startRedis();
});

afterAll(async () => {
  for (const client of clients) client.disconnect();
  await redis.stop();
});

describe("shared state in Redis", () => {
  it("count failed logins of two relays together, per IP and per user, with the window as the keys' expiry", async () => {
    const [one, two] = [relay(), relay()];
    expect(await one.logins.failed("192.0.2.1", "Bob@Example.org")).toBe(500);
    expect(await two.logins.failed("192.0.2.1", "bob@example.org")).toBe(1000);
    expect((await one.logins.check("192.0.2.9", "bob@example.org")).status).toBe("allowed");
    expect(await one.logins.failed("192.0.2.2", "bob@example.org")).toBe(2000);
    // The user has three failures now, from two addresses and two relays: locked everywhere.
    expect((await two.logins.check("192.0.2.9", "bob@example.org")).status).toBe("locked");
    const ttl = await one.client.pttl("edgemx:auth:user:bob@example.org");
    expect(ttl).toBeGreaterThan(590_000);
    expect(ttl).toBeLessThanOrEqual(600_000);
    // A success clears the user's count, not the IP's.
    await two.logins.succeeded("bob@example.org");
    expect((await one.logins.check("192.0.2.9", "bob@example.org")).status).toBe("allowed");
    expect(await one.client.get("edgemx:auth:ip:192.0.2.1")).toBe("2");
  });

  it("count one hourly quota for the relays: a user's sends at either count at both", async () => {
    const [one, two] = [relay(), relay()];
    expect(await one.sends.allows("carol@example.org")).toBe(true);
    await one.sends.record("carol@example.org");
    expect(await two.sends.allows("carol@example.org")).toBe(true);
    await two.sends.record("Carol@example.org");
    expect(await one.sends.allows("carol@example.org")).toBe(false);
    expect(await two.sends.allows("carol@example.org")).toBe(false);
    expect(await one.client.zcard("edgemx:quota:carol@example.org")).toBe(2);
    expect(await one.client.pttl("edgemx:quota:carol@example.org")).toBeGreaterThan(3_590_000);
  });

  it("count TLS sessions of two relays in one day's hash, and let one relay at a time claim a report", async () => {
    const stores = [relay(), relay()].map((r) => redisTlsRptStore(r.client, (err) => void errors.push(err)));
    const at = Date.parse("2026-03-04T10:00:00Z");
    const policy = { type: "sts" as const, domain: "example.net", policyString: ["version: STSv1", "mode: enforce"], mxHost: ["mx.example.net"] };
    stores[0]!.record({ policy, at });
    stores[1]!.record({ policy, at });
    stores[1]!.record({
      policy,
      at,
      failure: { resultType: "certificate-expired", receivingMxHostname: "mx.example.net", receivingIp: "192.0.2.25", detail: "expired" },
    });
    let rows = await stores[0]!.rows("2026-03-04");
    while (rows.reduce((sum, row) => sum + row.count, 0) < 3) rows = await stores[0]!.rows("2026-03-04");
    expect(rows).toEqual([
      {
        day: "2026-03-04",
        policyType: "sts",
        policyDomain: "example.net",
        policyString: policy.policyString,
        mxHost: policy.mxHost,
        resultType: "",
        receivingMxHostname: "",
        receivingIp: "",
        detail: "",
        count: 2,
      },
      expect.objectContaining({ resultType: "certificate-expired", receivingIp: "192.0.2.25", count: 1 }),
    ]);
    expect(await stores[0]!.claim("2026-03-04", "example.net", 60_000)).toBe(true);
    expect(await stores[1]!.claim("2026-03-04", "example.net", 60_000)).toBe(false);
    await stores[1]!.markSent("2026-03-04", "example.net", at);
    await stores[0]!.release("2026-03-04", "example.net");
    expect(await stores[1]!.isSent("2026-03-04", "example.net")).toBe(true);
    expect(await stores[1]!.claim("2026-03-04", "example.net", 60_000)).toBe(true);
    expect(errors).toEqual([]);
  });

  it("keep the recipient callout's answers for the relays, each expiring with its TTL", async () => {
    const answers = redisAnswers(relay().client);
    answers.set("127.0.0.1:24", "Alice@Example.org", { status: "exists", reply: "250 2.1.5 Ok" }, 60_000);
    answers.set("127.0.0.1:24", "nobody@example.org", { status: "unknown", reply: "550 5.1.1 no" }, 30_000);
    const other = redisAnswers(relay().client);
    let known = await other.get("127.0.0.1:24", "alice@example.org");
    while (known === undefined) known = await other.get("127.0.0.1:24", "alice@example.org");
    expect(known).toEqual({ status: "exists", reply: "250 2.1.5 Ok" });
    expect(await other.get("127.0.0.1:25", "alice@example.org")).toBeUndefined();
    const ttl = await relay().client.pttl("edgemx:callout:127.0.0.1:24:nobody@example.org");
    expect(ttl).toBeGreaterThan(25_000);
    expect(ttl).toBeLessThanOrEqual(30_000);
  });

  it("fall back to the relay's own memory when Redis is down, and say so", async () => {
    const one = relay();
    await redis.stop();
    for (let i = 0; i < 3; i++) await one.logins.failed("192.0.2.3", "dave@example.org");
    expect((await one.logins.check("192.0.2.3", "erin@example.org")).status).toBe("locked");
    await one.sends.record("dave@example.org");
    await one.sends.record("dave@example.org");
    expect(await one.sends.allows("dave@example.org")).toBe(false);
    expect(errors.length).toBeGreaterThan(0);
    // The callout's shared answers: a miss, so the host is asked.
    expect(await redisAnswers(one.client).get("127.0.0.1:24", "alice@example.org")).toBeUndefined();
  });
});
