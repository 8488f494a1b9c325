// Delivery before the reply (relay-node/src/deliver/direct.ts): which messages go straight to the
// Maildir, and what reaches the spool when the Maildir does not take every copy.
import { describe, expect, it } from "vitest";
import { deliverBeforeReply, undelivered, type DirectDelivery } from "../../relay-node/src/deliver/direct.ts";
import type { OutgoingMessage, RecipientResult } from "../../relay-node/src/queue/deliverer.ts";
import type { EnqueueRequest } from "../../relay-node/src/queue/spool.ts";

const MESSAGE = Buffer.from("Subject: hi\r\n\r\nHello.\r\n");
const ID = "019AC6F0B8C0ABCDEF";

/** A DirectDelivery over fakes: the Maildir answers per recipient from `answers` (delivered when unnamed). */
function fakes(answers: Record<string, RecipientResult["status"]> = {}, options: { rejects?: boolean; lost?: boolean } = {}) {
  const delivered: OutgoingMessage[] = [];
  const spooled: EnqueueRequest[] = [];
  const attempts: Parameters<NonNullable<DirectDelivery["onAttempt"]>>[0][] = [];
  const direct: DirectDelivery = {
    isDirect: (rcpt) => rcpt.endsWith("@example.org"),
    deliver: (message) => {
      delivered.push(message);
      if (options.rejects) return Promise.reject(new Error("a bug"));
      return Promise.resolve(
        message.envelope.rcptTo.map((rcpt) => {
          const status = answers[rcpt] ?? "delivered";
          return { rcpt, status, reply: status === "delivered" ? "250 2.0.0 delivered" : "452 4.3.1 Mail system full (ENOSPC)" };
        }),
      );
    },
    enqueue: (request) => {
      spooled.push(request);
      return Promise.resolve(request.id ?? "made by the spool");
    },
    assertHeld: () => {
      if (options.lost) throw new Error("this relay no longer holds the spool");
    },
    onAttempt: (attempt) => attempts.push(attempt),
  };
  return { direct, delivered, spooled, attempts };
}

const request = (rcptTo: string[]): EnqueueRequest => ({ id: ID, envelope: { mailFrom: "alice@sender.test", rcptTo }, message: MESSAGE });

describe("delivery before the reply", () => {
  it("writes a message for our Maildirs there and nothing into the spool", async () => {
    const { direct, delivered, spooled, attempts } = fakes();
    await expect(deliverBeforeReply(direct)(request(["a@example.org", "b@example.org", "a@example.org"]), { session: "s1" })).resolves.toBe(ID);
    expect(delivered).toEqual([
      { id: ID, envelope: { mailFrom: "alice@sender.test", rcptTo: ["a@example.org", "b@example.org"] }, message: MESSAGE, attempts: 0 },
    ]);
    expect(spooled).toEqual([]);
    expect(attempts).toMatchObject([
      {
        id: ID,
        session: "s1",
        done: true,
        results: [
          { rcpt: "a@example.org", status: "delivered" },
          { rcpt: "b@example.org", status: "delivered" },
        ],
      },
    ]);
  });

  it("spools the recipients the Maildir did not take, under the same id, before it resolves", async () => {
    const { direct, spooled, attempts } = fakes({ "b@example.org": "deferred" });
    await expect(deliverBeforeReply(direct)(request(["a@example.org", "b@example.org"]))).resolves.toBe(ID);
    expect(spooled).toEqual([{ id: ID, envelope: { mailFrom: "alice@sender.test", rcptTo: ["b@example.org"] }, message: MESSAGE }]);
    expect(attempts[0]?.results.map((result) => result.status)).toEqual(["delivered", "deferred"]);
  });

  it("spools a message whole when any recipient is not ours, without delivering it", async () => {
    const { direct, delivered, spooled } = fakes();
    await deliverBeforeReply(direct)(request(["a@example.org", "c@elsewhere.test"]));
    expect(delivered).toEqual([]);
    expect(spooled).toEqual([request(["a@example.org", "c@elsewhere.test"])]);
  });

  it("spools every recipient when the deliverer rejects", async () => {
    const { direct, spooled, attempts } = fakes({}, { rejects: true });
    await deliverBeforeReply(direct)(request(["a@example.org", "b@example.org"]));
    expect(spooled.map((r) => r.envelope.rcptTo)).toEqual([["a@example.org", "b@example.org"]]);
    expect(attempts).toMatchObject([{ done: false, results: [{ status: "deferred", reply: "451 4.3.0 Next hop error: a bug" }, { status: "deferred" }] }]);
  });

  it("takes nothing once the relay lost its spool", async () => {
    const { direct, delivered, spooled } = fakes({}, { lost: true });
    await expect(deliverBeforeReply(direct)(request(["a@example.org"]))).rejects.toThrow(/no longer holds the spool/);
    expect(delivered).toEqual([]);
    expect(spooled).toEqual([]);
  });

  it("names the recipients left undelivered, failed ones too (the scheduler bounces them)", () => {
    const results: RecipientResult[] = [
      { rcpt: "a@example.org", status: "delivered", reply: "250" },
      { rcpt: "b@example.org", status: "failed", reply: "550" },
    ];
    expect(undelivered(["a@example.org", "b@example.org", "c@example.org"], results)).toEqual(["b@example.org", "c@example.org"]);
  });
});
