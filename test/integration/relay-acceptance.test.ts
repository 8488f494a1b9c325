// The relay's acceptance test (issue 4): every reply of the spec's table (docs/architecture.md) and every rule of the MX
// session, driven by two real SMTP clients — swaks (its own process) and nodemailer — against the
// real relay (startRelay) with real DNS (the harness: Knot, unbound), real clamd with its test
// signatures, the judge in-process or the Worker in workerd (Miniflare), and a Maildir next hop in a
// temp folder. Clients come from chosen loopback addresses (127.0.0.x), so that DNSBL and FCrDNS see
// the client each case needs. Accepted mail is read back from the Maildir, field by field.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import nodemailer from "nodemailer";
import SMTPConnection from "nodemailer/lib/smtp-connection";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { parseConfig } from "../../core/config/load.ts";
import { workerPart } from "../../core/config/worker.ts";
import { CLAM_TESTFILES, EICAR, SIGNATURES } from "../harness/clamd.ts";
import { freePort } from "../harness/process.ts";
import {
  LOCAL,
  delivered,
  deliveredAnywhere,
  messageWithAttachment,
  relayDocument,
  startTestRelay,
  testMessage,
  type ConnectionSettings,
  type RelaySettings,
  type TestRelay,
} from "../harness/relay.ts";
import { startClamd, type ClamdService } from "../harness/services.ts";
import { runSwaks, writeSwaksData } from "../harness/swaks.ts";
import { bundleWorker, startWorker, type RunningWorker } from "../harness/worker.ts";
import { TEST_DNS } from "../harness/zones.ts";

const harness = inject("harness");
const dir = mkdtempSync(join(tmpdir(), "edgemx-relay-acceptance-"));
const { sender, dnsbl, clients } = TEST_DNS;
/** Passes every connection check: PTR mail.sender.test ↔ A, not on the DNSBL, authorized by SPF. */
const GOOD_CLIENT = { ip: sender.authorizedIp, helo: sender.mailHost, verifiedName: sender.mailHost };
const MAX_MESSAGE_BYTES = 128 * 1024;
/** A name pattern that marks dynamic (dial-up, pool) client names: refused even when forward-confirmed. */
const DYNAMIC_PATTERN = "^dyn-";
const VERDICT_TOKEN = "acceptance-verdict-token";

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** The spec's reply for a refusal after DATA, with the tracking id as a pattern. */
function withTrackingId(reply: string): RegExp {
  const [before, after] = reply.split("XXXXX-XX") as [string, string];
  return new RegExp(`^${escapeRegExp(before)}\\d{5}-\\d{2}${escapeRegExp(after)}$`);
}

// ---------------------------------------------------------------------------------------------------
// The two clients

interface Submission {
  ip: string;
  helo: string;
  from: string;
  to: readonly string[];
  raw: string;
  starttls?: boolean;
}

/** Where a transaction ended: refused at MAIL FROM or RCPT TO, or answered after the final dot. */
type Stage = "MAIL" | "RCPT" | "end of data";

interface Outcome {
  /** The reply that ended the transaction: to the final dot, or the refusal that stopped it. */
  reply: string;
  stage: Stage;
  /** Recipients refused while others were accepted, with their replies. */
  refused: Record<string, string>;
  /** The TLS the client negotiated, where the client tells (swaks does). */
  tls: { version: string; cipher: string } | null;
}

interface SmtpClient {
  name: string;
  /** Whether Outcome.tls tells the negotiated TLS. */
  reportsTls: boolean;
  send(port: number, submission: Submission): Promise<Outcome>;
}

let swaksFiles = 0;

const swaks: SmtpClient = {
  name: "swaks",
  reportsTls: true,
  async send(port, submission) {
    const data = join(dir, `swaks-${++swaksFiles}.eml`);
    writeSwaksData(data, submission.raw);
    const run = await runSwaks([
      "--server",
      `127.0.0.1:${port}`,
      "--local-interface",
      submission.ip,
      "--ehlo",
      submission.helo,
      "--from",
      submission.from,
      "--to",
      submission.to.join(","),
      "--data",
      `@${data}`,
      ...(submission.starttls ? ["--tls"] : []),
    ]);
    const beforeQuit = run.exchanges.filter((e) => !/^QUIT$/i.test(e.command));
    const final = beforeQuit.at(-1);
    if (final === undefined) throw new Error(`swaks got no reply:\n${run.transcript}`);
    const stage: Stage = /^MAIL FROM:/i.test(final.command) ? "MAIL" : /^RCPT TO:/i.test(final.command) ? "RCPT" : "end of data";
    if (stage === "end of data" && final.command !== ".") throw new Error(`swaks stopped at ${JSON.stringify(final.command)}:\n${run.transcript}`);
    const refused: Record<string, string> = {};
    for (const { command, reply } of beforeQuit) {
      const rcpt = /^RCPT TO:<(.*)>$/i.exec(command)?.[1];
      if (rcpt !== undefined && !reply.startsWith("2") && stage === "end of data") refused[rcpt] = reply;
    }
    return { reply: final.reply, stage, refused, tls: run.tls };
  },
};

interface NodemailerError {
  response?: string;
  command?: string;
  rejectedErrors?: { recipient?: string; response?: string }[];
}

const nodemailerClient: SmtpClient = {
  name: "nodemailer",
  reportsTls: false,
  async send(port, submission) {
    const transport = nodemailer.createTransport({
      host: "127.0.0.1",
      port,
      secure: false,
      ...(submission.starttls ? { requireTLS: true } : { ignoreTLS: true }),
      localAddress: submission.ip,
      name: submission.helo,
      tls: { rejectUnauthorized: false },
    });
    const refusedOf = (errors: NodemailerError["rejectedErrors"] = []): Record<string, string> =>
      Object.fromEntries(errors.map((e) => [e.recipient ?? "", e.response ?? ""]));
    try {
      const info = await transport.sendMail({ envelope: { from: submission.from, to: [...submission.to] }, raw: submission.raw });
      return {
        reply: info.response,
        stage: "end of data",
        refused: refusedOf((info as { rejectedErrors?: NodemailerError["rejectedErrors"] }).rejectedErrors),
        tls: null,
      };
    } catch (err) {
      const failure = err as NodemailerError;
      if (failure.response === undefined) throw err;
      // nodemailer names the command of a refusal after the final dot "DATA" (the relay never refuses DATA itself).
      const stage: Stage = failure.command === "MAIL FROM" ? "MAIL" : failure.command === "RCPT TO" ? "RCPT" : "end of data";
      return { reply: failure.response, stage, refused: {}, tls: null };
    } finally {
      transport.close();
    }
  },
};

const CLIENTS: readonly SmtpClient[] = [swaks, nodemailerClient];

// ---------------------------------------------------------------------------------------------------
// What lands in the Maildir

/** The header fields the relay and the Maildir put on top of the message as received, in order. */
function addedFields(copy: string, raw: string): string[] {
  expect(copy.endsWith(raw), "the message as sent, byte for byte, under the added fields").toBe(true);
  const added = copy.slice(0, copy.length - raw.length);
  expect(added.endsWith("\r\n")).toBe(true);
  return added.slice(0, -2).split(/\r\n(?![ \t])/);
}

interface Expected {
  raw: string;
  from: string;
  mailbox: string;
  queueId: string;
  client: { ip: string; helo: string; verifiedName: string };
  /** Set when the session used STARTTLS; the cipher when the client told it. */
  tls?: { version: string; cipher: string } | "some";
}

/**
 * A delivered copy: Return-Path and Delivered-To from the Maildir, the judge's Authentication-Results
 * (our authserv-id) and X-Edgemx-Verdict, the relay's Received last, then the message unchanged.
 */
function expectDeliveredCopy(copy: string, expected: Expected): void {
  const fields = addedFields(copy, expected.raw);
  expect(fields[0]).toBe(`Return-Path: <${expected.from}>`);
  expect(fields[1]).toBe(`Delivered-To: ${expected.mailbox}`);
  const results = fields.filter((f) => f.startsWith("Authentication-Results:"));
  expect(results).toHaveLength(1);
  expect(results[0]).toMatch(new RegExp(`^Authentication-Results: ${escapeRegExp(LOCAL.hostname)};`));
  expect(results[0]).toMatch(/\bspf=pass [^;]*smtp\.mailfrom=sender\.test\b/);
  expect(results[0]).toMatch(/\bdmarc=pass\b/);
  expect(fields.filter((f) => /^X-Edgemx-Verdict: accept; id=\d{5}-\d{2}$/.test(f))).toHaveLength(1);
  const { client, tls } = expected;
  const tlsClause =
    tls === undefined
      ? ""
      : tls === "some"
        ? "\\t\\(version=TLSv1\\.[23] cipher=[A-Z0-9_-]+\\)\\r\\n"
        : `\\t${escapeRegExp(`(version=${tls.version} cipher=${tls.cipher})`)}\\r\\n`;
  expect(fields.at(-1)).toMatch(
    new RegExp(
      `^${escapeRegExp(`Received: from ${client.helo} (${client.verifiedName} [${client.ip}])`)}\\r\\n` +
        `\\tby ${escapeRegExp(LOCAL.hostname)} with ESMTP${tls === undefined ? "" : "S"} id ${expected.queueId}\\r\\n` +
        tlsClause +
        `\\tfor <${escapeRegExp(expected.mailbox)}>; \\w{3}, \\d{1,2} \\w{3} \\d{4} \\d\\d:\\d\\d:\\d\\d \\+0000$`,
    ),
  );
}

/** The copies of `raw` in a mailbox, once delivery has nothing due. */
async function copiesOf(test: TestRelay, mailbox: string, raw: string): Promise<string[]> {
  return (await delivered(test, mailbox)).filter((m) => m.endsWith(raw));
}

/** The one copy of `raw` in a mailbox (a second would be a duplicate delivery). */
async function onlyCopy(test: TestRelay, mailbox: string, raw: string): Promise<string> {
  const copies = await copiesOf(test, mailbox, raw);
  expect(copies).toHaveLength(1);
  return copies[0]!;
}

function queueIdOf(reply: string): string {
  const id = /^250 2\.0\.0 Ok: queued as ([0-9A-F]{18})$/.exec(reply)?.[1];
  if (id === undefined) throw new Error(`not a queued reply: ${reply}`);
  return id;
}

/** A unique word to put in a message, to find its copy (or its absence) in the Maildir. */
function marker(what: string, client: SmtpClient): string {
  return `${what}-${client.name}-${Math.random().toString(36).slice(2)}`;
}

// ---------------------------------------------------------------------------------------------------
// The relays

let clamd: ClamdService;
let relays = 0;

function startAcceptanceRelay(relay: RelaySettings = {}, env: NodeJS.ProcessEnv = {}, connection: ConnectionSettings = {}): Promise<TestRelay> {
  return startTestRelay(
    relayDocument(
      join(dir, `relay-${++relays}`),
      harness.dnsPort,
      { clamd: { host: clamd.host, port: clamd.port, timeoutMs: 10_000 }, limits: { maxMessageBytes: MAX_MESSAGE_BYTES }, ...relay },
      { fcrdns: { dynamicPatterns: [DYNAMIC_PATTERN] }, ...connection },
    ),
    env,
  );
}

/** The relay most cases use: every check on, the in-process judge, clamd, no greylisting. */
let main: TestRelay;

beforeAll(async () => {
  clamd = await startClamd();
  main = await startAcceptanceRelay();
});

afterAll(async () => {
  await main?.relay.stop();
  await clamd?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** A submission from the client that passes every check, from bob@sender.test to alice@example.org; `overrides` change it. */
const goodSubmission = (raw: string, overrides: Partial<Submission> = {}): Submission => ({
  ip: GOOD_CLIENT.ip,
  helo: GOOD_CLIENT.helo,
  from: `bob@${sender.domain}`,
  to: [LOCAL.mailbox],
  raw,
  ...overrides,
});

// ---------------------------------------------------------------------------------------------------

describe.each(CLIENTS)("accepted mail, sent by $name", (client) => {
  it("is answered 250 with the queue id and lands in the Maildir unchanged, under Return-Path, Delivered-To, Authentication-Results, X-Edgemx-Verdict and Received", async () => {
    // A body line that starts with a dot: dot-stuffed on the wire (RFC 5321 §4.5.2), unstuffed by us.
    const raw = testMessage({ body: `${marker("clean", client)}\r\n.a line that starts with a dot` });
    const outcome = await client.send(main.port, goodSubmission(raw));
    expect(outcome).toMatchObject({ stage: "end of data", refused: {} });
    const queueId = queueIdOf(outcome.reply);
    expectDeliveredCopy(await onlyCopy(main, LOCAL.mailbox, raw), { raw, from: `bob@${sender.domain}`, mailbox: LOCAL.mailbox, queueId, client: GOOD_CLIENT });
  });

  it("over STARTTLS says so in Received: ESMTPS and the negotiated version and cipher", async () => {
    const raw = testMessage({ body: marker("tls", client) });
    const outcome = await client.send(main.port, goodSubmission(raw, { starttls: true }));
    expect(outcome.tls !== null).toBe(client.reportsTls);
    const queueId = queueIdOf(outcome.reply);
    expectDeliveredCopy(await onlyCopy(main, LOCAL.mailbox, raw), {
      raw,
      from: `bob@${sender.domain}`,
      mailbox: LOCAL.mailbox,
      queueId,
      client: GOOD_CLIENT,
      tls: outcome.tls ?? "some",
    });
  });

  it("with an 8-bit UTF-8 body (8BITMIME) lands unchanged", async () => {
    const raw = testMessage({ headers: ["Content-Transfer-Encoding: 8bit"], body: `${marker("8bit", client)}\r\nGrüße aus Köln — Ærø, Ωμέγα, 日本語` });
    const queueId = queueIdOf((await client.send(main.port, goodSubmission(raw))).reply);
    expectDeliveredCopy(await onlyCopy(main, LOCAL.mailbox, raw), { raw, from: `bob@${sender.domain}`, mailbox: LOCAL.mailbox, queueId, client: GOOD_CLIENT });
  });

  it("is taken from an address literal HELO that is the client's own address", async () => {
    const raw = testMessage({ body: marker("literal", client) });
    const outcome = await client.send(main.port, goodSubmission(raw, { helo: `[${GOOD_CLIENT.ip}]` }));
    const queueId = queueIdOf(outcome.reply);
    expectDeliveredCopy(await onlyCopy(main, LOCAL.mailbox, raw), {
      raw,
      from: `bob@${sender.domain}`,
      mailbox: LOCAL.mailbox,
      queueId,
      client: { ...GOOD_CLIENT, helo: `[${GOOD_CLIENT.ip}]` },
    });
  });
});

interface RefusalCase {
  title: string;
  /** The envelope and client, where they differ from a good client's. */
  envelope: Partial<Omit<Submission, "raw">>;
  /** The message, carrying `word` somewhere; a plain text message by default. */
  message?: (word: string) => string;
  reply: string | RegExp;
  stage: Stage;
}

const REFUSALS: readonly RefusalCase[] = [
  {
    title: "a sender domain that does not exist: 554 5.1.8 at RCPT TO",
    envelope: { from: `bob@${sender.nxdomain}` },
    reply: `554 5.1.8 <bob@${sender.nxdomain}>: Sender address rejected: Domain not found`,
    stage: "RCPT",
  },
  {
    title: "a sender domain with a Null MX (RFC 7505): 554 5.1.8 at RCPT TO",
    envelope: { from: `bob@${TEST_DNS.nullMx}` },
    reply: `554 5.1.8 <bob@${TEST_DNS.nullMx}>: Sender address rejected: Domain not found`,
    stage: "RCPT",
  },
  {
    title: "a client without a PTR record: 554 5.7.1 unknown[ip] at RCPT TO",
    envelope: { ip: clients.noPtrIp },
    reply: `554 5.7.1 <unknown[${clients.noPtrIp}]>: Client host rejected: Access denied`,
    stage: "RCPT",
  },
  {
    title: "a client whose PTR name does not lead back to it: 554 5.7.1 unknown[ip] at RCPT TO",
    envelope: { ip: clients.unconfirmedIp },
    reply: `554 5.7.1 <unknown[${clients.unconfirmedIp}]>: Client host rejected: Access denied`,
    stage: "RCPT",
  },
  {
    title: "a client with a dynamic-looking name: 554 5.7.1 name[ip] at RCPT TO",
    envelope: { ip: clients.dynamicIp },
    reply: `554 5.7.1 <${clients.dynamicName}[${clients.dynamicIp}]>: Client host rejected: Access denied`,
    stage: "RCPT",
  },
  {
    title: "a client on the DNSBL: 554 5.7.1 Service unavailable at RCPT TO",
    envelope: { ip: dnsbl.listedIp },
    reply: `554 5.7.1 Service unavailable; Client host [${dnsbl.listedIp}] blocked using ${dnsbl.zone}`,
    stage: "RCPT",
  },
  {
    title: "a HELO name that does not exist: 554 5.7.1 Helo command rejected at RCPT TO",
    envelope: { helo: sender.nxdomain },
    reply: `554 5.7.1 <${sender.nxdomain}>: Helo command rejected: Host not found`,
    stage: "RCPT",
  },
  {
    title: "our own name as HELO: 554 5.7.1 Helo command rejected",
    envelope: { helo: LOCAL.hostname },
    reply: `554 5.7.1 <${LOCAL.hostname}>: Helo command rejected: Host not found`,
    stage: "RCPT",
  },
  {
    title: "a HELO that is not a fully qualified name: 554 5.7.1 Helo command rejected",
    envelope: { helo: "workstation" },
    reply: "554 5.7.1 <workstation>: Helo command rejected: Host not found",
    stage: "RCPT",
  },
  {
    title: "an address literal HELO of another address: 554 5.7.1 Helo command rejected",
    envelope: { helo: `[${sender.mxAddress}]` },
    reply: `554 5.7.1 <[${sender.mxAddress}]>: Helo command rejected: Host not found`,
    stage: "RCPT",
  },
  {
    title: "a recipient outside our domains: 554 5.7.1 Relay access denied",
    envelope: { to: ["someone@elsewhere.test"] },
    reply: "554 5.7.1 <someone@elsewhere.test>: Relay access denied",
    stage: "RCPT",
  },
  {
    title: "an unknown mailbox of ours: 550 5.1.1",
    envelope: { to: [`bob@${LOCAL.domain}`] },
    reply: `550 5.1.1 <bob@${LOCAL.domain}>: Recipient address rejected: User unknown in local recipient table`,
    stage: "RCPT",
  },
  {
    title: "a virus (EICAR, found by clamd): 554 5.7.0 INFECTED after the final dot",
    envelope: {},
    message: (word) => messageWithAttachment("notes.txt", Buffer.from(EICAR, "latin1"), { subject: word }),
    reply: withTrackingId("554 5.7.0 Reject, id=XXXXX-XX – INFECTED"),
    stage: "end of data",
  },
  {
    title: "a banned attachment (an .exe, found by the judge): 554 5.7.0 BANNED after the final dot",
    envelope: {},
    message: (word) => messageWithAttachment("tool.exe", Buffer.from("MZ not really a program"), { subject: word }),
    reply: withTrackingId("554 5.7.0 Reject, id=XXXXX-XX – BANNED"),
    stage: "end of data",
  },
];

/** The message line of the relay's log that carries `reply`. */
function messageLine(test: TestRelay, reply: string): Record<string, unknown> | undefined {
  return test.logs.find((l) => l.event === "message" && l.reply === reply);
}

describe.each(CLIENTS)("the spec's replies, through $name", (client) => {
  it.each(REFUSALS)("$title", async ({ envelope, message, reply, stage }) => {
    const word = marker("refused", client);
    const outcome = await client.send(main.port, goodSubmission((message ?? ((body) => testMessage({ body })))(word), envelope));
    if (typeof reply === "string") expect(outcome.reply).toBe(reply);
    else expect(outcome.reply).toMatch(reply);
    expect(outcome.stage).toBe(stage);
    expect((await deliveredAnywhere(main)).filter((m) => m.includes(word))).toEqual([]);
  });

  it("a virus is INFECTED even where the judge finds it BANNED too: clam.exe in a zip", async () => {
    const word = marker("zip", client);
    const zip = readFileSync(join(CLAM_TESTFILES, "clam.zip"));
    const outcome = await client.send(main.port, goodSubmission(messageWithAttachment("clam.zip", zip, { subject: word })));
    expect(outcome.reply).toMatch(withTrackingId("554 5.7.0 Reject, id=XXXXX-XX – INFECTED"));
    // Both refused it — clamd for the executable inside, the judge for the zip itself — and the virus wins.
    expect(messageLine(main, outcome.reply)).toMatchObject({
      scan: `infected ${SIGNATURES.clamExe}`,
      verdict: { action: "reject", reason: "BANNED" },
      queueId: null,
    });
    expect((await deliveredAnywhere(main)).filter((m) => m.includes(word))).toEqual([]);
  });
});

describe.each(CLIENTS)("role mailboxes, through $name", (client) => {
  it("postmaster@ is reachable from a DNSBL-listed client while alice@ is refused in the same transaction", async () => {
    const postmaster = `postmaster@${LOCAL.domain}`;
    const raw = testMessage({ to: postmaster, body: marker("role", client) });
    const outcome = await client.send(main.port, goodSubmission(raw, { ip: dnsbl.listedIp, to: [LOCAL.mailbox, postmaster] }));
    expect(outcome.refused).toEqual({ [LOCAL.mailbox]: `554 5.7.1 Service unavailable; Client host [${dnsbl.listedIp}] blocked using ${dnsbl.zone}` });
    const queueId = queueIdOf(outcome.reply);
    expect(await copiesOf(main, LOCAL.mailbox, raw)).toEqual([]);
    // The Received field names the one recipient the message was accepted for.
    expect(addedFields(await onlyCopy(main, postmaster, raw), raw).at(-1)).toContain(`id ${queueId}\r\n\tfor <${postmaster}>; `);
    expect(messageLine(main, outcome.reply)?.checks).toEqual(expect.arrayContaining([{ check: "dnsbl", outcome: "relaxed", detail: `for ${postmaster}` }]));
  });
});

describe("greylisting (delay 1 s)", () => {
  let greylisting: TestRelay;
  beforeAll(async () => {
    greylisting = await startAcceptanceRelay(
      { store: { type: "sqlite", path: join(dir, "greylist.sqlite") } },
      {},
      { greylist: { enabled: true, delaySeconds: 1 } },
    );
  });
  afterAll(() => greylisting?.relay.stop());

  it.each(CLIENTS)("defers a new triplet with 451 4.7.1 at RCPT TO and takes the retry after the delay ($name)", async (client) => {
    // A sender of its own per client: each client starts a new triplet.
    const from = `grey-${client.name}@${sender.domain}`;
    const raw = testMessage({ from, body: marker("grey", client) });
    const first = await client.send(greylisting.port, goodSubmission(raw, { from }));
    expect(first).toMatchObject({
      reply: `451 4.7.1 <${LOCAL.mailbox}>: Recipient address rejected: Greylisted for 1 seconds, please try again later`,
      stage: "RCPT",
    });
    expect(await copiesOf(greylisting, LOCAL.mailbox, raw)).toEqual([]);
    // Waiting is the client's part of greylisting; the retry comes after the delay the reply named.
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    const retry = await client.send(greylisting.port, goodSubmission(raw, { from }));
    const queueId = queueIdOf(retry.reply);
    expectDeliveredCopy(await onlyCopy(greylisting, LOCAL.mailbox, raw), { raw, from, mailbox: LOCAL.mailbox, queueId, client: GOOD_CLIENT });
  });
});

describe("a DNSBL that wants an access key (Spamhaus DQS's form)", () => {
  const keyedZone = { dnsbl: { zones: [{ zone: dnsbl.keyed.zone, keySecret: "TEST_DQS_KEY" }] } };
  let keyed: TestRelay;
  beforeAll(async () => {
    keyed = await startAcceptanceRelay({}, { TEST_DQS_KEY: dnsbl.keyed.key }, keyedZone);
  });
  afterAll(() => keyed?.relay.stop());

  it("does not start without the key in the environment, naming the field", async () => {
    await expect(startAcceptanceRelay({}, {}, keyedZone)).rejects.toThrow("connection.dnsbl.zones[0].keySecret: the secret TEST_DQS_KEY is not set");
  });

  it.each(CLIENTS)("asks under the key and refuses the listed client at RCPT TO, naming only the zone ($name)", async (client) => {
    const raw = testMessage({ body: marker("dqs", client) });
    expect(await client.send(keyed.port, goodSubmission(raw, { ip: dnsbl.listedIp }))).toMatchObject({
      reply: `554 5.7.1 Service unavailable; Client host [${dnsbl.listedIp}] blocked using ${dnsbl.keyed.zone}`,
      stage: "RCPT",
    });
  });
});

describe("mandatory TLS for a listed sender domain", () => {
  let tlsRequired: TestRelay;
  beforeAll(async () => {
    tlsRequired = await startAcceptanceRelay({}, {}, { mandatoryTls: { domains: [sender.domain] } });
  });
  afterAll(() => tlsRequired?.relay.stop());

  it.each(CLIENTS)("refuses it without STARTTLS with 530 5.7.0 at MAIL FROM, and takes it over STARTTLS ($name)", async (client) => {
    const raw = testMessage({ body: marker("mandatory-tls", client) });
    expect(await client.send(tlsRequired.port, goodSubmission(raw))).toMatchObject({ reply: "530 5.7.0 Must issue a STARTTLS command first", stage: "MAIL" });
    expect(await copiesOf(tlsRequired, LOCAL.mailbox, raw)).toEqual([]);
    const secure = await client.send(tlsRequired.port, goodSubmission(raw, { starttls: true }));
    const queueId = queueIdOf(secure.reply);
    expectDeliveredCopy(await onlyCopy(tlsRequired, LOCAL.mailbox, raw), {
      raw,
      from: `bob@${sender.domain}`,
      mailbox: LOCAL.mailbox,
      queueId,
      client: GOOD_CLIENT,
      tls: secure.tls ?? "some",
    });
  });
});

describe("AUTH is not offered on the MX, before TLS or after", () => {
  it("swaks finds no AUTH in either EHLO reply and gives up", async () => {
    const run = await runSwaks([
      "--server",
      `127.0.0.1:${main.port}`,
      "--local-interface",
      GOOD_CLIENT.ip,
      "--ehlo",
      GOOD_CLIENT.helo,
      "--tls",
      "--auth",
      "PLAIN",
      "--auth-user",
      LOCAL.mailbox,
      "--auth-password",
      "secret",
      "--quit-after",
      "AUTH",
    ]);
    const ehloReplies = run.exchanges.filter((e) => /^EHLO /.test(e.command)).map((e) => e.reply);
    expect(ehloReplies).toHaveLength(2); // before and after STARTTLS
    for (const reply of ehloReplies) expect(reply).not.toMatch(/^250[- ]AUTH/m);
    expect(run.transcript).toContain("Host did not advertise authentication");
    expect(run.status).not.toBe(0);
  });

  it("nodemailer's login over STARTTLS is refused as an unrecognised command", async () => {
    const connection = new SMTPConnection({
      host: "127.0.0.1",
      port: main.port,
      localAddress: GOOD_CLIENT.ip,
      name: GOOD_CLIENT.helo,
      requireTLS: true,
      tls: { rejectUnauthorized: false },
    });
    try {
      await new Promise<void>((resolve, reject) => connection.connect((err) => (err ? reject(err) : resolve())));
      expect(connection.secure).toBe(true);
      const refusal = await new Promise<SMTPConnection.SMTPError | null>((resolve) =>
        connection.login({ user: LOCAL.mailbox, pass: "secret" }, (err) => resolve(err ?? null)),
      );
      expect(refusal).toMatchObject({ code: "EAUTH", response: "500 5.5.2 Error: command not recognized" });
    } finally {
      connection.close();
    }
  });
});

describe.each(CLIENTS)("the size bound, through $name", (client) => {
  it("refuses a message over relay.limits.maxMessageBytes with 552 5.3.4", async () => {
    const word = marker("size", client);
    const raw = testMessage({ body: `${word}\r\n${`${"y".repeat(76)}\r\n`.repeat(Math.ceil(MAX_MESSAGE_BYTES / 78) + 10)}` });
    const outcome = await client.send(main.port, goodSubmission(raw));
    expect(outcome).toMatchObject({ reply: "552 5.3.4 Message size exceeds fixed maximum message size", stage: "end of data" });
    expect((await deliveredAnywhere(main)).filter((m) => m.includes(word))).toEqual([]);
  });
});

describe("outages fail closed and temporary", () => {
  let clamdGone: TestRelay;
  let dnsGone: TestRelay;
  beforeAll(async () => {
    // A clamd of its own, stopped once the relay knows it.
    const doomed = await startClamd();
    clamdGone = await startAcceptanceRelay({ clamd: { host: doomed.host, port: doomed.port, timeoutMs: 5_000 } });
    await doomed.stop();
    // Nothing listens on the resolver's port: UDP gets port-unreachable, TCP is refused.
    dnsGone = await startAcceptanceRelay({ resolver: { host: "127.0.0.1", port: await freePort(), timeoutMs: 1_000 } });
  });
  afterAll(async () => {
    await clamdGone?.relay.stop();
    await dnsGone?.relay.stop();
  });

  it.each(CLIENTS)("clamd stopped: 451 4.3.0 after the final dot, logged, nothing delivered ($name)", async (client) => {
    const word = marker("no-clamd", client);
    const outcome = await client.send(clamdGone.port, goodSubmission(testMessage({ body: word })));
    expect(outcome).toMatchObject({ stage: "end of data" });
    expect(outcome.reply).toMatch(withTrackingId("451 4.3.0 Temporary local problem, id=XXXXX-XX, please try again later"));
    const id = /id=(\d{5}-\d{2})/.exec(outcome.reply)![1];
    expect(clamdGone.logs.find((l) => l.event === "outage" && l.id === id)).toBeDefined();
    expect(await deliveredAnywhere(clamdGone)).toEqual([]);
  });

  it.each(CLIENTS)("the DNS resolver's port closed: 451 4.4.3 at RCPT TO ($name)", async (client) => {
    const outcome = await client.send(dnsGone.port, goodSubmission(testMessage({ body: marker("no-dns", client) })));
    expect(outcome).toMatchObject({ reply: "451 4.4.3 <11.0.0.127.dnsbl.test>: Temporary DNS lookup failure, please try again later", stage: "RCPT" });
    expect(await deliveredAnywhere(dnsGone)).toEqual([]);
  });
});

describe("the Worker's verdict API as the judge", () => {
  let worker: RunningWorker;
  let judgedByWorker: TestRelay;
  beforeAll(async () => {
    const folder = join(dir, "verdict-api");
    const document = relayDocument(folder, harness.dnsPort);
    const bundle = await bundleWorker(join(folder, "worker"));
    worker = await startWorker({ bundle, configJson: JSON.stringify(workerPart(parseConfig(document))), bindings: { DOH_URL: harness.dohUrl, VERDICT_TOKEN } });
    judgedByWorker = await startAcceptanceRelay(
      { verdict: { url: new URL("/v1/verdict", worker.url).href, timeoutMs: 10_000 } },
      { EDGEMX_VERDICT_TOKEN: VERDICT_TOKEN },
    );
  }, 180_000);
  afterAll(async () => {
    await judgedByWorker?.relay.stop();
    await worker?.stop();
  });

  it.each(CLIENTS)("judges a clean message in workerd, end to end to the Maildir ($name)", async (client) => {
    expect(judgedByWorker.logs.find((l) => l.event === "listen")).toMatchObject({ judge: new URL(worker.url).origin });
    const raw = testMessage({ body: marker("worker", client) });
    const outcome = await client.send(judgedByWorker.port, goodSubmission(raw));
    const queueId = queueIdOf(outcome.reply);
    expectDeliveredCopy(await onlyCopy(judgedByWorker, LOCAL.mailbox, raw), {
      raw,
      from: `bob@${sender.domain}`,
      mailbox: LOCAL.mailbox,
      queueId,
      client: GOOD_CLIENT,
    });
  });

  it.each(CLIENTS)("answers 451 4.3.0 once the Worker is stopped, and delivers nothing ($name)", async (client) => {
    await worker.stop();
    const word = marker("worker-gone", client);
    const outcome = await client.send(judgedByWorker.port, goodSubmission(testMessage({ body: word })));
    expect(outcome).toMatchObject({ stage: "end of data" });
    expect(outcome.reply).toMatch(withTrackingId("451 4.3.0 Temporary local problem, id=XXXXX-XX, please try again later"));
    expect((await deliveredAnywhere(judgedByWorker)).filter((m) => m.includes(word))).toEqual([]);
  });
});
