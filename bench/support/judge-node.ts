// The Node side of the judge benchmark, run as a child process so that its CPU time and memory are its
// own. Argument: JSON of a JudgeNodeTask; the answer goes to the parent over IPC.
//   "cpu":    per message, the CPU time of each iteration of (1) the floor — plain mailauth
//             authenticate() + PostalMime.parse() — and (2) the judge's own verdict(), in process.
//   "memory": one verdict() of one (large) message after a small warm-up verdict, and the peak RSS.
// DNS: the Worker's DoH client behind the Worker's cache (the relay would ask its local resolver),
// against the harness's DoH bridge; the warm-up fills the cache, as the isolate's gets filled.
import { readFileSync } from "node:fs";
import { authenticate } from "mailauth";
import PostalMime from "postal-mime";
import { loadConfigFile } from "../../relay-node/src/config/file.ts";
import { cachingResolver } from "../../core/dns/cache.ts";
import { dohResolver } from "../../core/dns/doh.ts";
import { mailauthResolver } from "../../core/dns/mailauth.ts";
import type { VerdictEnvelope } from "../../core/verdict/types.ts";
import { verdict } from "../../core/verdict/verdict.ts";

export interface NodeMessage {
  name: string;
  /** A file holding the raw message. */
  file: string;
  iterations: number;
  warmup: number;
}

export type JudgeNodeTask =
  | { mode: "cpu"; dohUrl: string; configFile: string; envelope: VerdictEnvelope; messages: NodeMessage[] }
  | { mode: "memory"; dohUrl: string; configFile: string; envelope: VerdictEnvelope; warmupFile: string; file: string };

export interface CpuAnswer {
  mode: "cpu";
  results: { name: string; floorMicros: number[]; verdictMicros: number[]; actions: string[] }[];
}

export interface MemoryAnswer {
  mode: "memory";
  action: string;
  bytes: number;
  /** RSS after the warm-up verdict, the message already read into memory. */
  rssBeforeKiB: number;
  /** process.resourceUsage().maxRSS after the verdict: the peak of the whole process. */
  maxRssKiB: number;
  cpuMs: number;
}

const task = JSON.parse(process.argv[2] ?? "null") as JudgeNodeTask;
const config = loadConfigFile(task.configFile);
const resolver = cachingResolver(dohResolver({ url: task.dohUrl }));
const { envelope } = task;

/** CPU microseconds (user + system, every thread of this process) that `work` took. */
async function cpuMicros(work: () => Promise<unknown>): Promise<number> {
  const before = process.cpuUsage();
  await work();
  const used = process.cpuUsage(before);
  return used.user + used.system;
}

async function floor(message: Buffer): Promise<void> {
  await authenticate(message, {
    ip: envelope.clientIp,
    helo: envelope.helo,
    sender: envelope.mailFrom,
    mta: config.hostname,
    resolver: mailauthResolver(resolver),
    // The judge does not look up BIMI; the floor does not either.
    disableBimi: true,
  });
  await PostalMime.parse(message);
}

async function judge(message: Buffer): Promise<string> {
  return (await verdict(message, envelope, config, resolver)).action;
}

async function runCpu(messages: NodeMessage[]): Promise<CpuAnswer> {
  const results: CpuAnswer["results"] = [];
  for (const m of messages) {
    const message = readFileSync(m.file);
    const actions = new Set<string>();
    for (let i = 0; i < m.warmup; i++) {
      await floor(message);
      actions.add(await judge(message));
    }
    const floorMicros: number[] = [];
    for (let i = 0; i < m.iterations; i++) floorMicros.push(await cpuMicros(() => floor(message)));
    const verdictMicros: number[] = [];
    for (let i = 0; i < m.iterations; i++) verdictMicros.push(await cpuMicros(async () => actions.add(await judge(message))));
    results.push({ name: m.name, floorMicros, verdictMicros, actions: [...actions] });
  }
  return { mode: "cpu", results };
}

async function runMemory(warmupFile: string, file: string): Promise<MemoryAnswer> {
  await judge(readFileSync(warmupFile));
  const message = readFileSync(file);
  const rssBeforeKiB = Math.round(process.memoryUsage().rss / 1024);
  let action = "";
  const micros = await cpuMicros(async () => (action = await judge(message)));
  return { mode: "memory", action, bytes: message.byteLength, rssBeforeKiB, maxRssKiB: process.resourceUsage().maxRSS, cpuMs: micros / 1000 };
}

const answer = task.mode === "cpu" ? await runCpu(task.messages) : await runMemory(task.warmupFile, task.file);
process.send?.(answer, () => process.disconnect());
