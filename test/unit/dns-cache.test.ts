import { describe, expect, it } from "vitest";
import type { CacheLimits } from "../../core/dns/cache.ts";
import { DEFAULT_CACHE_LIMITS, cacheSeconds, cachingResolver, remainingSeconds } from "../../core/dns/cache.ts";
import type { Lookup, LookupStatus, RecordType, Resolver } from "../../core/dns/resolver.ts";

function lookup(status: LookupStatus, ttl: number, answers: string[] = []): Lookup {
  return { status, answers, ttl, authenticated: false, detail: "" };
}

/** An upstream resolver that answers from a script and counts its queries; a clock the test moves. */
function scripted(answer: (name: string, type: RecordType) => Lookup) {
  const calls: string[] = [];
  const upstream: Resolver = {
    query: <T extends RecordType>(name: string, type: T) => {
      calls.push(`${type} ${name}`);
      return Promise.resolve(answer(name, type) as Lookup<T>);
    },
  };
  const clock = { ms: 1_000_000 };
  return { upstream, calls, clock, now: () => clock.ms };
}

describe("cacheSeconds", () => {
  const limits: CacheLimits = { maxEntries: 10, maxPositiveSeconds: 3600, maxNegativeSeconds: 900, failureSeconds: 5 };

  it("keeps answers for their TTL, capped", () => {
    expect(cacheSeconds(lookup("ok", 300), limits)).toBe(300);
    expect(cacheSeconds(lookup("ok", 999_999), limits)).toBe(3600);
  });

  it("keeps NXDOMAIN and NODATA for the negative TTL, capped, and not at all without one (RFC 2308 §5)", () => {
    expect(cacheSeconds(lookup("nxdomain", 60), limits)).toBe(60);
    expect(cacheSeconds(lookup("nodata", 86_400), limits)).toBe(900);
    expect(cacheSeconds(lookup("nxdomain", 0), limits)).toBe(0);
  });

  it("keeps a SERVFAIL briefly and a timeout not at all", () => {
    expect(cacheSeconds(lookup("servfail", 0), limits)).toBe(5);
    expect(cacheSeconds(lookup("timeout", 0), limits)).toBe(0);
  });
});

describe("remainingSeconds", () => {
  it("rounds up and never goes below zero", () => {
    expect(remainingSeconds(10_500, 10_000)).toBe(1);
    expect(remainingSeconds(10_000, 10_000)).toBe(0);
    expect(remainingSeconds(9_000, 10_000)).toBe(0);
  });
});

describe("cachingResolver", () => {
  it("answers from the cache within the TTL, with the TTL counting down, then asks again", async () => {
    const { upstream, calls, clock, now } = scripted(() => lookup("ok", 60, ["127.0.0.11"]));
    const resolver = cachingResolver(upstream, DEFAULT_CACHE_LIMITS, now);
    expect((await resolver.query("sender.test", "A")).ttl).toBe(60);
    clock.ms += 20_000;
    const hit = await resolver.query("SENDER.test.", "A");
    expect(hit).toMatchObject({ status: "ok", answers: ["127.0.0.11"], ttl: 40 });
    expect(calls).toEqual(["A sender.test"]);
    clock.ms += 40_000;
    await resolver.query("sender.test", "A");
    expect(calls).toHaveLength(2);
  });

  it("keeps the types of one name apart", async () => {
    const { upstream, calls, now } = scripted(() => lookup("ok", 60, ["x"]));
    const resolver = cachingResolver(upstream, DEFAULT_CACHE_LIMITS, now);
    await resolver.query("sender.test", "A");
    await resolver.query("sender.test", "TXT");
    expect(calls).toEqual(["A sender.test", "TXT sender.test"]);
  });

  it("caches NXDOMAIN for its negative TTL, SERVFAIL for a few seconds, timeouts not at all", async () => {
    const answers: Record<string, Lookup> = {
      "gone.test": lookup("nxdomain", 60),
      "broken.test": lookup("servfail", 0),
      "slow.test": lookup("timeout", 0),
    };
    const { upstream, calls, clock, now } = scripted((name) => answers[name]!);
    const resolver = cachingResolver(upstream, DEFAULT_CACHE_LIMITS, now);
    const ask = async () => {
      for (const name of Object.keys(answers)) await resolver.query(name, "A");
    };
    await ask();
    await ask();
    expect(calls).toEqual(["A gone.test", "A broken.test", "A slow.test", "A slow.test"]);
    clock.ms += 10_000;
    calls.length = 0;
    await ask();
    expect(calls).toEqual(["A broken.test", "A slow.test"]);
  });

  it("holds at most maxEntries, dropping the least recently used", async () => {
    const { upstream, calls, now } = scripted(() => lookup("ok", 600, ["x"]));
    const resolver = cachingResolver(upstream, { ...DEFAULT_CACHE_LIMITS, maxEntries: 2 }, now);
    await resolver.query("a.test", "A");
    await resolver.query("b.test", "A");
    await resolver.query("a.test", "A"); // a is now the most recently used
    await resolver.query("c.test", "A"); // evicts b
    calls.length = 0;
    await resolver.query("a.test", "A");
    await resolver.query("c.test", "A");
    await resolver.query("b.test", "A");
    expect(calls).toEqual(["A b.test"]);
  });

  it("shares one upstream query between concurrent askers", async () => {
    const { upstream, calls, now } = scripted(() => lookup("ok", 60, ["x"]));
    const resolver = cachingResolver(upstream, DEFAULT_CACHE_LIMITS, now);
    const results = await Promise.all([resolver.query("a.test", "A"), resolver.query("a.test", "A")]);
    expect(results.map((result) => result.status)).toEqual(["ok", "ok"]);
    expect(calls).toHaveLength(1);
  });
});
