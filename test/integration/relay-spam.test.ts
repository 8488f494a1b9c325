// Spam filtering through the relay, against the real rspamd and Redis of the harness running edgemx's
// shipped rspamd configuration (config/rspamd): rspamd's actions as SMTP replies and header fields, an
// rspamd outage, score-gated greylisting, the spamtrap (learning, blocklist, rate limit) and learning
// from people (the learn listener and `npm run learn`). Learn counts are read where rspamd keeps them:
// the hash "RS" in Redis (learns_spam, learns_ham).
import { execFile } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { Redis } from "ioredis";
import nodemailer from "nodemailer";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { createLogger } from "../../relay-node/src/log/log.ts";
import { startRelay, type RunningRelay } from "../../relay-node/src/relay.ts";
import { parseConfig } from "../../core/config/load.ts";
import type { ConfigInput } from "../../core/config/schema.ts";
import { GTUBE, GTUBE_PATTERNS } from "../harness/gtube.ts";
import { freePort } from "../harness/process.ts";
import { relayDocument, type ConnectionSettings, type RelaySettings } from "../harness/relay.ts";
import { startRedis, startRspamd, type RedisService, type RspamdService } from "../harness/services.ts";
import { TEST_DNS } from "../harness/zones.ts";

const harness = inject("harness");
const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "edgemx-relay-spam-"));
const { sender } = TEST_DNS;
/** Passes every connection check: PTR mail.sender.test ↔ A, SPF-authorized. */
const GOOD_IP = sender.authorizedIp;
const LEARN_TOKEN = "test-learn-token";
const TRAP = "trap@example.org";

let redis: RedisService;
let rspamd: RspamdService;
let stats: Redis;
let runs = 0;

type RspamdSettings = NonNullable<RelaySettings["rspamd"]>;

interface Started {
  relay: RunningRelay;
  port: number;
  maildir: string;
  logs: Record<string, unknown>[];
}
const started: Started[] = [];

async function start(rspamdSettings: Partial<RspamdSettings> = {}, connection: ConnectionSettings = {}, roles?: ConfigInput["roles"]): Promise<Started> {
  const folder = join(dir, `relay-${++runs}`);
  const config = parseConfig({
    ...relayDocument(
      folder,
      harness.dnsPort,
      {
        store: { type: "sqlite", path: join(folder, "state.sqlite") },
        rspamd: { url: rspamd.normalUrl, controllerUrl: rspamd.controllerUrl, timeoutMs: 10_000, ...rspamdSettings },
      },
      { dnsbl: { zones: [] }, greylist: { enabled: false }, ...connection },
    ),
    ...(roles ? { roles } : {}),
  });
  const logs: Record<string, unknown>[] = [];
  const logger = createLogger("info", { write: (line: string) => void logs.push(JSON.parse(line) as Record<string, unknown>) });
  const running = await startRelay(config, {
    listen: { host: "127.0.0.1", port: 0 },
    learnListen: { port: 0 },
    metricsListen: { port: 0 },
    logger,
    env: { EDGEMX_LEARN_TOKEN: LEARN_TOKEN },
    delivery: { pollIntervalMs: 200 },
  });
  const instance = { relay: running, port: running.port!, maildir: join(folder, "Maildir"), logs };
  started.push(instance);
  return instance;
}

/** A conforming message from bob@sender.test; `body` long enough for Bayes (at least 11 tokens). */
function message(options: { to?: string; subject?: string; body: string; headers?: string[] }): string {
  return [
    ...(options.headers ?? []),
    `From: Bob <bob@${sender.domain}>`,
    `To: ${options.to ?? "alice@example.org"}`,
    `Subject: ${options.subject ?? "hello"}`,
    `Date: ${new Date().toUTCString().replace("GMT", "+0000")}`,
    `Message-ID: <${Math.random().toString(36).slice(2)}@${sender.domain}>`,
    "MIME-Version: 1.0",
    "Content-Type: text/plain; charset=utf-8",
    "",
    options.body,
    "",
  ].join("\r\n");
}

/** A different text each time: rspamd remembers what it learned (208 for the same message twice). */
function prose(topic: string): string {
  const words = ["meeting", "tomorrow", "agenda", "budget", "report", "quarter", "numbers", "office", "project", "schedule", "review", "draft"];
  const picked = Array.from({ length: 40 }, (_, i) => words[(i * 7 + topic.length + runs) % words.length]);
  return `About ${topic} ${Date.now()}: ${picked.join(" ")}.`;
}

/** Sends one message; the server's final reply, or the refusal that stopped it. */
async function send(port: number, to: string | string[], raw: string, localAddress: string = GOOD_IP): Promise<string> {
  const transport = nodemailer.createTransport({ host: "127.0.0.1", port, secure: false, ignoreTLS: true, localAddress, name: sender.mailHost });
  try {
    return (await transport.sendMail({ envelope: { from: `bob@${sender.domain}`, to }, raw })).response;
  } catch (err) {
    return String((err as { response?: string }).response ?? err);
  } finally {
    transport.close();
  }
}

/** The messages delivered to a mailbox, oldest first. */
async function delivered(instance: Started, mailbox: string): Promise<string[]> {
  await instance.relay.delivery.idle();
  const [local, domain] = mailbox.split("@") as [string, string];
  const folder = join(instance.maildir, domain, local, "new");
  try {
    return readdirSync(folder)
      .sort()
      .map((name) => readFileSync(join(folder, name), "utf8"));
  } catch {
    return [];
  }
}

function messageLine(instance: Started, reply: string): Record<string, unknown> | undefined {
  return instance.logs.find((line) => line.event === "message" && line.reply === reply);
}

async function learns(kind: "spam" | "ham"): Promise<number> {
  return Number((await stats.hget("RS", `learns_${kind}`)) ?? 0);
}

/** The header fields of a delivered message with this name (case-insensitive), unfolded. */
function fields(raw: string, name: string): string[] {
  const header = raw.split("\r\n\r\n")[0]!.replace(/\r\n[ \t]/g, " ");
  return header.split("\r\n").filter((line) => line.toLowerCase().startsWith(`${name.toLowerCase()}:`));
}

let main: Started;

// A cold Hyperscan cache (the first rspamd start on a machine) compiles for ~20 s.
beforeAll(async () => {
  redis = await startRedis();
  rspamd = await startRspamd({ redisUrl: redis.url, dnsPort: harness.dnsPort });
  stats = new Redis(redis.url);
  main = await start(
    { learnListener: { host: "127.0.0.1", port: 11380 } },
    {},
    { postmaster: { relax: ["dnsbl", "fcrdns", "helo", "sender", "spf", "dmarc", "banned", "greylist", "spam"] } },
  );
}, 120_000);

afterAll(async () => {
  for (const instance of started) await instance.relay.stop();
  stats?.disconnect();
  await rspamd?.stop();
  await redis?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe("scoring with rspamd", () => {
  it("refuses GTUBE with the spam reply, in the session", async () => {
    const reply = await send(main.port, "alice@example.org", message({ body: `Test message.\r\n${GTUBE}` }));
    expect(reply).toMatch(/^554 5\.7\.0 Reject, id=\d{5}-\d{2} – spam$/);
    expect(messageLine(main, reply)).toMatchObject({ queueId: null, spam: { action: "reject", decision: "reject", score: 15, message: "Gtube pattern" } });
  });

  it("accepts clean mail with X-Spam-Flag: NO and the symbols, having dropped forged spam fields", async () => {
    const body = prose("clean mail");
    const reply = await send(
      main.port,
      "alice@example.org",
      message({ body, headers: ["X-Spam-Flag: NO", "X-Spamd-Result: default: False [-50.00 / 15.00]"] }),
    );
    expect(reply).toMatch(/^250 2\.0\.0 Ok: queued as /);
    const copy = (await delivered(main, "alice@example.org")).find((m) => m.includes(body))!;
    expect(fields(copy, "X-Spam-Flag")).toEqual(["X-Spam-Flag: NO"]);
    const [result] = fields(copy, "X-Spamd-Result");
    expect(fields(copy, "X-Spamd-Result")).toHaveLength(1);
    expect(result).toMatch(/^X-Spamd-Result: default: False \[-?\d+\.\d\d \/ 15\.00\];/);
    expect(result).toContain("R_SPF_ALLOW(-0.20)[+ip4:127.0.0.11]"); // rspamd saw the client address and sender
    expect(fields(copy, "X-Spam-Score")[0]).toMatch(/^X-Spam-Score: -?\d+\.\d\d \/ 15\.00$/);
    const line = messageLine(main, reply)!;
    expect(line.spam).toMatchObject({ action: "no action", decision: "accept", required: 15 });
    expect((line.spam as { symbols: string[] }).symbols).toContain("R_SPF_ALLOW(-0.20)");
  });

  it("marks mail rspamd wants a header on with X-Spam-Flag: YES", async () => {
    const body = `${prose("marked")}\r\n${GTUBE_PATTERNS["add header"]}`;
    expect(await send(main.port, "alice@example.org", message({ body }))).toMatch(/^250 /);
    const copy = (await delivered(main, "alice@example.org")).find((m) => m.includes(body))!;
    expect(fields(copy, "X-Spam-Flag")).toEqual(["X-Spam-Flag: YES"]);
    expect(fields(copy, "X-Spamd-Result")[0]).toMatch(/^X-Spamd-Result: default: True \[6\.00 \/ 15\.00\];/);
  });

  it("rewrites the Subject where rspamd says so, in place", async () => {
    const body = `${prose("rewritten")}\r\n${GTUBE_PATTERNS["rewrite subject"]}`;
    expect(await send(main.port, "alice@example.org", message({ body, subject: "quarterly numbers" }))).toMatch(/^250 /);
    const copy = (await delivered(main, "alice@example.org")).find((m) => m.includes(body))!;
    expect(fields(copy, "Subject")).toEqual(["Subject: ***SPAM*** quarterly numbers"]);
    expect(fields(copy, "X-Spam-Flag")).toEqual(["X-Spam-Flag: YES"]);
    // The Subject stays below the trace: the Received field is still above it.
    expect(copy.indexOf("\r\nReceived: ")).toBeLessThan(copy.indexOf("\r\nSubject: "));
  });

  it("only marks spam for a role mailbox whose policy relaxes spam", async () => {
    const body = `${prose("abuse report")}\r\n${GTUBE}`;
    const reply = await send(main.port, "postmaster@example.org", message({ to: "postmaster@example.org", body }));
    expect(reply).toMatch(/^250 /);
    const copy = (await delivered(main, "postmaster@example.org")).find((m) => m.includes(body))!;
    expect(fields(copy, "X-Spam-Flag")).toEqual(["X-Spam-Flag: YES"]);
    expect(messageLine(main, reply)).toMatchObject({ spam: { action: "reject", decision: "add-header" } });
  });
});

describe("when rspamd is down", () => {
  it("answers 451 and accepts nothing unscanned", async () => {
    const down = await start({ url: `http://127.0.0.1:${await freePort()}` });
    const reply = await send(down.port, "alice@example.org", message({ body: prose("outage") }));
    expect(reply).toMatch(/^451 4\.3\.0 Temporary local problem, id=\d{5}-\d{2}, please try again later$/);
    // eslint-disable-next-line @typescript-eslint/no-unsafe-assignment -- vitest types its asymmetric matchers (expect.stringContaining, …) as any
    expect(down.logs.find((line) => line.event === "outage")).toMatchObject({ detail: expect.stringMatching(/ECONNREFUSED/) });
    expect(await delivered(down, "alice@example.org")).toEqual([]);
  });

  it("with onError: accept, accepts it marked as not scanned", async () => {
    const lenient = await start({ url: `http://127.0.0.1:${await freePort()}`, onError: "accept" });
    const body = prose("lenient");
    expect(await send(lenient.port, "alice@example.org", message({ body }))).toMatch(/^250 /);
    const copy = (await delivered(lenient, "alice@example.org")).find((m) => m.includes(body))!;
    expect(fields(copy, "X-Edgemx-Spam")).toEqual(["X-Edgemx-Spam: not scanned; rspamd unavailable"]);
    expect(fields(copy, "X-Spam-Flag")).toEqual([]);
  });
});

describe("greylisting gated by score", () => {
  const greylist = { greylist: { enabled: true, delaySeconds: 300 } };

  it("defers only mail whose score reaches the gate, after the final dot", async () => {
    const gated = await start({ greylistScoreGate: 5 }, greylist);
    // A new triplet, but a clean score: no waiting.
    const clean = await send(gated.port, "alice@example.org", message({ body: prose("gated clean") }));
    expect(clean).toMatch(/^250 /);
    expect((messageLine(gated, clean)!.spam as { score: number }).score).toBeLessThan(5);

    // Score 6 ≥ 5: the same triplet, never recorded while its mail scored clean, is greylisted now, after DATA.
    const doubtful = message({ body: `${prose("gated doubtful")}\r\n${GTUBE_PATTERNS["add header"]}` });
    const first = await send(gated.port, "alice@example.org", doubtful);
    expect(first).toBe("451 4.7.1 <alice@example.org>: Recipient address rejected: Greylisted for 300 seconds, please try again later");
    expect(messageLine(gated, first)).toMatchObject({
      queueId: null,
      // eslint-disable-next-line @typescript-eslint/no-unsafe-assignment -- vitest types its asymmetric matchers (expect.stringContaining, …) as any
      checks: expect.arrayContaining([expect.objectContaining({ check: "greylist", outcome: "fail" })]),
    });
    // The triplet is now on record: an early retry is told the time that remains.
    expect(await send(gated.port, "alice@example.org", doubtful)).toMatch(/^451 4\.7\.1 .* Greylisted for (299|300) seconds/);
  });

  it("greylists every new triplet at RCPT TO without a gate", async () => {
    const ungated = await start({}, greylist);
    expect(await send(ungated.port, "alice@example.org", message({ body: prose("ungated") }))).toMatch(
      /^451 4\.7\.1 <alice@example\.org>: Recipient address rejected: Greylisted/,
    );
  });
});

describe("the spamtrap", () => {
  const trapSettings = (learnRatePerMinute = 10) => ({ spamtrap: { addresses: [TRAP], blocklistTtlSeconds: 3600, learnRatePerMinute, fuzzy: { flag: 11 } } });

  /** The fuzzy symbols rspamd gives a message (the local storage applies new hashes within a second). */
  async function fuzzySymbols(raw: string): Promise<string[]> {
    const response = await fetch(`${rspamd.normalUrl}/checkv2`, { method: "POST", headers: { IP: GOOD_IP }, body: raw });
    const result = (await response.json()) as { symbols: Record<string, unknown> };
    return Object.keys(result.symbols).filter((name) => name.includes("FUZZY"));
  }

  it("accepts mail for a trap, learns it as spam, delivers nothing, and refuses the client at its next connect", async () => {
    const trapped = await start(trapSettings(1), { fcrdns: { action: "log" } });
    const before = await learns("spam");
    const body = `${prose("cheap watches replica offer")}\r\n${prose("limited time only").repeat(3)}`;
    expect(await fuzzySymbols(message({ body }))).toEqual([]);
    const reply = await send(trapped.port, TRAP, message({ to: TRAP, body }));
    expect(reply).toMatch(/^250 2\.0\.0 Ok: queued as [0-9A-F]{18}$/);
    expect(await learns("spam")).toBe(before + 1);
    expect(messageLine(trapped, reply)).toMatchObject({
      queueId: null,
      spamtrap: {
        recipients: [TRAP],
        learn: "learned",
        fuzzy: "learned",
        // eslint-disable-next-line @typescript-eslint/no-unsafe-assignment -- vitest types its asymmetric matchers (expect.stringContaining, …) as any
        blocklist: expect.stringMatching(/^127\.0\.0\.11 listed in spamtrap\.mx\.example\.org until /),
      },
    });
    // Its fuzzy hashes are ours now: the same text, in another message, matches them.
    await expect.poll(() => fuzzySymbols(message({ body })), { timeout: 5_000, interval: 250 }).toEqual(["LOCAL_FUZZY_SPAM"]);
    await trapped.relay.delivery.idle();
    expect(existsSync(join(trapped.maildir, "example.org", "trap"))).toBe(false);

    // The next connection from that client: refused like a DNSBL listing, naming our own zone …
    expect(await send(trapped.port, "alice@example.org", message({ body: prose("after the trap") }))).toBe(
      "554 5.7.1 Service unavailable; Client host [127.0.0.11] blocked using spamtrap.mx.example.org",
    );
    // … except for postmaster@, whose role relaxes DNSBL listings (RFC 2142: it must stay reachable).
    expect(await send(trapped.port, "postmaster@example.org", message({ to: "postmaster@example.org", body: prose("please unblock") }))).toMatch(/^250 /);

    // Learning is rate-limited (1 a minute here); the client is blocklisted all the same.
    const again = await send(trapped.port, TRAP, message({ to: TRAP, body: prose("second trap message") }), "127.0.0.12");
    expect(again).toMatch(/^250 /);
    expect(messageLine(trapped, again)).toMatchObject({
      // eslint-disable-next-line @typescript-eslint/no-unsafe-assignment -- vitest types its asymmetric matchers (expect.stringContaining, …) as any
      spamtrap: { learn: "not learned: over 1 a minute", blocklist: expect.stringMatching(/^127\.0\.0\.12 listed/) },
    });
    expect(await learns("spam")).toBe(before + 1);
  });

  it("delivers to the other recipients of a transaction that also names a trap, and never names the trap", async () => {
    const mixed = await start(trapSettings());
    const before = await learns("spam");
    const body = prose("mixed recipients");
    expect(await send(mixed.port, ["alice@example.org", TRAP], message({ body }))).toMatch(/^250 /);
    const copies = (await delivered(mixed, "alice@example.org")).filter((m) => m.includes(body));
    expect(copies).toHaveLength(1);
    expect(copies[0]!.split("\r\n\r\n")[0]).not.toContain(TRAP.split("@")[0]!);
    expect(await learns("spam")).toBe(before + 1);
  });
});

describe("learning from people", () => {
  const learnUrl = (kind: string) => `http://127.0.0.1:${main.relay.learnPort}/learn/${kind}`;
  const post = (kind: string, body: string, token = LEARN_TOKEN) =>
    fetch(learnUrl(kind), { method: "POST", headers: { authorization: `Bearer ${token}` }, body });

  it("learns over the authenticated endpoint, and says when a message was learned before", async () => {
    const before = await learns("ham");
    const raw = message({ body: prose("a colleague's note") });
    const first = await post("ham", raw);
    expect([first.status, await first.json()]).toEqual([200, { result: "learned" }]);
    expect(await learns("ham")).toBe(before + 1);
    const second = await post("ham", raw);
    expect(second.status).toBe(208);
    // eslint-disable-next-line @typescript-eslint/no-unsafe-assignment -- vitest types its asymmetric matchers (expect.stringContaining, …) as any
    expect(await second.json()).toMatchObject({ result: "already learned", detail: expect.stringMatching(/already learned as ham/) });
    expect(await learns("ham")).toBe(before + 1);
  });

  it("refuses a missing or wrong token, other methods and paths, and an empty body", async () => {
    expect((await post("spam", "x", "wrong-token")).status).toBe(401);
    expect((await fetch(learnUrl("spam"), { method: "POST", body: "x" })).status).toBe(401);
    expect((await fetch(learnUrl("spam"))).status).toBe(405);
    expect((await post("junk", "x")).status).toBe(404);
    expect((await post("spam", "")).status).toBe(400);
    expect(
      main.logs
        .filter((line) => line.event === "learn")
        .map((line) => JSON.stringify(line))
        .join("\n"),
    ).not.toContain(LEARN_TOKEN);
  });

  it("learns a Maildir with `npm run learn`", async () => {
    const maildir = join(dir, "Junk");
    for (const sub of ["cur", "new", "tmp"]) mkdirSync(join(maildir, sub), { recursive: true });
    writeFileSync(join(maildir, "cur", "1.host:2,S"), message({ body: prose("junk one lottery winner") }));
    writeFileSync(join(maildir, "new", "2.host"), message({ body: prose("junk two pharmacy discount") }));
    writeFileSync(join(maildir, "tmp", "3.host"), "still being written");
    const configFile = join(dir, "learn-config.json");
    writeFileSync(
      configFile,
      JSON.stringify({
        hostname: "mx.example.org",
        domains: [{ name: "example.org", mx: ["mx.example.org"], catchAll: true }],
        relay: { rspamd: { controllerUrl: rspamd.controllerUrl } },
      }),
    );
    const learn = (...args: string[]) =>
      promisify(execFile)(process.execPath, [join(ROOT, "relay-node/src/cli/learn.ts"), ...args], {
        env: { ...process.env, EDGEMX_CONFIG: configFile },
        cwd: ROOT,
      });

    const before = await learns("spam");
    expect((await learn("spam", maildir)).stdout).toBe("spam: 2 learned, 0 already learned, 0 declined, 0 too large, 0 failed (2 messages)\n");
    expect(await learns("spam")).toBe(before + 2);
    const again = (await learn("spam", maildir)).stdout;
    expect(again).toMatch(/^already learned: .*1\.host:2,S: .* already learned as spam/m);
    expect(again).toMatch(/spam: 0 learned, 2 already learned, 0 declined, 0 too large, 0 failed \(2 messages\)\n$/);

    // eslint-disable-next-line @typescript-eslint/no-unsafe-assignment -- vitest types its asymmetric matchers (expect.stringContaining, …) as any
    await expect(learn("spam", dir)).rejects.toMatchObject({ code: 1, stderr: expect.stringMatching(/not a Maildir/) });
    // eslint-disable-next-line @typescript-eslint/no-unsafe-assignment -- vitest types its asymmetric matchers (expect.stringContaining, …) as any
    await expect(learn("maybe", maildir)).rejects.toMatchObject({ code: 2, stderr: expect.stringMatching(/^usage: npm run learn/) });
  });
});
