// `npm run bench -- judge`: CPU time per verdict of the judge inside workerd (the Worker's
// POST /v1/verdict, bundled as deployed, run through Miniflare) for three messages — a 10 KB
// DKIM-signed text message, a 256 KB message with a PDF attachment, a 5 MB message carrying a zip
// inside a gzip — beside the same messages through plain mailauth authenticate() + PostalMime.parse()
// in Node (the floor), and the peak memory of one verdict on a 25 MB message in workerd and in Node.
// DNS is real: the test harness (Knot, unbound, a DoH bridge) on loopback.
//
// Per request, workerd's CPU time is read from /proc/<pid>/task/*/schedstat (nanoseconds on CPU,
// summed over its threads) before the request and after its response plus a short settle time; the
// Node figures come from process.cpuUsage() deltas in a child process (bench/support/judge-node.ts).
//
// The Email Routing row: the same 10 KB message with Cloudflare's Received field, handed to the Worker's
// email() through Miniflare's /cdn-cgi/local/email — the connection checks on the trace's client (DNSBL,
// FCrDNS, HELO, MAIL FROM) over the harness's DNS, the judge, and the relay's scan endpoint over HTTPS
// with real clamd and rspamd (test/harness/scan-endpoint.ts) — against a one-line email() that only
// forwards, through the same path (Miniflare's entry Worker parses each message too). workerd's CPU is
// read as above; the scan's own time is the endpoint's log line (durationMs: clamd and rspamd side by
// side, outside workerd), reported apart.
import { fork } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { Agent, request as httpRequest, type IncomingMessage } from "node:http";
import { cpus, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { gzipSync } from "node:zlib";
import { Uint8ArrayReader, Uint8ArrayWriter, ZipWriter } from "@zip.js/zip.js";
import { workerPart } from "../core/config/worker.ts";
import { loadConfigFile } from "../relay-node/src/config/file.ts";
import { parseEnvelope } from "../core/verdict/envelope.ts";
import type { Verdict } from "../core/verdict/types.ts";
import { startHarness, type Harness } from "../test/harness/index.ts";
import { startScanHarness } from "../test/harness/scan-endpoint.ts";
import { createLogger } from "../relay-node/src/log/log.ts";
import { bundleWorker, startWorker, type RunningWorker, type WorkerBundle } from "../test/harness/worker.ts";
import { TEST_DNS } from "../test/harness/zones.ts";
import { pseudoRandomOctets } from "../test/fixtures/banned-content.ts";
import { childPid } from "./support/cpu.ts";
import type { CpuAnswer, JudgeNodeTask, MemoryAnswer } from "./support/judge-node.ts";
import { PROSE, proseText, signedBySender } from "./support/mx-message.ts";
import { optionsOrUsage, wholeFlag, wholeFlagIn } from "./support/options.ts";

const REPO_ROOT = fileURLToPath(new URL("../", import.meta.url));
const EXAMPLE_CONFIG = join(REPO_ROOT, "config/example.yaml");
const JUDGE_NODE = fileURLToPath(new URL("./support/judge-node.ts", import.meta.url));
const VERDICT_TOKEN = "bench-judge-token";
/** The Workers free plan's CPU limit per request. */
const CPU_GOAL_MS = 10;
/** After a response, workerd may still finish the request (close streams, collect garbage): wait this long before reading its CPU time. */
const SETTLE_MS = 5;
/** A Worker that only receives the body and answers: the workerd floor for a POST of that size. */
const FLOOR_WORKER = `export default { async fetch(request) { const body = await request.arrayBuffer(); return new Response(JSON.stringify({ bytes: body.byteLength }), { headers: { "content-type": "application/json" } }); } };`;

const KIB = 1024;
const MIB = 1024 * 1024;

const USAGE = `usage: npm run bench -- judge [--text N] [--pdf N] [--gzip N] [--email N] [--warmup N] [--no-memory]

  --text N     measured verdicts of the 10 KB DKIM-signed text message (default 200)
  --pdf N      measured verdicts of the 256 KB message with a PDF attachment (default 200)
  --gzip N     measured verdicts of the 5 MB message with a zip inside a gzip (default 30)
  --email N    measured messages through Email Routing's email(), checks and scan included (default 100; 0 skips)
  --warmup N   unmeasured verdicts of each message before its measured ones (default 10)
  --no-memory  skip the 25 MB peak-memory measurement`;

interface Options {
  iterations: { text: number; pdf: number; gzip: number };
  emailPath: number;
  warmup: number;
  memory: boolean;
}

function parseOptions(args: string[]): Options {
  const { values } = parseArgs({
    args,
    options: {
      text: { type: "string", default: "200" },
      pdf: { type: "string", default: "200" },
      gzip: { type: "string", default: "30" },
      email: { type: "string", default: "100" },
      warmup: { type: "string", default: "10" },
      "no-memory": { type: "boolean", default: false },
    },
  });
  return {
    iterations: { text: wholeFlag("text", values.text), pdf: wholeFlag("pdf", values.pdf), gzip: wholeFlag("gzip", values.gzip) },
    emailPath: wholeFlagIn("email", values.email, 0, Infinity),
    warmup: wholeFlag("warmup", values.warmup),
    memory: !values["no-memory"],
  };
}

// ---------------------------------------------------------------------------------------------------
// The messages

const { sender } = TEST_DNS;
const ENVELOPE_DOCUMENT = { clientIp: sender.authorizedIp, helo: sender.mailHost, mailFrom: `alice@${sender.domain}`, rcptTo: ["user@example.org"] };

/**
 * A small but valid PDF 1.4 (catalog, page tree, one page, Helvetica, one uncompressed content stream
 * of text lines) of about `bytes` bytes, with a correct cross-reference table.
 */
function makePdf(bytes: number): Uint8Array {
  const lineCount = Math.max(1, Math.floor((bytes - 700) / 72));
  const content = ["BT", "/F1 9 Tf", "11 TL", "36 770 Td"];
  for (let i = 0; i < lineCount; i++) content.push(`(${String(i + 1).padStart(7, "0")} ${PROSE[i % PROSE.length]!.slice(0, 52).padEnd(52)}) '`);
  content.push("ET");
  const stream = `${content.join("\n")}\n`;
  const objects = [
    "<< /Type /Catalog /Pages 2 0 R >>",
    "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
    "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
    "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    `<< /Length ${stream.length} >>\nstream\n${stream}endstream`,
  ];
  let pdf = "%PDF-1.4\n%\xe2\xe3\xcf\xd3\n";
  const offsets: number[] = [];
  objects.forEach((body, i) => {
    offsets.push(pdf.length);
    pdf += `${i + 1} 0 obj\n${body}\nendobj\n`;
  });
  const xref = pdf.length;
  pdf += `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n`;
  for (const offset of offsets) pdf += `${String(offset).padStart(10, "0")} 00000 n \n`;
  pdf += `trailer\n<< /Size ${objects.length + 1} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`;
  return Buffer.from(pdf, "latin1");
}

/** A zip (zip.js, deflate) holding a PDF and `randomBytes` of incompressible data, gzipped (RFC 1952). */
async function makeZipInGzip(randomBytes: number): Promise<Uint8Array> {
  const writer = new ZipWriter(new Uint8ArrayWriter(), { useWebWorkers: false });
  await writer.add("statement.pdf", new Uint8ArrayReader(makePdf(40 * KIB)));
  await writer.add("photos/scan-0001.raw", new Uint8ArrayReader(pseudoRandomOctets(randomBytes, 0x9e3779b9)), { level: 0 });
  return gzipSync(await writer.close());
}

/** base64 in lines of 76 characters (RFC 2045 §6.8), CRLF-terminated. */
function base64Lines(data: Uint8Array): string {
  const text = Buffer.from(data).toString("base64");
  const lines: string[] = [];
  for (let i = 0; i < text.length; i += 76) lines.push(text.slice(i, i + 76));
  return `${lines.join("\r\n")}\r\n`;
}

const BOUNDARY = "=_edgemx-bench-7f3a9c";

function headerBlock(subject: string, serial: number, contentType: string): string[] {
  return [
    `From: Alice Sender <alice@${sender.domain}>`,
    "To: <user@example.org>",
    `Subject: ${subject}`,
    "Date: Fri, 27 Nov 2026 10:00:00 +0000",
    `Message-ID: <bench-${serial}@${sender.domain}>`,
    "MIME-Version: 1.0",
    `Content-Type: ${contentType}`,
  ];
}

function textMessage(bodyBytes: number): string {
  return [...headerBlock("Quarterly figures", 1, "text/plain; charset=utf-8"), "Content-Transfer-Encoding: 7bit", "", proseText(bodyBytes)].join("\r\n");
}

function attachmentMessage(serial: number, subject: string, attachment: { name: string; type: string; data: Uint8Array }): string {
  return [
    ...headerBlock(subject, serial, `multipart/mixed; boundary="${BOUNDARY}"`),
    "",
    "This is a multi-part message in MIME format.",
    `--${BOUNDARY}`,
    "Content-Type: text/plain; charset=utf-8",
    "Content-Transfer-Encoding: 7bit",
    "",
    proseText(1500),
    `--${BOUNDARY}`,
    `Content-Type: ${attachment.type}; name="${attachment.name}"`,
    "Content-Transfer-Encoding: base64",
    `Content-Disposition: attachment; filename="${attachment.name}"`,
    "",
    `${base64Lines(attachment.data)}--${BOUNDARY}--`,
    "",
  ].join("\r\n");
}

/** Builds with a first guess of the payload size, then corrects the payload twice to land near `target` bytes. */
async function sized(target: number, build: (payload: number) => Promise<Buffer>, expansion: number, firstGuess: number): Promise<Buffer> {
  let payload = firstGuess;
  let message = await build(payload);
  for (let pass = 0; pass < 2; pass++) {
    payload = Math.max(1, Math.round(payload + (target - message.byteLength) / expansion));
    message = await build(payload);
  }
  return message;
}

/** base64 with 76-character lines and CRLF: 4/3 × 78/76. */
const BASE64_EXPANSION = (4 / 3) * (78 / 76);

interface BenchMessage {
  key: "text" | "pdf" | "gzip";
  label: string;
  raw: Buffer;
  /** What the judge must answer for the measurement to count. */
  expected: { action: Verdict["action"]; reason?: string };
}

export async function buildMessages(): Promise<BenchMessage[]> {
  const text = await sized(10 * KIB, (n) => signedBySender(textMessage(n)), 1, 9 * KIB);
  const pdf = await sized(
    256 * KIB,
    (n) => signedBySender(attachmentMessage(2, "Statement", { name: "statement.pdf", type: "application/pdf", data: makePdf(n) })),
    BASE64_EXPANSION,
    180 * KIB,
  );
  // Named .gz and declared application/gzip: neither name nor type is banned, so the judge has to
  // open the gzip and find the zip inside (a .zip name would be refused before any unpacking).
  const gzip = await sized(
    5 * MIB,
    async (n) => signedBySender(attachmentMessage(3, "Export", { name: "export.gz", type: "application/gzip", data: await makeZipInGzip(n) })),
    BASE64_EXPANSION,
    3.6 * MIB,
  );
  return [
    { key: "text", label: "(a) text, DKIM-signed", raw: text, expected: { action: "accept" } },
    { key: "pdf", label: "(b) PDF attachment", raw: pdf, expected: { action: "accept" } },
    { key: "gzip", label: "(c) zip inside gzip", raw: gzip, expected: { action: "reject", reason: "BANNED" } },
  ];
}

/** The 25 MB message of the memory measurement: the accepted path, every step of the judge runs over it. */
export async function buildLargeMessage(): Promise<Buffer> {
  return sized(
    25 * MIB,
    (n) => signedBySender(attachmentMessage(4, "Scans", { name: "scans.pdf", type: "application/pdf", data: makePdf(n) })),
    BASE64_EXPANSION,
    18 * MIB,
  );
}

// ---------------------------------------------------------------------------------------------------
// workerd

/** workerd with the edgemx Worker and, unless left out, the body-only floor Worker, each on its own loopback socket. */
function startJudgeWorkerd(bundle: WorkerBundle, configJson: string, dohUrl: string, withFloor: boolean): Promise<RunningWorker> {
  return startWorker({
    bundle,
    configJson,
    bindings: { DOH_URL: dohUrl, VERDICT_TOKEN },
    directSocket: true,
    extraWorkers: withFloor ? [{ name: "floor", script: FLOOR_WORKER }] : [],
  });
}

/** Nanoseconds on CPU of every thread of `pid`, from /proc/<pid>/task/<tid>/schedstat (first field). */
function cpuNanoseconds(pid: number): number {
  let total = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      total += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, "utf8").split(" ")[0]);
    } catch {
      // The thread ended while we listed them.
    }
  }
  return total;
}

/** A field of /proc/<pid>/status in KiB (VmRSS, VmHWM). */
function statusKiB(pid: number, field: "VmRSS" | "VmHWM"): number {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB$`, "m").exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  if (match === null) throw new Error(`/proc/${pid}/status has no ${field}`);
  return Number(match[1]);
}

const agent = new Agent({ keepAlive: true, maxSockets: 1 });

async function post(url: string, headers: Record<string, string>, body: Buffer): Promise<{ status: number; body: Buffer }> {
  const req = httpRequest(url, { method: "POST", agent, headers: { ...headers, "content-length": String(body.byteLength) } });
  req.end(body);
  const [res] = (await once(req, "response")) as [IncomingMessage];
  const chunks: Buffer[] = [];
  for await (const chunk of res) chunks.push(chunk as Buffer);
  return { status: res.statusCode ?? 0, body: Buffer.concat(chunks) };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Timed {
  cpuNs: number;
  status: number;
  body: Buffer;
}

/** One request, and the CPU time workerd spent from before it to SETTLE_MS after its response. */
async function timed(pid: number, send: () => Promise<{ status: number; body: Buffer }>): Promise<Timed> {
  const before = cpuNanoseconds(pid);
  const response = await send();
  await sleep(SETTLE_MS);
  return { cpuNs: cpuNanoseconds(pid) - before, ...response };
}

function verdictRequest(url: URL, envelope: string, raw: Buffer): () => Promise<{ status: number; body: Buffer }> {
  const headers = { authorization: `Bearer ${VERDICT_TOKEN}`, "edgemx-envelope": envelope, "content-type": "message/rfc822" };
  return () => post(url.href, headers, raw);
}

/** Why a verdict answer is not the expected one, or undefined when it is. */
function unexpected(answer: { status: number; body: Buffer }, expected: BenchMessage["expected"]): string | undefined {
  if (answer.status !== 200) return `HTTP ${answer.status} ${answer.body.toString("utf8").slice(0, 120)}`;
  const v = JSON.parse(answer.body.toString("utf8")) as Verdict;
  const summary = `${v.action}${v.reason ? ` ${v.reason}` : ""} (${v.checks.map((c) => `${c.check}=${c.outcome}`).join(" ")})`;
  if (v.action !== expected.action || (expected.reason !== undefined && v.reason !== expected.reason)) return `answered ${summary}`;
  if (expected.action === "accept") {
    const failed = v.checks.filter((c) => c.outcome !== "pass");
    if (failed.length > 0 || !["spf", "dkim", "dmarc"].every((name) => v.checks.some((c) => c.check === name)))
      return `accepted without passing SPF, DKIM and DMARC: ${summary}`;
  }
  return undefined;
}

function verdictSummary(body: Buffer): string {
  const v = JSON.parse(body.toString("utf8")) as Verdict;
  return v.reason ? `${v.action} ${v.reason}` : v.action;
}

interface WorkerdFigures {
  message: BenchMessage;
  verdict: string;
  judgeNs: number[];
  floorNs: number[];
}

async function measureWorkerd(
  pid: number,
  edgemxUrl: URL,
  floorUrl: URL,
  envelope: string,
  messages: BenchMessage[],
  options: Options,
): Promise<{ figures: WorkerdFigures[]; idleNs: number[]; emptyPostNs: number[]; problems: string[] }> {
  const problems: string[] = [];
  const verdictUrl = new URL("/v1/verdict", edgemxUrl);
  const figures: WorkerdFigures[] = [];
  for (const message of messages) {
    console.error(`workerd: ${message.label}, ${options.warmup} warm-up + ${options.iterations[message.key]} measured verdicts…`);
    const send = verdictRequest(verdictUrl, envelope, message.raw);
    let verdict = "";
    for (let i = 0; i < options.warmup; i++) {
      const answer = await send();
      const problem = unexpected(answer, message.expected);
      if (problem !== undefined) {
        problems.push(`${message.label}: ${problem}`);
        break;
      }
      verdict = verdictSummary(answer.body);
    }
    if (problems.length > 0) break;
    const judgeNs: number[] = [];
    for (let i = 0; i < options.iterations[message.key]; i++) {
      const t = await timed(pid, send);
      const problem = unexpected(t, message.expected);
      if (problem !== undefined) {
        problems.push(`${message.label}: request ${i + 1} ${problem}`);
        break;
      }
      judgeNs.push(t.cpuNs);
    }
    // The same body POSTed to the floor Worker, which only reads it: workerd's share of the request.
    const floor = () => post(floorUrl.href, { "content-type": "message/rfc822" }, message.raw);
    for (let i = 0; i < options.warmup; i++) await floor();
    const floorNs: number[] = [];
    for (let i = 0; i < options.iterations[message.key]; i++) floorNs.push((await timed(pid, floor)).cpuNs);
    figures.push({ message, verdict, judgeNs, floorNs });
  }
  // Context: an empty POST to the floor Worker, and workerd doing nothing for SETTLE_MS.
  const empty = () => post(floorUrl.href, {}, Buffer.alloc(0));
  for (let i = 0; i < options.warmup; i++) await empty();
  const emptyPostNs: number[] = [];
  for (let i = 0; i < 200; i++) emptyPostNs.push((await timed(pid, empty)).cpuNs);
  const idleNs: number[] = [];
  for (let i = 0; i < 200; i++) idleNs.push((await timed(pid, () => Promise.resolve({ status: 0, body: Buffer.alloc(0) }))).cpuNs);
  return { figures, idleNs, emptyPostNs, problems };
}

interface WorkerdMemory {
  bytes: number;
  verdict: string;
  rssBeforeKiB: number;
  hwmBeforeKiB: number;
  hwmAfterKiB: number;
  rssAfterKiB: number;
  cpuMs: number;
}

/** A fresh workerd: a small warm-up verdict, then VmRSS, then one verdict of the large message, then VmHWM (the process's peak RSS). */
async function measureWorkerdMemory(
  bundle: WorkerBundle,
  configJson: string,
  dohUrl: string,
  envelope: string,
  warmup: BenchMessage,
  large: Buffer,
): Promise<WorkerdMemory | string> {
  const worker = await startJudgeWorkerd(bundle, configJson, dohUrl, false);
  try {
    const pid = childPid(process.pid, "workerd");
    const url = new URL("/v1/verdict", worker.url);
    for (let i = 0; i < 3; i++) {
      const problem = unexpected(await verdictRequest(url, envelope, warmup.raw)(), warmup.expected);
      if (problem !== undefined) return `warm-up: ${problem}`;
    }
    const rssBeforeKiB = statusKiB(pid, "VmRSS");
    const hwmBeforeKiB = statusKiB(pid, "VmHWM");
    const t = await timed(pid, verdictRequest(url, envelope, large));
    const problem = unexpected(t, { action: "accept" });
    if (problem !== undefined) return problem;
    return {
      bytes: large.byteLength,
      verdict: verdictSummary(t.body),
      rssBeforeKiB,
      hwmBeforeKiB,
      hwmAfterKiB: statusKiB(pid, "VmHWM"),
      rssAfterKiB: statusKiB(pid, "VmRSS"),
      cpuMs: t.cpuNs / 1e6,
    };
  } finally {
    await worker.stop();
  }
}

// ---------------------------------------------------------------------------------------------------
// Email Routing: email() with the connection checks and the scan endpoint

/** An email() that only forwards: the floor of Miniflare's email path for a message of that size. */
const EMAIL_FLOOR_WORKER = `export default { async email(message) { await message.forward("mailbox@example.net"); } };`;
/** The Workers platform's CPU limits per invocation: Free, and Paid's default (configurable up to 5 min). */
const CPU_LIMIT_FREE_MS = 10;
const CPU_LIMIT_PAID_DEFAULT_MS = 30_000;

interface EmailPathFigures {
  n: number;
  cpuNs: number[];
  floorNs: number[];
  wallMs: number[];
  /** The scan endpoint's own time per message (its log line's durationMs). */
  scanMs: number[];
  checks: string;
}

/** Cloudflare's trace field for the test zones' authorized client: every connection check runs on it and passes. */
function routedCopy(raw: Buffer): Buffer {
  const received = `Received: from ${sender.mailHost} (${sender.authorizedIp}) by cloudflare-email.net (cloudflare) id BenchJudge01 for <user@example.org>; Fri, 27 Nov 2026 10:00:01 +0000\r\n`;
  return Buffer.concat([Buffer.from(received, "latin1"), raw]);
}

interface EmailOutcome {
  outcome?: string;
  rejectReason?: string;
  forwards?: unknown[];
}

async function measureEmailPath(bundle: WorkerBundle, harness: Harness, message: BenchMessage, options: Options): Promise<EmailPathFigures | string> {
  const scanMs: number[] = [];
  const logger = createLogger("info", {
    write: (line: string) => {
      const entry = JSON.parse(line) as { event?: string; durationMs?: number };
      if (entry.event === "scan" && typeof entry.durationMs === "number") scanMs.push(entry.durationMs);
    },
  });
  const scan = await startScanHarness(harness.dnsPort, { logger });
  let worker: RunningWorker | undefined;
  try {
    const part = workerPart(loadConfigFile(EXAMPLE_CONFIG));
    // The test zones' blocklist for the example's Spamhaus zone (refused offline), no greylisting (it
    // would defer every first message), and the scan endpoint.
    const configJson = JSON.stringify({
      ...part,
      connection: { ...part.connection, dnsbl: { action: "reject", zones: [{ zone: TEST_DNS.dnsbl.zone }] }, greylist: { enabled: false } },
      scan: { url: scan.url, timeoutMs: 20_000 },
    });
    const raw = routedCopy(message.raw);
    const from = `alice@${sender.domain}`;
    const send = (url: URL) => () =>
      post(new URL(`/cdn-cgi/local/email?from=${from}&to=user@example.org&format=json`, url).href, { "content-type": "message/rfc822" }, raw);
    const run = async (start: () => Promise<RunningWorker>, expectForward: boolean, wall?: number[]): Promise<number[] | string> => {
      worker = await start();
      try {
        const pid = childPid(process.pid, "workerd");
        const request = send(worker.url);
        const check = (answer: { status: number; body: Buffer }): string | undefined => {
          const outcome = JSON.parse(answer.body.toString("utf8")) as EmailOutcome;
          if (answer.status !== 200 || outcome.outcome !== "ok" || outcome.forwards?.length !== 1)
            return `email() did not forward (${expectForward ? "edgemx" : "floor"}): HTTP ${answer.status} ${answer.body.toString("utf8").slice(0, 300)}`;
          return undefined;
        };
        for (let i = 0; i < options.warmup; i++) {
          const problem = check(await request());
          if (problem !== undefined) return problem;
        }
        scanMs.length = 0;
        const samples: number[] = [];
        for (let i = 0; i < options.emailPath; i++) {
          const started = performance.now();
          const t = await timed(pid, request);
          wall?.push(performance.now() - started - SETTLE_MS);
          const problem = check(t);
          if (problem !== undefined) return `message ${i + 1}: ${problem}`;
          samples.push(t.cpuNs);
        }
        return samples;
      } finally {
        await worker.stop();
        worker = undefined;
      }
    };
    const wallMs: number[] = [];
    console.error(`workerd: Email Routing's email(), ${options.warmup} warm-up + ${options.emailPath} measured messages (checks, judge, scan endpoint)…`);
    const cpuNs = await run(
      () =>
        startWorker({
          bundle,
          configJson,
          bindings: { DOH_URL: harness.dohUrl, SCAN_TOKEN: scan.token },
          networkBindings: { SCAN_MTLS: { trustedCertificates: [scan.caPem] } },
          emailTrigger: true,
          onLog: () => undefined,
        }),
      true,
      wallMs,
    );
    if (typeof cpuNs === "string") return cpuNs;
    const measuredScans = [...scanMs];
    console.error(`workerd: the one-line email() floor, ${options.emailPath} messages…`);
    const floorNs = await run(
      () => startWorker({ bundle: { ...bundle, script: EMAIL_FLOOR_WORKER }, configJson, emailTrigger: true, onLog: () => undefined }),
      false,
    );
    if (typeof floorNs === "string") return floorNs;
    return { n: cpuNs.length, cpuNs, floorNs, wallMs, scanMs: measuredScans, checks: "dnsbl, fcrdns, helo, sender, tls; rfc, banned, spf, dkim, dmarc; scan" };
  } finally {
    await worker?.stop();
    await scan.stop();
  }
}

function emailPathReport(figures: EmailPathFigures, message: BenchMessage): string {
  const p = (samples: number[], q: number, unit = 1e6) => ms(percentile(samples, q) / unit);
  const over = (q: number) => ms((percentile(figures.cpuNs, q) - percentile(figures.floorNs, q)) / 1e6);
  const rows = [
    ["Email Routing, email()", "n", "p50", "p99", `p99 < ${CPU_LIMIT_FREE_MS} ms (Free)`, `p99 < ${CPU_LIMIT_PAID_DEFAULT_MS / 1000} s (Paid default)`],
    [
      "workerd CPU ms per message (whole request)",
      String(figures.n),
      p(figures.cpuNs, 50),
      p(figures.cpuNs, 99),
      percentile(figures.cpuNs, 99) / 1e6 < CPU_LIMIT_FREE_MS ? "yes" : "NO",
      percentile(figures.cpuNs, 99) / 1e6 < CPU_LIMIT_PAID_DEFAULT_MS ? "yes" : "NO",
    ],
    ["floor: a one-line email() that forwards, same path", String(figures.floorNs.length), p(figures.floorNs, 50), p(figures.floorNs, 99), "", ""],
    [
      "edgemx over the floor (the handler's own CPU; p99 of each minus the other)",
      "",
      over(50),
      over(99),
      (percentile(figures.cpuNs, 99) - percentile(figures.floorNs, 99)) / 1e6 < CPU_LIMIT_FREE_MS ? "yes" : "NO",
      (percentile(figures.cpuNs, 99) - percentile(figures.floorNs, 99)) / 1e6 < CPU_LIMIT_PAID_DEFAULT_MS ? "yes" : "NO",
    ],
    ["wall ms per message (request to answer)", String(figures.wallMs.length), p(figures.wallMs, 50, 1), p(figures.wallMs, 99, 1), "", ""],
    [
      "the scan's own time: the endpoint, clamd + rspamd side by side (wall ms, outside workerd)",
      String(figures.scanMs.length),
      p(figures.scanMs, 50, 1),
      p(figures.scanMs, 99, 1),
      "",
      "",
    ],
  ];
  return [
    `Email Routing path: ${message.label} (${size(message.raw.byteLength)}) with Cloudflare's Received field, forwarded; checks: ${figures.checks}`,
    table(rows),
    "workerd's CPU counts no waiting: the scan call and DNS are I/O, their time is wall time only; the Workers limits are on CPU. " +
      "The floor is Miniflare's local email path (its entry Worker parses and stores each message), which Cloudflare's platform does outside the Worker's CPU time.",
  ].join("\n");
}

// ---------------------------------------------------------------------------------------------------
// Node

async function runNode<T extends CpuAnswer | MemoryAnswer>(task: JudgeNodeTask): Promise<T> {
  const child = fork(JUDGE_NODE, [JSON.stringify(task)], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
  const exit = once(child, "exit");
  const [answer] = (await Promise.race([
    once(child, "message"),
    exit.then(([code]) => {
      throw new Error(`the Node judge child exited (code ${String(code)}) without an answer`);
    }),
  ])) as [T];
  await exit;
  return answer;
}

// ---------------------------------------------------------------------------------------------------
// Report

/** Nearest-rank percentile of unsorted samples. */
function percentile(samples: number[], p: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;
}

/** Columns padded to their widest cell: the first left-aligned, the others right-aligned. */
function table(rows: string[][]): string {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, col) => (widths[col] = Math.max(widths[col] ?? 0, cell.length)));
  return rows.map((row) => row.map((cell, col) => (col === 0 ? cell.padEnd(widths[col] ?? 0) : cell.padStart(widths[col] ?? 0))).join("  ")).join("\n");
}

const ms = (value: number) => value.toFixed(2);
const size = (bytes: number) => (bytes >= MIB ? `${(bytes / MIB).toFixed(2)} MiB` : `${(bytes / KIB).toFixed(1)} KiB`);
const mib = (kib: number) => `${(kib / 1024).toFixed(1)} MiB`;

function report(workerd: Awaited<ReturnType<typeof measureWorkerd>>, node: CpuAnswer): string {
  const rows = [
    [
      "message",
      "size",
      "verdict",
      "n",
      "workerd p50",
      "workerd p99",
      "Node floor p50",
      "Node floor p99",
      "ratio p50",
      "ratio p99",
      `over ${CPU_GOAL_MS} ms`,
      `p99 < ${CPU_GOAL_MS} ms`,
    ],
  ];
  const context = [
    [
      "message",
      "body-only Worker p50",
      "body-only p99",
      "judge over body-only p50",
      "verdict() in Node p50",
      "verdict() in Node p99",
      "workerd / Node verdict() p50",
    ],
  ];
  for (const f of workerd.figures) {
    const n = node.results.find((r) => r.name === f.message.key);
    if (n === undefined) throw new Error(`no Node figures for ${f.message.key}`);
    const w50 = percentile(f.judgeNs, 50) / 1e6;
    const w99 = percentile(f.judgeNs, 99) / 1e6;
    const n50 = percentile(n.floorMicros, 50) / 1e3;
    const n99 = percentile(n.floorMicros, 99) / 1e3;
    const goal = f.message.key === "gzip" ? (w99 < CPU_GOAL_MS ? "yes (no goal)" : "no (no goal)") : w99 < CPU_GOAL_MS ? "yes" : "NO";
    rows.push([
      f.message.label,
      size(f.message.raw.byteLength),
      f.verdict,
      String(f.judgeNs.length),
      ms(w50),
      ms(w99),
      ms(n50),
      ms(n99),
      `${(w50 / n50).toFixed(2)}×`,
      `${(w99 / n99).toFixed(2)}×`,
      `${((100 * f.judgeNs.filter((ns) => ns >= CPU_GOAL_MS * 1e6).length) / f.judgeNs.length).toFixed(1)}%`,
      goal,
    ]);
    const f50 = percentile(f.floorNs, 50) / 1e6;
    const v50 = percentile(n.verdictMicros, 50) / 1e3;
    context.push([
      f.message.label,
      ms(f50),
      ms(percentile(f.floorNs, 99) / 1e6),
      ms(w50 - f50),
      ms(v50),
      ms(percentile(n.verdictMicros, 99) / 1e3),
      `${(w50 / v50).toFixed(2)}×`,
    ]);
  }
  return [
    "CPU ms per verdict (workerd: POST /v1/verdict, the whole request; Node floor: mailauth authenticate() + PostalMime.parse())",
    table(rows),
    "",
    "Context, CPU ms per request",
    table(context),
    "",
    `workerd, an empty POST to the one-line floor Worker: p50 ${ms(percentile(workerd.emptyPostNs, 50) / 1e6)}, p99 ${ms(percentile(workerd.emptyPostNs, 99) / 1e6)}; ` +
      `workerd idle for ${SETTLE_MS} ms (the settle time every figure includes): p50 ${ms(percentile(workerd.idleNs, 50) / 1e6)}, p99 ${ms(percentile(workerd.idleNs, 99) / 1e6)}`,
  ].join("\n");
}

function memoryReport(workerd: WorkerdMemory | string, node: MemoryAnswer): string {
  const lines = ["Peak memory, one verdict of a 25 MB message (DKIM-signed, PDF attachment, accepted: every step of the judge runs)"];
  if (typeof workerd === "string") lines.push(`workerd: NOT MEASURABLE: ${workerd}`);
  else {
    lines.push(
      `workerd (fresh instance, ${size(workerd.bytes)}, ${workerd.verdict}, ${ms(workerd.cpuMs)} ms CPU): VmRSS before ${mib(workerd.rssBeforeKiB)} (VmHWM ${mib(workerd.hwmBeforeKiB)}), ` +
        `peak VmHWM ${mib(workerd.hwmAfterKiB)}, increase ${mib(workerd.hwmAfterKiB - workerd.rssBeforeKiB)} (${(((workerd.hwmAfterKiB - workerd.rssBeforeKiB) * KIB) / workerd.bytes).toFixed(1)}× the message), VmRSS after ${mib(workerd.rssAfterKiB)}`,
    );
  }
  lines.push(
    `relay in-process judge, verdict() in a Node child (${size(node.bytes)}, ${node.action}, ${ms(node.cpuMs)} ms CPU): RSS before ${mib(node.rssBeforeKiB)} (message read), ` +
      `peak maxRSS ${mib(node.maxRssKiB)}, increase ${mib(node.maxRssKiB - node.rssBeforeKiB)} (${(((node.maxRssKiB - node.rssBeforeKiB) * KIB) / node.bytes).toFixed(1)}× the message)`,
  );
  return lines.join("\n");
}

// ---------------------------------------------------------------------------------------------------

export async function run(args: string[]): Promise<number> {
  const options = optionsOrUsage(parseOptions, args, USAGE);
  if (options === undefined) return 2;
  const envelope = parseEnvelope(ENVELOPE_DOCUMENT);
  if (typeof envelope === "string") throw new Error(`the bench envelope is invalid: ${envelope}`);
  const envelopeHeader = JSON.stringify(ENVELOPE_DOCUMENT);
  const configJson = JSON.stringify(workerPart(loadConfigFile(EXAMPLE_CONFIG)));

  const scratchDir = mkdtempSync(join(tmpdir(), "edgemx-bench-judge-"));
  let harness: Harness | undefined;
  let worker: RunningWorker | undefined;
  try {
    console.error("building the messages…");
    const messages = await buildMessages();
    const files = new Map(messages.map((m) => [m.key, join(scratchDir, `${m.key}.eml`)]));
    for (const m of messages) writeFileSync(files.get(m.key)!, m.raw);
    console.error(`starting the DNS harness (Knot, unbound, DoH bridge)…`);
    harness = await startHarness();
    console.error("bundling the Worker (wrangler deploy --dry-run)…");
    const bundle = await bundleWorker(join(scratchDir, "worker"));

    console.error("starting workerd (Miniflare)…");
    worker = await startJudgeWorkerd(bundle, configJson, harness.dohUrl, true);
    const workerd = await measureWorkerd(childPid(process.pid, "workerd"), worker.url, worker.urlOf("floor"), envelopeHeader, messages, options);
    await worker.stop();
    worker = undefined;
    if (workerd.problems.length > 0) {
      for (const problem of workerd.problems) console.error(`NOT MEASURABLE: ${problem}`);
      return 1;
    }

    console.error("Node: mailauth + postal-mime floor and verdict() per message…");
    const node = await runNode<CpuAnswer>({
      mode: "cpu",
      dohUrl: harness.dohUrl,
      configFile: EXAMPLE_CONFIG,
      envelope,
      messages: messages.map((m) => ({ name: m.key, file: files.get(m.key)!, iterations: options.iterations[m.key], warmup: options.warmup })),
    });
    const nodeProblems = node.results.flatMap((r) => {
      const expected = messages.find((m) => m.key === r.name)!.expected.action;
      return r.actions.some((a) => a !== expected) ? [`verdict() in Node on ${r.name} answered ${r.actions.join(", ")}, not ${expected}`] : [];
    });
    console.log(report(workerd, node));
    console.log(
      `\nwarm: ${options.warmup} unmeasured verdicts per message first, so the isolate's DNS cache (and the Node child's) holds every answer; that is the steady state measured`,
    );

    if (options.emailPath > 0) {
      const emailPath = await measureEmailPath(bundle, harness, messages[0]!, options);
      if (typeof emailPath === "string") {
        console.error(`NOT MEASURABLE: Email Routing path: ${emailPath}`);
        return 1;
      }
      console.log(`\n${emailPathReport(emailPath, messages[0]!)}`);
    }

    if (options.memory) {
      console.error("building the 25 MB message; peak memory in a fresh workerd and a fresh Node child…");
      const large = await buildLargeMessage();
      const largeFile = join(scratchDir, "large.eml");
      writeFileSync(largeFile, large);
      const text = messages[0]!;
      const workerdMemory = await measureWorkerdMemory(bundle, configJson, harness.dohUrl, envelopeHeader, text, large);
      const nodeMemory = await runNode<MemoryAnswer>({
        mode: "memory",
        dohUrl: harness.dohUrl,
        configFile: EXAMPLE_CONFIG,
        envelope,
        warmupFile: files.get("text")!,
        file: largeFile,
      });
      console.log(`\n${memoryReport(workerdMemory, nodeMemory)}`);
      if (typeof workerdMemory === "string") return 1;
      if (nodeMemory.action !== "accept") nodeProblems.push(`verdict() in Node on the 25 MB message answered ${nodeMemory.action}`);
    }
    console.log(`\nmachine: ${cpus().length} × ${cpus()[0]?.model ?? "?"}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`);
    for (const problem of nodeProblems) console.error(`NOT AS EXPECTED: ${problem}`);
    return nodeProblems.length > 0 ? 1 : 0;
  } finally {
    agent.destroy();
    await worker?.stop();
    await harness?.stop();
    rmSync(scratchDir, { recursive: true, force: true });
  }
}
