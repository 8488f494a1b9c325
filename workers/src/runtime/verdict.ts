// What the Worker hands the judge: the per-isolate DoH resolver and the ARC sealing key from secrets.
import type { WorkerConfig } from "../../../core/config/worker.ts";
import { isolateResolver } from "./resolver.ts";
import type { Resolver } from "../../../core/dns/resolver.ts";
import type { Env } from "./env.ts";
import type { VerdictOptions } from "../../../core/verdict/verdict.ts";

export function judgeResolver(config: WorkerConfig, env: Env): Resolver {
  return isolateResolver({ url: env.DOH_URL ?? config.judge.dns.dohUrl, timeoutMs: config.judge.dns.timeoutMs });
}

export function judgeOptions(env: Env): VerdictOptions {
  return env.ARC_PRIVATE_KEY ? { arcSealKey: { privateKey: env.ARC_PRIVATE_KEY } } : {};
}
