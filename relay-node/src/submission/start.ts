// Starts what relay.listeners.submission (587) and .submissions (465) ask for, sharing one user store,
// one login throttle and one send quota, so a client cannot double its attempts by switching ports.
import type { EdgemxConfig } from "../../../core/config/schema.ts";
import { loadDkimKeys } from "../sign/keys.ts";
import type { BoundedSmtpServer } from "../smtp/server.ts";
import { createAuthenticator } from "../users/authenticator.ts";
import { createSubmissionServer, type SubmissionDeps } from "./listener.ts";
import { LoginThrottle } from "./login-throttle.ts";
import { SendQuota } from "./send-quota.ts";
import { localLoginLimiter, localSendLimiter, redisLoginLimiter, redisSendLimiter } from "./shared-limits.ts";
import { fastFailingRedis } from "../redis/client.ts";
import { listenOn } from "../net/listen.ts";

/** The delay after a first failed login, doubling up to the maximum (login-throttle.ts). */
const FIRST_FAILURE_DELAY_MS = 500;
const MAX_FAILURE_DELAY_MS = 8_000;

export type SubmissionListenerName = "submission" | "submissions";

export interface RunningSubmission {
  /** The bound port of each enabled listener. */
  ports: Partial<Record<SubmissionListenerName, number>>;
  updateSecureContext(options: Parameters<BoundedSmtpServer["updateSecureContext"]>[0]): void;
  /** relay.limits after a reload (smtp/server.ts). */
  applyLimits(limits: EdgemxConfig["relay"]["limits"]): void;
}

export type SubmissionBase = Omit<SubmissionDeps, "users" | "throttle" | "quota" | "signing">;

/**
 * Starts the enabled listeners; their user store and the listeners themselves are put on `services`,
 * which the relay disposes on stop and after a start that fails (this one included).
 */
export async function startSubmission(
  configs: { readonly current: EdgemxConfig },
  base: SubmissionBase,
  env: NodeJS.ProcessEnv,
  services: AsyncDisposableStack,
  listenAt: Partial<Record<SubmissionListenerName, { host?: string; port?: number }>> = {},
): Promise<RunningSubmission> {
  const config = configs.current;
  const wanted = (["submission", "submissions"] as const).filter((name) => config.relay.listeners[name].enabled);
  if (wanted.length === 0) return { ports: {}, updateSecureContext() {}, applyLimits() {} };
  const signing = loadDkimKeys(config, env);
  for (const domain of config.domains) {
    if (!signing.has(domain.name.toLowerCase()))
      base.logger.warn({ event: "dkim", domain: domain.name }, `no DKIM signing key for ${domain.name}: mail submitted from it is sent unsigned`);
  }
  const users = createAuthenticator(configs);
  services.defer(() => users.close());
  const policy = config.relay.submission;
  const throttlePolicy = {
    maxFailures: policy.maxAuthFailures,
    windowSeconds: policy.authFailureWindowSeconds,
    baseDelayMs: FIRST_FAILURE_DELAY_MS,
    maxDelayMs: MAX_FAILURE_DELAY_MS,
  };
  const throttle = new LoginThrottle(throttlePolicy);
  const quota = new SendQuota(policy.maxMessagesPerHour);
  // With Redis (relay.store, the relays' shared state), the limits hold across relays (shared-limits.ts).
  const shared = config.relay.store.type === "redis" ? fastFailingRedis(config.relay.store.url) : null;
  if (shared !== null) services.defer(() => shared.disconnect());
  const onSharedError = (err: unknown): void =>
    base.logger.warn(
      { event: "shared-state", err: (err as Error).message },
      "Redis did not answer: this relay counts the submission limits on its own meanwhile",
    );
  const deps: SubmissionDeps = {
    ...base,
    signing,
    users,
    throttle: shared === null ? localLoginLimiter(throttle) : redisLoginLimiter(shared, throttlePolicy, throttle, onSharedError),
    quota: shared === null ? localSendLimiter(quota) : redisSendLimiter(shared, policy.maxMessagesPerHour, quota, onSharedError),
  };
  const servers: BoundedSmtpServer[] = [];
  const ports: RunningSubmission["ports"] = {};
  // The listeners bound so far close together, so their sessions share one grace period (smtp/server.ts).
  services.defer(async () => {
    await Promise.all(servers.map((server) => new Promise<void>((done) => server.close(done))));
  });
  for (const name of wanted) {
    const server = createSubmissionServer(configs, deps, { implicitTls: name === "submissions" });
    const host = listenAt[name]?.host ?? config.relay.listeners[name].host;
    const port = listenAt[name]?.port ?? config.relay.listeners[name].port;
    try {
      ports[name] = await listenOn(server.server, { host, port });
    } catch (err) {
      throw new Error(`cannot listen on ${host} port ${port}: ${(err as Error).message}`, { cause: err });
    }
    servers.push(server);
    base.logger.info({ event: "listen", listener: name, host, port: ports[name] }, `${name} listening on ${host} port ${ports[name]}`);
  }
  return {
    ports,
    updateSecureContext(options) {
      for (const server of servers) server.updateSecureContext(options);
    },
    applyLimits(limits) {
      for (const server of servers) server.applyLimits(limits);
    },
  };
}
