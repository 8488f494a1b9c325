import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { GreylistFlushFailure, GreylistSettings } from "../../relay-node/src/greylist/greylist.ts";
import { AUTO_ALLOW_MEMO_MAX, AUTO_ALLOW_MEMO_MS, createGreylist, FLUSH_INTERVAL_MS } from "../../relay-node/src/greylist/greylist.ts";
import { clientNetwork, greylistDecision, tripletKey, type GreylistRecord, type GreylistTriplet } from "../../core/greylist/greylist.ts";
import type { GreylistStore } from "../../relay-node/src/greylist/store.ts";
import { SqliteGreylistStore } from "../../relay-node/src/greylist/store.ts";

const MINUTE = 60_000;
const DAY = 86_400_000;
const T0 = Date.UTC(2026, 0, 1);

/** For greylists whose flushes must all succeed: a failed one fails the test. */
const flushMustSucceed = {
  onFlushError: (err: unknown): never => {
    throw err;
  },
};

/** Flush failures as the relay would log them. */
function flushFailures(): {
  failures: Array<{ err: unknown; failure: GreylistFlushFailure }>;
  onFlushError: (err: unknown, failure: GreylistFlushFailure) => void;
} {
  const failures: Array<{ err: unknown; failure: GreylistFlushFailure }> = [];
  return { failures, onFlushError: (err, failure) => failures.push({ err, failure }) };
}

/** A store in memory that counts its reads and records its increments, and can be made to fail them. */
class CountingStore implements GreylistStore {
  readonly records = new Map<string, GreylistRecord>();
  readonly passes = new Map<string, number>();
  readonly increments: Array<[network: string, amount: number]> = [];
  reads = 0;
  incrementError: Error | null = null;

  get(key: string): Promise<GreylistRecord | null> {
    this.reads++;
    return Promise.resolve(this.records.get(key) ?? null);
  }

  put(key: string, record: GreylistRecord): Promise<void> {
    this.records.set(key, record);
    return Promise.resolve();
  }

  incrementClientPasses(network: string, amount: number): Promise<number> {
    if (this.incrementError !== null) return Promise.reject(this.incrementError);
    this.increments.push([network, amount]);
    this.passes.set(network, (this.passes.get(network) ?? 0) + amount);
    return Promise.resolve(this.passes.get(network)!);
  }

  clientPasses(network: string): Promise<number> {
    this.reads++;
    return Promise.resolve(this.passes.get(network) ?? 0);
  }

  async close(): Promise<void> {}
}

function settings(overrides: Partial<GreylistSettings> = {}): GreylistSettings {
  return {
    enabled: true,
    delaySeconds: 300,
    retryWindowSeconds: 2 * 86400,
    passLifetimeSeconds: 36 * 86400,
    autoAllowAfter: 3,
    ipv4Prefix: 24,
    ipv6Prefix: 64,
    store: { type: "sqlite", path: "unused" },
    ...overrides,
  };
}

describe("greylistDecision", () => {
  const timing = settings();

  it("defers a triplet seen for the first time, for the full delay", () => {
    const decision = greylistDecision(null, T0, timing);
    expect(decision).toEqual({ outcome: "defer", waitSeconds: 300, next: { firstSeen: T0, passedAt: null, expiresAt: T0 + 2 * DAY } });
  });

  it("defers an early retry for the remaining wait, without moving the delay", () => {
    const first = greylistDecision(null, T0, timing).next;
    const early = greylistDecision(first, T0 + 2 * MINUTE + 500, timing);
    expect(early.outcome).toBe("defer");
    expect(early.waitSeconds).toBe(180); // 179.5 s left, rounded up: a retry after it passes
    expect(early.next).toBe(first);
  });

  it("passes a retry after the delay and within the window, and keeps it for the pass lifetime", () => {
    const first = greylistDecision(null, T0, timing).next;
    const retry = greylistDecision(first, T0 + 5 * MINUTE, timing);
    expect(retry).toEqual({ outcome: "pass", waitSeconds: 0, next: { firstSeen: T0, passedAt: T0 + 5 * MINUTE, expiresAt: T0 + 5 * MINUTE + 36 * DAY } });
    // Later messages of the triplet pass at once and renew the lifetime.
    const later = greylistDecision(retry.next, T0 + 30 * DAY, timing);
    expect(later).toMatchObject({ outcome: "pass", next: { passedAt: T0 + 5 * MINUTE, expiresAt: T0 + 66 * DAY } });
  });

  it("starts over when the retry comes after the window, or the pass lifetime lapsed", () => {
    const first = greylistDecision(null, T0, timing).next;
    const tooLate = greylistDecision(first, T0 + 2 * DAY, timing);
    expect(tooLate).toEqual({ outcome: "defer", waitSeconds: 300, next: { firstSeen: T0 + 2 * DAY, passedAt: null, expiresAt: T0 + 4 * DAY } });
    const passed: GreylistRecord = { firstSeen: T0, passedAt: T0 + 5 * MINUTE, expiresAt: T0 + 36 * DAY };
    expect(greylistDecision(passed, T0 + 37 * DAY, timing)).toMatchObject({ outcome: "defer", waitSeconds: 300 });
  });

  it("passes at once with a delay of 0", () => {
    expect(greylistDecision(null, T0, settings({ delaySeconds: 0 }))).toMatchObject({ outcome: "pass", next: { passedAt: T0 } });
  });
});

describe("the triplet", () => {
  it("groups IPv4 clients by /24 and IPv6 clients by /64 (or as configured)", () => {
    expect(clientNetwork("192.0.2.17", 24, 64)).toBe("192.0.2.0/24");
    expect(clientNetwork("192.0.2.250", 24, 64)).toBe("192.0.2.0/24");
    expect(clientNetwork("192.0.2.17", 32, 64)).toBe("192.0.2.17/32");
    expect(clientNetwork("198.51.100.200", 20, 64)).toBe("198.51.96.0/20");
    expect(clientNetwork("::ffff:192.0.2.17", 24, 64)).toBe("192.0.2.0/24");
    expect(clientNetwork("2001:db8:1:2:aaaa::1", 24, 64)).toBe("2001:db8:1:2::/64");
    expect(clientNetwork("2001:DB8:0001:0002:0:0:0:ff", 24, 64)).toBe("2001:db8:1:2::/64");
    expect(clientNetwork("2001:db8:1:2ff::1", 24, 56)).toBe("2001:db8:1:200::/56");
    expect(clientNetwork("2001:db8:1:2::ff", 24, 128)).toBe("2001:db8:1:2::ff/128");
    expect(clientNetwork("fe80::1%eth0", 24, 64)).toBe("fe80::/64");
    expect(clientNetwork("not-an-ip", 24, 64)).toBe("not-an-ip");
  });

  it("ignores the case of addresses, keeps the null sender apart, and tells networks apart", () => {
    const prefixes = { ipv4Prefix: 24, ipv6Prefix: 64 };
    const base: GreylistTriplet = { clientIp: "192.0.2.17", sender: "Alice@Sender.Test", recipient: "Bob@Example.ORG" };
    expect(tripletKey(base, prefixes)).toBe('["192.0.2.0/24","alice@sender.test","bob@example.org"]');
    expect(tripletKey({ ...base, clientIp: "192.0.2.99", sender: "alice@sender.test" }, prefixes)).toBe(tripletKey(base, prefixes));
    expect(tripletKey({ ...base, sender: "" }, prefixes)).toBe('["192.0.2.0/24","<>","bob@example.org"]');
    expect(tripletKey({ ...base, sender: "<>" }, prefixes)).toBe(tripletKey({ ...base, sender: "" }, prefixes));
    expect(tripletKey({ ...base, clientIp: "192.0.3.17" }, prefixes)).not.toBe(tripletKey(base, prefixes));
  });
});

describe("createGreylist with the sqlite store", () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "edgemx-greylist-"));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const triplet = { clientIp: "192.0.2.17", sender: "alice@sender.test", recipient: "Bob@example.org", id: "1-1" };

  it("defers with 451 4.7.1 and the wait, then passes the retry", async () => {
    const greylist = createGreylist(settings({ store: { type: "sqlite", path: join(dir, "sub", "greylist.sqlite") } }), flushMustSucceed);
    const first = await greylist.check(triplet, T0);
    expect(first).toMatchObject({
      check: "greylist",
      outcome: "fail",
      reply: { code: 451, enhanced: "4.7.1", text: "<Bob@example.org>: Recipient address rejected: Greylisted for 300 seconds, please try again later" },
    });
    expect(first.detail).toMatch(/first seen, deferred for 300 s/);
    const early = await greylist.check({ ...triplet, clientIp: "192.0.2.18", recipient: "bob@EXAMPLE.org" }, T0 + 60_000);
    // eslint-disable-next-line @typescript-eslint/no-unsafe-assignment -- vitest types its asymmetric matchers (expect.stringContaining, …) as any
    expect(early).toMatchObject({ outcome: "fail", reply: { text: expect.stringContaining("Greylisted for 240 seconds") } });
    expect(early.detail).toMatch(/retried early/);
    // eslint-disable-next-line @typescript-eslint/no-unsafe-assignment -- vitest types its asymmetric matchers (expect.stringContaining, …) as any
    expect(await greylist.check(triplet, T0 + 5 * MINUTE)).toMatchObject({ outcome: "pass", detail: expect.stringMatching(/passed, first seen 300 s ago/) });
    // Another recipient from the same client and sender is a new triplet.
    expect(await greylist.check({ ...triplet, recipient: "carol@example.org" }, T0 + 5 * MINUTE)).toMatchObject({ outcome: "fail" });
    await greylist.close();
  });

  it("auto-allows a network after enough delivered messages", async () => {
    const greylist = createGreylist(settings({ store: { type: "sqlite", path: join(dir, "greylist.sqlite") } }), flushMustSucceed);
    for (let i = 0; i < 2; i++) greylist.delivered(triplet);
    await greylist.flush();
    expect(await greylist.check({ ...triplet, sender: "new@sender.test" }, T0)).toMatchObject({ outcome: "fail" });
    greylist.delivered({ ...triplet, clientIp: "192.0.2.200" }); // same /24
    await greylist.flush();
    expect(await greylist.check({ ...triplet, sender: "other@sender.test" }, T0)).toMatchObject({
      outcome: "pass",
      detail: "192.0.2.0/24 auto-allowed after 3 delivered messages",
    });
    expect(await greylist.check({ ...triplet, clientIp: "192.0.3.1" }, T0)).toMatchObject({ outcome: "fail" });
    await greylist.close();
  });

  it("keeps the state across restarts of the relay", async () => {
    const path = join(dir, "greylist.sqlite");
    const before = createGreylist(settings({ store: { type: "sqlite", path } }), flushMustSucceed);
    await before.check(triplet, Date.now());
    await before.close();
    const after = createGreylist(settings({ store: { type: "sqlite", path } }), flushMustSucceed);
    expect(await after.check(triplet, Date.now() + 5 * MINUTE)).toMatchObject({ outcome: "pass" });
    await after.close();
  });

  it("answers temporary (451 4.3.0, never a silent pass) when the store fails", async () => {
    const fail = (): Promise<never> => Promise.reject(new Error("disk I/O error"));
    const reported = flushFailures();
    const greylist = createGreylist(settings(), {
      ...reported,
      store: { get: fail, put: fail, incrementClientPasses: fail, clientPasses: fail, close: async () => {} },
    });
    const finding = await greylist.check(triplet, T0);
    // eslint-disable-next-line @typescript-eslint/no-unsafe-assignment -- vitest types its asymmetric matchers (expect.stringContaining, …) as any
    expect(finding).toMatchObject({ outcome: "temporary", reply: { code: 451, enhanced: "4.3.0", text: expect.stringContaining("id=1-1") } });
    expect(finding.detail).toBe("greylist store: disk I/O error");
    greylist.delivered(triplet);
    await greylist.flush();
    // eslint-disable-next-line @typescript-eslint/no-unsafe-assignment -- vitest types its asymmetric matchers (expect.stringContaining, …) as any
    expect(reported.failures).toEqual([{ err: expect.objectContaining({ message: "disk I/O error" }), failure: { networks: 1, kept: 1 } }]);
  });

  it("passes everything without a store when disabled", async () => {
    const greylist = createGreylist(settings({ enabled: false, store: { type: "sqlite", path: join(dir, "never", "x.sqlite") } }), flushMustSucceed);
    expect(await greylist.check(triplet)).toEqual({ check: "greylist", outcome: "pass", detail: "greylisting disabled" });
    greylist.delivered(triplet);
    await greylist.flush();
    await greylist.close();
  });
});

describe("the memo of auto-allowed networks", () => {
  const triplet = { clientIp: "192.0.2.17", sender: "alice@sender.test", recipient: "bob@example.org", id: "1-1" };

  it("answers a network read as auto-allowed from memory, for AUTO_ALLOW_MEMO_MS", async () => {
    const store = new CountingStore();
    store.passes.set("192.0.2.0/24", 3);
    const greylist = createGreylist(settings(), { ...flushMustSucceed, store });
    const autoAllowed = { outcome: "pass", detail: "192.0.2.0/24 auto-allowed after 3 delivered messages" };
    expect(await greylist.check(triplet, T0)).toMatchObject(autoAllowed);
    expect(store.reads).toBe(2); // the count and the triplet, read together
    // The second message from the network, another address, sender and recipient: no read at all.
    expect(await greylist.check({ ...triplet, clientIp: "192.0.2.99", sender: "new@sender.test", recipient: "carol@example.org" }, T0 + 1_000)).toMatchObject(
      autoAllowed,
    );
    expect(await greylist.check(triplet, T0 + AUTO_ALLOW_MEMO_MS - 1)).toMatchObject(autoAllowed);
    expect(store.reads).toBe(2);
    // Expired: read again (and remembered again while the count still allows).
    store.passes.set("192.0.2.0/24", 4);
    expect(await greylist.check(triplet, T0 + AUTO_ALLOW_MEMO_MS)).toMatchObject({ detail: "192.0.2.0/24 auto-allowed after 4 delivered messages" });
    expect(store.reads).toBe(4);
    await greylist.close();
  });

  it("reads the store on every check of a network not auto-allowed", async () => {
    const store = new CountingStore();
    store.passes.set("192.0.2.0/24", 2);
    const greylist = createGreylist(settings(), { ...flushMustSucceed, store });
    expect(await greylist.check(triplet, T0)).toMatchObject({ outcome: "fail" });
    expect(await greylist.check(triplet, T0 + 1_000)).toMatchObject({ outcome: "fail" });
    expect(store.reads).toBe(4);
    await greylist.close();
  });

  it("holds AUTO_ALLOW_MEMO_MAX networks, dropping the oldest", async () => {
    const store = new CountingStore();
    const clientOf = (i: number): string => `10.${i >> 8}.${i & 255}.1`;
    for (let i = 0; i <= AUTO_ALLOW_MEMO_MAX; i++) store.passes.set(clientNetwork(clientOf(i), 24, 64), 3);
    const greylist = createGreylist(settings(), { ...flushMustSucceed, store });
    for (let i = 0; i <= AUTO_ALLOW_MEMO_MAX; i++) await greylist.check({ ...triplet, clientIp: clientOf(i) }, T0);
    const reads = store.reads;
    expect(await greylist.check({ ...triplet, clientIp: clientOf(1) }, T0)).toMatchObject({ outcome: "pass" });
    expect(store.reads).toBe(reads); // still remembered
    expect(await greylist.check({ ...triplet, clientIp: clientOf(0) }, T0)).toMatchObject({ outcome: "pass" });
    expect(store.reads).toBe(reads + 2); // dropped for the newest, read again
    await greylist.close();
  });
});

describe("counting deliveries in batches", () => {
  const triplet = { clientIp: "192.0.2.17", sender: "alice@sender.test", recipient: "bob@example.org" };
  afterEach(() => vi.useRealTimers());

  it("writes N deliveries from a network with one store call of N", async () => {
    const store = new CountingStore();
    const greylist = createGreylist(settings(), { ...flushMustSucceed, store });
    for (let i = 0; i < 4; i++) greylist.delivered({ ...triplet, clientIp: `192.0.2.${10 + i}` });
    greylist.delivered({ ...triplet, clientIp: "2001:db8::1" });
    expect(store.increments).toEqual([]);
    await greylist.flush();
    expect(store.increments).toEqual([
      ["192.0.2.0/24", 4],
      ["2001:db8::/64", 1],
    ]);
    await greylist.flush(); // nothing new: no call
    expect(store.increments).toHaveLength(2);
    await greylist.close();
  });

  it("flushes by itself every FLUSH_INTERVAL_MS, and on close()", async () => {
    vi.useFakeTimers();
    const store = new CountingStore();
    const greylist = createGreylist(settings(), { ...flushMustSucceed, store });
    greylist.delivered(triplet);
    greylist.delivered(triplet);
    await vi.advanceTimersByTimeAsync(FLUSH_INTERVAL_MS - 1);
    expect(store.increments).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(store.increments).toEqual([["192.0.2.0/24", 2]]);
    greylist.delivered(triplet);
    await greylist.close();
    expect(store.increments).toEqual([
      ["192.0.2.0/24", 2],
      ["192.0.2.0/24", 1],
    ]);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("keeps the counts of a failed flush for the next one, and reports the failure", async () => {
    vi.useFakeTimers();
    const store = new CountingStore();
    const reported = flushFailures();
    const greylist = createGreylist(settings(), { ...reported, store });
    store.incrementError = new Error("disk I/O error");
    for (let i = 0; i < 3; i++) greylist.delivered(triplet);
    await greylist.flush();
    expect(reported.failures).toEqual([{ err: store.incrementError, failure: { networks: 1, kept: 1 } }]);
    expect(store.increments).toEqual([]);
    // The store is back; a delivery meanwhile joins the kept counts; the retry flushes by itself.
    store.incrementError = null;
    greylist.delivered(triplet);
    await vi.advanceTimersByTimeAsync(FLUSH_INTERVAL_MS);
    expect(store.increments).toEqual([["192.0.2.0/24", 4]]);
    expect(reported.failures).toHaveLength(1);
    await greylist.close();
  });

  it("reports the counts a failing store loses at close()", async () => {
    const store = new CountingStore();
    const reported = flushFailures();
    const greylist = createGreylist(settings(), { ...reported, store });
    store.incrementError = new Error("disk I/O error");
    greylist.delivered(triplet);
    await greylist.close();
    expect(reported.failures).toEqual([{ err: store.incrementError, failure: { networks: 1, kept: 0 } }]);
  });
});

describe("SqliteGreylistStore", () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "edgemx-greylist-"));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("expires records and counts by their TTL, and deletes expired rows", async () => {
    let now = T0;
    const store = new SqliteGreylistStore(join(dir, "g.sqlite"), { clock: () => now });
    const record: GreylistRecord = { firstSeen: T0, passedAt: null, expiresAt: T0 + 60_000 };
    await store.put("a", record, 60);
    await store.put("b", record, 600);
    expect(await store.get("a")).toEqual(record);
    expect(await store.incrementClientPasses("192.0.2.0/24", 1, 60)).toBe(1);
    expect(await store.incrementClientPasses("192.0.2.0/24", 4, 60)).toBe(5);
    expect(await store.clientPasses("192.0.2.0/24")).toBe(5);
    expect(await store.clientPasses("198.51.100.0/24")).toBe(0);

    now += 60_000;
    expect(await store.get("a")).toBeNull();
    expect(await store.get("b")).toEqual(record);
    expect(await store.clientPasses("192.0.2.0/24")).toBe(0);
    expect(await store.incrementClientPasses("192.0.2.0/24", 3, 60)).toBe(3); // a lapsed count starts over, at the amount
    expect(store.deleteExpired()).toBe(1); // "a"; the count was renewed
    now += 600_000;
    expect(store.deleteExpired()).toBe(2);
    await store.close();
  });

  it("shares its file between two stores (two relay processes on one host)", async () => {
    const path = join(dir, "g.sqlite");
    const [one, two] = [new SqliteGreylistStore(path), new SqliteGreylistStore(path)];
    await one.incrementClientPasses("n", 1, 60);
    await two.incrementClientPasses("n", 2, 60);
    expect(await one.clientPasses("n")).toBe(3);
    await Promise.all([one.close(), two.close()]);
  });

  it("keeps triplets and counts apart, and reads a value that is no record as absent", async () => {
    const path = join(dir, "g.sqlite");
    const store = new SqliteGreylistStore(path);
    await store.put("x", { firstSeen: 1, passedAt: null, expiresAt: 2 }, 60);
    await store.incrementClientPasses("x", 1, 60);
    expect(await store.get("x")).toEqual({ firstSeen: 1, passedAt: null, expiresAt: 2 });
    const raw = new DatabaseSync(path);
    raw.prepare("UPDATE greylist SET value = ? WHERE key = ?").run('{"firstSeen":"soon"}', "triplet:x");
    raw.close();
    expect(await store.get("x")).toBeNull();
    await store.close();
  });
});
