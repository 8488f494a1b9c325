// DSNs leave DKIM-signed like other outbound mail (relay-node/src/sign/generated.ts): the relay
// in-process with example.org's DKIM key and a submission user; alice submits a message to a domain with
// a Null MX (RFC 7505), its delivery fails at once, and the DSN — from postmaster@example.org — lands in
// her Maildir, where python3-dkim (test/fixtures/dkim-verify.py) verifies its signature.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import SMTPConnection from "nodemailer/lib/smtp-connection";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { UserStore } from "../../relay-node/src/users/store.ts";
import { DKIM_PRIVATE_KEY_PEM, DKIM_PUBLIC_KEY_BASE64, DKIM_SELECTOR } from "../harness/dkim-key.ts";
import { freePort } from "../harness/process.ts";
import { delivered, LOCAL, relayDocument, startTestRelay, testMessage, type TestRelay } from "../harness/relay.ts";
import { TEST_DNS } from "../harness/zones.ts";

const VERIFY = fileURLToPath(new URL("../fixtures/dkim-verify.py", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "edgemx-dsn-"));
const ALICE = { user: LOCAL.mailbox, password: "correct horse battery" };
let relay: TestRelay;
let submissionPort: number;

beforeAll(async () => {
  const usersPath = join(dir, "users.sqlite");
  const users = new UserStore(usersPath, { N: 2 ** 10, r: 8, p: 1 });
  await users.add(ALICE.user, ALICE.password);
  users.close();
  const keyFile = join(dir, "dkim.pem");
  writeFileSync(keyFile, DKIM_PRIVATE_KEY_PEM, { mode: 0o600 });
  submissionPort = await freePort();
  const document = relayDocument(join(dir, "relay"), inject("harness").dnsPort, {
    users: { path: usersPath },
    listeners: { submission: { host: "127.0.0.1", port: submissionPort } },
  });
  document.domains[0]!.dkim = { selector: DKIM_SELECTOR, publicKey: DKIM_PUBLIC_KEY_BASE64, privateKeyFile: keyFile };
  relay = await startTestRelay(document);
}, 60_000);

afterAll(async () => {
  await relay?.relay.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** python3-dkim's verdict on `message`, with example.org's key record in place of DNS. */
function verifyWithPythonDkim(message: string): string {
  const run = spawnSync("/usr/bin/python3", [VERIFY, DKIM_SELECTOR, LOCAL.domain, `v=DKIM1; k=rsa; p=${DKIM_PUBLIC_KEY_BASE64}`], {
    input: message,
    encoding: "utf8",
  });
  return `${run.stdout}${run.stderr}`.trim();
}

/** Submits on 587 with STARTTLS and AUTH PLAIN, as a mail client would. */
async function submit(rcpt: string, subject: string): Promise<void> {
  const connection = new SMTPConnection({
    host: "127.0.0.1",
    port: submissionPort,
    name: "laptop.home.test",
    requireTLS: true,
    tls: { rejectUnauthorized: false },
  });
  await new Promise<void>((resolve, reject) => connection.connect((err) => (err ? reject(err) : resolve())));
  await new Promise<void>((resolve, reject) => connection.login({ user: ALICE.user, pass: ALICE.password }, (err) => (err ? reject(err) : resolve())));
  const raw = testMessage({ from: ALICE.user, to: rcpt, subject });
  await new Promise<void>((resolve, reject) => connection.send({ from: ALICE.user, to: [rcpt] }, raw, (err) => (err ? reject(err) : resolve())));
  connection.quit();
}

describe("DSNs are DKIM-signed", () => {
  it("a bounce to a submitting user comes from postmaster@example.org and verifies with python3-dkim", async () => {
    const rcpt = `nobody@${TEST_DNS.nullMx}`;
    await submit(rcpt, "to a Null MX");
    const dsn = (await delivered(relay, ALICE.user)).find((message) => message.includes("Subject: Undelivered mail returned to sender"));
    expect(dsn).toBeDefined();
    expect(dsn).toMatch(/^From: Mail Delivery System <postmaster@example\.org>\r?$/m);
    expect(dsn).toMatch(/^Return-Path: <>\r?$/m);
    expect(dsn).toContain(`Final-Recipient: rfc822; ${rcpt}`);
    expect(dsn).toMatch(/^DKIM-Signature: v=1; a=rsa-sha256; c=relaxed\/relaxed; d=example\.org;\r?\n\ts=edgemx;/m);
    // DKIM only: nothing was received and authenticated on the DSN's way, so no ARC set.
    expect(verifyWithPythonDkim(dsn!)).toBe("dkim=pass arc=none (Message is not ARC signed)");
    expect(verifyWithPythonDkim(dsn!.replace("Subject: Undelivered mail returned to sender", "Subject: Delivered after all"))).toMatch(/^dkim=fail /);
  });
});
