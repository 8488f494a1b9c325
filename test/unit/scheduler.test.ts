// The delivery scheduler with a fake next hop and a fake clock: backoff, partial failures (only the
// failed recipients are retried), DSNs for permanent failures and expiry, none for the null sender.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { OutgoingMessage, RecipientResult } from "../../relay-node/src/queue/deliverer.ts";
import {
  decideAttempt,
  nextAttemptDelay,
  startDelivery,
  type BounceEvent,
  type DeliveryScheduler,
  type RetryPolicy,
} from "../../relay-node/src/queue/scheduler.ts";
import { Spool, type QueueEntry } from "../../relay-node/src/queue/spool.ts";

const T0 = Date.UTC(2025, 10, 27, 19, 0, 0);
const HOUR = 3600_000;
const MESSAGE = Buffer.from("From: alice@sender.example\r\nSubject: report\r\nMessage-ID: <m1@sender.example>\r\n\r\nbody\r\n");
const POLICY: RetryPolicy = { backoff: (attempt) => nextAttemptDelay(attempt, () => 0.5), giveUpAfterSeconds: 5 * 24 * 3600 };

describe("nextAttemptDelay", () => {
  it("doubles from one minute and stops at one hour", () => {
    const middle = () => 0.5;
    expect([1, 2, 3, 4, 5, 6, 7, 8, 20].map((attempt) => nextAttemptDelay(attempt, middle))).toEqual([60, 120, 240, 480, 960, 1920, 3600, 3600, 3600]);
  });

  it("jitters by ±10 %", () => {
    expect(nextAttemptDelay(1, () => 0)).toBeCloseTo(54);
    expect(nextAttemptDelay(1, () => 1)).toBeCloseTo(66);
    expect(nextAttemptDelay(10, () => 1)).toBeCloseTo(3960);
    for (let i = 0; i < 100; i++) expect(nextAttemptDelay(3)).toBeGreaterThanOrEqual(216);
  });
});

function entry(overrides: Partial<QueueEntry> = {}): QueueEntry {
  return {
    id: "0000000000000000AA",
    envelope: { mailFrom: "alice@sender.example", rcptTo: ["a@example.org", "b@example.org"] },
    createdAt: T0,
    size: 10,
    attempts: 0,
    lastAttemptAt: null,
    nextAttemptAt: T0,
    recipients: [
      { rcpt: "a@example.org", status: "pending", reply: null },
      { rcpt: "b@example.org", status: "pending", reply: null },
    ],
    delayWarned: false,
    ...overrides,
  };
}

describe("decideAttempt", () => {
  const rcpts = ["a@example.org", "b@example.org"];

  it("retries the deferred recipient alone and reports the failed one", () => {
    const decision = decideAttempt(
      entry(),
      rcpts,
      [
        { rcpt: "a@example.org", status: "failed", reply: "550 5.1.1 <a@example.org>: no such user", remoteMta: "lmtp.example.org" },
        { rcpt: "b@example.org", status: "deferred", reply: "452 4.2.2 Mailbox full" },
      ],
      T0 + 1000,
      POLICY,
    );
    expect(decision.done).toBe(false);
    expect(decision.record.nextAttemptAt).toBe(T0 + 1000 + 60_000);
    expect(decision.notices).toEqual([
      { rcpt: "a@example.org", action: "failed", status: "5.1.1", reply: "550 5.1.1 <a@example.org>: no such user", remoteMta: "lmtp.example.org" },
    ]);
  });

  it("turns deferrals into failures with 4.4.7 once the message is too old", () => {
    const decision = decideAttempt(
      entry({ attempts: 130 }),
      rcpts,
      rcpts.map((rcpt) => ({ rcpt, status: "deferred", reply: "451 4.4.1 No answer" })),
      T0 + 5 * 24 * HOUR,
      POLICY,
    );
    expect(decision.done).toBe(true);
    expect(decision.notices.map((n) => [n.action, n.status])).toEqual([
      ["failed", "4.4.7"],
      ["failed", "4.4.7"],
    ]);
    expect(decision.record.results.every((r) => r.status === "failed")).toBe(true);
  });

  it("warns once about a delay when configured", () => {
    const policy = { ...POLICY, warnAfterSeconds: 4 * 3600 };
    const deferred = rcpts.map((rcpt): RecipientResult => ({ rcpt, status: "deferred", reply: "451 4.3.0 later" }));
    const first = decideAttempt(entry(), rcpts, deferred, T0 + 4 * HOUR, policy);
    expect(first.notices.map((n) => n.action)).toEqual(["delayed", "delayed"]);
    expect(first.record.delayWarned).toBe(true);
    expect(decideAttempt(entry({ delayWarned: true }), rcpts, deferred, T0 + 5 * HOUR, policy).notices).toEqual([]);
    expect(decideAttempt(entry(), rcpts, deferred, T0 + 3 * HOUR, policy).notices).toEqual([]);
  });

  it("counts a recipient the next hop did not answer for as deferred", () => {
    const decision = decideAttempt(entry(), rcpts, [{ rcpt: "a@example.org", status: "delivered", reply: "250 ok" }], T0, POLICY);
    expect(decision.done).toBe(false);
    expect(decision.record.results).toContainEqual({ rcpt: "b@example.org", status: "deferred", reply: "451 4.3.0 No result from the next hop" });
  });

  it("is done when every recipient was delivered or failed", () => {
    const decision = decideAttempt(
      entry(),
      rcpts,
      [
        { rcpt: "a@example.org", status: "delivered", reply: "250 ok" },
        { rcpt: "b@example.org", status: "failed", reply: "554 5.7.1 no" },
      ],
      T0,
      POLICY,
    );
    expect(decision.done).toBe(true);
  });
});

describe("startDelivery", () => {
  let dir: string;
  let spool: Spool;
  let now: number;
  let scheduler: DeliveryScheduler | undefined;
  let calls: OutgoingMessage[];
  let bounces: BounceEvent[];
  /** Replies by recipient for the fake next hop; a function for the ones that change. */
  let replies: Record<string, string | (() => string)>;

  const fakeNextHop = (message: OutgoingMessage): Promise<RecipientResult[]> => {
    calls.push(message);
    return Promise.resolve(
      message.envelope.rcptTo.map((rcpt) => {
        const reply = replies[rcpt] ?? "250 2.0.0 Ok";
        const text = typeof reply === "function" ? reply() : reply;
        const status = text.startsWith("2") ? "delivered" : text.startsWith("5") ? "failed" : "deferred";
        return { rcpt, status, reply: text, remoteMta: "mailbox.example.org" };
      }),
    );
  };

  function start(overrides: { concurrency?: number; deliverer?: typeof fakeNextHop } = {}): DeliveryScheduler {
    scheduler = startDelivery(spool, overrides.deliverer ?? fakeNextHop, {
      hostname: "mx.example.org",
      concurrency: overrides.concurrency ?? 4,
      backoff: POLICY.backoff,
      pollIntervalMs: HOUR,
      now: () => now,
      onBounce: (event) => bounces.push(event),
    });
    return scheduler;
  }

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "edgemx-scheduler-"));
    spool = await Spool.open(dir);
    now = T0;
    calls = [];
    bounces = [];
    replies = {};
  });
  afterEach(async () => {
    await scheduler?.stop();
    scheduler = undefined;
    await rm(dir, { recursive: true, force: true });
  });

  it("retries only the failed recipients of a partial failure, after the backoff, and bounces the permanent one", async () => {
    let carolTries = 0;
    replies = {
      "dave@example.org": "550 5.1.1 <dave@example.org>: Recipient address rejected",
      "carol@example.org": () => (++carolTries === 1 ? "450 4.2.1 Mailbox busy" : "250 2.0.0 Ok"),
    };
    const id = await spool.enqueue(
      { envelope: { mailFrom: "alice@sender.example", rcptTo: ["bob@example.org", "carol@example.org", "dave@example.org"] }, message: MESSAGE },
      now,
    );
    const delivery = start();
    await delivery.idle();

    // First attempt to all three, then the DSN about dave to alice, from the null sender.
    expect(calls.map((c) => [c.envelope.mailFrom, c.envelope.rcptTo])).toEqual([
      ["alice@sender.example", ["bob@example.org", "carol@example.org", "dave@example.org"]],
      ["", ["alice@sender.example"]],
    ]);
    const dsn = Buffer.from(calls[1]!.message).toString();
    expect(dsn).toContain("Final-Recipient: rfc822; dave@example.org");
    expect(dsn).toContain("Status: 5.1.1");
    expect(dsn).not.toContain("carol@example.org");
    expect(bounces).toEqual([{ id, dsnId: calls[1]!.id, recipients: [expect.objectContaining({ rcpt: "dave@example.org", action: "failed" })] }]);
    expect(spool.get(id)).toMatchObject({ attempts: 1, nextAttemptAt: T0 + 60_000 });
    expect(spool.get(id)!.recipients.map((r) => r.status)).toEqual(["delivered", "pending", "failed"]);

    // Not due yet: nothing happens.
    now = T0 + 59_000;
    await delivery.idle();
    expect(calls).toHaveLength(2);

    now = T0 + 60_000;
    await delivery.idle();
    expect(calls[2]!.envelope.rcptTo).toEqual(["carol@example.org"]);
    expect(spool.list()).toEqual([]);
  });

  it("gives up after five days of deferrals with a 'delivery time expired' DSN and removes the message", async () => {
    replies = { "bob@example.org": "451 4.3.0 Temporary lookup failure" };
    const id = await spool.enqueue({ envelope: { mailFrom: "alice@sender.example", rcptTo: ["bob@example.org"] }, message: MESSAGE }, now);
    const delivery = start();
    await delivery.idle();
    let attempts = 1;
    while (spool.get(id)) {
      now = spool.get(id)!.nextAttemptAt;
      delivery.notify();
      await delivery.idle();
      attempts++;
    }
    // 1, 2, 4 … 32 minutes, then hourly: the 5 days are up after about 125 attempts.
    expect(attempts).toBeGreaterThan(100);
    expect(now - T0).toBeGreaterThanOrEqual(5 * 24 * HOUR);
    expect(bounces).toHaveLength(1);
    expect(bounces[0]!.recipients).toEqual([
      { rcpt: "bob@example.org", action: "failed", status: "4.4.7", reply: "451 4.3.0 Temporary lookup failure", remoteMta: "mailbox.example.org" },
    ]);
    const dsn = Buffer.from(calls.at(-1)!.message).toString();
    expect(calls.at(-1)!.envelope).toEqual({ mailFrom: "", rcptTo: ["alice@sender.example"] });
    expect(dsn).toContain("Action: failed");
    expect(dsn).toContain("Diagnostic-Code: smtp; 451 4.3.0 Temporary lookup failure");
  });

  it("sends no DSN about a message from the null sender, and removes it", async () => {
    replies = { "alice@sender.example": "550 5.1.1 <alice@sender.example>: unknown" };
    const id = await spool.enqueue({ envelope: { mailFrom: "", rcptTo: ["alice@sender.example"] }, message: MESSAGE }, now);
    await start().idle();
    expect(calls).toHaveLength(1);
    expect(bounces).toEqual([{ id, dsnId: null, recipients: [expect.objectContaining({ rcpt: "alice@sender.example", status: "5.1.1" })] }]);
    expect(spool.list()).toEqual([]);
  });

  it("counts a next hop that throws as a deferral of every recipient", async () => {
    const id = await spool.enqueue({ envelope: { mailFrom: "alice@sender.example", rcptTo: ["bob@example.org"] }, message: MESSAGE }, now);
    await start({ deliverer: () => Promise.reject(new Error("socket exploded")) }).idle();
    expect(spool.get(id)!.recipients[0]).toEqual({ rcpt: "bob@example.org", status: "pending", reply: "451 4.3.0 Next hop error: socket exploded" });
    expect(spool.get(id)!.nextAttemptAt).toBe(T0 + 60_000);
  });

  it("keeps at most `concurrency` deliveries in flight and delivers everything", async () => {
    let inFlight = 0;
    let maxInFlight = 0;
    const slowNextHop = async (message: OutgoingMessage) => {
      maxInFlight = Math.max(maxInFlight, ++inFlight);
      await new Promise((resolve) => setTimeout(resolve, 5));
      inFlight--;
      return fakeNextHop(message);
    };
    for (let i = 0; i < 20; i++) await spool.enqueue({ envelope: { mailFrom: "alice@sender.example", rcptTo: [`r${i}@example.org`] }, message: MESSAGE }, now);
    await start({ concurrency: 3, deliverer: slowNextHop }).idle();
    expect(calls).toHaveLength(20);
    expect(maxInFlight).toBe(3);
    expect(spool.list()).toEqual([]);
  });

  it("wakes up on notify() for a message enqueued while it waits", async () => {
    const delivery = start();
    await delivery.idle();
    await spool.enqueue({ envelope: { mailFrom: "alice@sender.example", rcptTo: ["bob@example.org"] }, message: MESSAGE }, now);
    delivery.notify();
    await delivery.idle();
    expect(calls).toHaveLength(1);
  });

  it("delivers again after a restart what was in flight when the process stopped (at-least-once)", async () => {
    const delivered: string[] = [];
    const hangingNextHop = async (message: OutgoingMessage): Promise<RecipientResult[]> => {
      delivered.push(...message.envelope.rcptTo);
      return new Promise(() => {}); // the mailbox host took it; the process dies before the reply is recorded
    };
    const id = await spool.enqueue({ envelope: { mailFrom: "alice@sender.example", rcptTo: ["bob@example.org"] }, message: MESSAGE }, now);
    const first = startDelivery(spool, hangingNextHop, { hostname: "mx.example.org", concurrency: 1, now: () => now, drainTimeoutMs: 10 });
    await new Promise((resolve) => setTimeout(resolve, 20));
    await first.stop();

    spool = await Spool.open(dir);
    expect(spool.get(id)!.nextAttemptAt).toBeLessThanOrEqual(now);
    await start().idle();
    delivered.push(...calls.flatMap((c) => c.envelope.rcptTo));
    expect(delivered).toEqual(["bob@example.org", "bob@example.org"]); // one duplicate, no loss
    expect(spool.list()).toEqual([]);
  });

  it("stop() waits for deliveries in flight and starts no new ones", async () => {
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let finished = 0;
    const heldNextHop = async (message: OutgoingMessage) => {
      await held;
      finished++;
      return fakeNextHop(message);
    };
    await spool.enqueue({ envelope: { mailFrom: "alice@sender.example", rcptTo: ["bob@example.org"] }, message: MESSAGE }, now);
    const delivery = start({ deliverer: heldNextHop });
    await new Promise((resolve) => setTimeout(resolve, 20));
    const stopped = delivery.stop();
    await spool.enqueue({ envelope: { mailFrom: "alice@sender.example", rcptTo: ["carol@example.org"] }, message: MESSAGE }, now);
    delivery.notify();
    release();
    await stopped;
    expect(finished).toBe(1);
    expect(spool.list().map((e) => e.envelope.rcptTo)).toEqual([["carol@example.org"]]);
  });
});
