// relay.recipientCheck, wired: the relay started in-process with the harness's resolver, a domain that
// lists no mailboxes and an LMTP next hop — npm smtp-server on loopback, which knows alice only. The
// relay asks it during RCPT TO: an unknown user is refused there, 550 5.1.1; alice is accepted and her
// message delivered to the same host; postmaster@ is accepted without asking (RFC 5321 §4.5.1).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import nodemailer from "nodemailer";
import { SMTPServer } from "smtp-server";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { createLogger } from "../../relay-node/src/log/log.ts";
import { startRelay, type RunningRelay } from "../../relay-node/src/relay.ts";
import { parseConfig } from "../../core/config/load.ts";
import { openSmtp } from "../harness/smtp-client.ts";
import { TEST_DNS } from "../harness/zones.ts";

const harness = inject("harness");
const { sender } = TEST_DNS;
/** Connections from here pass every connection check: PTR mail.sender.test ↔ A, not listed, SPF-authorized. */
const GOOD_IP = sender.authorizedIp;
const KNOWN = "alice@example.org";

/** What the mailbox host was asked (RCPT TO, with the MAIL FROM of its session) and what it received. */
const asked: { mailFrom: string; rcpt: string }[] = [];
const received: { mailFrom: string; rcptTo: string[]; message: string }[] = [];
const mailboxHost = new SMTPServer({
  lmtp: true,
  disabledCommands: ["AUTH", "STARTTLS"],
  logger: false,
  onRcptTo(address, session, callback) {
    asked.push({ mailFrom: session.envelope.mailFrom === false ? "" : session.envelope.mailFrom.address, rcpt: address.address });
    callback(address.address === KNOWN ? null : Object.assign(new Error("5.1.1 No such user"), { responseCode: 550 }));
  },
  onData(stream, session, callback) {
    const chunks: Buffer[] = [];
    stream.on("data", (chunk: Buffer) => chunks.push(chunk));
    stream.on("end", () => {
      const mailFrom = session.envelope.mailFrom === false ? "" : session.envelope.mailFrom.address;
      received.push({ mailFrom, rcptTo: session.envelope.rcptTo.map((r) => r.address), message: Buffer.concat(chunks).toString("utf8") });
      callback(null, "2.0.0 Saved");
    });
  },
});

const dir = mkdtempSync(join(tmpdir(), "edgemx-recipient-callout-"));
const logs: Record<string, unknown>[] = [];
let relay: RunningRelay;

beforeAll(async () => {
  await new Promise<void>((resolve) => mailboxHost.listen(0, "127.0.0.1", resolve));
  const port = (mailboxHost.server.address() as { port: number }).port;
  const config = parseConfig({
    hostname: "mx.example.org",
    domains: [{ name: "example.org", mx: ["mx.example.org"] }],
    connection: { greylist: { enabled: false } },
    relay: {
      resolver: { host: "127.0.0.1", port: harness.dnsPort, timeoutMs: 3000 },
      clamd: { enabled: false },
      nextHop: { type: "lmtp", host: "127.0.0.1", port },
      recipientCheck: true,
      spool: join(dir, "spool"),
    },
  });
  const logger = createLogger("info", { write: (line: string) => void logs.push(JSON.parse(line) as Record<string, unknown>) });
  relay = await startRelay(config, {
    listen: { host: "127.0.0.1", port: 0 },
    metricsListen: { host: "127.0.0.1", port: 0 },
    logger,
    env: {},
    selfSignedDir: join(dir, "tls"),
    delivery: { pollIntervalMs: 200 },
  });
});

afterAll(async () => {
  await relay?.stop();
  await new Promise<void>((resolve) => mailboxHost.close(() => resolve()));
  rmSync(dir, { recursive: true, force: true });
});

describe("relay.recipientCheck with an LMTP mailbox host", () => {
  it("refuses an unknown user at RCPT with 550 5.1.1, and accepts postmaster@ without asking", async () => {
    const smtp = await openSmtp(relay.port!, { localAddress: GOOD_IP });
    expect(await smtp.reply()).toMatch(/^220 /);
    await smtp.command(`EHLO ${sender.mailHost}`);
    expect(await smtp.command(`MAIL FROM:<bob@${sender.domain}>`)).toMatch(/^250 /);
    expect(await smtp.command("RCPT TO:<nobody@example.org>")).toBe(
      "550 5.1.1 <nobody@example.org>: Recipient address rejected: User unknown in local recipient table",
    );
    expect(await smtp.command("RCPT TO:<postmaster@example.org>")).toMatch(/^250 /);
    expect(await smtp.command("QUIT")).toMatch(/^221 /);
    smtp.close();
    expect(asked).toEqual([{ mailFrom: "", rcpt: "nobody@example.org" }]);
  });

  it("accepts a user the host knows with 250 and delivers the message to it", async () => {
    asked.length = 0;
    const marker = `callout-${Date.now()}`;
    const raw = [
      `From: Bob <bob@${sender.domain}>`,
      `To: ${KNOWN}`,
      "Subject: hello",
      `Date: ${new Date().toUTCString()}`,
      `Message-ID: <${marker}@${sender.domain}>`,
      "",
      marker,
      "",
    ].join("\r\n");
    const transport = nodemailer.createTransport({
      host: "127.0.0.1",
      port: relay.port!,
      secure: false,
      ignoreTLS: true,
      localAddress: GOOD_IP,
      name: sender.mailHost,
    });
    try {
      const info = await transport.sendMail({ envelope: { from: `bob@${sender.domain}`, to: KNOWN }, raw });
      expect(info.response).toMatch(/^250 2\.0\.0 Ok: queued as /);
    } finally {
      transport.close();
    }
    await relay.delivery.idle();
    // First the callout (null sender, never DATA), then the delivery (the real sender, with DATA).
    expect(asked).toEqual([
      { mailFrom: "", rcpt: KNOWN },
      { mailFrom: `bob@${sender.domain}`, rcpt: KNOWN },
    ]);
    expect(received).toHaveLength(1);
    expect(received[0]).toMatchObject({ mailFrom: `bob@${sender.domain}`, rcptTo: [KNOWN] });
    expect(received[0]!.message).toContain(marker);
    const line = logs.find((l) => l.event === "message" && (l.rcptTo as string[]).includes(KNOWN))!;
    expect(line.checks).toEqual(
      expect.arrayContaining([
        // eslint-disable-next-line @typescript-eslint/no-unsafe-assignment -- vitest types its asymmetric matchers (expect.stringContaining, …) as any
        { check: "recipient", outcome: "pass", detail: expect.stringMatching(/^LMTP host 127\.0\.0\.1 port \d+ accepts <alice@example\.org>: 250 /) },
      ]),
    );
  });
});
