// The relay's structured log (pino, one JSON object per line): one line per SMTP session when it
// closes, one per message the session judged, one per refused command (the answer to "why was my
// mail refused", read back by `npm run why`, cli/why.ts), and operational lines (start, stop,
// outages). Message
// bodies, header values, passwords and tokens never reach it; addresses, names and replies do — they
// are what a postmaster searches for.
import { pino, type DestinationStream, type Logger } from "pino";
import type { EdgemxConfig } from "../../../core/config/schema.ts";

export type { Logger } from "pino";

export function createLogger(level: EdgemxConfig["relay"]["logLevel"] | "silent", destination?: DestinationStream): Logger {
  const options = { level, base: { service: "edgemx-relay" }, timestamp: pino.stdTimeFunctions.isoTime };
  return destination ? pino(options, destination) : pino(options);
}

/** The negotiated TLS of a session: protocol version (e.g. TLSv1.3) and cipher suite. */
export interface TlsFacts {
  version: string;
  cipher: string;
}

/** One check as the log shows it: "dnsbl" → "pass", with what was seen. */
export interface CheckRecord {
  check: string;
  outcome: string;
  detail: string;
}

export interface SessionRecord {
  session: string;
  clientIp: string;
  verifiedName: string | null;
  helo: string | null;
  tls: TlsFacts | null;
  /** The connection- and HELO-stage checks (the per-message ones are on the message lines). */
  checks: CheckRecord[];
  messages: number;
  /** The last refusal the session got, if any: "554 5.7.1 …". */
  lastRefusal: string | null;
  /** How many of its commands were refused (each has a "refusal" line). */
  refusals: number;
  durationMs: number;
}

/**
 * One refused command (connect, HELO, STARTTLS, AUTH, MAIL, RCPT, DATA …): everything a postmaster
 * needs to answer the sender, on one line.
 */
export interface RefusalRecord {
  listener: string;
  session: string;
  /**
   * The tracking id the reply text names (`Reject, id=12345-67`), or that the refused message got;
   * null when the refusal has none (the connection-stage, HELO, MAIL FROM and RCPT TO checks name
   * the client, the address or the name instead, and are found by those).
   */
  id: string | null;
  /** connect, helo, starttls, auth, mail, rcpt, data or other. */
  stage: string;
  clientIp: string;
  /** The client's forward-confirmed name, once the MX's connect checks found one. */
  verifiedName: string | null;
  helo: string | null;
  /** The authenticated submission user. */
  user?: string;
  /** The sender: the refused MAIL FROM, or the transaction's. */
  mailFrom: string | null;
  /** The refused RCPT TO. */
  rcpt?: string;
  /** The recipients accepted so far (DATA). */
  rcptTo?: string[];
  /** The check that refused; "protocol" for smtp-server's own replies (syntax, sequence). */
  check: string;
  /** The relay.allow entries the client or sender matched, as "relay.allow[0] (ip 192.0.2.0/24)": what they spared is among the checks, what refused is not. */
  allowlist?: string[];
  /** What the check found, where the reply does not say it (the dependency a 451 stands for). */
  detail?: string;
  /** The reply as sent: "554 5.7.1 …" (smtp-server's own without the enhanced code it adds). */
  reply: string;
}

export interface MessageRecord {
  /** The tracking id (the spec's XXXXX-XX), in reject replies and the Received header. */
  id: string;
  /** The spool's id, in the 250 reply; null when the message was not queued. */
  queueId: string | null;
  session: string;
  clientIp: string;
  verifiedName: string | null;
  helo: string | null;
  mailFrom: string;
  rcptTo: string[];
  sizeBytes: number;
  tls: TlsFacts | null;
  checks: CheckRecord[];
  verdict: { action: string; reason?: string | undefined } | null;
  scan: string;
  /** rspamd's action, our decision, the score and the scoring symbols; "skipped" without rspamd. */
  spam: Record<string, unknown> | string;
  /** What the spamtrap did, when the message was for one (spam/spamtrap.ts). */
  spamtrap?: { recipients: string[]; learn: string; fuzzy?: string; blocklist: string };
  /** The relay.allow entries the client or sender matched; the checks they spared are "relaxed" with the entry named. */
  allowlist?: string[];
  /** The copies spooled for recipients at other domains (docs/forwarding.md): their SRS sender and ARC seal. */
  forwards?: { queueId: string; forwarder: string; mailFrom: string; rcptTo: string[]; sealed: string }[];
  reply: string;
  durationMs: number;
}

export function logSession(logger: Logger, record: SessionRecord): void {
  logger.info({ event: "session", ...record }, "session closed");
}

export function logRefusal(logger: Logger, record: RefusalRecord): void {
  logger.info({ event: "refusal", ...record }, record.reply);
}

export function logMessage(logger: Logger, record: MessageRecord): void {
  logger.info({ event: "message", ...record }, record.reply);
}
