// Learning from people over HTTP (docs/spam.md): a mailbox host — Dovecot with imapsieve, when a user
// moves a message into or out of Junk — POSTs the raw message to /learn/spam or /learn/ham with the
// bearer token of EDGEMX_LEARN_TOKEN (RFC 6750 §2.1), and the relay hands it to rspamd's controller.
//
//   200 {"result":"learned"}          learned
//   208 {"result":"already learned"}  rspamd had learned it as this class before
//   422 {"result":"declined"}         rspamd would not learn it (too few tokens, or Bayes already knows it)
//   400 empty body · 401 no or wrong token · 404 other paths · 405 not POST · 413 over the size bound
//   502 {"result":"error"}            the controller could not be asked; try again later
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { bearerTokenMatches } from "../https/bearer.ts";
import { listenOn } from "../net/listen.ts";
import type { Logger } from "../log/log.ts";
import type { LearnClass, LearnOutcome, RspamdController } from "./rspamd-controller.ts";

/** The environment variable holding the listener's bearer token (never the configuration file). */
export const LEARN_TOKEN_ENV = "EDGEMX_LEARN_TOKEN";

export interface LearnListenerOptions {
  host: string;
  /** 0: a free port (see RunningLearnListener.port). */
  port: number;
  token: string;
  controller: RspamdController;
  /** The largest message taken (relay.limits.maxMessageBytes). */
  maxBytes: number;
  logger: Logger;
}

export interface RunningLearnListener {
  host: string;
  port: number;
  close(): Promise<void>;
}

const PATH = /^\/learn\/(spam|ham)$/;
/** A request that sends its body slower than this is dropped (node:http's requestTimeout). */
const REQUEST_TIMEOUT_MS = 60_000;

const STATUS: Record<LearnOutcome["status"], { code: number; result: string }> = {
  learned: { code: 200, result: "learned" },
  "already-learned": { code: 208, result: "already learned" },
  declined: { code: 422, result: "declined" },
  error: { code: 502, result: "error" },
};

/** The request body, or null once it passes `limit` bytes (the rest is not kept). */
async function readBody(request: IncomingMessage, limit: number): Promise<Buffer | null> {
  const chunks: Buffer[] = [];
  let length = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    length += chunk.length;
    if (length > limit) return null;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

function answer(response: ServerResponse, code: number, body: Record<string, string>, headers: Record<string, string> = {}): void {
  response.writeHead(code, { "content-type": "application/json", "cache-control": "no-store", ...headers });
  response.end(`${JSON.stringify(body)}\n`);
}

export async function startLearnListener(options: LearnListenerOptions): Promise<RunningLearnListener> {
  const { controller, logger, maxBytes, token } = options;

  const handle = async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    const started = performance.now();
    const kind = PATH.exec(new URL(request.url ?? "/", "http://learn").pathname)?.[1] as LearnClass | undefined;
    if (kind === undefined) return answer(response, 404, { error: "POST /learn/spam or /learn/ham" });
    if (request.method !== "POST") return answer(response, 405, { error: "POST only" }, { allow: "POST" });
    if (!bearerTokenMatches(request.headers.authorization, token)) {
      logger.warn({ event: "learn", class: kind, clientIp: request.socket.remoteAddress, result: "unauthorized" }, "learn request without a valid token");
      return answer(response, 401, { error: "a valid bearer token is required" }, { "www-authenticate": 'Bearer realm="edgemx-learn"' });
    }
    const declared = Number(request.headers["content-length"] ?? 0);
    const body = declared > maxBytes ? null : await readBody(request, maxBytes);
    if (body === null) {
      answer(response, 413, { error: `the message is larger than ${maxBytes} bytes` }, { connection: "close" });
      request.destroy();
      return;
    }
    if (body.length === 0) return answer(response, 400, { error: "the body must be the raw message" });
    const outcome = await controller.learn(kind, body);
    const { code, result } = STATUS[outcome.status];
    const detail = outcome.status === "learned" ? undefined : outcome.detail;
    logger.info(
      {
        event: "learn",
        class: kind,
        clientIp: request.socket.remoteAddress,
        bytes: body.length,
        result,
        detail,
        durationMs: Math.round(performance.now() - started),
      },
      `learn ${kind}: ${result}`,
    );
    answer(response, code, { result, ...(detail !== undefined ? { detail } : {}) });
  };

  const server = createServer({ requestTimeout: REQUEST_TIMEOUT_MS }, (request, response) => {
    handle(request, response).catch((err: unknown) => {
      logger.error({ event: "learn", err }, "learn request failed");
      if (!response.headersSent) answer(response, 500, { error: "internal error" });
      else response.destroy();
    });
  });
  const port = await listenOn(server, options);
  return {
    host: options.host,
    port,
    close: () =>
      new Promise<void>((done) => {
        server.close(() => done());
        server.closeAllConnections();
      }),
  };
}
