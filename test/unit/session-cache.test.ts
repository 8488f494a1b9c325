import { EventEmitter } from "node:events";
import type SMTPConnection from "nodemailer/lib/smtp-connection";
import { afterEach, describe, expect, it, vi } from "vitest";
import { mxSessionKey, type TlsRequirement } from "../../relay-node/src/deliver/remote.ts";
import {
  DEFAULT_SESSION_CACHE_LIMITS,
  idleToClose,
  mayReuse,
  SessionCache,
  type CachedSession,
  type SessionCacheLimits,
} from "../../relay-node/src/deliver/session-cache.ts";
import type { TlsOffer } from "../../relay-node/src/deliver/transaction.ts";
import type { TlsPolicyFacts } from "../../relay-node/src/tlsrpt/counts.ts";

const limits = (overrides: Partial<SessionCacheLimits> = {}): SessionCacheLimits => ({
  ...DEFAULT_SESSION_CACHE_LIMITS,
  maxIdle: 10,
  maxIdlePerDestination: 3,
  maxOpenPerDestination: 5,
  ...overrides,
});

describe("mayReuse", () => {
  it("allows another transaction below the transaction count and the lifetime, not at them", () => {
    const policy = { maxTransactions: 3, maxLifetimeMs: 300_000 };
    expect(mayReuse({ openedAt: 0, transactions: 2 }, 299_999, policy)).toBe(true);
    expect(mayReuse({ openedAt: 0, transactions: 3 }, 1, policy)).toBe(false);
    expect(mayReuse({ openedAt: 0, transactions: 1 }, 300_000, policy)).toBe(false);
  });

  it("by default follows Postfix's connection reuse time limit of 300 s", () => {
    expect(mayReuse({ openedAt: 1000, transactions: 1 }, 1000 + 299_000, DEFAULT_SESSION_CACHE_LIMITS)).toBe(true);
    expect(mayReuse({ openedAt: 1000, transactions: 1 }, 1000 + 300_000, DEFAULT_SESSION_CACHE_LIMITS)).toBe(false);
    expect(DEFAULT_SESSION_CACHE_LIMITS.idleMs).toBeLessThan(30_000);
  });
});

describe("idleToClose", () => {
  const idle = (destination: string, idleSince: number) => ({ destination, idleSince });

  it("closes nothing within the limits", () => {
    expect(idleToClose([idle("a.test", 1), idle("a.test", 2), idle("b.test", 3)], new Map(), limits())).toEqual([]);
  });

  it("keeps at most maxIdlePerDestination per destination, closing the longest idle", () => {
    const sessions = [idle("a.test", 4), idle("a.test", 1), idle("a.test", 3), idle("a.test", 2), idle("b.test", 0)];
    expect(idleToClose(sessions, new Map(), limits())).toEqual([idle("a.test", 1)]);
  });

  it("keeps at most maxIdle in all, the longest idle going first whatever its destination", () => {
    const sessions = [idle("a.test", 5), idle("b.test", 1), idle("c.test", 3), idle("d.test", 2)];
    expect(idleToClose(sessions, new Map(), limits({ maxIdle: 2 }))).toEqual([idle("b.test", 1), idle("d.test", 2)]);
  });

  it("holds the per-destination limit: idle and in-use sessions together at most maxOpenPerDestination", () => {
    const sessions = [idle("a.test", 1), idle("a.test", 2), idle("b.test", 3)];
    // 4 in use and 2 idle to a.test make 6 > 5: the longest idle one goes; b.test has none in use.
    expect(idleToClose(sessions, new Map([["a.test", 4]]), limits())).toEqual([idle("a.test", 1)]);
    expect(idleToClose(sessions, new Map([["a.test", 5]]), limits())).toEqual([idle("a.test", 1), idle("a.test", 2)]);
    expect(idleToClose(sessions, new Map([["a.test", 3]]), limits())).toEqual([]);
  });
});

describe("mxSessionKey", () => {
  const rpt: TlsPolicyFacts = { type: "no-policy-found", domain: "example.test", policyString: [], mxHost: [] };
  const base = { ip: "192.0.2.1", port: 25, host: "mx.example.test", domain: "example.test", offer: "modern" as TlsOffer, rpt };
  const key = (requirement: TlsRequirement, changes: Partial<typeof base> = {}) => mxSessionKey({ ...base, requirement, ...changes });
  const opportunistic: TlsRequirement = { kind: "opportunistic", reportWebpki: false };
  const daneRecord = (byte: number) => ({ usage: 3, selector: 1, matchingType: 1, data: new Uint8Array([byte, 2, 3]) });

  it("is the same for the same host, port, domain, offer and requirement", () => {
    expect(key(opportunistic)).toBe(key({ kind: "opportunistic", reportWebpki: false }));
    expect(key({ kind: "dane", records: [daneRecord(1)] })).toBe(key({ kind: "dane", records: [daneRecord(1)] }));
  });

  it("differs whenever the TLS decision could: another requirement, other TLSA records, another offer or policy", () => {
    const keys = [
      key(opportunistic),
      key({ kind: "opportunistic", reportWebpki: true }),
      key({ kind: "webpki", reason: "mandatory-tls" }),
      key({ kind: "webpki", reason: "mta-sts" }),
      key({ kind: "encrypt", reason: "TLSA records published, none usable (RFC 7672 §2.2)" }),
      key({ kind: "dane", records: [daneRecord(1)] }),
      key({ kind: "dane", records: [daneRecord(9)] }),
      key(opportunistic, { offer: "legacy" }),
      key(opportunistic, { rpt: { type: "sts", domain: "example.test", policyString: ["version: STSv1", "mode: testing"], mxHost: [] } }),
    ];
    expect(new Set(keys).size).toBe(keys.length);
  });

  it("differs for another address, port, MX name or recipient domain", () => {
    const keys = [
      key(opportunistic),
      key(opportunistic, { ip: "192.0.2.2" }),
      key(opportunistic, { port: 2525 }),
      key(opportunistic, { host: "mx2.example.test" }),
      key(opportunistic, { domain: "other.test" }),
    ];
    expect(new Set(keys).size).toBe(keys.length);
  });
});

/** A stand-in for nodemailer's SMTPConnection: QUIT ends it on the next turn, as a server's 221 would. */
class FakeConnection extends EventEmitter {
  destroyed = false;
  quits = 0;

  quit(): void {
    this.quits++;
    setImmediate(() => this.close());
  }

  close(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.emit("end");
  }
}

function session(key: string, transactions = 1): CachedSession & { fake: FakeConnection } {
  const fake = new FakeConnection();
  return { connection: fake as unknown as SMTPConnection, key, openedAt: Date.now(), transactions, fake };
}

describe("SessionCache", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("hands a checked-in session to the next checkOut of its key only", async () => {
    const cache = new SessionCache();
    const kept = session("k1");
    expect(cache.checkOut("k1", "a.test")).toBeUndefined();
    cache.checkIn(kept, "a.test");
    expect(cache.idle).toBe(1);
    expect(cache.checkOut("k2", "a.test")).toBeUndefined();
    cache.release("a.test");
    expect(cache.checkOut("k1", "a.test")).toBe(kept);
    expect(cache.idle).toBe(0);
    cache.checkIn(kept, "a.test");
    await cache.close();
    expect(kept.fake.quits).toBe(1);
  });

  it("closes a session at its transaction limit instead of keeping it", async () => {
    const cache = new SessionCache({ maxTransactions: 2 });
    const used = session("k", 2);
    cache.checkOut("k", "a.test");
    cache.checkIn(used, "a.test");
    expect(cache.idle).toBe(0);
    expect(used.fake.quits).toBe(1);
    await cache.close();
  });

  it("closes the longest idle session of a destination to make room for a new one within maxOpenPerDestination", async () => {
    const cache = new SessionCache({ maxOpenPerDestination: 2 });
    const [first, second] = [session("mx1"), session("mx2")];
    cache.checkOut("mx1", "a.test");
    cache.checkOut("mx2", "a.test");
    cache.checkIn(first, "a.test");
    cache.checkIn(second, "a.test");
    expect(cache.idle).toBe(2);
    // A session to a third MX host of a.test is about to open: one of the two idle ones must go.
    expect(cache.checkOut("mx3", "a.test")).toBeUndefined();
    expect(cache.idle).toBe(1);
    expect(first.fake.quits).toBe(1);
    expect(second.fake.quits).toBe(0);
    cache.release("a.test");
    await cache.close();
  });

  it("forgets a session the server closed while idle, and closes one idle for idleMs", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    const cache = new SessionCache({ idleMs: 2000 });
    const [closedByServer, expiring] = [session("k1"), session("k2")];
    cache.checkOut("k1", "a.test");
    cache.checkOut("k2", "b.test");
    cache.checkIn(closedByServer, "a.test");
    cache.checkIn(expiring, "b.test");
    closedByServer.fake.close();
    expect(cache.idle).toBe(1);
    expect(cache.checkOut("k1", "a.test")).toBeUndefined();
    cache.release("a.test");
    vi.advanceTimersByTime(2000);
    expect(cache.idle).toBe(0);
    expect(expiring.fake.quits).toBe(1);
    vi.useRealTimers();
    await cache.close();
  });

  it("after close(), quits every idle session and waits for them, and quits what is checked in later", async () => {
    const cache = new SessionCache();
    const [idle, late] = [session("k1"), session("k2")];
    cache.checkOut("k1", "a.test");
    cache.checkOut("k2", "a.test");
    cache.checkIn(idle, "a.test");
    await cache.close();
    expect(idle.fake.destroyed).toBe(true);
    cache.checkIn(late, "a.test");
    expect(cache.idle).toBe(0);
    expect(late.fake.quits).toBe(1);
  });
});
