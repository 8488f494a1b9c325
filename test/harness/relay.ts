// The relay for integration tests: a configuration for the local domain example.org with the harness's
// resolver and a Maildir next hop in a folder of the test's own, the relay started in-process on a free
// loopback port with its log lines collected, test messages, and what landed in the Maildir.
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { createLogger } from "../../relay-node/src/log/log.ts";
import { startRelay, type RelayOverrides, type RunningRelay } from "../../relay-node/src/relay.ts";
import { parseConfig } from "../../core/config/load.ts";
import type { ConfigInput, EdgemxConfig } from "../../core/config/schema.ts";
import { openSmtp } from "./smtp-client.ts";
import { TEST_DNS } from "./zones.ts";

/** Our side: the relay's host name and its one mail domain, with the mailbox alice (and the roles). */
export const LOCAL = { hostname: "mx.example.org", domain: "example.org", mailbox: "alice@example.org" } as const;

export type RelaySettings = NonNullable<ConfigInput["relay"]>;
export type ConnectionSettings = NonNullable<ConfigInput["connection"]>;

/**
 * The configuration document of a test relay living in `folder` (spool and Maildir): the MX only (the
 * submission listeners off), DNS from the harness's validating resolver, the test DNSBL, greylisting
 * and clamd off; `relay` and `connection` override (`relay.listeners` are added to those).
 */
export function relayDocument(folder: string, dnsPort: number, relay: RelaySettings = {}, connection: ConnectionSettings = {}): ConfigInput {
  return {
    hostname: LOCAL.hostname,
    domains: [{ name: LOCAL.domain, mx: [LOCAL.hostname], mailboxes: ["alice"] }],
    connection: { dnsbl: { zones: [{ zone: TEST_DNS.dnsbl.zone }] }, greylist: { enabled: false }, ...connection },
    relay: {
      resolver: { host: "127.0.0.1", port: dnsPort, timeoutMs: 3000 },
      clamd: { enabled: false },
      nextHop: { type: "maildir", path: join(folder, "Maildir") },
      spool: join(folder, "spool"),
      ...relay,
      // Submission (587/465) only where a test asks for it.
      listeners: { submission: { enabled: false }, submissions: { enabled: false }, ...relay.listeners },
    },
  };
}

export interface TestRelay {
  relay: RunningRelay;
  config: EdgemxConfig;
  port: number;
  /** The Maildir next hop's folder; null for an SMTP or LMTP next hop. */
  maildir: string | null;
  /** Every log line so far, parsed. */
  logs: Record<string, unknown>[];
}

/**
 * Starts the relay on 127.0.0.1 (a free port); `env` stands for the process environment (EDGEMX_VERDICT_TOKEN);
 * `overrides` adds to startRelay's (a submission port, remote delivery's trust anchors).
 */
export async function startTestRelay(document: ConfigInput, env: NodeJS.ProcessEnv = {}, overrides: RelayOverrides = {}): Promise<TestRelay> {
  const config = parseConfig(document);
  const logs: Record<string, unknown>[] = [];
  const logger = createLogger("info", { write: (line: string) => void logs.push(JSON.parse(line) as Record<string, unknown>) });
  const relay = await startRelay(config, {
    listen: { host: "127.0.0.1", port: 0 },
    // Metrics and health on a free port: test relays run side by side, and beside a relay on the host.
    metricsListen: { host: "127.0.0.1", port: 0 },
    logger,
    env,
    delivery: { pollIntervalMs: 200 },
    ...overrides,
  });
  const { nextHop } = config.relay;
  return { relay, config, port: relay.port!, maildir: nextHop.type === "maildir" ? nextHop.path : null, logs };
}

/** The files in a recipient's Maildir (new/), oldest first; none when it does not exist yet. */
export function maildirMessages(maildir: string, mailbox: string): string[] {
  const [local, domain] = mailbox.split("@") as [string, string];
  const folder = join(maildir, domain, local, "new");
  let names: string[];
  try {
    names = readdirSync(folder).sort();
  } catch {
    return [];
  }
  return names.map((name) => readFileSync(join(folder, name), "utf8"));
}

function maildirOf(test: TestRelay): string {
  if (test.maildir === null) throw new Error("this test relay does not deliver to a Maildir");
  return test.maildir;
}

/** The messages delivered to a mailbox once the relay's delivery has nothing due, oldest first. */
export async function delivered(test: TestRelay, mailbox: string): Promise<string[]> {
  await test.relay.delivery.idle();
  return maildirMessages(maildirOf(test), mailbox);
}

/** Every message in every mailbox of the Maildir, once delivery has nothing due. */
export async function deliveredAnywhere(test: TestRelay): Promise<string[]> {
  const maildir = maildirOf(test);
  await test.relay.delivery.idle();
  let domains: string[];
  try {
    domains = readdirSync(maildir);
  } catch {
    return [];
  }
  return domains.flatMap((domain) => readdirSync(join(maildir, domain)).flatMap((local) => maildirMessages(maildir, `${local}@${domain}`)));
}

export interface TestMessageOptions {
  from?: string;
  to?: string;
  subject?: string;
  body?: string;
  /** Header fields put on top. */
  headers?: string[];
  messageId?: string;
}

/** A complete, RFC 5322-conforming plain-text message, CRLF line ends, from bob@sender.test by default. */
export function testMessage(options: TestMessageOptions = {}): string {
  return [
    ...(options.headers ?? []),
    `From: Bob <${options.from ?? `bob@${TEST_DNS.sender.domain}`}>`,
    `To: ${options.to ?? LOCAL.mailbox}`,
    `Subject: ${options.subject ?? "hello"}`,
    `Date: ${new Date().toUTCString().replace("GMT", "+0000")}`,
    `Message-ID: ${options.messageId ?? `<${Math.random().toString(36).slice(2)}@${TEST_DNS.sender.domain}>`}`,
    "MIME-Version: 1.0",
    "Content-Type: text/plain; charset=utf-8",
    "",
    options.body ?? "Hello Alice.",
    "",
  ].join("\r\n");
}

/** A message with a text part and one attachment, base64 in lines of 76 (RFC 2045 §6.8). */
export function messageWithAttachment(filename: string, content: Uint8Array, options: Omit<TestMessageOptions, "body"> = {}): string {
  const boundary = "edgemx-test-boundary";
  const head = testMessage({ subject: `about ${filename}`, ...options })
    .split("\r\n\r\n")[0]!
    .replace("Content-Type: text/plain; charset=utf-8", `Content-Type: multipart/mixed; boundary="${boundary}"`);
  return [
    head,
    "",
    `--${boundary}`,
    "Content-Type: text/plain; charset=utf-8",
    "",
    "See the attachment.",
    `--${boundary}`,
    `Content-Type: application/octet-stream; name="${filename}"`,
    `Content-Disposition: attachment; filename="${filename}"`,
    "Content-Transfer-Encoding: base64",
    "",
    ...(Buffer.from(content)
      .toString("base64")
      .match(/.{1,76}/g) ?? []),
    `--${boundary}--`,
    "",
  ].join("\r\n");
}

/**
 * One message to LOCAL.mailbox from sender.test's authorized address (its SPF passes for any MAIL FROM
 * domain that lists it), with `mailFrom` and the header From `from`; the reply to its final dot. A refusal
 * before DATA throws: the tests using this judge the message, not the envelope.
 */
export async function sendAsAuthorizedSender(port: number, mailFrom: string, from: string): Promise<string> {
  const { sender } = TEST_DNS;
  const smtp = await openSmtp(port, { localAddress: sender.authorizedIp });
  try {
    await smtp.reply();
    await smtp.command(`EHLO ${sender.mailHost}`);
    for (const [command, expected] of [
      [`MAIL FROM:<${mailFrom}>`, "250"],
      [`RCPT TO:<${LOCAL.mailbox}>`, "250"],
      ["DATA", "354"],
    ] as const) {
      const reply = await smtp.command(command);
      if (!reply.startsWith(expected)) throw new Error(`${command} got ${reply}`);
    }
    return await smtp.command(`${testMessage({ from }).replace(/\r\n$/, "")}\r\n.`);
  } finally {
    smtp.close();
  }
}
