// Which judge the relay asks (docs/architecture.md, "The verdict's contract"): the Worker's verdict API when
// relay.verdict.url is set, else the very same verdict() in-process with the relay's resolver and its
// archive opener (7z, RAR and xz through 7-Zip in a worker thread) — the embedded default. In-process,
// a message of relay.threadsFromBytes or more goes to the judge pool's threads (pool.ts, relay.threads),
// a smaller one is judged on the main thread: measured on two cores (docs/scaling.md), handing a 10 KB
// message to a thread cost more CPU than its whole verdict, while a large message's verdict on the main
// thread would hold up every session. The Worker has no archive opener: behind the verdict API those
// formats cannot be inspected. Either way a failure to judge is an outcome, never an exception.
import type { EdgemxConfig } from "../../../core/config/schema.ts";
import type { WorkerConfig } from "../../../core/config/worker.ts";
import type { Resolver } from "../../../core/dns/resolver.ts";
import type { ArcSealKey } from "../../../core/arc/seal.ts";
import type { SpfMemo } from "../../../core/authentication/authenticate.ts";
import type { VerdictEnvelope } from "../../../core/verdict/types.ts";
import { verdict } from "../../../core/verdict/verdict.ts";
import { sevenZipOpener } from "../archive/seven-zip.ts";
import { createVerdictClient, type VerdictOutcome } from "./api-client.ts";
import { startJudgePool } from "./pool.ts";

export type { VerdictOutcome } from "./api-client.ts";

export interface VerdictSource {
  /** Where verdicts come from, for the start-up log: "in-process" or the API's origin. */
  readonly where: string;
  /** The in-process judge's threads (relay.threads); 0 or absent on the main thread or behind the API. */
  readonly threads?: number;
  /**
   * `id` is the message's tracking id; the in-process judge uses it, the API makes its own. `config`
   * is the configuration of the message's session, which the in-process judge judges by (the API by
   * the Worker's). `spfMemo` holds the session's SPF results (the in-process judge reuses them; the
   * API is stateless).
   */
  ask(raw: Uint8Array, envelope: VerdictEnvelope, message: { id: string; config: WorkerConfig; spfMemo?: SpfMemo }): Promise<VerdictOutcome>;
  close(): void | Promise<void>;
}

/** The environment variable holding the verdict API's bearer token (never the config file). */
export const VERDICT_TOKEN_ENV = "EDGEMX_VERDICT_TOKEN";

export class VerdictSourceSetupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "VerdictSourceSetupError";
  }
}

/** Whether a message of `bytes` goes to the judge pool (relay.threadsFromBytes; 0: every message). */
export function judgedInPool(bytes: number, threadsFromBytes: number): boolean {
  return bytes >= threadsFromBytes;
}

/** verdict() on the calling thread, with its own archive opener. */
function mainThreadJudge(resolver: Resolver, arcSealKey: ArcSealKey | undefined): VerdictSource["ask"] {
  const archiveOpener = sevenZipOpener();
  return async (raw, envelope, { id, config: judgedBy, spfMemo }) => {
    try {
      return {
        ok: true,
        verdict: await verdict(raw, envelope, judgedBy, resolver, {
          id,
          archiveOpener,
          ...(arcSealKey ? { arcSealKey } : {}),
          ...(spfMemo ? { spfMemo } : {}),
        }),
      };
    } catch (err) {
      return { ok: false, detail: `in-process judge: ${err instanceof Error ? err.message : String(err)}` };
    }
  };
}

/**
 * `threads`: the judge pool's size (0: the main thread only). A resolver handed in by the caller instead
 * of the configured one cannot go to other threads: the pool's threads ask relay.resolver themselves.
 */
export function createVerdictSource(config: EdgemxConfig, resolver: Resolver, env: NodeJS.ProcessEnv, arcSealKey?: ArcSealKey, threads = 0): VerdictSource {
  const { url, timeoutMs } = config.relay.verdict;
  if (url === undefined) {
    const onMainThread = mainThreadJudge(resolver, arcSealKey);
    if (threads === 0) return { where: "in-process", threads: 0, ask: onMainThread, close() {} };
    const pool = startJudgePool({ threads, resolver: config.relay.resolver, config, ...(arcSealKey ? { arcSealKey } : {}) });
    return {
      where: "in-process",
      threads,
      // The threshold of the start's configuration: the pool's size is fixed at start too.
      ask: (raw, envelope, message) =>
        judgedInPool(raw.byteLength, config.relay.threadsFromBytes) ? pool.ask(raw, envelope, message) : onMainThread(raw, envelope, message),
      close: () => pool.close(),
    };
  }
  const token = env[VERDICT_TOKEN_ENV];
  if (!token) throw new VerdictSourceSetupError(`relay.verdict.url is set, but ${VERDICT_TOKEN_ENV} (the verdict API's token) is not in the environment`);
  const client = createVerdictClient({ url, timeoutMs, token });
  return { where: new URL(url).origin, threads: 0, ask: (raw, envelope) => client.ask(raw, envelope), close: () => client.close() };
}
