import { describe, expect, it } from "vitest";
import { connectionLevelDeferral, limitByDestination, restingReply, restUntil } from "../../relay-node/src/deliver/destination-limits.ts";
import type { Deliverer, OutgoingMessage, RecipientResult } from "../../relay-node/src/queue/deliverer.ts";

const message = (rcptTo: string[], attempts = 0): OutgoingMessage => ({
  id: "q1",
  envelope: { mailFrom: "a@ours.test", rcptTo },
  message: new Uint8Array(),
  attempts,
});
const domainOf = (rcpt: string): string => rcpt.slice(rcpt.lastIndexOf("@") + 1);
const tick = (ms = 0): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A fake remote deliverer: counts open sessions per domain, answers with `reply(domain)` after `delayMs`. */
function fakeInner(reply: (domain: string) => string, delayMs = 5) {
  const open = new Map<string, number>();
  const peak = new Map<string, number>();
  const calls: string[] = [];
  const deliver: Deliverer = async (m) => {
    const domain = domainOf(m.envelope.rcptTo[0]!);
    calls.push(domain);
    open.set(domain, (open.get(domain) ?? 0) + 1);
    peak.set(domain, Math.max(peak.get(domain) ?? 0, open.get(domain)!));
    await tick(delayMs);
    open.set(domain, open.get(domain)! - 1);
    const text = reply(domain);
    const status: RecipientResult["status"] = text.startsWith("2") ? "delivered" : text.startsWith("5") ? "failed" : "deferred";
    return m.envelope.rcptTo.map((rcpt) => ({ rcpt, status, reply: text }));
  };
  return { deliver, peak, calls };
}

describe("connectionLevelDeferral", () => {
  it("tells connection failures from per-recipient 4xx", () => {
    const d = (reply: string, status: RecipientResult["status"] = "deferred"): RecipientResult => ({ rcpt: "x@y", status, reply });
    expect(connectionLevelDeferral([d("451 4.4.1 No answer from mx.y: ECONNREFUSED"), d("451 4.4.1 No answer from mx.y: ECONNREFUSED")])).toBe(true);
    expect(connectionLevelDeferral([d("421 4.3.2 Service shutting down")])).toBe(true);
    expect(connectionLevelDeferral([d("451 4.7.5 DANE: mx.y: tlsa-invalid (no match)")])).toBe(true);
    expect(connectionLevelDeferral([d("451 4.4.3 MX lookup for y failed (timeout): ")])).toBe(true);
    expect(connectionLevelDeferral([d("450 4.2.1 <x@y>: mailbox busy")])).toBe(false);
    expect(connectionLevelDeferral([d("451 4.4.1 No answer"), d("250 2.0.0 Ok", "delivered")])).toBe(false);
    expect(connectionLevelDeferral([d("550 5.1.1 unknown", "failed")])).toBe(false);
    expect(connectionLevelDeferral([])).toBe(false);
  });
});

describe("restUntil", () => {
  it("is the smaller of the maximal rest and the message's own next attempt", () => {
    expect(restUntil(1000, 300_000)).toBe(301_000);
    expect(restUntil(1000, 300_000, 54_000)).toBe(55_000);
    expect(restUntil(1000, 300_000, 3_240_000)).toBe(301_000);
    expect(restUntil(1000, 300_000, -5)).toBe(1000);
  });
});

describe("limitByDestination", () => {
  it("never opens more than N sessions to one domain while other domains proceed", async () => {
    const inner = fakeInner(() => "250 2.0.0 Ok", 20);
    const limited = limitByDestination(inner.deliver, { maxSessionsPerDomain: 2 });
    const busy = Array.from({ length: 7 }, (_, i) => limited(message([`u${i}@busy.test`])));
    await tick(1);
    expect(limited.sessions("busy.test")).toBe(2);
    // Another domain is not held up by the busy one's queue.
    const other = await limited(message(["v@other.test"]));
    expect(other[0]!.status).toBe("delivered");
    expect(limited.sessions("busy.test")).toBe(2);
    const results = (await Promise.all(busy)).flat();
    expect(results.every((r) => r.status === "delivered")).toBe(true);
    expect(inner.peak.get("busy.test")).toBe(2);
    expect(limited.sessions("busy.test")).toBe(0);
  });

  it("splits a message by domain, each under its own limit", async () => {
    const inner = fakeInner(() => "250 2.0.0 Ok");
    const limited = limitByDestination(inner.deliver, { maxSessionsPerDomain: 1 });
    const results = await limited(message(["a@one.test", "b@two.test", "c@one.test"]));
    expect(results.map((r) => r.rcpt).sort()).toEqual(["a@one.test", "b@two.test", "c@one.test"]);
    expect(inner.calls.sort()).toEqual(["one.test", "two.test"]);
  });

  it("defers after a bounded wait for a slot", async () => {
    const inner = fakeInner(() => "250 2.0.0 Ok", 100);
    const limited = limitByDestination(inner.deliver, { maxSessionsPerDomain: 1, slotWaitMs: 10 });
    const [first, second] = await Promise.all([limited(message(["a@slow.test"])), limited(message(["b@slow.test"]))]);
    expect(first[0]!.status).toBe("delivered");
    expect(second[0]).toEqual({ rcpt: "b@slow.test", status: "deferred", reply: "451 4.4.5 slow.test: too many concurrent sessions, will retry" });
    expect(inner.calls).toEqual(["slow.test"]);
  });

  it("rests a domain after a connection failure: no connects until it expires, then a success clears it", async () => {
    let clock = 1_000_000;
    let up = false;
    const inner = fakeInner(() => (up ? "250 2.0.0 Ok" : "451 4.4.1 No answer from mx.down.test: ECONNREFUSED"), 1);
    const limited = limitByDestination(inner.deliver, { maxSessionsPerDomain: 5, now: () => clock, retryInMs: (attempt) => attempt * 60_000 });
    const first = await limited(message(["a@down.test"], 1)); // its 2nd attempt: next in 2 min
    expect(first[0]!.status).toBe("deferred");
    expect(limited.restingUntil("down.test")).toBe(clock + 120_000);
    // Other messages to the resting domain are deferred without a session; other domains are untouched.
    const skipped = await limited(message(["b@down.test", "c@down.test", "d@fine.test"]));
    expect(skipped.filter((r) => r.rcpt.endsWith("@down.test")).map((r) => r.reply)).toEqual([restingReply("down.test"), restingReply("down.test")]);
    expect(restingReply("down.test")).toBe("451 4.4.1 down.test: resting after a connection failure, will retry");
    expect(inner.calls).toEqual(["down.test", "fine.test"]);
    // The rest is capped at 5 minutes.
    clock += 120_000;
    up = false;
    await limited(message(["e@down.test"], 9));
    expect(limited.restingUntil("down.test")).toBe(clock + 300_000);
    // Expired: the next delivery connects, and its success clears the rest.
    clock += 300_000;
    up = true;
    expect((await limited(message(["f@down.test"])))[0]!.status).toBe("delivered");
    expect(limited.restingUntil("down.test")).toBeUndefined();
    expect(inner.calls.filter((d) => d === "down.test")).toHaveLength(3);
  });

  it("does not rest a domain over per-recipient 4xx replies", async () => {
    const inner = fakeInner(() => "450 4.2.1 mailbox busy");
    const limited = limitByDestination(inner.deliver, { maxSessionsPerDomain: 5 });
    await limited(message(["a@busy.test"]));
    expect(limited.restingUntil("busy.test")).toBeUndefined();
    await limited(message(["b@busy.test"]));
    expect(inner.calls).toEqual(["busy.test", "busy.test"]);
  });

  it("puts waiters to rest when the session they waited for failed to connect", async () => {
    const inner = fakeInner(() => "421 4.3.2 Service not available", 10);
    const limited = limitByDestination(inner.deliver, { maxSessionsPerDomain: 1 });
    const results = (await Promise.all([limited(message(["a@x.test"])), limited(message(["b@x.test"]))])).flat();
    expect(results.map((r) => r.reply)).toEqual(["421 4.3.2 Service not available", restingReply("x.test")]);
    expect(inner.calls).toEqual(["x.test"]);
  });
});
