// The scan endpoint (relay.scanListener, docs/relay.md "The scan endpoint"): Email Routing's email() has
// no clamd or rspamd at the edge, so it POSTs each message here over HTTPS with the bearer token of
// EDGEMX_SCAN_TOKEN (RFC 6750 §2.1) — and, where clientCaFile is set, a client certificate that CA issued
// (mutual TLS) — and the relay runs clamd and rspamd on it side by side, as it does for its own MX.
//
//   200 ScanAnswer (core/scan/answer.ts)       both scanners answered: the virus, rspamd's action and score
//   400 {"error"}  no or a bad envelope, an empty body · 401 no or a wrong token · 404 other paths · 405 not POST
//   413 {"error"}  a body over relay.limits.maxMessageBytes
//   503 {"error"}  clamd or rspamd could not be asked: the Worker defers the message (never an unscanned accept)
import { readFileSync } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import { createServer, type ServerOptions } from "node:https";
import type { EdgemxConfig } from "../../../core/config/schema.ts";
import { boundedSymbols, SCAN_ENVELOPE_HEADER, SCAN_ID_HEADER, SCAN_PATH, type ScanAnswer, type ScanRefusal } from "../../../core/scan/answer.ts";
import { TRACKING_ID_RE } from "../../../core/smtp/tracking-id.ts";
import { parseEnvelope } from "../../../core/verdict/envelope.ts";
import type { VerdictEnvelope } from "../../../core/verdict/types.ts";
import { bearerTokenMatches } from "../https/bearer.ts";
import type { Logger } from "../log/log.ts";
import { listenOn } from "../net/listen.ts";
import type { ClamdResult } from "./clamd.ts";
import type { SpamCheck } from "../spam/rspamd.ts";
import { secureContextOptions, type CertificatePair } from "../tls/certificate.ts";

/** The environment variable holding the endpoint's bearer token (never the configuration file). */
export const SCAN_TOKEN_ENV = "EDGEMX_SCAN_TOKEN";

export interface ScanEndpointOptions {
  host: string;
  /** 0: a free port (see RunningScanEndpoint.port). */
  port: number;
  token: string;
  /** The server's key and certificate chain, and the TLS settings of the relay's other listeners (tls/certificate.ts). */
  tls: ServerOptions;
  /** PEM CA certificates: with them a client must present a certificate they issued (relay.scanListener.clientCaFile). */
  clientCa?: string;
  /** The largest message taken (relay.limits.maxMessageBytes). */
  maxBytes: number;
  /** clamd, as the MX runs it ("skipped" where relay.clamd is off, which the schema refuses beside this endpoint). */
  scan: (message: Uint8Array) => Promise<ClamdResult | { status: "skipped" }>;
  /** rspamd's /checkv2, as the MX asks it. */
  spamCheck: SpamCheck;
  /** Our host name: rspamd's MTA-Name. */
  hostname: string;
  logger: Logger;
}

export interface RunningScanEndpoint {
  host: string;
  port: number;
  /** New TLS sessions use this key and certificate (the relay's certificate reloaded). */
  updateSecureContext(options: ServerOptions): void;
  close(): Promise<void>;
}

/** A request that sends its body slower than this is dropped (node:http's requestTimeout). */
const REQUEST_TIMEOUT_MS = 60_000;
/** The envelope header is JSON of at most this many bytes (the verdict API's bound). */
const MAX_ENVELOPE_HEADER = 64 * 1024;

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

function answer(response: ServerResponse, code: number, body: ScanAnswer | ScanRefusal, headers: Record<string, string> = {}): void {
  response.writeHead(code, { "content-type": "application/json", "cache-control": "no-store", ...headers });
  response.end(`${JSON.stringify(body)}\n`);
}

/** The envelope of the Edgemx-Envelope header, or why it cannot be read. */
function envelopeOf(request: IncomingMessage): VerdictEnvelope | string {
  const text = request.headers[SCAN_ENVELOPE_HEADER];
  if (typeof text !== "string" || text === "") return `the ${SCAN_ENVELOPE_HEADER} header (the envelope as JSON) is missing`;
  if (text.length > MAX_ENVELOPE_HEADER) return `the ${SCAN_ENVELOPE_HEADER} header is longer than ${MAX_ENVELOPE_HEADER} bytes`;
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch {
    return `the ${SCAN_ENVELOPE_HEADER} header is not JSON`;
  }
  return parseEnvelope(document);
}

export async function startScanEndpoint(options: ScanEndpointOptions): Promise<RunningScanEndpoint> {
  const { logger, maxBytes, token } = options;

  const handle = async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    const started = performance.now();
    if (new URL(request.url ?? "/", "https://scan").pathname !== SCAN_PATH) return answer(response, 404, { error: `POST ${SCAN_PATH}` });
    if (request.method !== "POST") return answer(response, 405, { error: "POST only" }, { allow: "POST" });
    const clientIp = request.socket.remoteAddress;
    if (!bearerTokenMatches(request.headers.authorization, token)) {
      logger.warn({ event: "scan", clientIp, result: "unauthorized" }, "scan request without a valid token");
      return answer(response, 401, { error: "a valid bearer token is required" }, { "www-authenticate": 'Bearer realm="edgemx-scan"' });
    }
    const envelope = envelopeOf(request);
    const idHeader = request.headers[SCAN_ID_HEADER];
    const id = typeof idHeader === "string" ? idHeader : undefined;
    const refuse = (code: number, error: string, headers: Record<string, string> = {}): void => {
      logger.warn({ event: "scan", clientIp, id, result: "refused", status: code, detail: error }, `scan request refused: ${error}`);
      answer(response, code, { error }, headers);
    };
    if (typeof envelope === "string") return refuse(400, envelope);
    if (id !== undefined && !TRACKING_ID_RE.test(id)) return refuse(400, `the ${SCAN_ID_HEADER} header is not a tracking id (XXXXX-XX)`);
    const declared = Number(request.headers["content-length"] ?? 0);
    const body = declared > maxBytes ? null : await readBody(request, maxBytes);
    if (body === null) {
      refuse(413, `the message is larger than ${maxBytes} bytes (relay.limits.maxMessageBytes)`, { connection: "close" });
      request.destroy();
      return;
    }
    if (body.length === 0) return refuse(400, "the body must be the raw message");

    const [virus, spam] = await Promise.all([
      options.scan(body),
      options.spamCheck(body, {
        clientIp: envelope.clientIp ?? null,
        helo: envelope.helo ?? null,
        hostname: null,
        mailFrom: envelope.mailFrom,
        rcptTo: envelope.rcptTo,
        queueId: id ?? "scan",
        user: null,
        tls: null,
        mtaName: options.hostname,
      }),
    ]);
    const durationMs = Math.round(performance.now() - started);
    // Both answers or none: an unscanned message is the Worker's to defer, never to forward.
    const failures = [
      ...(virus.status === "error" ? [virus.detail] : virus.status === "skipped" ? ["clamd: relay.clamd.enabled is false"] : []),
      ...(spam.status === "error" ? [spam.detail] : []),
    ];
    if (virus.status === "skipped" || virus.status === "error" || spam.status === "error") {
      const error = failures.join("; ");
      logger.warn({ event: "scan", clientIp, id, result: "unavailable", detail: error, durationMs }, `scan unavailable: ${error}`);
      return answer(response, 503, { error }, { "retry-after": "60" });
    }
    const result: ScanAnswer = {
      virus: virus.status === "infected" ? { status: "infected", signature: virus.signature } : { status: "clean" },
      spam: { action: spam.action, score: spam.score, requiredScore: spam.requiredScore, symbols: boundedSymbols(spam.symbols) },
    };
    logger.info(
      {
        event: "scan",
        clientIp,
        id,
        bytes: body.length,
        virus: virus.status === "infected" ? `infected ${virus.signature}` : "clean",
        spam: { action: spam.action, score: spam.score },
        durationMs,
      },
      `scan: ${virus.status === "infected" ? "INFECTED" : "clean"}, rspamd ${spam.action} ${spam.score}`,
    );
    answer(response, 200, result);
  };

  const server = createServer(
    {
      ...options.tls,
      requestTimeout: REQUEST_TIMEOUT_MS,
      // Mutual TLS: without a certificate the CA issued the handshake fails, before any HTTP.
      ...(options.clientCa === undefined ? {} : { ca: options.clientCa, requestCert: true, rejectUnauthorized: true }),
    },
    (request, response) => {
      handle(request, response).catch((err: unknown) => {
        logger.error({ event: "scan", err }, "scan request failed");
        if (!response.headersSent) answer(response, 500, { error: "internal error" });
        else response.destroy();
      });
    },
  );
  const port = await listenOn(server, options);
  return {
    host: options.host,
    port,
    updateSecureContext: (tls) => server.setSecureContext({ ...tls, ...(options.clientCa === undefined ? {} : { ca: options.clientCa }) }),
    close: () =>
      new Promise<void>((done) => {
        server.close(() => done());
        server.closeAllConnections();
      }),
  };
}

/**
 * The endpoint as relay.scanListener configures it, on the relay's certificate; null without the setting.
 * What the environment must give (the token, a readable CA file, a free address) refuses the start, in one line.
 */
export async function startScanListener(
  config: EdgemxConfig,
  deps: { scan: ScanEndpointOptions["scan"]; spamCheck: SpamCheck | null; certificate: CertificatePair; env: NodeJS.ProcessEnv; logger: Logger },
  listen: { host?: string; port?: number } = {},
): Promise<RunningScanEndpoint | null> {
  const settings = config.relay.scanListener;
  if (settings === undefined) return null;
  const token = deps.env[SCAN_TOKEN_ENV];
  if (!token) throw new Error(`relay.scanListener is set, but ${SCAN_TOKEN_ENV} (its bearer token) is not in the environment`);
  // The schema asks for relay.rspamd.url beside the listener; a spam check is then always there.
  if (deps.spamCheck === null) throw new Error("relay.scanListener is set, but relay.rspamd.url is not: the scan endpoint runs rspamd on every message");
  let clientCa: string | undefined;
  if (settings.clientCaFile !== undefined) {
    try {
      clientCa = readFileSync(settings.clientCaFile, "utf8");
    } catch (err) {
      throw new Error(`relay.scanListener.clientCaFile: cannot read ${settings.clientCaFile}: ${(err as Error).message}`, { cause: err });
    }
  }
  const host = listen.host ?? settings.host;
  const port = listen.port ?? settings.port;
  let endpoint: RunningScanEndpoint;
  try {
    endpoint = await startScanEndpoint({
      host,
      port,
      token,
      tls: secureContextOptions(deps.certificate),
      ...(clientCa === undefined ? {} : { clientCa }),
      maxBytes: config.relay.limits.maxMessageBytes,
      scan: deps.scan,
      spamCheck: deps.spamCheck,
      hostname: config.hostname,
      logger: deps.logger,
    });
  } catch (err) {
    throw new Error(`cannot listen for scans on ${host} port ${port}: ${(err as Error).message}`, { cause: err });
  }
  deps.logger.info(
    { event: "listen", listener: "scan", host, port: endpoint.port, mutualTls: clientCa !== undefined },
    `scan endpoint on https://${host.includes(":") ? `[${host}]` : host}:${endpoint.port}${SCAN_PATH}`,
  );
  return endpoint;
}
