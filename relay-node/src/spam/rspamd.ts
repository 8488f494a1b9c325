// rspamd's HTTP protocol (https://rspamd.com/doc/developers/protocol.html): POST /checkv2 to the normal
// worker, the message as the body, the SMTP envelope as request headers — IP, Helo, Hostname (the
// forward-confirmed name, "unknown" without one), From, one Rcpt per recipient, Queue-Id, User (the
// authenticated user), TLS-Version and TLS-Cipher, MTA-Name — and a JSON result: the action, the score,
// the required score and the symbols. Every failure — refused, reset, timeout, a status other than 200,
// an over-long or malformed reply — is an "error", which the session turns into a 451 unless
// relay.rspamd.onError says accept (then marked unscanned): never a silent unscanned accept.
//
// rspamd 3.4's normal worker answers "Connection: close"; the client keeps connections alive all the
// same, so a worker that keeps them is used that way.
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage, type OutgoingHttpHeaders } from "node:http";
import { Agent as HttpsAgent, request as httpsRequest } from "node:https";
import type { EdgemxConfig } from "../../../core/config/schema.ts";
// rspamd's actions are in core: the scan endpoint's answer carries them too.
import { RSPAMD_ACTIONS, type RspamdActionName } from "../../../core/scan/answer.ts";

export type RspamdConfig = EdgemxConfig["relay"]["rspamd"];

export interface RspamdSettings {
  /** The normal worker's base URL, e.g. http://127.0.0.1:11333. */
  url: string;
  timeoutMs: number;
}

/** What the session knows about a message, as rspamd's request headers carry it. */
export interface RspamdEnvelope {
  /** null where the client is unknown (a message Email Routing received without a trace field, scan/endpoint.ts). */
  clientIp: string | null;
  helo: string | null;
  /** The client's forward-confirmed name; null is sent as "unknown" (rspamd's HFILTER reads it so). */
  hostname: string | null;
  /** "" is the null sender. */
  mailFrom: string;
  rcptTo: readonly string[];
  queueId: string;
  /** The SASL user of a submission session; null on the MX. */
  user: string | null;
  tls: { version: string; cipher: string } | null;
  /** Our host name: rspamd then knows which Received field is ours. */
  mtaName: string;
}

export interface RspamdSymbol {
  name: string;
  score: number;
  options: string[];
}

export interface RspamdScore {
  status: "scanned";
  action: RspamdActionName;
  score: number;
  requiredScore: number;
  /** Highest absolute score first. */
  symbols: RspamdSymbol[];
  /** The new Subject rspamd proposes for "rewrite subject" (already MIME-encoded where needed). */
  subject: string | null;
  /** rspamd's own SMTP message (e.g. "Gtube pattern", "Ratelimit exceeded"), for the log. */
  message: string | null;
}

export type RspamdOutcome = RspamdScore | { status: "error"; detail: string };

/** rspamd asked about one message of a session; the session holds null when relay.rspamd.url is not set. */
export type SpamCheck = (message: Uint8Array, envelope: RspamdEnvelope) => Promise<RspamdOutcome>;

/** A result is a few kilobytes (symbols, URL hosts); much more is not rspamd talking. */
const MAX_REPLY_BYTES = 1024 * 1024;

// eslint-disable-next-line no-control-regex -- control characters are exactly what is replaced
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f]/g;

/** Header values go out as octets: UTF-8 (SMTPUTF8 addresses) as latin1 text, control characters replaced. */
function headerValue(text: string): string {
  return Buffer.from(text, "utf8").toString("latin1").replace(CONTROL_CHARACTERS, "?");
}

/** The request headers for one message (pure). */
export function rspamdHeaders(envelope: RspamdEnvelope): OutgoingHttpHeaders {
  const headers: OutgoingHttpHeaders = {
    ...(envelope.clientIp === null ? {} : { IP: headerValue(envelope.clientIp) }),
    Hostname: headerValue(envelope.hostname ?? "unknown"),
    // RFC 5321 §4.5.5: the null reverse-path, written as SMTP writes it.
    From: headerValue(envelope.mailFrom === "" ? "<>" : envelope.mailFrom),
    Rcpt: envelope.rcptTo.map(headerValue),
    "Queue-Id": headerValue(envelope.queueId),
    "MTA-Name": headerValue(envelope.mtaName),
  };
  if (envelope.helo !== null) headers.Helo = headerValue(envelope.helo);
  if (envelope.user !== null) headers.User = headerValue(envelope.user);
  if (envelope.tls !== null) {
    headers["TLS-Version"] = headerValue(envelope.tls.version);
    headers["TLS-Cipher"] = headerValue(envelope.tls.cipher);
  }
  return headers;
}

const isAction = (value: unknown): value is RspamdActionName => typeof value === "string" && (RSPAMD_ACTIONS as readonly string[]).includes(value);
const isNumber = (value: unknown): value is number => typeof value === "number" && Number.isFinite(value);

/** Reads a /checkv2 JSON result (pure); anything without an action, a score and a required score is an error. */
export function parseRspamdReply(text: string): RspamdOutcome {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return { status: "error", detail: "rspamd: the answer is not JSON" };
  }
  if (typeof parsed !== "object" || parsed === null) return { status: "error", detail: "rspamd: the answer is not a result" };
  const result = parsed as Record<string, unknown>;
  if (!isAction(result.action)) return { status: "error", detail: `rspamd: unknown action ${JSON.stringify(result.action)}` };
  if (!isNumber(result.score) || !isNumber(result.required_score)) return { status: "error", detail: "rspamd: the answer has no score" };
  const symbols: RspamdSymbol[] = [];
  if (typeof result.symbols === "object" && result.symbols !== null) {
    for (const [name, value] of Object.entries(result.symbols as Record<string, unknown>)) {
      const symbol = (typeof value === "object" && value !== null ? value : {}) as Record<string, unknown>;
      const options = Array.isArray(symbol.options) ? symbol.options.filter((o): o is string => typeof o === "string") : [];
      symbols.push({ name, score: isNumber(symbol.score) ? symbol.score : 0, options });
    }
  }
  symbols.sort((a, b) => Math.abs(b.score) - Math.abs(a.score) || a.name.localeCompare(b.name));
  const messages = (typeof result.messages === "object" && result.messages !== null ? result.messages : {}) as Record<string, unknown>;
  return {
    status: "scanned",
    action: result.action,
    score: result.score,
    requiredScore: result.required_score,
    symbols,
    subject: typeof result.subject === "string" ? result.subject : null,
    message: typeof messages.smtp_message === "string" ? messages.smtp_message : null,
  };
}

export interface RspamdClient {
  check(message: Uint8Array, envelope: RspamdEnvelope): Promise<RspamdOutcome>;
  close(): void;
}

/** Reads a response body up to `limit` bytes; null past it (the response is then destroyed). */
export async function readBoundedBody(response: IncomingMessage, limit: number): Promise<string | null> {
  const chunks: Buffer[] = [];
  let length = 0;
  for await (const chunk of response as AsyncIterable<Buffer>) {
    length += chunk.length;
    if (length > limit) {
      response.destroy();
      return null;
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString("utf8");
}

export function createRspamdClient(settings: RspamdSettings): RspamdClient {
  const url = new URL("checkv2", settings.url.endsWith("/") ? settings.url : `${settings.url}/`);
  const secure = url.protocol === "https:";
  const agent = secure ? new HttpsAgent({ keepAlive: true }) : new HttpAgent({ keepAlive: true });
  const request = secure ? httpsRequest : httpRequest;
  const where = `rspamd ${url.origin}`;

  const check = (message: Uint8Array, envelope: RspamdEnvelope): Promise<RspamdOutcome> =>
    new Promise((resolve) => {
      const req = request(url, {
        method: "POST",
        agent,
        signal: AbortSignal.timeout(settings.timeoutMs),
        headers: { ...rspamdHeaders(envelope), "content-length": String(message.byteLength) },
      });
      const fail = (detail: string): void => resolve({ status: "error", detail: `${where}: ${detail}` });
      req.on("error", (err) => fail(err.name === "AbortError" ? `no answer within ${settings.timeoutMs} ms` : err.message));
      req.on("response", (response) => {
        readBoundedBody(response, MAX_REPLY_BYTES).then(
          (text) => {
            if (response.statusCode !== 200) return fail(`answered ${response.statusCode}: ${(text ?? "").slice(0, 200)}`);
            if (text === null) return fail(`answer longer than ${MAX_REPLY_BYTES} bytes`);
            const outcome = parseRspamdReply(text);
            resolve(outcome.status === "error" ? { status: "error", detail: `${where}: ${outcome.detail.replace(/^rspamd: /, "")}` } : outcome);
          },
          (err: unknown) => fail(!(err instanceof Error) ? String(err) : err.name === "AbortError" ? `no answer within ${settings.timeoutMs} ms` : err.message),
        );
      });
      req.end(message);
    });

  return { check, close: () => agent.destroy() };
}

// ---- The decision (pure) ----

/** How a result becomes the session's answer. */
export interface SpamPolicy {
  onError: RspamdConfig["onError"];
  /** Every recipient's role relaxes "spam" (roles in the configuration): refusals only mark the message. */
  relaxed: boolean;
}

export type SpamDecision =
  | { action: "accept" | "add-header"; headers: string[] }
  | { action: "rewrite-subject"; headers: string[]; subject: string }
  | { action: "soft-reject" | "reject" | "tempfail" };

/** The header fields edgemx writes about spam; incoming ones are removed first (they could be forged). */
export const SPAM_FIELDS = [
  "X-Spam",
  "X-Spam-Flag",
  "X-Spam-Score",
  "X-Spam-Level",
  "X-Spam-Status",
  "X-Spamd-Result",
  "X-Spamd-Bar",
  "X-Edgemx-Spam",
] as const;

/** The mark on a message accepted without a spam scan (relay.rspamd.onError: accept). */
export const UNSCANNED_FIELD = "X-Edgemx-Spam: not scanned; rspamd unavailable";

/**
 * rspamd's action → the session's. "greylist" is taken as "no action": greylisting is the relay's own
 * (connection.greylist, gated by score with relay.rspamd.greylistScoreGate), and rspamd's greylist module
 * is off in the shipped configuration. An error is a 451 unless onError says accept.
 */
export function rspamdAction(outcome: RspamdOutcome, policy: SpamPolicy): SpamDecision {
  if (outcome.status === "error") return policy.onError === "accept" ? { action: "accept", headers: [UNSCANNED_FIELD] } : { action: "tempfail" };
  const refusing = outcome.action === "reject" || outcome.action === "soft reject";
  const flagged = refusing || outcome.action === "add header" || outcome.action === "rewrite subject";
  const headers = spamHeaders(outcome, flagged);
  if (refusing && policy.relaxed) return { action: "add-header", headers };
  switch (outcome.action) {
    case "reject":
      return { action: "reject" };
    case "soft reject":
      return { action: "soft-reject" };
    case "rewrite subject":
      return outcome.subject === null ? { action: "add-header", headers } : { action: "rewrite-subject", headers, subject: outcome.subject };
    case "add header":
      return { action: "add-header", headers };
    default:
      return { action: "accept", headers };
  }
}

/** Bounds of the X-Spamd-Result field: a symbol's name and options, and the field as a whole. */
const MAX_SYMBOL_NAME = 64;
const MAX_OPTIONS = 5;
const MAX_OPTION = 64;
const MAX_RESULT_FIELD = 4096;

/** Printable ASCII only: option texts come from the message and may hold anything. */
function printable(text: string, max: number): string {
  const ascii = text.replace(/[^\x20-\x7e]/g, "?");
  return ascii.length > max ? `${ascii.slice(0, max - 3)}...` : ascii;
}

/**
 * X-Spam-Flag, X-Spam-Score and X-Spamd-Result in rspamd's own format, one symbol per folded line
 * (RFC 5322 §2.2.3), highest absolute score first, bounded: past MAX_RESULT_FIELD the rest is counted.
 */
export function spamHeaders(result: RspamdScore, flagged: boolean): string[] {
  const score = `${result.score.toFixed(2)} / ${result.requiredScore.toFixed(2)}`;
  const lines = [`X-Spamd-Result: default: ${flagged ? "True" : "False"} [${score}];`];
  let length = lines[0]!.length;
  for (const [index, symbol] of result.symbols.entries()) {
    const options = symbol.options.slice(0, MAX_OPTIONS).map((o) => printable(o, MAX_OPTION));
    const more = symbol.options.length > MAX_OPTIONS ? `,+${symbol.options.length - MAX_OPTIONS}` : "";
    const line = `\t${printable(symbol.name, MAX_SYMBOL_NAME)}(${symbol.score.toFixed(2)})${options.length > 0 ? `[${options.join(",")}${more}]` : ""};`;
    if (length + line.length + 2 > MAX_RESULT_FIELD - 32) {
      lines.push(`\t(${result.symbols.length - index} more symbols)`);
      break;
    }
    lines.push(line);
    length += line.length + 2;
  }
  return [`X-Spam-Flag: ${flagged ? "YES" : "NO"}`, `X-Spam-Score: ${score}`, lines.join("\r\n")];
}

/** The result for the message's log line: rspamd's action, the score and the symbols with a score. */
export function describeSpam(outcome: RspamdOutcome | null, decision: SpamDecision | null): Record<string, unknown> | string {
  if (outcome === null || decision === null) return "skipped";
  if (outcome.status === "error") return { decision: decision.action, error: outcome.detail };
  return {
    action: outcome.action,
    decision: decision.action,
    score: outcome.score,
    required: outcome.requiredScore,
    symbols: outcome.symbols.filter((s) => s.score !== 0).map((s) => `${s.name}(${s.score.toFixed(2)})`),
    ...(outcome.message !== null ? { message: outcome.message } : {}),
  };
}
