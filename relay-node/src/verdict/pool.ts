// The judge on every core (relay.threads): verdict() in a pool of worker threads (npm piscina), while
// the main thread keeps what must stay in one place — the listeners, the sessions, the spool and its
// fsync before 250, the per-process state. Threads judge one message at a time, so a thread's CPU
// time over a task is that message's (the edgemx_judge_cpu_seconds histogram).
//
// What crosses between the threads: the message is copied once into a SharedArrayBuffer, which the
// thread reads in place (the main thread's own copy is still needed beside it: clamd, rspamd and the
// spool read it while the judge runs, so it cannot be moved away); the envelope and the verdict are
// small and cloned. The configuration goes once per thread (at start, or with the first task after
// a reload), never per message. A thread that dies mid-message (a crash, the memory bound) costs that
// message a 451, like any other failure to judge; piscina starts a new thread in its place.
import type { WorkerConfig } from "../../../core/config/worker.ts";
import type { SpfMemo } from "../../../core/authentication/authenticate.ts";
import type { ArcSealKey } from "../../../core/arc/seal.ts";
import type { VerdictEnvelope } from "../../../core/verdict/types.ts";
import { Piscina } from "piscina";
import type { VerdictOutcome } from "./api-client.ts";
import type { JudgeAnswer, JudgeTask, JudgeThreadData } from "./judge-thread.ts";

const THREAD = new URL("./judge-thread.ts", import.meta.url).href;

export interface JudgePoolSettings {
  threads: number;
  resolver: JudgeThreadData["resolver"];
  arcSealKey?: ArcSealKey;
  /** The configuration the relay starts with: each thread gets it at its start. */
  config: WorkerConfig;
}

export interface JudgePool {
  ask(raw: Uint8Array, envelope: VerdictEnvelope, message: { id: string; config: WorkerConfig; spfMemo?: SpfMemo }): Promise<VerdictOutcome>;
  /** The threads running now (tests: a crash, and none left after close). */
  readonly threads: readonly { threadId: number; terminate(): Promise<number> }[];
  close(): Promise<void>;
}

/** `raw` copied once into shared memory, which the thread reads without a further copy. */
function shared(raw: Uint8Array): Uint8Array {
  const view = new Uint8Array(new SharedArrayBuffer(raw.byteLength));
  view.set(raw);
  return view;
}

export function startJudgePool(settings: JudgePoolSettings): JudgePool {
  const data: JudgeThreadData = { resolver: settings.resolver, config: settings.config, ...(settings.arcSealKey ? { arcSealKey: settings.arcSealKey } : {}) };
  const pool = new Piscina({
    filename: THREAD,
    minThreads: settings.threads,
    maxThreads: settings.threads,
    // The pool is sized for the machine, not for the load: threads stay for the relay's life.
    idleTimeout: Number.POSITIVE_INFINITY,
    concurrentTasksPerWorker: 1,
    // Idle threads wait on the event loop, not blocked in Atomics.wait: a DNS socket's close and
    // the archive opener's threads are looked after between tasks too.
    atomics: "async",
    workerData: data,
  });
  // The start's configuration is id 0 (every thread has it); each reloaded one gets the next number.
  const configIds = new WeakMap<WorkerConfig, number>([[settings.config, 0]]);
  let lastConfigId = 0;
  const memoIds = new WeakMap<SpfMemo, number>();
  let lastMemoId = 0;

  const idOf = <K extends object>(ids: WeakMap<K, number>, key: K, next: () => number): number => {
    let id = ids.get(key);
    if (id === undefined) ids.set(key, (id = next()));
    return id;
  };

  return {
    async ask(raw, envelope, { id, config, spfMemo }) {
      const configId = idOf(configIds, config, () => ++lastConfigId);
      const task: JudgeTask = {
        raw: shared(raw),
        envelope,
        id,
        configId,
        ...(spfMemo ? { memoId: idOf(memoIds, spfMemo, () => ++lastMemoId) } : {}),
      };
      try {
        let answer = (await pool.run(task)) as JudgeAnswer;
        // A reloaded configuration this thread has not seen: once more, with it.
        if ("unknownConfig" in answer) answer = (await pool.run({ ...task, config })) as JudgeAnswer;
        if ("unknownConfig" in answer) return { ok: false, detail: `judge thread: configuration ${configId} was not taken` };
        return answer.outcome.ok ? { ...answer.outcome, cpuSeconds: answer.cpuSeconds } : answer.outcome;
      } catch (err) {
        // The thread ended mid-message (or the pool is closing): no verdict, so a 451.
        return { ok: false, detail: `judge thread: ${err instanceof Error ? err.message : String(err)}` };
      }
    },
    get threads() {
      return pool.threads;
    },
    async close() {
      await pool.destroy();
      // The pool is an async resource of its own (EventEmitterAsyncResource): said done now, not when collected.
      pool.emitDestroy();
    },
  };
}
