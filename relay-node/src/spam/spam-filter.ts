// The spam filter as the relay runs it (relay.rspamd, docs/spam.md): rspamd's /checkv2 for every
// message when `url` is set; the controller for the spamtrap's and people's learning; the spamtrap with
// its blocklist; the learn listener. The schema refuses settings that cannot work together; what needs
// the environment (the learn listener's token, a free address) refuses the start here, in one line.
import type { EdgemxConfig } from "../../../core/config/schema.ts";
import { openBlocklistStore, type BlocklistStore } from "./blocklist-store.ts";
import { createSpamtrap, type Spamtrap } from "./spamtrap.ts";
import { LEARN_TOKEN_ENV, startLearnListener, type RunningLearnListener } from "./learn-listener.ts";
import type { Logger } from "../log/log.ts";
import { createRspamdClient, type SpamCheck } from "./rspamd.ts";
import { createRspamdController, RSPAMD_PASSWORD_ENV, type RspamdController } from "./rspamd-controller.ts";

export interface SpamFilter {
  spamCheck: SpamCheck | null;
  spamtrap: Spamtrap | null;
  /** The spamtrap's blocklist, consulted at connect. */
  blocklist: BlocklistStore | null;
  learnListener: RunningLearnListener | null;
  close(): Promise<void>;
}

export class SpamFilterSetupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SpamFilterSetupError";
  }
}

/** rspamd's normal worker answers GET /ping with "pong": null, else why not (for start-up and health probes). */
export async function pingRspamd(url: string, timeoutMs: number): Promise<string | null> {
  // A timer cleared once answered: AbortSignal.timeout's would outlive the ping (and a stopped relay) by timeoutMs.
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
  try {
    const response = await fetch(new URL("ping", url.endsWith("/") ? url : `${url}/`), { signal: abort.signal });
    const text = (await response.text()).trim();
    return text === "pong" ? null : `answered /ping with ${response.status} ${JSON.stringify(text.slice(0, 80))}`;
  } catch (err) {
    // fetch's own message is "fetch failed"; its cause says what failed (ECONNREFUSED, a timeout).
    const { message, cause } = err as Error;
    return cause instanceof Error ? `${message}: ${cause.message}` : message;
  } finally {
    clearTimeout(timer);
  }
}

export async function startSpamFilter(
  config: EdgemxConfig,
  env: NodeJS.ProcessEnv,
  logger: Logger,
  learnListen: { host?: string; port?: number } = {},
): Promise<SpamFilter> {
  const settings = config.relay.rspamd;
  const token = env[LEARN_TOKEN_ENV];
  if (settings.learnListener !== undefined && !token)
    throw new SpamFilterSetupError(`relay.rspamd.learnListener is set, but ${LEARN_TOKEN_ENV} (its bearer token) is not in the environment`);

  const client = settings.url === undefined ? null : createRspamdClient({ url: settings.url, timeoutMs: settings.timeoutMs });
  if (settings.url === undefined) {
    logger.warn({ event: "rspamd" }, "relay.rspamd.url is not set: messages are NOT scored for spam");
  } else {
    const problem = await pingRspamd(settings.url, Math.min(settings.timeoutMs, 5_000));
    if (problem !== null) {
      const consequence =
        settings.onError === "accept" ? "messages are accepted unscanned (onError: accept) until it does" : "every message is answered 451 until it does";
      logger.warn({ event: "rspamd", detail: problem }, `rspamd does not answer: ${consequence}`);
    }
  }

  const controller: RspamdController | null =
    settings.controllerUrl === undefined
      ? null
      : createRspamdController({ url: settings.controllerUrl, password: env[RSPAMD_PASSWORD_ENV], timeoutMs: settings.timeoutMs });
  const trapping = settings.spamtrap.addresses.length > 0;
  if (trapping && controller === null)
    logger.warn({ event: "spamtrap" }, "relay.rspamd.controllerUrl is not set: spamtrap mail blocklists its sender but is not learned");
  const blocklist = trapping ? openBlocklistStore(config.relay.store) : null;
  const spamtrap = blocklist === null ? null : createSpamtrap(settings.spamtrap, config.hostname, controller, blocklist);

  let learnListener: RunningLearnListener | null = null;
  if (settings.learnListener !== undefined && controller !== null && token) {
    const host = learnListen.host ?? settings.learnListener.host;
    const port = learnListen.port ?? settings.learnListener.port;
    try {
      learnListener = await startLearnListener({ host, port, token, controller, maxBytes: config.relay.limits.maxMessageBytes, logger });
    } catch (err) {
      await blocklist?.close();
      controller.close();
      client?.close();
      throw new SpamFilterSetupError(`cannot listen for learning on ${host} port ${port}: ${(err as Error).message}`);
    }
    logger.info({ event: "listen", listener: "learn", host, port: learnListener.port }, `learn listener on ${host} port ${learnListener.port}`);
  }

  return {
    spamCheck: client === null ? null : (message, envelope) => client.check(message, envelope),
    spamtrap,
    blocklist,
    learnListener,
    async close() {
      await learnListener?.close();
      await blocklist?.close();
      controller?.close();
      client?.close();
    },
  };
}
