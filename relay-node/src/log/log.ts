// The relay's structured log (pino, one JSON object per line): one line per SMTP session when it
// closes, one per message the session judged, and operational lines (start, stop, outages). Message
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
  durationMs: number;
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
  /** The copies spooled for recipients at other domains (docs/forwarding.md): their SRS sender and ARC seal. */
  forwards?: { queueId: string; forwarder: string; mailFrom: string; rcptTo: string[]; sealed: string }[];
  reply: string;
  durationMs: number;
}

export function logSession(logger: Logger, record: SessionRecord): void {
  logger.info({ event: "session", ...record }, "session closed");
}

export function logMessage(logger: Logger, record: MessageRecord): void {
  logger.info({ event: "message", ...record }, record.reply);
}
