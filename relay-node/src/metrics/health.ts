// Whether the services the configuration uses answer, asked the way the relay asks them at start:
// the resolver for the DNSSEC probe's name, clamd's PING, rspamd's /ping, Redis's PING, and the verdict API
// with our token. Each probe is bounded in time, so /readyz and a scrape answer within PROBE_LIMIT_MS
// whatever hangs. A dependency the configuration does not use is not probed, and not listed.
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import type { Redis } from "ioredis";
import type { EdgemxConfig } from "../../../core/config/schema.ts";
import type { Resolver } from "../../../core/dns/resolver.ts";
import { fastFailingRedis } from "../redis/client.ts";
import { pingClamd } from "../scan/clamd.ts";
import { pingRspamd } from "../spam/spam-filter.ts";
import { VERDICT_TOKEN_ENV } from "../verdict/source.ts";
import type { Dependency } from "./metrics.ts";

/** How long one probe may take; Prometheus's default scrape timeout is 10 s. */
export const PROBE_LIMIT_MS = 2_000;

/** null: it answers; otherwise why not, in a few words. */
export type ProbeFinding = string | null;

export interface DependencyProbes {
  /** The dependencies the configuration uses, in a fixed order. */
  readonly names: readonly Dependency[];
  /** Probes them all at once; every one is in the result within PROBE_LIMIT_MS. */
  probe(): Promise<Map<Dependency, ProbeFinding>>;
  close(): void;
}

/**
 * The probe's answer, or a finding that says it did not come within the bound. The probe starts
 * first, so that its own timeout of the same length (clamd's) fires first and says what waited.
 */
async function bounded(probe: () => Promise<ProbeFinding>, limitMs: number): Promise<ProbeFinding> {
  const answer = probe().catch((err: unknown) => (err instanceof Error ? err.message : String(err)));
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<ProbeFinding>((resolve) => {
    timer = setTimeout(() => resolve(`no answer within ${limitMs} ms`), limitMs);
  });
  try {
    return await Promise.race([answer, late]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The verdict API answers a POST without an envelope with 400 once the token is accepted
 * (workers/src/http/verdict.ts checks the token first): the Worker runs and takes our token, and no
 * message is judged.
 */
function probeVerdictApi(url: string, token: string | undefined, limitMs: number): Promise<ProbeFinding> {
  if (!token) return Promise.resolve(`${VERDICT_TOKEN_ENV} is not set`);
  const target = new URL(url);
  const request = target.protocol === "https:" ? httpsRequest : httpRequest;
  return new Promise((resolve) => {
    const req = request(target, {
      method: "POST",
      agent: false,
      signal: AbortSignal.timeout(limitMs),
      headers: { authorization: `Bearer ${token}`, "content-length": "0" },
    });
    req.on("error", (err) => resolve(err.message));
    req.on("response", (response) => {
      response.resume();
      const status = response.statusCode ?? 0;
      if (status === 400) resolve(null);
      else if (status === 401) resolve(`the verdict API refuses the token in ${VERDICT_TOKEN_ENV}`);
      else resolve(`the verdict API answered ${status}`);
    });
    req.end();
  });
}

/**
 * Redis is used whenever relay.store names it: the TLS-RPT counts of every outbound session are kept
 * there, beside greylisting, the blocklist, the DMARC counts, the login throttle, the quotas and the
 * callout answers where those are on.
 */
function redisUrl(config: EdgemxConfig): string | undefined {
  const { store } = config.relay;
  return store.type === "redis" ? store.url : undefined;
}

export function dependencyProbes(config: EdgemxConfig, resolver: Resolver, env: NodeJS.ProcessEnv, limitMs = PROBE_LIMIT_MS): DependencyProbes {
  const probes = new Map<Dependency, () => Promise<ProbeFinding>>();
  // A name that exists in a signed zone, as any resolver of the Internet finds it (relay.outbound.dnssecProbeName).
  const probeName = config.relay.outbound.dnssecProbeName;
  probes.set("dns", async () => {
    const answer = await resolver.query(probeName, "A");
    return answer.status === "servfail" || answer.status === "timeout" ? `${answer.status} for ${probeName}: ${answer.detail}` : null;
  });
  const { clamd, rspamd, verdict } = config.relay;
  if (clamd.enabled) {
    probes.set("clamd", async () => {
      const ping = await pingClamd({ host: clamd.host, port: clamd.port, timeoutMs: limitMs });
      return ping.status === "ok" ? null : ping.detail;
    });
  }
  if (rspamd.url !== undefined) {
    const url = rspamd.url;
    probes.set("rspamd", () => pingRspamd(url, limitMs));
  }
  // A connection of its own, made at the first probe: the stores' clients are theirs to close. A
  // failed PING says only that ioredis gave up; the connection's last error says why.
  const url = redisUrl(config);
  let redis: Redis | undefined;
  let connectionError: string | undefined;
  if (url !== undefined) {
    probes.set("redis", async () => {
      redis ??= fastFailingRedis(url, limitMs).on("error", (err: Error) => (connectionError = err.message));
      try {
        const pong = await redis.ping();
        return pong === "PONG" ? null : `Redis answered PING with ${JSON.stringify(pong)}`;
      } catch (err) {
        return connectionError ?? (err as Error).message;
      }
    });
  }
  if (verdict.url !== undefined) {
    const verdictUrl = verdict.url;
    probes.set("verdict_api", () => probeVerdictApi(verdictUrl, env[VERDICT_TOKEN_ENV], limitMs));
  }

  return {
    names: [...probes.keys()],
    async probe() {
      const findings = await Promise.all([...probes].map(async ([name, probe]) => [name, await bounded(probe, limitMs)] as const));
      return new Map(findings);
    },
    close() {
      redis?.disconnect();
      redis = undefined;
    },
  };
}
