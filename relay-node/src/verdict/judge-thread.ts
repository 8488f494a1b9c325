// One thread of the judge pool (pool.ts): the in-process judge's verdict(), run off the main thread.
// It has its own resolver to the relay's validating resolver (with its own cache), its own archive
// opener, the ARC sealing key imported once, and the configuration the relay started with; a
// reloaded one arrives with the first task that needs it. The thread measures the CPU time of each
// verdict it gives (process.threadCpuUsage(), the thread's own): it runs one task at a time, so that
// time is the message's alone.
import { workerData } from "piscina";
import { SpfMemo } from "../../../core/authentication/authenticate.ts";
import type { ArcSealKey } from "../../../core/arc/seal.ts";
import type { WorkerConfig } from "../../../core/config/worker.ts";
import type { VerdictEnvelope } from "../../../core/verdict/types.ts";
import { verdict } from "../../../core/verdict/verdict.ts";
import { sevenZipOpener } from "../archive/seven-zip.ts";
import { createRelayResolver } from "../dns/resolver.ts";
import type { VerdictOutcome } from "./api-client.ts";

/** What the pool hands each thread once, at its start. */
export interface JudgeThreadData {
  resolver: { host: string; port: number; timeoutMs: number };
  arcSealKey?: ArcSealKey;
  /** The configuration the relay started with, id 0. */
  config: WorkerConfig;
}

/** One message to judge. `raw` views a SharedArrayBuffer: the thread reads the main thread's copy, none is made in between. */
export interface JudgeTask {
  raw: Uint8Array;
  envelope: VerdictEnvelope;
  id: string;
  /** The session's configuration by number; `config` comes along when the thread may not have it (pool.ts). */
  configId: number;
  config?: WorkerConfig;
  /** The session's SPF memo by number: the thread keeps one per session it has judged for (SpfMemo). */
  memoId?: number;
}

/** The verdict and the thread's CPU seconds for it; or, for a configuration this thread has not seen, a request to send it. */
export type JudgeAnswer = { outcome: VerdictOutcome; cpuSeconds: number } | { unknownConfig: number };

/** Sessions whose SPF memo a thread keeps; the oldest goes first. A memo is worth 30 s at most (SPF_MEMO_MS). */
const MEMOS_KEPT = 4096;
/** Configurations kept besides the start's: the current one after a reload, and the one before it for sessions still open. */
const CONFIGS_KEPT = 2;

const data = workerData as JudgeThreadData;
const resolver = createRelayResolver(data.resolver);
const archiveOpener = sevenZipOpener();
const configs = new Map<number, WorkerConfig>([[0, data.config]]);
const memos = new Map<number, SpfMemo>();

function memoFor(memoId: number | undefined): SpfMemo | undefined {
  if (memoId === undefined) return undefined;
  let memo = memos.get(memoId);
  if (memo === undefined) {
    memo = new SpfMemo();
    if (memos.size >= MEMOS_KEPT) memos.delete(memos.keys().next().value!);
    memos.set(memoId, memo);
  }
  return memo;
}

function configFor(task: JudgeTask): WorkerConfig | undefined {
  if (task.config !== undefined) {
    configs.set(task.configId, task.config);
    const reloaded = [...configs.keys()].filter((id) => id !== 0);
    for (const id of reloaded.slice(0, Math.max(0, reloaded.length - CONFIGS_KEPT))) configs.delete(id);
  }
  return configs.get(task.configId);
}

export default async function judge(task: JudgeTask): Promise<JudgeAnswer> {
  const config = configFor(task);
  if (config === undefined) return { unknownConfig: task.configId };
  const memo = memoFor(task.memoId);
  const before = process.threadCpuUsage();
  let outcome: VerdictOutcome;
  try {
    outcome = {
      ok: true,
      verdict: await verdict(task.raw, task.envelope, config, resolver, {
        id: task.id,
        archiveOpener,
        ...(data.arcSealKey ? { arcSealKey: data.arcSealKey } : {}),
        ...(memo ? { spfMemo: memo } : {}),
      }),
    };
  } catch (err) {
    outcome = { ok: false, detail: `judge thread: ${err instanceof Error ? err.message : String(err)}` };
  }
  const used = process.threadCpuUsage(before);
  return { outcome, cpuSeconds: (used.user + used.system) / 1e6 };
}
