// Reload without restart (relay-node/src/config/reload.ts): the relay reads its configuration file again
// on SIGHUP, `npm run reload` or RunningRelay.reload(); a mailbox, an alias, a DNSBL zone and the limits
// added between two sessions apply to the second, a session open across the reload keeps the
// configuration it started with and its message is taken, and a bad file — or one changing a setting
// that needs a restart — is refused with the field's path while the running configuration goes on
// serving. Submission users need no reload: the relay reads them at each login. The relay in-process
// and as the process it is in production, against the harness's real DNS (its DNSBL lists 127.0.0.2).
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, inject, it } from "vitest";
import type { ConfigInput } from "../../core/config/schema.ts";
import { loadConfigFile } from "../../relay-node/src/config/file.ts";
import { createLogger } from "../../relay-node/src/log/log.ts";
import { startRelay } from "../../relay-node/src/relay.ts";
import { freePort } from "../harness/process.ts";
import { LOCAL, relayDocument, testMessage } from "../harness/relay.ts";
import { npmRun, startRelayProcess } from "../harness/relay-process.ts";
import { openSmtp, type SmtpDialogue } from "../harness/smtp-client.ts";
import { TEST_DNS } from "../harness/zones.ts";

const harness = inject("harness");
const dir = mkdtempSync(join(tmpdir(), "edgemx-relay-reload-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const GOOD_CLIENT = TEST_DNS.sender.authorizedIp;
const LISTED_CLIENT = TEST_DNS.dnsbl.listedIp;
const BOB = `bob@${LOCAL.domain}`;
const CAROL = `carol@${LOCAL.domain}`;
/** An alias of alice's that the second file adds. */
const INFO = `info@${LOCAL.domain}`;
const ACCEPTED = "250 2.1.5 Accepted";
const LISTED = `554 5.7.1 Service unavailable; Client host [${LISTED_CLIENT}] blocked using ${TEST_DNS.dnsbl.zone}`;

function unknown(address: string): string {
  return `550 5.1.1 <${address}>: Recipient address rejected: User unknown in local recipient table`;
}

interface FileChange {
  mailboxes?: string[];
  aliases?: Record<string, string>;
  relay?: NonNullable<ConfigInput["relay"]>;
  connection?: NonNullable<ConfigInput["connection"]>;
}

/**
 * The relay's file in `folder`: alice only, no alias, no DNSBL zone; `change` adds to it. Only the
 * DNSBL and the mailboxes decide here: the name checks log what they find (127.0.0.2 has no PTR record).
 */
function relayFile(folder: string, port: number, change: FileChange = {}): ConfigInput {
  const document = relayDocument(
    folder,
    harness.dnsPort,
    { listeners: { mx: { host: "127.0.0.1", port } }, ...change.relay },
    { dnsbl: { zones: [] }, fcrdns: { action: "log" }, helo: { action: "log" }, ...change.connection },
  );
  document.domains[0]!.mailboxes = change.mailboxes ?? ["alice"];
  if (change.aliases !== undefined) document.domains[0]!.aliases = change.aliases;
  return document;
}

/** The second file: bob and the alias info added, the harness's DNSBL asked, at most two recipients and a 1 MiB SIZE. */
function secondFile(folder: string, port: number): ConfigInput {
  return relayFile(folder, port, {
    mailboxes: ["alice", "bob"],
    aliases: { info: "alice" },
    connection: { dnsbl: { zones: [{ zone: TEST_DNS.dnsbl.zone }] } },
    relay: { limits: { maxRecipients: 2, maxMessageBytes: 1024 * 1024 } },
  });
}

/** A session from `client` up to MAIL FROM; returns it with its EHLO reply. */
async function session(port: number, client: string): Promise<{ smtp: SmtpDialogue; ehlo: string }> {
  const smtp = await openSmtp(port, { localAddress: client });
  expect(await smtp.reply()).toMatch(/^220 /);
  const ehlo = await smtp.command("EHLO mail.sender.test");
  expect(await smtp.command(`MAIL FROM:<alice@${TEST_DNS.sender.domain}>`)).toMatch(/^250 /);
  return { smtp, ehlo };
}

/** The reply to RCPT TO of each address, in a new session from `client`. */
async function rcptReplies(port: number, client: string, ...recipients: string[]): Promise<string[]> {
  const { smtp } = await session(port, client);
  const replies: string[] = [];
  for (const rcpt of recipients) replies.push(await smtp.command(`RCPT TO:<${rcpt}>`));
  await smtp.command("QUIT");
  return replies;
}

/** New sessions under the first file: bob and info unknown, the listed client let in, SIZE 50 MiB. */
async function expectTheFirstFile(port: number): Promise<void> {
  expect(await rcptReplies(port, GOOD_CLIENT, BOB, INFO)).toEqual([unknown(BOB), unknown(INFO)]);
  expect(await rcptReplies(port, LISTED_CLIENT, LOCAL.mailbox)).toEqual([ACCEPTED]);
}

/** New sessions under the second file: bob and info exist, the listed client is refused, two recipients at most, SIZE 1 MiB. */
async function expectTheSecondFile(port: number): Promise<void> {
  const { smtp, ehlo } = await session(port, GOOD_CLIENT);
  expect(ehlo).toContain(`SIZE ${1024 * 1024}`);
  expect(await smtp.command(`RCPT TO:<${BOB}>`)).toBe(ACCEPTED);
  expect(await smtp.command(`RCPT TO:<${INFO}>`)).toBe(ACCEPTED);
  expect(await smtp.command(`RCPT TO:<${LOCAL.mailbox}>`)).toBe("452 4.5.3 Too many recipients");
  await smtp.command("QUIT");
  expect(await rcptReplies(port, LISTED_CLIENT, LOCAL.mailbox)).toEqual([LISTED]);
}

/**
 * A session opened under the first file (a recipient accepted) goes on with it after a reload: bob is
 * still unknown there, and its message is taken.
 */
async function expectTheOpenSessionUnbroken(open: { smtp: SmtpDialogue; ehlo: string }): Promise<void> {
  expect(open.ehlo).toContain(`SIZE ${50 * 1024 * 1024}`);
  expect(await open.smtp.command(`RCPT TO:<${BOB}>`)).toBe(unknown(BOB));
  expect(await open.smtp.command("DATA")).toMatch(/^354 /);
  expect(await open.smtp.command(`${testMessage()}.`)).toMatch(/^250 2\.0\.0 Ok: queued as [0-9A-F]{18}$/);
  expect(await open.smtp.command("QUIT")).toMatch(/^221 /);
}

/** A session from the good client with alice accepted, to be kept open across a reload. */
async function openSessionWithAlice(port: number): Promise<{ smtp: SmtpDialogue; ehlo: string }> {
  const open = await session(port, GOOD_CLIENT);
  expect(await open.smtp.command(`RCPT TO:<${LOCAL.mailbox}>`)).toBe(ACCEPTED);
  return open;
}

describe("the relay in-process", () => {
  it("applies a new mailbox, an alias, a DNSBL zone and the limits to the sessions after a reload; one open across it keeps its own", async () => {
    const folder = join(dir, "in-process");
    const file = join(dir, "in-process.yaml");
    const port = await freePort();
    writeFileSync(file, JSON.stringify(relayFile(folder, port)));
    const logs: Record<string, unknown>[] = [];
    const logger = createLogger("info", { write: (line: string) => void logs.push(JSON.parse(line) as Record<string, unknown>) });
    const relay = await startRelay(loadConfigFile(file), { logger, configFile: file });
    try {
      await expectTheFirstFile(port);
      const open = await openSessionWithAlice(port);

      writeFileSync(file, JSON.stringify(secondFile(folder, port)));
      expect(relay.reload()).toEqual({ ok: true, path: file });
      expect(logs.at(-1)).toMatchObject({ event: "reload", config: file, msg: "configuration reloaded: new sessions use it" });
      await expectTheOpenSessionUnbroken(open);
      await expectTheSecondFile(port);

      // A bad file is refused with the field's path; the running configuration (the second file) stays.
      const bad = secondFile(folder, port);
      bad.domains[0]!.mailboxes = ["alice", "bob", "carol smith"];
      writeFileSync(file, JSON.stringify(bad));
      const problem = "domains[0].mailboxes[2]: expected the local part of an address";
      expect(relay.reload()).toEqual({ ok: false, path: file, problems: [problem] });
      expect(logs.at(-1)).toMatchObject({ event: "reload", problems: [problem], msg: "configuration not reloaded: the running one stays" });
      await expectTheSecondFile(port);

      // So is a file that changes what the running services were built from, carol's mailbox with it.
      const moved = secondFile(folder, port);
      moved.domains[0]!.mailboxes = ["alice", "bob", "carol"];
      moved.relay!.spool = join(folder, "elsewhere");
      moved.relay!.listeners = { ...moved.relay!.listeners, mx: { host: "127.0.0.1", port: port + 1 } };
      writeFileSync(file, JSON.stringify(moved));
      expect(relay.reload()).toEqual({
        ok: false,
        path: file,
        problems: ["relay.listeners: changed, and needs a restart", "relay.spool: changed, and needs a restart"],
      });
      expect(await rcptReplies(port, GOOD_CLIENT, CAROL)).toEqual([unknown(CAROL)]);
    } finally {
      await relay.stop();
    }
  }, 60_000);
});

describe("the relay process", () => {
  it("reloads on SIGHUP and on npm run reload, keeps the sessions open across it, and refuses a bad file, printing it and exiting 1", async () => {
    const folder = join(dir, "process");
    const file = join(dir, "process.yaml");
    const port = await freePort();
    writeFileSync(file, JSON.stringify(relayFile(folder, port)));
    const relay = await startRelayProcess({ args: ["--config", file], cwd: dir });
    try {
      await expectTheFirstFile(port);
      const open = await openSessionWithAlice(port);

      writeFileSync(file, JSON.stringify(secondFile(folder, port)));
      relay.child.kill("SIGHUP");
      await relay.waitForLog((line) => line.event === "reload" && line.msg === "configuration reloaded: new sessions use it");
      await expectTheOpenSessionUnbroken(open);
      await expectTheSecondFile(port);

      const bad = secondFile(folder, port);
      bad.connection!.dnsbl = { zones: [{ zone: "not a zone" }] };
      bad.domains[0]!.mailboxes = ["alice", "bob", "carol"];
      writeFileSync(file, JSON.stringify(bad));
      // npm run reload reads the file first (to find the relay's control socket) and refuses it as the relay would.
      expect(npmRun("reload", ["--config", file], dir)).toMatchObject({
        status: 1,
        stdout: "",
        stderr: `configuration not reloaded: invalid configuration in ${file}:\n  - connection.dnsbl.zones[0].zone: expected a host name such as mx.example.org\n`,
      });
      relay.child.kill("SIGHUP");
      const refused = await relay.waitForLog((line) => line.event === "reload" && line.msg === "configuration not reloaded: the running one stays");
      expect(refused).toMatchObject({ level: 40, config: file, problems: ["connection.dnsbl.zones[0].zone: expected a host name such as mx.example.org"] });
      // The running configuration still serves: the second file's, not carol.
      await expectTheSecondFile(port);
      expect(await rcptReplies(port, GOOD_CLIENT, CAROL)).toEqual([unknown(CAROL)]);

      // A valid file the relay refuses: a listener moved needs a restart. npm run reload prints its answer.
      bad.connection!.dnsbl = { zones: [{ zone: TEST_DNS.dnsbl.zone }] };
      bad.relay!.listeners = { ...bad.relay!.listeners, mx: { host: "127.0.0.1", port: port + 1 } };
      writeFileSync(file, JSON.stringify(bad));
      expect(npmRun("reload", ["--config", file], dir)).toMatchObject({
        status: 1,
        stdout: "",
        stderr: `configuration not reloaded from ${file}; the running one stays:\n  - relay.listeners: changed, and needs a restart\n`,
      });
      expect(await rcptReplies(port, GOOD_CLIENT, CAROL)).toEqual([unknown(CAROL)]);

      bad.relay!.listeners = relayFile(folder, port).relay!.listeners;
      writeFileSync(file, JSON.stringify(bad));
      expect(npmRun("reload", ["--config", file], dir)).toMatchObject({
        status: 0,
        stdout: `configuration reloaded from ${file}: new sessions use it\n`,
        stderr: "",
      });
      expect(await rcptReplies(port, GOOD_CLIENT, CAROL)).toEqual([ACCEPTED]);
    } finally {
      expect(await relay.stop()).toBe(0);
    }
  }, 90_000);

  it("sees a submission user npm run user adds at the next login, with no reload", async () => {
    const folder = join(dir, "users");
    const file = join(dir, "users.yaml");
    const [mx, submission] = [await freePort(), await freePort()];
    const document = relayFile(folder, mx, {
      relay: {
        listeners: { mx: { host: "127.0.0.1", port: mx }, submission: { host: "127.0.0.1", port: submission } },
        users: { path: join(folder, "users.sqlite") },
      },
    });
    writeFileSync(file, JSON.stringify(document));
    const relay = await startRelayProcess({ args: ["--config", file], cwd: dir });
    const password = "correct horse battery";
    const login = async (): Promise<string> => {
      const smtp = await openSmtp(submission);
      expect(await smtp.reply()).toMatch(/^220 /);
      await smtp.command("EHLO client.example.org");
      await smtp.startTls();
      await smtp.command("EHLO client.example.org");
      // RFC 4616: authorization identity (empty), NUL, user, NUL, password.
      const reply = await smtp.command(`AUTH PLAIN ${Buffer.from(`\0${BOB}\0${password}`).toString("base64")}`);
      await smtp.command("QUIT");
      return reply;
    };
    try {
      expect(await login()).toBe("535 5.7.8 Authentication credentials invalid");
      const added = npmRun("user", ["--config", file, "add", BOB, "--password-stdin"], dir, `${password}\n`);
      expect(added, added.stderr).toMatchObject({ status: 0, stdout: `added ${BOB}\n` });
      expect(await login()).toMatch(/^235 /);
      expect(relay.logs().filter((line) => line.event === "reload")).toEqual([]);
    } finally {
      expect(await relay.stop()).toBe(0);
    }
  }, 60_000);
});
