import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { GreylistSettings, GreylistTriplet } from "../../relay-node/src/checks/greylist.ts";
import { clientNetwork, createGreylist, greylistDecision, tripletKey } from "../../relay-node/src/checks/greylist.ts";
import type { GreylistRecord } from "../../relay-node/src/checks/greylist-store.ts";
import { SqliteGreylistStore } from "../../relay-node/src/checks/greylist-store.ts";

const MINUTE = 60_000;
const DAY = 86_400_000;
const T0 = Date.UTC(2026, 0, 1);

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
    const greylist = createGreylist(settings({ store: { type: "sqlite", path: join(dir, "sub", "greylist.sqlite") } }));
    const first = await greylist.check(triplet, T0);
    expect(first).toMatchObject({
      check: "greylist",
      outcome: "fail",
      reply: { code: 451, enhanced: "4.7.1", text: "<Bob@example.org>: Recipient address rejected: Greylisted for 300 seconds, please try again later" },
    });
    expect(first.detail).toMatch(/first seen, deferred for 300 s/);
    const early = await greylist.check({ ...triplet, clientIp: "192.0.2.18", recipient: "bob@EXAMPLE.org" }, T0 + 60_000);
    expect(early).toMatchObject({ outcome: "fail", reply: { text: expect.stringContaining("Greylisted for 240 seconds") } });
    expect(early.detail).toMatch(/retried early/);
    expect(await greylist.check(triplet, T0 + 5 * MINUTE)).toMatchObject({ outcome: "pass", detail: expect.stringMatching(/passed, first seen 300 s ago/) });
    // Another recipient from the same client and sender is a new triplet.
    expect(await greylist.check({ ...triplet, recipient: "carol@example.org" }, T0 + 5 * MINUTE)).toMatchObject({ outcome: "fail" });
    await greylist.close();
  });

  it("auto-allows a network after enough delivered messages", async () => {
    const greylist = createGreylist(settings({ store: { type: "sqlite", path: join(dir, "greylist.sqlite") } }));
    for (let i = 0; i < 2; i++) await greylist.delivered(triplet);
    expect(await greylist.check({ ...triplet, sender: "new@sender.test" }, T0)).toMatchObject({ outcome: "fail" });
    await greylist.delivered({ ...triplet, clientIp: "192.0.2.200" }); // same /24
    expect(await greylist.check({ ...triplet, sender: "other@sender.test" }, T0)).toMatchObject({
      outcome: "pass",
      detail: "192.0.2.0/24 auto-allowed after 3 delivered messages",
    });
    expect(await greylist.check({ ...triplet, clientIp: "192.0.3.1" }, T0)).toMatchObject({ outcome: "fail" });
    await greylist.close();
  });

  it("keeps the state across restarts of the relay", async () => {
    const path = join(dir, "greylist.sqlite");
    const before = createGreylist(settings({ store: { type: "sqlite", path } }));
    await before.check(triplet, Date.now());
    await before.close();
    const after = createGreylist(settings({ store: { type: "sqlite", path } }));
    expect(await after.check(triplet, Date.now() + 5 * MINUTE)).toMatchObject({ outcome: "pass" });
    await after.close();
  });

  it("answers temporary (451 4.3.0, never a silent pass) when the store fails", async () => {
    const fail = async (): Promise<never> => {
      throw new Error("disk I/O error");
    };
    const greylist = createGreylist(settings(), { store: { get: fail, put: fail, incrementClientPasses: fail, clientPasses: fail, close: async () => {} } });
    const finding = await greylist.check(triplet, T0);
    expect(finding).toMatchObject({ outcome: "temporary", reply: { code: 451, enhanced: "4.3.0", text: expect.stringContaining("id=1-1") } });
    expect(finding.detail).toBe("greylist store: disk I/O error");
    await expect(greylist.delivered(triplet)).rejects.toThrow(/disk I\/O error/);
  });

  it("passes everything without a store when disabled", async () => {
    const greylist = createGreylist(settings({ enabled: false, store: { type: "sqlite", path: join(dir, "never", "x.sqlite") } }));
    expect(await greylist.check(triplet)).toEqual({ check: "greylist", outcome: "pass", detail: "greylisting disabled" });
    await greylist.delivered(triplet);
    await greylist.close();
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
    expect(await store.incrementClientPasses("192.0.2.0/24", 60)).toBe(1);
    expect(await store.incrementClientPasses("192.0.2.0/24", 60)).toBe(2);
    expect(await store.clientPasses("192.0.2.0/24")).toBe(2);
    expect(await store.clientPasses("198.51.100.0/24")).toBe(0);

    now += 60_000;
    expect(await store.get("a")).toBeNull();
    expect(await store.get("b")).toEqual(record);
    expect(await store.clientPasses("192.0.2.0/24")).toBe(0);
    expect(await store.incrementClientPasses("192.0.2.0/24", 60)).toBe(1); // a lapsed count starts over
    expect(store.deleteExpired()).toBe(1); // "a"; the count was renewed
    now += 600_000;
    expect(store.deleteExpired()).toBe(2);
    await store.close();
  });

  it("shares its file between two stores (two relay processes on one host)", async () => {
    const path = join(dir, "g.sqlite");
    const [one, two] = [new SqliteGreylistStore(path), new SqliteGreylistStore(path)];
    await one.incrementClientPasses("n", 60);
    await two.incrementClientPasses("n", 60);
    expect(await one.clientPasses("n")).toBe(2);
    await Promise.all([one.close(), two.close()]);
  });

  it("keeps triplets and counts apart, and reads a value that is no record as absent", async () => {
    const path = join(dir, "g.sqlite");
    const store = new SqliteGreylistStore(path);
    await store.put("x", { firstSeen: 1, passedAt: null, expiresAt: 2 }, 60);
    await store.incrementClientPasses("x", 60);
    expect(await store.get("x")).toEqual({ firstSeen: 1, passedAt: null, expiresAt: 2 });
    const raw = new DatabaseSync(path);
    raw.prepare("UPDATE greylist SET value = ? WHERE key = ?").run('{"firstSeen":"soon"}', "triplet:x");
    raw.close();
    expect(await store.get("x")).toBeNull();
    await store.close();
  });
});
