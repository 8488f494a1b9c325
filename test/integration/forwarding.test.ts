// Recipients without backscatter and forwarding done right, through the relay wired (relay.ts) with the
// harness's DNS and real clients (swaks, nodemailer): a subaddress lands in its mailbox with the whole
// address in Delivered-To, an unknown recipient is refused at RCPT; an alias to another domain leaves
// through the outbound path — MX lookup in the test zones, an SMTP sink on the MX host's address —
// with an SRS envelope sender and an ARC seal that python3-dkim verifies; a bounce to that SRS address
// is accepted and passed on to the original sender's MX, a forged or expired one refused at RCPT; a
// forwarded copy that cannot be delivered bounces to the original sender, not to the SRS address.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import nodemailer from "nodemailer";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { srsForward, srsReverse } from "../../core/srs/srs.ts";
import { SRS_SECRET_ENV } from "../../relay-node/src/forward/forwarding.ts";
import { DKIM_PRIVATE_KEY_PEM, DKIM_PUBLIC_KEY_BASE64, DKIM_SELECTOR } from "../harness/dkim-key.ts";
import { freePort } from "../harness/process.ts";
import { delivered, LOCAL, relayDocument, startTestRelay, testMessage, type TestRelay } from "../harness/relay.ts";
import { startSmtpSink, type SinkTransaction, type SmtpSink } from "../harness/smtp-sink.ts";
import { runSwaks, type SwaksRun } from "../harness/swaks.ts";
import { TEST_DNS } from "../harness/zones.ts";

const VERIFY = fileURLToPath(new URL("../fixtures/dkim-verify.py", import.meta.url));
const { sender, insecure } = TEST_DNS;
const dir = mkdtempSync(join(tmpdir(), "edgemx-forwarding-"));
const SECRET = "the forwarding test's SRS secret";
/** Forwarded to insecure.test, whose MX host (127.0.0.14) is a sink here. */
const CAROL = { alias: `carol@${LOCAL.domain}`, target: `carol@${insecure.domain}` };
/** Forwarded to a domain that accepts no mail (Null MX, RFC 7505): the copy bounces at once. */
const GONE = { alias: `gone@${LOCAL.domain}`, target: `gone@${TEST_DNS.nullMx}` };
/** The original sender, at sender.test, whose MX host (127.0.0.10) is a sink here. */
const BOB = `bob@${sender.domain}`;

let relay: TestRelay;
let forwardSink: SmtpSink;
let senderSink: SmtpSink;

beforeAll(async () => {
  const port = await freePort();
  forwardSink = await startSmtpSink(insecure.mxAddress, port);
  senderSink = await startSmtpSink(sender.mxAddress, port);
  const keyFile = join(dir, "dkim.pem");
  writeFileSync(keyFile, DKIM_PRIVATE_KEY_PEM, { mode: 0o600 });
  const document = relayDocument(join(dir, "relay"), inject("harness").dnsPort);
  document.domains[0] = {
    ...document.domains[0]!,
    aliases: { carol: CAROL.target, gone: GONE.target },
    dkim: { selector: DKIM_SELECTOR, publicKey: DKIM_PUBLIC_KEY_BASE64, privateKeyFile: keyFile },
  };
  relay = await startTestRelay(document, { [SRS_SECRET_ENV]: SECRET }, { remote: { port } });
}, 60_000);

afterAll(async () => {
  await relay?.relay.stop();
  await forwardSink?.stop();
  await senderSink?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** swaks from sender.test's mail host (it passes every connection check), with a plain message. */
function swaks(from: string, to: string): Promise<SwaksRun> {
  return runSwaks([
    "--server",
    `127.0.0.1:${relay.port}`,
    "--local-interface",
    sender.authorizedIp,
    "--ehlo",
    sender.mailHost,
    "--from",
    from,
    "--to",
    to,
    "--header",
    "Subject: swaks to the relay",
  ]);
}

/** The reply swaks got to its RCPT TO. */
function rcptReply(run: SwaksRun): string | undefined {
  return run.exchanges.find((exchange) => exchange.command.startsWith("RCPT TO:"))?.reply;
}

/** Sends a message over SMTP as sender.test's mail host; resolves with the final reply. */
async function send(from: string, to: string, raw: string): Promise<string> {
  const transport = nodemailer.createTransport({
    host: "127.0.0.1",
    port: relay.port,
    ignoreTLS: true,
    localAddress: sender.authorizedIp,
    name: sender.mailHost,
  });
  try {
    return (await transport.sendMail({ envelope: { from, to }, raw })).response;
  } finally {
    transport.close();
  }
}

/** The transactions a sink got for `rcpt`, once the relay has nothing due. */
async function receivedBy(sink: SmtpSink, rcpt: string): Promise<SinkTransaction[]> {
  await relay.relay.delivery.idle();
  return sink.transactions.filter((t) => t.rcptTo.includes(rcpt));
}

/** python3-dkim's verdict on the message, with example.org's key record in place of DNS. */
function verifyWithPythonDkim(message: string): string {
  const run = spawnSync("/usr/bin/python3", [VERIFY, DKIM_SELECTOR, LOCAL.domain, `v=DKIM1; k=rsa; p=${DKIM_PUBLIC_KEY_BASE64}`], {
    input: message,
    encoding: "utf8",
  });
  return `${run.stdout}${run.stderr}`.trim();
}

const localOf = (address: string) => address.slice(0, address.lastIndexOf("@"));

describe("recipients: no backscatter, subaddresses", () => {
  it("refuses an unknown recipient at RCPT TO, with swaks", async () => {
    const run = await swaks(BOB, `nobody@${LOCAL.domain}`);
    expect(run.status, run.transcript).not.toBe(0);
    expect(rcptReply(run)).toBe(`550 5.1.1 <nobody@${LOCAL.domain}>: Recipient address rejected: User unknown in local recipient table`);
  });

  it("delivers a subaddress to its mailbox's Maildir, the whole address in Delivered-To", async () => {
    const run = await swaks(BOB, `alice+lists@${LOCAL.domain}`);
    expect(run.status, run.transcript).toBe(0);
    const messages = (await delivered(relay, LOCAL.mailbox)).filter((m) => m.includes("Subject: swaks to the relay"));
    expect(messages).toHaveLength(1);
    expect(messages[0]).toMatch(new RegExp(`^Return-Path: <${BOB}>\r\nDelivered-To: alice\\+lists@${LOCAL.domain}\r\n`));
  });
});

describe("forwarding to another domain", () => {
  let srsSender: string;

  it("needs the SRS secret: without it the relay does not start, and says why", async () => {
    const document = relayDocument(join(dir, "no-secret"), inject("harness").dnsPort);
    document.domains[0] = { ...document.domains[0]!, aliases: { carol: CAROL.target } };
    await expect(startTestRelay(document, {})).rejects.toThrow(
      `carol@${LOCAL.domain} forward to another domain, but ${SRS_SECRET_ENV} (the secret of their SRS addresses, docs/forwarding.md) is not in the environment`,
    );
  });

  it("leaves through the outbound path with an SRS sender that stands for the original one", async () => {
    const raw = testMessage({ to: CAROL.alias, subject: "to be forwarded" });
    expect(await send(BOB, CAROL.alias, raw)).toMatch(/^250 /);
    const [copy, ...more] = await receivedBy(forwardSink, CAROL.target);
    expect(more).toEqual([]);
    expect(copy!.rcptTo).toEqual([CAROL.target]);
    expect(copy!.mailFrom).toMatch(new RegExp(`^SRS0=[A-Za-z0-9+/]{4}=[A-Z2-7]{2}=${sender.domain}=bob@${LOCAL.domain}$`));
    expect(srsReverse(localOf(copy!.mailFrom), [SECRET], new Date(), 21)).toMatchObject({ valid: true, address: BOB });
    srsSender = copy!.mailFrom;
  });

  it("ARC-seals the forwarded copy with example.org's key over our Authentication-Results, verified by python3-dkim", async () => {
    const [copy] = await receivedBy(forwardSink, CAROL.target);
    const message = copy!.data.toString("utf8");
    expect(message).toMatch(/^ARC-Seal: i=1; a=rsa-sha256; t=\d+; cv=none;\s+d=example\.org;\s+s=edgemx;/m);
    expect(message).toMatch(/^ARC-Authentication-Results: i=1; mx\.example\.org;[^]*spf=pass[^]*dmarc=pass/m);
    // Not DKIM-signed by its author here: the ARC chain is what verifies.
    expect(verifyWithPythonDkim(message)).toMatch(/ arc=pass$/);
    expect(verifyWithPythonDkim(message.replace("Subject: to be forwarded", "Subject: changed on the way"))).toMatch(/ arc=fail/);
  });

  it("accepts a bounce to that SRS address and passes it on to the original sender's MX, the null sender kept", async () => {
    const bounce = testMessage({ from: `MAILER-DAEMON@${insecure.domain}`, to: srsSender, subject: "Undelivered Mail Returned to Sender" });
    expect(await send("", srsSender, bounce)).toMatch(/^250 /);
    const [returned, ...more] = await receivedBy(senderSink, BOB);
    expect(more).toEqual([]);
    expect(returned!.rcptTo).toEqual([BOB]);
    expect(returned!.mailFrom).toBe("");
    expect(returned!.data.toString("utf8")).toContain("Subject: Undelivered Mail Returned to Sender");
  });

  it("refuses a bounce to a forged or expired SRS address at RCPT TO, with swaks", async () => {
    const forged = srsForward(BOB, LOCAL.domain, ["a secret that is not the relay's"], new Date());
    const expired = srsForward(BOB, LOCAL.domain, [SECRET], new Date(Date.now() - 22 * 86_400_000));
    for (const address of [forged, expired, srsSender.replace("=bob@", "=mallory@")]) {
      const run = await swaks("", address);
      expect(run.status, run.transcript).not.toBe(0);
      expect(rcptReply(run), address).toBe(`550 5.1.1 <${address}>: Recipient address rejected: Invalid or expired forwarding return address (SRS)`);
    }
    expect(await receivedBy(senderSink, BOB)).toHaveLength(1);
  });

  it("bounces a forwarded copy that cannot be delivered to the original sender, not to its SRS address", async () => {
    const raw = testMessage({ to: GONE.alias, subject: "to a domain that takes no mail" });
    expect(await send(BOB, GONE.alias, raw)).toMatch(/^250 /);
    const dsns = (await receivedBy(senderSink, BOB)).filter((t) => t.data.toString("utf8").includes(`Final-Recipient: rfc822; ${GONE.target}`));
    expect(dsns).toHaveLength(1);
    expect(dsns[0]!.mailFrom).toBe("");
    expect(dsns[0]!.data.toString("utf8")).toMatch(/^From: Mail Delivery System <postmaster@example\.org>\r$/m);
  });
});
