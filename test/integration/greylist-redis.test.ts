// Greylisting shared by several relays through a real redis-server (the harness's startRedis).
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Greylist, GreylistFlushFailure, GreylistSettings } from "../../relay-node/src/greylist/greylist.ts";
import { createGreylist } from "../../relay-node/src/greylist/greylist.ts";
import type { RedisService } from "../harness/services.ts";
import { startRedis } from "../harness/services.ts";

let redis: RedisService;
const relays: Greylist[] = [];
/** The flushes that failed, as the relay would log them. */
const flushFailures: Array<{ err: unknown; failure: GreylistFlushFailure }> = [];

function relay(url: string): Greylist {
  const settings: GreylistSettings = {
    enabled: true,
    delaySeconds: 300,
    retryWindowSeconds: 2 * 86400,
    passLifetimeSeconds: 36 * 86400,
    autoAllowAfter: 2,
    ipv4Prefix: 24,
    ipv6Prefix: 64,
    store: { type: "redis", url },
  };
  const greylist = createGreylist(settings, { onFlushError: (err, failure) => flushFailures.push({ err, failure }) });
  relays.push(greylist);
  return greylist;
}

beforeAll(async () => {
  const started = performance.now();
  redis = await startRedis();
  console.log(`redis-server ready in ${Math.round(performance.now() - started)} ms`);
});

afterAll(async () => {
  await Promise.all(relays.map((greylist) => greylist.close()));
  await redis.stop();
});

describe("greylisting with Redis", () => {
  const triplet = { clientIp: "2001:db8:1:2::25", sender: "alice@sender.test", recipient: "bob@example.org", id: "7-1" };

  it("shares triplets between two relays: a retry at the other relay passes", async () => {
    const [one, two] = [relay(redis.url), relay(redis.url)];
    const now = Date.now();
    // eslint-disable-next-line @typescript-eslint/no-unsafe-assignment -- vitest types its asymmetric matchers (expect.stringContaining, …) as any
    expect(await one.check(triplet, now)).toMatchObject({ outcome: "fail", reply: { code: 451, text: expect.stringContaining("Greylisted for 300 seconds") } });
    // Another address of the same /64, at the other relay, a minute later: still the same triplet.
    expect(await two.check({ ...triplet, clientIp: "2001:db8:1:2::26" }, now + 60_000)).toMatchObject({
      outcome: "fail",
      // eslint-disable-next-line @typescript-eslint/no-unsafe-assignment -- vitest types its asymmetric matchers (expect.stringContaining, …) as any
      reply: { text: expect.stringContaining("Greylisted for 240 seconds") },
    });
    expect(await two.check(triplet, now + 300_000)).toMatchObject({ outcome: "pass" });
    expect(await one.check(triplet, now + 400_000)).toMatchObject({ outcome: "pass" });
  });

  it("keeps records and counts as Redis keys that expire", async () => {
    const client = new Redis(redis.url);
    const [tripletKey] = await client.keys("edgemx:greylist:triplet:*");
    expect(tripletKey).toBe('edgemx:greylist:triplet:["2001:db8:1:2::/64","alice@sender.test","bob@example.org"]');
    const ttl = await client.ttl(tripletKey!);
    expect(ttl).toBeGreaterThan(36 * 86400 - 10);
    expect(ttl).toBeLessThanOrEqual(36 * 86400);
    client.disconnect();
  });

  it("counts deliveries from all relays towards the network's auto-allow", async () => {
    const [one, two] = [relay(redis.url), relay(redis.url)];
    const client = { clientIp: "198.51.100.7", sender: "x@sender.test", recipient: "y@example.org", id: "7-2" };
    expect(await one.check(client)).toMatchObject({ outcome: "fail" });
    one.delivered(client);
    two.delivered({ ...client, clientIp: "198.51.100.8" });
    await Promise.all([one.flush(), two.flush()]);
    expect(await two.check({ ...client, sender: "someone-new@sender.test" })).toMatchObject({
      outcome: "pass",
      detail: "198.51.100.0/24 auto-allowed after 2 delivered messages",
    });
  });

  it("adds a batch of deliveries with one INCRBY, and keeps the count for the pass lifetime", async () => {
    const greylist = relay(redis.url);
    for (let i = 0; i < 3; i++) greylist.delivered({ ...triplet, clientIp: "203.0.113.9" });
    await greylist.flush();
    const client = new Redis(redis.url);
    expect(await client.get("edgemx:greylist:client:203.0.113.0/24")).toBe("3");
    expect(await client.ttl("edgemx:greylist:client:203.0.113.0/24")).toBeGreaterThan(36 * 86400 - 10);
    client.disconnect();
    expect(flushFailures).toEqual([]);
  });

  it("answers temporary within about a second when Redis is down, and recovers with it", async () => {
    const greylist = relay(redis.url);
    expect(await greylist.check({ ...triplet, recipient: "dave@example.org" })).toMatchObject({ outcome: "fail" });
    const port = redis.port;
    await redis.stop();
    const started = performance.now();
    const finding = await greylist.check({ ...triplet, recipient: "erin@example.org" });
    expect(finding).toMatchObject({
      check: "greylist",
      outcome: "temporary",
      // eslint-disable-next-line @typescript-eslint/no-unsafe-assignment -- vitest types its asymmetric matchers (expect.stringContaining, …) as any
      reply: { code: 451, enhanced: "4.3.0", text: expect.stringContaining("id=7-1") },
    });
    expect(finding.detail).toMatch(/^greylist store: /);
    expect(performance.now() - started).toBeLessThan(2_500);
    greylist.delivered(triplet);
    await greylist.flush();
    // eslint-disable-next-line @typescript-eslint/no-unsafe-assignment -- vitest types its asymmetric matchers (expect.stringContaining, …) as any
    expect(flushFailures).toEqual([{ err: expect.any(Error), failure: { networks: 1, kept: 1 } }]);

    // A new (empty) Redis on the same port: the relay reconnects by itself; the triplet starts over.
    redis = await startRedis({ port });
    const deadline = Date.now() + 5_000;
    let again = await greylist.check({ ...triplet, recipient: "erin@example.org" });
    while (again.outcome === "temporary" && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      again = await greylist.check({ ...triplet, recipient: "erin@example.org" });
    }
    // eslint-disable-next-line @typescript-eslint/no-unsafe-assignment -- vitest types its asymmetric matchers (expect.stringContaining, …) as any
    expect(again).toMatchObject({ outcome: "fail", detail: expect.stringMatching(/first seen/) });
    // The delivery counted during the outage was kept, and reaches the new Redis with the next flush.
    await greylist.flush();
    const client = new Redis(redis.url);
    expect(await client.get("edgemx:greylist:client:2001:db8:1:2::/64")).toBe("1");
    client.disconnect();
  });
});
