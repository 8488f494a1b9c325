// Delivery before the reply (relay.nextHop.deliverBeforeReply, relay-node/src/deliver/direct.ts) through
// the real relay: an SMTP session from the harness's authorized sender, the relay on loopback with its
// real DNS, and a Maildir in a temp folder. The copy is in new/ when the 250 comes, the spool never
// holds it, and the session's story (`npm run why`) tells the delivery; a Maildir that cannot be
// written sends the message through the spool instead, still answered 250 and delivered once the
// folder can be made.
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, inject, it } from "vitest";
import { renderStory, StoryCollector } from "../../relay-node/src/log/story.ts";
import { LOCAL, maildirMessages, relayDocument, startTestRelay, testMessage, type TestRelay } from "../harness/relay.ts";
import { openSmtp } from "../harness/smtp-client.ts";
import { TEST_DNS } from "../harness/zones.ts";

const harness = inject("harness");
const dir = mkdtempSync(join(tmpdir(), "edgemx-deliver-before-reply-"));
let runs = 0;

afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function relayWith(deliverBeforeReply: boolean): Promise<TestRelay> {
  const folder = join(dir, String(++runs));
  mkdirSync(folder);
  return startTestRelay(relayDocument(folder, harness.dnsPort, { nextHop: { type: "maildir", path: join(folder, "Maildir"), deliverBeforeReply } }));
}

/** One message from the sender the harness authorizes; the reply to its final dot. */
async function send(port: number, subject: string): Promise<string> {
  const smtp = await openSmtp(port, { localAddress: TEST_DNS.sender.authorizedIp });
  try {
    await smtp.reply();
    await smtp.command(`EHLO ${TEST_DNS.sender.mailHost}`);
    expect(await smtp.command(`MAIL FROM:<bob@${TEST_DNS.sender.domain}>`)).toMatch(/^250 /);
    expect(await smtp.command(`RCPT TO:<${LOCAL.mailbox}>`)).toMatch(/^250 /);
    expect(await smtp.command("DATA")).toMatch(/^354 /);
    return await smtp.command(testMessage({ subject }) + ".");
  } finally {
    smtp.close();
  }
}

const queueIdOf = (reply: string): string => /queued as ([0-9A-F]{18})$/.exec(reply)?.[1] ?? "";
const spoolFiles = (test: TestRelay): string[] => readdirSync(join(test.config.relay.spool, "queue"));
const maildir = (test: TestRelay): string => test.maildir!;

describe("delivery before the reply", () => {
  it("has the copy in new/ when the 250 comes, never in the spool, and the session's story tells it", async () => {
    const test = await relayWith(true);
    try {
      const reply = await send(test.port, "straight in");
      expect(reply).toMatch(/^250 2\.0\.0 Ok: queued as [0-9A-F]{18}$/);
      // No wait for the scheduler: the copy was on disk before the reply.
      const copies = maildirMessages(maildir(test), LOCAL.mailbox);
      expect(copies).toHaveLength(1);
      expect(copies[0]).toContain("Subject: straight in");
      expect(copies[0]).toMatch(/^Return-Path: <bob@sender\.test>\r\nDelivered-To: alice@example\.org\r\n/);
      expect(test.relay.spool.list()).toEqual([]);
      expect(spoolFiles(test)).toEqual([]);
      const id = queueIdOf(reply);
      const attempt = test.logs.find((line) => line.msg === "delivery attempt" && line.queueId === id);
      expect(attempt).toMatchObject({ attempt: 1, done: true, beforeReply: true, results: [{ rcpt: LOCAL.mailbox, status: "delivered" }] });
      const collector = new StoryCollector(id);
      for (const line of test.logs) collector.add(JSON.stringify(line));
      const [story] = collector.result().stories;
      expect(story?.session).toBe(attempt?.session);
      expect(renderStory(story!)).toContain(`delivery attempt 1 of ${id} (done)\n`);
    } finally {
      await test.relay.stop();
    }
  });

  it("spools what the Maildir does not take, answers 250, and delivers it from the spool later", async () => {
    const test = await relayWith(true);
    try {
      // The domain's folder cannot be made: a file has its name.
      mkdirSync(maildir(test), { recursive: true });
      writeFileSync(join(maildir(test), LOCAL.domain), "in the way");
      const reply = await send(test.port, "through the spool");
      expect(reply).toMatch(/^250 2\.0\.0 Ok: queued as /);
      const id = queueIdOf(reply);
      expect(test.logs.find((line) => line.msg === "delivery attempt" && line.queueId === id)).toMatchObject({
        done: false,
        results: [{ rcpt: LOCAL.mailbox, status: "deferred", reply: expect.stringMatching(/^451 4\.3\.0 Local delivery failed \(E/) as string }],
      });
      expect(test.relay.spool.get(id)?.envelope.rcptTo).toEqual([LOCAL.mailbox]);
      // The scheduler tries the fresh entry at once, and defers it too.
      for (let i = 0; i < 100 && (test.relay.spool.get(id)?.attempts ?? 0) === 0; i++) await new Promise((r) => setTimeout(r, 50));
      expect(test.relay.spool.get(id)?.attempts).toBe(1);
      // The folder can be made now; the entry is made due and delivered by the scheduler.
      rmSync(join(maildir(test), LOCAL.domain));
      await test.relay.spool.reschedule(id, Date.now());
      test.relay.delivery.notify();
      await test.relay.delivery.idle();
      expect(maildirMessages(maildir(test), LOCAL.mailbox).map((copy) => copy.includes("Subject: through the spool"))).toEqual([true]);
      expect(test.relay.spool.list()).toEqual([]);
    } finally {
      await test.relay.stop();
    }
  });

  it("with deliverBeforeReply false, puts every message through the spool", async () => {
    const test = await relayWith(false);
    try {
      const id = queueIdOf(await send(test.port, "the long way"));
      await test.relay.delivery.idle();
      expect(maildirMessages(maildir(test), LOCAL.mailbox)).toHaveLength(1);
      const attempt = test.logs.find((line) => line.msg === "delivery attempt" && line.queueId === id);
      expect(attempt).toMatchObject({ attempt: 1, done: true });
      expect(attempt?.beforeReply).toBeUndefined();
      expect(attempt?.session).toBeUndefined();
    } finally {
      await test.relay.stop();
    }
  });
});
