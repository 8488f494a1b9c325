// The relay's MX, wired: started in-process on loopback with the harness's validating resolver, clamd
// with its test signatures, the in-process judge and a Maildir next hop in a temp folder; driven with
// nodemailer (what a real MTA sends) and a raw SMTP client (what only an attacker sends). The checks
// are tested in depth in relay-checks; every reply of the spec's table (docs/architecture.md), through swaks and nodemailer,
// in relay-acceptance; the smuggling vectors in relay-smuggling. Here: the greeting, a clean message with
// its trace, authentication headers and log lines, TLS, the DATA bounds, the session bounds, the process.
import { spawn } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import nodemailer from "nodemailer";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { JUNK_COMMAND_LIMIT } from "../../relay-node/src/smtp/server.ts";
import { makeSelfSignedCertificate } from "../harness/certificate.ts";
import { freePort } from "../harness/process.ts";
import { delivered, relayDocument, startTestRelay, testMessage as message, type RelaySettings, type TestRelay } from "../harness/relay.ts";
import { startClamd, type ClamdService } from "../harness/services.ts";
import { openSmtp } from "../harness/smtp-client.ts";
import { TEST_DNS } from "../harness/zones.ts";

const harness = inject("harness");
const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "edgemx-relay-mx-"));
const { sender } = TEST_DNS;
/** Connections from here pass every connection check: PTR mail.sender.test ↔ A, not listed, SPF-authorized. */
const GOOD_IP = sender.authorizedIp;
const MAX_MESSAGE_BYTES = 64 * 1024;

let clamd: ClamdService;
let runs = 0;

function start(relay: RelaySettings = {}): Promise<TestRelay> {
  return startTestRelay(
    relayDocument(join(dir, `relay-${++runs}`), harness.dnsPort, {
      clamd: { host: clamd.host, port: clamd.port, timeoutMs: 5000 },
      limits: { maxMessageBytes: MAX_MESSAGE_BYTES, maxRecipients: 3, maxConnectionsPerIp: 2, maxErrors: 5, commandTimeoutSeconds: 300 },
      ...relay,
    }),
  );
}

function transport(port: number, options: { localAddress?: string; helo?: string; requireTLS?: boolean } = {}) {
  return nodemailer.createTransport({
    host: "127.0.0.1",
    port,
    secure: false,
    ...(options.requireTLS ? { requireTLS: true } : { ignoreTLS: true }),
    localAddress: options.localAddress ?? GOOD_IP,
    name: options.helo ?? sender.mailHost,
    tls: { rejectUnauthorized: false },
  });
}

/** Sends one message; resolves with the server's final reply, or the refusal that stopped it. */
async function send(
  port: number,
  envelope: { from?: string; to: string | string[] },
  raw: string,
  options: Parameters<typeof transport>[1] = {},
): Promise<string> {
  const t = transport(port, options);
  try {
    const info = await t.sendMail({ envelope: { from: envelope.from ?? `bob@${sender.domain}`, to: envelope.to }, raw });
    return info.response;
  } catch (err) {
    return String((err as { response?: string }).response ?? err);
  } finally {
    t.close();
  }
}

let main: TestRelay;

beforeAll(async () => {
  clamd = await startClamd();
  main = await start();
});

afterAll(async () => {
  await main?.relay.stop();
  await clamd?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe("the greeting and EHLO", () => {
  it("greets with our host name and offers SIZE, 8BITMIME, SMTPUTF8, PIPELINING, ENHANCEDSTATUSCODES and STARTTLS, never AUTH", async () => {
    const smtp = await openSmtp(main.port, { localAddress: GOOD_IP });
    expect(await smtp.reply()).toBe("220 mx.example.org ESMTP");
    expect((await smtp.command(`EHLO ${sender.mailHost}`)).split("\n")).toEqual([
      "250-mx.example.org",
      "250-PIPELINING",
      "250-8BITMIME",
      "250-SMTPUTF8",
      "250-ENHANCEDSTATUSCODES",
      "250-STARTTLS",
      `250 SIZE ${MAX_MESSAGE_BYTES}`,
    ]);
    expect(await smtp.command("AUTH PLAIN AGFsaWNlAHNlY3JldA==")).toMatch(/^5\d\d 5\.5\.\d /);
    await smtp.startTls();
    const afterTls = await smtp.command(`EHLO ${sender.mailHost}`);
    expect(afterTls).not.toMatch(/AUTH|STARTTLS/);
    expect(await smtp.command("QUIT")).toMatch(/^221 /);
    smtp.close();
  });
});

describe("a clean message", () => {
  it("lands in the Maildir with Received and our Authentication-Results, after 250 with the queue id", async () => {
    const marker = `body-marker-${Date.now()}`;
    const reply = await send(main.port, { to: "alice@example.org" }, message({ body: marker }));
    expect(reply).toMatch(/^250 2\.0\.0 Ok: queued as [0-9A-F]{18}$/);
    const queueId = reply.split(" ").at(-1)!;
    const copy = (await delivered(main, "alice@example.org")).find((m) => m.includes(marker));
    expect(copy).toBeDefined();
    const header = copy!.slice(0, copy!.indexOf("\r\n\r\n"));
    expect(header).toMatch(/^Return-Path: <bob@sender\.test>\r\nDelivered-To: alice@example\.org\r\nAuthentication-Results: mx\.example\.org;/);
    expect(header).toMatch(/spf=pass [^;]*smtp\.mailfrom=sender\.test/);
    expect(header).toMatch(/dmarc=pass/);
    expect(header).toMatch(/\r\nX-Edgemx-Verdict: accept; id=\d{5}-\d{2}\r\n/);
    expect(header).toContain(
      `\r\nReceived: from mail.sender.test (mail.sender.test [${GOOD_IP}])\r\n\tby mx.example.org with ESMTP id ${queueId}\r\n\tfor <alice@example.org>; `,
    );
  });

  it("logs one line for the message and one for the session, with ids, checks and reply, never the body", async () => {
    const marker = `log-marker-${Date.now()}`;
    const reply = await send(main.port, { to: "alice@example.org" }, message({ body: marker }));
    await new Promise((resolve) => setTimeout(resolve, 50)); // the session line follows the close
    const line = main.logs.find((l) => l.event === "message" && l.reply === reply)!;
    expect(line).toMatchObject({
      queueId: reply.split(" ").at(-1),
      clientIp: GOOD_IP,
      verifiedName: sender.mailHost,
      helo: sender.mailHost,
      mailFrom: "bob@sender.test",
      rcptTo: ["alice@example.org"],
      scan: "clean",
      verdict: { action: "accept" },
    });
    expect(line.id).toMatch(/^\d{5}-\d{2}$/);
    expect((line.checks as { check: string }[]).map((c) => c.check)).toEqual(expect.arrayContaining(["sender", "tls", "recipient", "rfc", "spf", "dmarc"]));
    const session = main.logs.find((l) => l.event === "session" && l.session === line.session)!;
    expect((session.checks as { check: string; outcome: string }[]).map((c) => `${c.check}:${c.outcome}`)).toEqual(["dnsbl:pass", "fcrdns:pass", "helo:pass"]);
    expect(session).toMatchObject({ messages: 1, lastRefusal: null, tls: null });
    expect(JSON.stringify(main.logs)).not.toContain(marker);
  });

  it("starts the HELO check at EHLO: a session that greets and quits logs its finding", async () => {
    const smtp = await openSmtp(main.port, { localAddress: GOOD_IP });
    await smtp.reply();
    expect(await smtp.command(`EHLO ${sender.nxdomain}`)).toMatch(/^250-/);
    expect(await smtp.command("QUIT")).toMatch(/^221 /);
    await smtp.closed;
    const helo = sender.nxdomain.toLowerCase();
    let session: Record<string, unknown> | undefined;
    for (let i = 0; i < 100 && session === undefined; i++) {
      session = main.logs.find((l) => l.event === "session" && l.helo === helo);
      if (session === undefined) await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect((session?.checks as { check: string; outcome: string }[]).map((c) => `${c.check}:${c.outcome}`)).toEqual(["dnsbl:pass", "fcrdns:pass", "helo:fail"]);
    expect(session).toMatchObject({ messages: 0, lastRefusal: null });
  });

  it("removes a forged Authentication-Results of ours and keeps those of others (RFC 8601 §5)", async () => {
    const marker = `forged-${Date.now()}`;
    const raw = message({
      body: marker,
      headers: ["Authentication-Results: mx.example.org; spf=pass smtp.mailfrom=forged.test", "Authentication-Results: other.example; spf=none"],
    });
    expect(await send(main.port, { to: "alice@example.org" }, raw)).toMatch(/^250 /);
    const copy = (await delivered(main, "alice@example.org")).find((m) => m.includes(marker))!;
    expect(copy).not.toContain("forged.test");
    expect(copy.match(/^Authentication-Results: mx\.example\.org;/gm)).toHaveLength(1);
    expect(copy).toContain("Authentication-Results: other.example; spf=none");
  });
});

describe("STARTTLS", () => {
  it("negotiates TLS 1.3 and says so in the Received header (ESMTPS, RFC 3848)", async () => {
    const marker = `tls-${Date.now()}`;
    expect(await send(main.port, { to: "alice@example.org" }, message({ body: marker }), { requireTLS: true })).toMatch(/^250 /);
    const copy = (await delivered(main, "alice@example.org")).find((m) => m.includes(marker))!;
    expect(copy).toMatch(/ with ESMTPS id [0-9A-F]{18}\r\n\t\(version=TLSv1\.3 cipher=TLS_AES_(128|256)_GCM_SHA(256|384)\)\r\n/);
  });

  it("offers TLS 1.2 with a forward-secret ECDHE suite only, and refuses TLS 1.1", async () => {
    const tls12 = await openSmtp(main.port, { localAddress: GOOD_IP });
    await tls12.reply();
    await tls12.command(`EHLO ${sender.mailHost}`);
    const socket = await tls12.startTls({ maxVersion: "TLSv1.2" });
    expect(socket.getProtocol()).toBe("TLSv1.2");
    expect(socket.getCipher().name).toMatch(/^ECDHE-(ECDSA|RSA)-/);
    tls12.close();

    const tls11 = await openSmtp(main.port, { localAddress: GOOD_IP });
    await tls11.reply();
    await tls11.command(`EHLO ${sender.mailHost}`);
    // SECLEVEL=0 lets this client offer TLS 1.1 at all; the server must still refuse it.
    await expect(tls11.startTls({ minVersion: "TLSv1", maxVersion: "TLSv1.1", ciphers: "DEFAULT@SECLEVEL=0" })).rejects.toThrow();
    tls11.close();
  });

  it("serves a new certificate after a reload, without a restart", async () => {
    const certDir = mkdtempSync(join(dir, "cert-"));
    const first = makeSelfSignedCertificate(certDir, "mx.example.org");
    const served = await start({ tls: { cert: first.certPath, key: first.keyPath } });
    const fingerprint = async (): Promise<string> => {
      const smtp = await openSmtp(served.port, { localAddress: GOOD_IP });
      await smtp.reply();
      await smtp.command(`EHLO ${sender.mailHost}`);
      const socket = await smtp.startTls();
      const seen = socket.getPeerX509Certificate()!.fingerprint256;
      smtp.close();
      return seen;
    };
    try {
      const before = await fingerprint();
      expect(before).toBe(new X509Certificate(readFileSync(first.certPath)).fingerprint256);
      const second = makeSelfSignedCertificate(certDir, "mx.example.org"); // same paths, new key and certificate
      expect(served.relay.reloadCertificate()).toBe(true);
      const after = await fingerprint();
      expect(after).toBe(new X509Certificate(readFileSync(second.certPath)).fingerprint256);
      expect(after).not.toBe(before);
    } finally {
      await served.relay.stop();
    }
  });
});

describe("DATA", () => {
  /** A session up to the 354 of DATA, from a client that passes every check. */
  async function atData(port: number) {
    const smtp = await openSmtp(port, { localAddress: GOOD_IP });
    await smtp.reply();
    await smtp.command(`EHLO ${sender.mailHost}`);
    await smtp.command(`MAIL FROM:<bob@${sender.domain}>`);
    expect(await smtp.command("RCPT TO:<alice@example.org>")).toMatch(/^250 /);
    expect(await smtp.command("DATA")).toMatch(/^354 /);
    return smtp;
  }

  it("reads an oversized message to its end and refuses it with 552 5.3.4; a declared SIZE over the bound is refused at MAIL FROM", async () => {
    const smtp = await atData(main.port);
    smtp.write(`${message({ body: "x".repeat(998) + "\r\n" }).repeat(1)}${`${"y".repeat(998)}\r\n`.repeat(70)}.\r\n`);
    expect(await smtp.reply()).toBe("552 5.3.4 Message size exceeds fixed maximum message size");
    await smtp.command("RSET");
    await smtp.command(`MAIL FROM:<bob@${sender.domain}> SIZE=${MAX_MESSAGE_BYTES + 1}`).then((reply) => expect(reply).toMatch(/^552 5\.3\.4 /));
    smtp.close();
  });

  it("refuses bare LF after reading the whole message, and the session goes on", async () => {
    const smtp = await atData(main.port);
    smtp.write(`${message()}a bare\nline feed\r\n.\r\n`);
    expect(await smtp.reply()).toBe("554 5.5.2 Message contains bare CR or bare LF");
    expect(await smtp.command("NOOP")).toMatch(/^250 /);
    smtp.close();
  });
});

describe("the domainless postmaster", () => {
  it("takes RCPT TO:<Postmaster> for postmaster@ our first domain (RFC 5321 §4.1.1.3)", async () => {
    const marker = `domainless-postmaster-${Date.now()}`;
    const smtp = await openSmtp(main.port, { localAddress: GOOD_IP });
    await smtp.reply();
    await smtp.command(`EHLO ${sender.mailHost}`);
    await smtp.command(`MAIL FROM:<bob@${sender.domain}>`);
    expect(await smtp.command("RCPT TO:<Postmaster>")).toMatch(/^250 /);
    expect(await smtp.command("DATA")).toMatch(/^354 /);
    smtp.write(`${message({ to: "postmaster@example.org", body: marker })}.\r\n`);
    expect(await smtp.reply()).toMatch(/^250 2\.0\.0 Ok: queued as /);
    smtp.close();
    const copies = (await delivered(main, "postmaster@example.org")).filter((m) => m.includes(marker));
    expect(copies).toHaveLength(1);
    expect(copies[0]).toMatch(/^Return-Path: <bob@sender\.test>\r\nDelivered-To: postmaster@example\.org\r\n/);
  });
});

describe("session bounds", () => {
  it("bounds the recipients of a transaction (452 4.5.3, RFC 5321 §4.5.3.1.8)", async () => {
    const smtp = await openSmtp(main.port, { localAddress: GOOD_IP });
    await smtp.reply();
    await smtp.command(`EHLO ${sender.mailHost}`);
    await smtp.command(`MAIL FROM:<bob@${sender.domain}>`);
    for (const rcpt of ["alice@example.org", "postmaster@example.org", "abuse@example.org"]) expect(await smtp.command(`RCPT TO:<${rcpt}>`)).toMatch(/^250 /);
    expect(await smtp.command("RCPT TO:<alice@example.org>")).toMatch(/^250 /); // a repeat does not count
    expect(await smtp.command("RCPT TO:<hostmaster@example.org>")).toBe("452 4.5.3 Too many recipients");
    smtp.close();
  });

  it("refuses connections over the per-address bound with 421 4.7.0", async () => {
    const localAddress = "127.0.0.21";
    const first = await openSmtp(main.port, { localAddress });
    const second = await openSmtp(main.port, { localAddress });
    expect(await first.reply()).toMatch(/^220 /);
    expect(await second.reply()).toMatch(/^220 /);
    const third = await openSmtp(main.port, { localAddress });
    expect(await third.reply()).toBe("421 4.7.0 mx.example.org Error: too many connections, try again later");
    await third.closed;
    for (const s of [first, second]) s.close();
  });

  it("closes a session at the error bound with 421 4.7.0", async () => {
    const smtp = await openSmtp(main.port, { localAddress: GOOD_IP });
    await smtp.reply();
    await smtp.command(`EHLO ${sender.mailHost}`);
    await smtp.command(`MAIL FROM:<bob@${sender.domain}>`);
    for (let i = 1; i < 5; i++) expect(await smtp.command(`RCPT TO:<x${i}@elsewhere.test>`)).toMatch(/^554 5\.7\.1 /);
    smtp.write("RCPT TO:<x5@elsewhere.test>\r\n");
    expect(await smtp.reply()).toMatch(/^554 5\.7\.1 /);
    expect(await smtp.reply()).toBe("421 4.7.0 mx.example.org Error: too many errors");
    await smtp.closed;
  });

  it("counts junk commands past the limit as errors (Postfix's smtpd_junk_command_limit)", async () => {
    const smtp = await openSmtp(main.port, { localAddress: GOOD_IP });
    await smtp.reply();
    smtp.write("NOOP\r\n".repeat(JUNK_COMMAND_LIMIT + 5));
    for (let i = 0; i < JUNK_COMMAND_LIMIT + 4; i++) expect(await smtp.reply()).toMatch(/^250 /);
    expect(await smtp.reply()).toBe("421 4.7.0 mx.example.org Error: too many errors");
    await smtp.closed;
  });
});

describe("the relay process", () => {
  const node = join(ROOT, "node_modules/.bin/node");

  it("runs from its configuration file, takes mail, and stops on SIGTERM with status 0", async () => {
    const folder = mkdtempSync(join(dir, "process-"));
    const port = await freePort();
    const configPath = join(folder, "edgemx.yaml");
    writeFileSync(configPath, JSON.stringify(relayDocument(folder, harness.dnsPort, { listeners: { mx: { host: "127.0.0.1", port } } })));
    const child = spawn(node, ["relay-node/src/main.ts"], { cwd: ROOT, env: { ...process.env, EDGEMX_CONFIG: configPath }, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    // Started once it logs so; the test's own timeout bounds the wait (a loaded machine starts it slowly).
    const started = new Promise<void>((resolve, reject) => {
      child.stdout.on("data", (chunk: Buffer) => {
        output += chunk.toString();
        if (output.includes('"event":"start"')) resolve();
      });
      child.once("exit", (code) => reject(new Error(`the relay exited with ${code} before it started:\n${output}`)));
    });
    try {
      await started;
      expect(output).toContain("relay.clamd.enabled is false");
      expect(await send(port, { to: "alice@example.org" }, message())).toMatch(/^250 2\.0\.0 Ok: queued as /);
    } finally {
      child.kill("SIGTERM");
    }
    expect(await exited).toBe(0);
    expect(output).toContain('"msg":"relay stopped"');
  });

  it("refuses a bad configuration with its message and status 1", async () => {
    const configPath = join(dir, "bad.yaml");
    writeFileSync(configPath, "hostname: mx.example.org\ndomains: []\n");
    const child = spawn(node, ["relay-node/src/main.ts"], { cwd: ROOT, env: { ...process.env, EDGEMX_CONFIG: configPath }, stdio: ["ignore", "pipe", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.once("exit", (c) => resolve(c)));
    expect(code).toBe(1);
    expect(stderr).toBe(`edgemx relay: invalid configuration in ${configPath}:\n  - domains: expected at least 1 item(s)\n`);
  });
});
