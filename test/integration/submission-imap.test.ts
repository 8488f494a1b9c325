// Submission with relay.users = the IMAP host: swaks AUTH PLAIN against the listener on 587, the
// password checked by a small fake IMAP server over implicit TLS (test/harness/imap-server.ts): 235 when the
// host says OK, 535 5.7.8 when it says NO, 454 4.7.0 when it is down. The user then sends as an alias.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { freePort } from "../harness/process.ts";
import { LOCAL, relayDocument, startTestRelay, testMessage, type TestRelay } from "../harness/relay.ts";
import { runSwaks, writeSwaksData, type SwaksRun } from "../harness/swaks.ts";
import { startImapServer, type ImapTestServer } from "../harness/imap-server.ts";

const harness = inject("harness");
const dir = mkdtempSync(join(tmpdir(), "edgemx-submission-imap-"));
const ALICE = { user: LOCAL.mailbox, password: "imap secret" };
let imap: ImapTestServer;
let relay: TestRelay;
let port: number;
let files = 0;

beforeAll(async () => {
  imap = await startImapServer(dir, { users: { [ALICE.user]: ALICE.password }, implicitTls: true, saslIr: true });
  port = await freePort();
  const document = relayDocument(join(dir, "relay"), harness.dnsPort, {
    listeners: { mx: { host: "127.0.0.1", port: 25 }, submission: { host: "127.0.0.1", port } },
    users: { type: "imap", host: "127.0.0.1", port: imap.port, tls: "implicit", timeoutMs: 2000, caFile: imap.caFile },
  });
  document.domains[0]!.aliases = { info: "alice" };
  relay = await startTestRelay(document);
}, 60_000);

afterAll(async () => {
  await relay?.relay.stop();
  await imap?.close();
  rmSync(dir, { recursive: true, force: true });
});

function swaks(password: string, from: string = ALICE.user): Promise<SwaksRun> {
  const data = join(dir, `message-${++files}.eml`);
  writeSwaksData(data, testMessage({ from, to: ALICE.user, subject: "via imap auth" }));
  return runSwaks([
    "--server",
    `127.0.0.1:${port}`,
    "--ehlo",
    "laptop.home.test",
    "--from",
    from,
    "--to",
    ALICE.user,
    "--data",
    `@${data}`,
    "--tls",
    "--auth",
    "PLAIN",
    "--auth-user",
    ALICE.user,
    "--auth-password",
    password,
    "--quit-after",
    "RCPT",
  ]);
}

const replyTo = (run: SwaksRun, command: RegExp): string => run.exchanges.find((e) => command.test(e.command))?.reply ?? run.transcript;

describe("submission users checked by the IMAP host", () => {
  it("accepts the IMAP password (235) and lets the user send as the alias pointing to them", async () => {
    const run = await swaks(ALICE.password, `info@${LOCAL.domain}`);
    expect(replyTo(run, /^AUTH PLAIN/)).toMatch(/^235 /);
    expect(replyTo(run, /^MAIL FROM/)).toMatch(/^250 /);
    expect(imap.commands.some((c) => /^a\d+ (LOGIN|AUTHENTICATE) /.test(c))).toBe(true);
  });

  it("refuses a password the IMAP host refuses with 535 5.7.8", async () => {
    const run = await swaks("wrong");
    expect(replyTo(run, /^AUTH PLAIN/)).toBe("535 5.7.8 Authentication credentials invalid");
  });

  it("answers 454 4.7.0 while the IMAP host is down", async () => {
    imap.mode = "down";
    try {
      const run = await swaks(ALICE.password);
      expect(replyTo(run, /^AUTH PLAIN/)).toBe("454 4.7.0 Temporary authentication failure");
    } finally {
      imap.mode = "up";
    }
  });
});
