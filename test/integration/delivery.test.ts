// Delivery to the mailbox host with real peers: a Maildir in a temp folder, an LMTP server and an SMTP
// server (npm smtp-server) on loopback giving each recipient its own answer, and the whole path
// spool → scheduler → next hop → DSN.
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SMTPServer, type SMTPServerOptions, type SMTPServerSession } from "smtp-server";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { lmtpDeliverer } from "../../relay-node/src/deliver/lmtp.ts";
import { maildirDeliverer } from "../../relay-node/src/deliver/maildir.ts";
import { smtpDeliverer } from "../../relay-node/src/deliver/smtp.ts";
import type { OutgoingMessage, RecipientResult } from "../../relay-node/src/queue/deliverer.ts";
import { startDelivery } from "../../relay-node/src/queue/scheduler.ts";
import { Spool } from "../../relay-node/src/queue/spool.ts";
import { makeSelfSignedCertificate } from "../harness/certificate.ts";

const MESSAGE = Buffer.from(
  "Received: from client.example ([192.0.2.1]) by mx.example.org with ESMTPS id 019AC6F0B8C0ABCDEF;\r\n\tThu, 27 Nov 2025 19:00:00 +0000\r\n" +
    "From: Alice <alice@sender.example>\r\nTo: team@example.org\r\nSubject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\n\r\n" +
    "Hello.\r\n.A line starting with a dot.\r\n..two dots\r\n\u00fcmlaut 8bit\r\n",
  "utf8",
);

function outgoing(rcptTo: string[], mailFrom = "alice@sender.example"): OutgoingMessage {
  return { id: "019AC6F0B8C0ABCDEF", envelope: { mailFrom, rcptTo }, message: MESSAGE };
}

function byRcpt(results: RecipientResult[]) {
  return Object.fromEntries(results.map((r) => [r.rcpt, [r.status, r.reply.slice(0, 9)]]));
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "edgemx-delivery-"));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

/** What a peer received: one entry per transaction. */
interface Received {
  mailFrom: string;
  rcptTo: string[];
  message: Buffer;
  secure: boolean;
}

/** A peer on a free loopback port that answers RCPT and DATA per recipient from `answers`. */
async function startPeer(options: Partial<SMTPServerOptions>, answers: { rcpt?: Record<string, number>; data?: Record<string, number> }) {
  const received: Received[] = [];
  const refusal = (code: number) => Object.assign(new Error(`${code === 450 ? "4.2.1 Mailbox busy" : "5.1.1 No such user"}`), { responseCode: code });
  const server = new SMTPServer({
    disabledCommands: ["AUTH"],
    logger: false,
    ...options,
    onRcptTo(address, _session, callback) {
      const code = answers.rcpt?.[address.address];
      callback(code ? refusal(code) : null);
    },
    onData(stream, session: SMTPServerSession, callback) {
      const chunks: Buffer[] = [];
      stream.on("data", (chunk: Buffer) => chunks.push(chunk));
      stream.on("end", () => {
        const rcptTo = session.envelope.rcptTo.map((r) => r.address);
        const mailFrom = session.envelope.mailFrom === false ? "" : session.envelope.mailFrom.address;
        received.push({ mailFrom, rcptTo, message: Buffer.concat(chunks), secure: session.secure });
        if (!options.lmtp) return callback(null, "2.0.0 Ok: queued as PEER1");
        // RFC 2033 §4.2: one reply per accepted recipient, in RCPT order.
        callback(
          null,
          rcptTo.map((rcpt) => (answers.data?.[rcpt] ? refusal(answers.data[rcpt]) : `2.0.0 <${rcpt}> Saved`)),
        );
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.server.address() as { port: number }).port;
  return { port, received, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

describe("Maildir", () => {
  it("writes one copy per recipient into <path>/<domain>/<local part>/new, with Return-Path and Delivered-To", async () => {
    const root = join(dir, "Maildir");
    const deliver = maildirDeliverer({ path: root });
    const results = await deliver(outgoing(["Bob@Example.ORG", "carol@example.org", "../../etc/passwd@example.org", "no-domain"]));
    expect(byRcpt(results)).toEqual({
      "Bob@Example.ORG": ["delivered", "250 2.0.0"],
      "carol@example.org": ["delivered", "250 2.0.0"],
      "../../etc/passwd@example.org": ["delivered", "250 2.0.0"],
      "no-domain": ["failed", "550 5.1.3"],
    });

    expect((await readdir(root)).sort()).toEqual(["example.org"]);
    // Lower case; "/" and a leading "." escaped, so no address leaves the Maildir root.
    expect((await readdir(join(root, "example.org"))).sort()).toEqual(["%2E.%2F..%2Fetc%2Fpasswd", "bob", "carol"]);
    for (const [mailbox, rcpt] of [
      ["bob", "Bob@Example.ORG"],
      ["carol", "carol@example.org"],
    ] as const) {
      const maildir = join(root, "example.org", mailbox);
      expect((await readdir(maildir)).sort()).toEqual(["cur", "new", "tmp"]);
      expect(await readdir(join(maildir, "tmp"))).toEqual([]);
      const [name, ...more] = await readdir(join(maildir, "new"));
      expect(more).toEqual([]);
      expect(name).toMatch(new RegExp(`^\\d{10}\\.P${process.pid}Q\\d+R[0-9a-f]{8}\\.[^/:]+$`));
      const copy = await readFile(join(maildir, "new", name!));
      expect(copy.equals(Buffer.concat([Buffer.from(`Return-Path: <alice@sender.example>\r\nDelivered-To: ${rcpt}\r\n`), MESSAGE]))).toBe(true);
    }
  });

  it("defers (and does not lose) a delivery it cannot write", async () => {
    await writeFile(join(dir, "a-file"), "not a folder");
    const deliver = maildirDeliverer({ path: join(dir, "a-file", "Maildir") });
    const [result] = await deliver(outgoing(["bob@example.org"]));
    expect(result).toEqual({ rcpt: "bob@example.org", status: "deferred", reply: "451 4.3.0 Local delivery failed (ENOTDIR)" });
  });
});

describe("LMTP (RFC 2033)", () => {
  let peer: Awaited<ReturnType<typeof startPeer>>;
  beforeAll(async () => {
    peer = await startPeer({ lmtp: true }, { rcpt: { "nobody@example.org": 550 }, data: { "carol@example.org": 450, "dave@example.org": 550 } });
  });
  afterAll(() => peer.close());

  it("gives each recipient the reply the server gave it after DATA (or at RCPT)", async () => {
    const deliver = lmtpDeliverer({ host: "127.0.0.1", port: peer.port, hostname: "mx.example.org" });
    const results = await deliver(outgoing(["bob@example.org", "carol@example.org", "dave@example.org", "nobody@example.org"]));
    expect(byRcpt(results)).toEqual({
      "bob@example.org": ["delivered", "250 2.0.0"],
      "carol@example.org": ["deferred", "450 4.2.1"],
      "dave@example.org": ["failed", "550 5.1.1"],
      "nobody@example.org": ["failed", "550 5.1.1"],
    });
    expect(results.every((r) => r.remoteMta === "127.0.0.1")).toBe(true);
    const [transaction] = peer.received;
    expect(transaction!.rcptTo).toEqual(["bob@example.org", "carol@example.org", "dave@example.org"]);
    // Dot-stuffing undone by the peer: the message arrives byte for byte.
    expect(transaction!.message.equals(MESSAGE)).toBe(true);
  });

  it("sends a DSN from the null reverse path as MAIL FROM:<>", async () => {
    const deliver = lmtpDeliverer({ host: "127.0.0.1", port: peer.port, hostname: "mx.example.org" });
    await deliver(outgoing(["bob@example.org"], ""));
    expect(peer.received.at(-1)!.mailFrom).toBe("");
  });
});

describe("SMTP next hop", () => {
  let peer: Awaited<ReturnType<typeof startPeer>>;
  beforeAll(async () => {
    const certificate = makeSelfSignedCertificate(dir, "mailbox.example.org");
    peer = await startPeer(
      { key: await readFile(certificate.keyPath), cert: await readFile(certificate.certPath) },
      { rcpt: { "carol@example.org": 450, "dave@example.org": 550 } },
    );
  });
  afterAll(() => peer.close());

  it("uses STARTTLS when offered and gives each recipient its RCPT reply, the rest the reply to DATA", async () => {
    const deliver = smtpDeliverer({ host: "127.0.0.1", port: peer.port, hostname: "mx.example.org" });
    const results = await deliver(outgoing(["bob@example.org", "carol@example.org", "dave@example.org", "erin@example.org"]));
    expect(byRcpt(results)).toEqual({
      "bob@example.org": ["delivered", "250 2.0.0"],
      "carol@example.org": ["deferred", "450 4.2.1"],
      "dave@example.org": ["failed", "550 5.1.1"],
      "erin@example.org": ["delivered", "250 2.0.0"],
    });
    expect(results[0]!.reply).toBe("250 2.0.0 Ok: queued as PEER1");
    const [transaction] = peer.received;
    expect(transaction!.secure).toBe(true);
    expect(transaction!.rcptTo).toEqual(["bob@example.org", "erin@example.org"]);
    expect(transaction!.message.equals(MESSAGE)).toBe(true);
  });

  it("defers every recipient when all of them are refused for now", async () => {
    const deliver = smtpDeliverer({ host: "127.0.0.1", port: peer.port, hostname: "mx.example.org" });
    expect(byRcpt(await deliver(outgoing(["carol@example.org"])))).toEqual({ "carol@example.org": ["deferred", "450 4.2.1"] });
  });
});

describe("unreachable next hop", () => {
  it("defers with 4.4.1 when the connection is refused", async () => {
    const closed = await startPeer({}, {});
    await closed.close();
    const results = await smtpDeliverer({ host: "127.0.0.1", port: closed.port, hostname: "mx.example.org" })(
      outgoing(["bob@example.org", "carol@example.org"]),
    );
    expect(results.map((r) => r.status)).toEqual(["deferred", "deferred"]);
    expect(results[0]!.reply).toMatch(/^451 4\.4\.1 No answer from 127\.0\.0\.1: .*ECONNREFUSED/);
  });

  it("defers when the peer never greets, within the greeting timeout", async () => {
    const port = Number(new URL(inject("harness").blackholeUrl).port);
    const started = Date.now();
    const [result] = await lmtpDeliverer({ host: "127.0.0.1", port, hostname: "mx.example.org", timeouts: { greetingMs: 300 } })(outgoing(["bob@example.org"]));
    expect(result!.status).toBe("deferred");
    expect(result!.reply).toMatch(/^451 4\.4\.1 /);
    expect(Date.now() - started).toBeLessThan(5000);
  });
});

describe("spool → scheduler → next hop", () => {
  it("delivers a queued message into the Maildir and empties the spool", async () => {
    const spool = await Spool.open(join(dir, "spool-maildir"));
    const root = join(dir, "Maildir-e2e");
    const id = await spool.enqueue({ envelope: { mailFrom: "alice@sender.example", rcptTo: ["bob@example.org"] }, message: MESSAGE });
    const delivery = startDelivery(spool, maildirDeliverer({ path: root }), { hostname: "mx.example.org", concurrency: 2 });
    await delivery.idle();
    await delivery.stop();
    expect(spool.get(id)).toBeUndefined();
    const [name] = await readdir(join(root, "example.org", "bob", "new"));
    expect((await readFile(join(root, "example.org", "bob", "new", name!))).subarray(-MESSAGE.length).equals(MESSAGE)).toBe(true);
  });

  it("over LMTP: delivers what it can, bounces the 5xx to the sender, keeps the 4xx queued", async () => {
    const peer = await startPeer({ lmtp: true }, { data: { "carol@example.org": 450, "dave@example.org": 550 } });
    const spool = await Spool.open(join(dir, "spool-lmtp"));
    const bounces: string[] = [];
    const id = await spool.enqueue({
      envelope: { mailFrom: "alice@sender.example", rcptTo: ["bob@example.org", "carol@example.org", "dave@example.org"] },
      message: MESSAGE,
    });
    const delivery = startDelivery(spool, lmtpDeliverer({ host: "127.0.0.1", port: peer.port, hostname: "mx.example.org" }), {
      hostname: "mx.example.org",
      concurrency: 2,
      onBounce: (event) => bounces.push(...event.recipients.map((r) => `${r.rcpt} ${r.action} ${r.status}`)),
    });
    await delivery.idle();
    await delivery.stop();
    await peer.close();

    expect(bounces).toEqual(["dave@example.org failed 5.1.1"]);
    expect(spool.get(id)!.recipients.map((r) => [r.rcpt, r.status])).toEqual([
      ["bob@example.org", "delivered"],
      ["carol@example.org", "pending"],
      ["dave@example.org", "failed"],
    ]);
    // The DSN went out from <> to the sender, with the failed recipient's report.
    const dsn = peer.received.find((t) => t.mailFrom === "")!;
    expect(dsn.rcptTo).toEqual(["alice@sender.example"]);
    expect(dsn.message.toString()).toContain("Final-Recipient: rfc822; dave@example.org");
    expect(dsn.message.toString()).toContain("Remote-MTA: dns; 127.0.0.1");
  });
});
