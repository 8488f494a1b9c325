// One mail transaction with the next hop over nodemailer's SMTPConnection, in SMTP (RFC 5321) or LMTP
// (RFC 2033) — the two differ only in LHLO and in LMTP's one reply per recipient after DATA (RFC 2033
// §4.2), which SMTPConnection collects into rejectedErrors. The mapping of replies to per-recipient
// results is pure (resultsAfterSend, resultsAfterError); the connection is the thin edge around it.
import type { TLSSocket } from "node:tls";
import SMTPConnection, { type SentMessageInfo, type SMTPError } from "nodemailer/lib/smtp-connection";
import type { OutgoingMessage, RecipientResult } from "../queue/deliverer.ts";
import { tlsSocketOf } from "./nodemailer-internals.ts";
import type { CachedSession, SessionCache } from "./session-cache.ts";

export interface NextHop {
  host: string;
  port: number;
  lmtp: boolean;
  /** Our name in EHLO/LHLO. */
  hostname: string;
  /** TLS as a remote MX's policy wants it (remote.ts); without it, opportunistic and unauthenticated. */
  tls?: SessionTls;
  /** A smarthost (smarthost.ts): TLS required and verified, then AUTH; overrides `tls`. */
  relayHost?: RelayHostSession;
}

/**
 * What a session with a remote MX offers, strongest first (remote.ts falls back from one to the next
 * where no policy requires TLS, RFC 7435 §3):
 * - `modern`: TLS 1.2 at least, 1.3 preferred, forward-secret ECDHE suites only for 1.2 (RFC 7525 §4.2);
 * - `legacy`: any TLS version from 1.0 and any suite but the unauthenticated and null ones, at
 *   OpenSSL's security level 0 — which TLS 1.0 and 1.1 need (OpenSSL 3 refuses their SHA-1 and MD5
 *   handshake signatures at level 1 and above);
 * - `none`: no STARTTLS, plaintext.
 */
export type TlsOffer = "modern" | "legacy" | "none";

/** The TLS of a session with a remote MX: `host` is then its address, `servername` its name. */
export interface SessionTls {
  /** For SNI, the certificate check and the Remote-MTA of results. */
  servername: string;
  /** Trust anchors for the server's certificate; the system's WebPKI roots by default. */
  ca?: string | Buffer;
  /**
   * Called once the session is ready for MAIL FROM — after EHLO, and after STARTTLS where it happened
   * (`socket` is then the TLS socket, else undefined). A reply returned ends the transaction before
   * MAIL FROM with that reply for every recipient: no byte of the message goes out.
   */
  inspect(socket: TLSSocket | undefined): string | undefined;
  /** What this session offers. A STARTTLS that fails ends the session with a `tlsFailure`: the caller decides what comes next. */
  offer: TlsOffer;
}

/** A session with a smarthost: implicit TLS (RFC 8314) or STARTTLS, required, verified against `servername`; then AUTH (RFC 4954). */
export interface RelayHostSession {
  servername: string;
  implicitTls: boolean;
  ca?: string | Buffer;
  auth: { user: string; pass: string; method: "PLAIN" | "LOGIN" };
}

/** Why STARTTLS did not give a session: the server refused the command, or the handshake failed. */
export interface TlsFailure {
  stage: "starttls-refused" | "handshake";
  detail: string;
}

/** A transaction's results, and what went wrong with STARTTLS when that ended it. */
export interface TransactionOutcome {
  results: RecipientResult[];
  tlsFailure?: TlsFailure;
}

/**
 * Outbound TLS preferences of the `modern` offer: TLS 1.2 at least, 1.3 preferred (Node offers the
 * highest version first), and only forward-secret ECDHE key exchange for TLS 1.2 (RFC 7525 §4.2);
 * certificate checks are the policy's `inspect`, so the handshake itself never rejects.
 */
const REMOTE_CIPHERS =
  "TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256";

/** The `legacy` offer's suites: OpenSSL's DEFAULT (no anonymous or null suites), at security level 0 so that TLS 1.0 and 1.1 can be negotiated. */
const LEGACY_CIPHERS = "DEFAULT:@SECLEVEL=0";

/** Timeouts in ms. Defaults follow RFC 5321 §4.5.3.2's client waits, plus a bound on the whole. */
export interface TransactionTimeouts {
  /** TCP connect. Default 30 s. */
  connectMs?: number;
  /** The 220 greeting, §4.5.3.2.1: 5 minutes. */
  greetingMs?: number;
  /** Any one reply, at most §4.5.3.2.6's 10 minutes for the reply to the final ".". */
  idleMs?: number;
  /** The whole transaction, however slowly the peer trickles. Default 15 minutes. */
  totalMs?: number;
}

const DEFAULT_TIMEOUTS: Required<TransactionTimeouts> = { connectMs: 30_000, greetingMs: 300_000, idleMs: 600_000, totalMs: 900_000 };

/**
 * The result a reply gives a recipient. 2yz: delivered; 5yz: failed for good (RFC 5321 §4.2.1) —
 * except 503 (bad sequence of commands), which blames the session, not the message; anything else
 * is transient.
 */
function statusOfCode(reply: string): RecipientResult["status"] {
  const code = Number(reply.slice(0, 3));
  if (code >= 200 && code < 300) return "delivered";
  if (code >= 500 && code < 600 && code !== 503) return "failed";
  return "deferred";
}

function result(rcpt: string, reply: string, remoteMta: string): RecipientResult {
  return { rcpt, status: statusOfCode(reply), reply, remoteMta };
}

/** Per-recipient results once the peer answered the message (DATA, or each LMTP reply). */
function resultsAfterSend(rcptTo: readonly string[], info: SentMessageInfo, remoteMta: string): RecipientResult[] {
  const rejected = new Map((info.rejectedErrors ?? []).map((error) => [error.recipient, error.response ?? "451 4.3.0 Rejected without a reply"]));
  return rcptTo.map((rcpt) => {
    const reply = rejected.get(rcpt);
    if (reply !== undefined) return result(rcpt, reply, remoteMta);
    // SMTPConnection keeps the text of the final reply only; an accepted LMTP recipient got a 2yz.
    if (info.accepted.includes(rcpt)) return result(rcpt, info.response.startsWith("2") ? info.response : "250 2.0.0 Ok", remoteMta);
    return result(rcpt, "451 4.3.0 No reply for this recipient", remoteMta);
  });
}

/**
 * Per-recipient results when the transaction failed: per-recipient RCPT replies where the peer gave
 * them, its one reply to MAIL FROM or DATA for all, and without any reply (refused, timed out, TLS
 * or protocol failure) a deferral: RFC 3463 X.4.1 "no answer from host" before the greeting, X.4.2
 * "bad connection" after it.
 */
function resultsAfterError(rcptTo: readonly string[], error: SMTPError, connected: boolean, remoteMta: string): RecipientResult[] {
  const rejected = new Map((error.rejectedErrors ?? []).map((e) => [e.recipient, e.response]));
  const noReply = connected ? `451 4.4.2 Connection with ${remoteMta} broken: ${error.message}` : `451 4.4.1 No answer from ${remoteMta}: ${error.message}`;
  return rcptTo.map((rcpt) => result(rcpt, rejected.get(rcpt) ?? error.response ?? noReply, remoteMta));
}

/** SMTPConnection's TLS and AUTH settings for a hop: the mailbox host, a remote MX at one offer, or a smarthost. */
function securityOptions(hop: NextHop): Pick<SMTPConnection.Options, "secure" | "requireTLS" | "ignoreTLS" | "opportunisticTLS" | "tls"> {
  if (hop.relayHost) {
    const { servername, implicitTls, ca } = hop.relayHost;
    // RFC 8314 §3.3 (implicit TLS) or RFC 3207 STARTTLS, either way required and verified: the
    // password must never cross an unverified or plaintext connection.
    const tls = { rejectUnauthorized: true, minVersion: "TLSv1.2" as const, servername, ...(ca === undefined ? {} : { ca }) };
    return implicitTls ? { secure: true, tls } : { requireTLS: true, tls };
  }
  if (hop.tls) {
    const { offer, servername, ca } = hop.tls;
    if (offer === "none") return { ignoreTLS: true };
    const suites = offer === "modern" ? { minVersion: "TLSv1.2" as const, ciphers: REMOTE_CIPHERS } : { minVersion: "TLSv1" as const, ciphers: LEGACY_CIPHERS };
    // A failed STARTTLS ends the session (opportunisticTLS off): remote.ts counts it and decides the next offer.
    return { opportunisticTLS: false, tls: { rejectUnauthorized: false, servername, ...suites, ...(ca === undefined ? {} : { ca }) } };
  }
  // Opportunistic TLS (RFC 7435, RFC 3207): STARTTLS when offered, unauthenticated, and plaintext
  // when the upgrade fails. The mailbox host is ours; TLS here protects against passive listeners.
  return { opportunisticTLS: true, tls: { rejectUnauthorized: false, minVersion: "TLSv1.2" } };
}

/**
 * The STARTTLS failure an error stands for, if any: the server's refusal of the command (a reply to
 * STARTTLS), or a handshake that did not complete (the connection was upgrading: a TLS alert, no
 * shared version or suite, a reset).
 */
function tlsFailureOf(error: SMTPError, upgrading: boolean): TlsFailure | undefined {
  if (error.code === "ETLS" && error.command === "STARTTLS" && typeof error.response === "string") return { stage: "starttls-refused", detail: error.response };
  if (upgrading || error.code === "ETLS") {
    // OpenSSL's own text starts with a thread id that differs per process: its error code says the same
    // and keeps TLS-RPT's rows (keyed by detail) together.
    const code = (error as SMTPError & { originalCode?: string }).originalCode;
    return { stage: "handshake", detail: code?.startsWith("ERR_SSL_") ? code : `${code ? `${code}: ` : ""}${error.message.split("\n")[0]!.trim()}` };
  }
  return undefined;
}

/** Reuse of sessions (session-cache.ts): the cache, and which of its sessions may carry this transaction. */
export interface SessionReuse {
  cache: SessionCache;
  /** Everything the session's security was decided on (remote.ts, smarthost.ts): a cached session is reused for the same key only. */
  key: string;
  /** What the per-destination limit counts the session under: the recipient domain. */
  destination: string;
}

/** The longest wait for the reply to RSET on a cached session (Postfix: smtp_rset_timeout, 20 s). */
const RSET_TIMEOUT_MS = 20_000;

/** Sends `message` to its pending recipients; resolves with a result for each, never rejects. */
export async function sendTransaction(
  hop: NextHop,
  message: OutgoingMessage,
  timeouts: TransactionTimeouts = {},
  reuse?: SessionReuse,
): Promise<RecipientResult[]> {
  return (await runTransaction(hop, message, timeouts, reuse)).results;
}

/**
 * sendTransaction, telling also whether a failed STARTTLS ended the session (for remote.ts's fallback
 * and TLS-RPT). With `reuse`, a cached session of the same key carries the message after an RSET
 * (RFC 5321 §4.1.1.5), and a session whose transaction went well is cached for the next one. A cached
 * session found dead — the RSET fails, or the transaction ends with no reply or a 421 (RFC 5321 §3.8,
 * the server closing) — is dropped and the message goes over a new session at once, not deferred.
 */
export async function runTransaction(
  hop: NextHop,
  message: OutgoingMessage,
  timeouts: TransactionTimeouts = {},
  reuse?: SessionReuse,
): Promise<TransactionOutcome> {
  const limits = { ...DEFAULT_TIMEOUTS, ...timeouts };
  if (reuse === undefined) return (await transaction(hop, message, limits)).outcome;
  const cached = reuse.cache.checkOut(reuse.key, reuse.destination);
  let ended: TransactionEnd | undefined;
  if (cached !== undefined) {
    if (await resetSession(cached.connection, Math.min(limits.idleMs, RSET_TIMEOUT_MS))) ended = await transaction(hop, message, limits, { cached });
    else discard(cached.connection);
  }
  if (ended === undefined || ended.sessionLost) ended = await transaction(hop, message, limits, { key: reuse.key });
  if (ended.keep) reuse.cache.checkIn(ended.keep, reuse.destination);
  else reuse.cache.release(reuse.destination);
  return ended.outcome;
}

/** How one transaction ended: its outcome, the session where it may carry another, or that a cached session was found dead. */
interface TransactionEnd {
  outcome: TransactionOutcome;
  keep?: CachedSession;
  sessionLost?: boolean;
}

/** RSET on a cached session: resolves whether the server answered it 2yz. */
function resetSession(connection: SMTPConnection, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const done = (alive: boolean): void => {
      clearTimeout(timer);
      connection.removeListener("error", lost);
      connection.removeListener("end", lost);
      resolve(alive);
    };
    const lost = (): void => done(false);
    const timer = setTimeout(lost, timeoutMs);
    connection.on("error", lost);
    connection.once("end", lost);
    connection.reset((error) => done(!error));
  });
}

/** Closes a session that is of no more use; an error it still reports only ends it. */
function discard(connection: SMTPConnection): void {
  connection.on("error", () => {});
  connection.close();
}

/**
 * One transaction: over `session.cached` (already through EHLO, STARTTLS and AUTH), or over a new
 * connection — kept open when `session.key` is given and every recipient was delivered.
 */
function transaction(
  hop: NextHop,
  message: OutgoingMessage,
  limits: Required<TransactionTimeouts>,
  session: { cached?: CachedSession; key?: string } = {},
): Promise<TransactionEnd> {
  const remoteMta = hop.relayHost?.servername ?? hop.tls?.servername ?? hop.host;
  const { mailFrom, rcptTo } = message.envelope;
  const { cached } = session;
  return new Promise((resolve) => {
    const connection =
      cached?.connection ??
      new SMTPConnection({
        host: hop.host,
        port: hop.port,
        lmtp: hop.lmtp,
        name: hop.hostname,
        connectionTimeout: limits.connectMs,
        greetingTimeout: limits.greetingMs,
        socketTimeout: limits.idleMs,
        // The next hop is often on loopback; let SMTPConnection's address-family check count it.
        allowInternalNetworkInterfaces: true,
        ...securityOptions(hop),
      });
    const openedAt = Date.now();
    let connected = cached !== undefined;
    let settled = false;
    const finish = (results: RecipientResult[], end: { tlsFailure?: TlsFailure; sessionLost?: boolean } = {}) => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      const outcome = end.tlsFailure ? { results, tlsFailure: end.tlsFailure } : { results };
      const reusable = cached ?? (session.key !== undefined && connected ? { connection, key: session.key, openedAt, transactions: 0 } : undefined);
      if (reusable !== undefined && !connection.destroyed && results.every((r) => r.status === "delivered")) {
        connection.removeListener("error", fail);
        reusable.transactions++;
        return resolve({ outcome, keep: reusable });
      }
      if (connected) connection.quit();
      else connection.close();
      resolve(end.sessionLost ? { outcome, sessionLost: true } : { outcome });
    };
    const fail = (error: SMTPError) => {
      // `upgrading` (declared by nodemailer's types) is still set when the handshake is what failed.
      const tlsFailure = hop.tls ? tlsFailureOf(error, connection.upgrading === true) : undefined;
      // A cached session that ends without a reply, or with 421, was dead before the message: a new one is tried.
      const sessionLost = cached !== undefined && (error.responseCode === undefined || error.responseCode === 421);
      finish(resultsAfterError(rcptTo, error, connected, remoteMta), { ...(tlsFailure ? { tlsFailure } : {}), sessionLost });
    };
    const deadline = setTimeout(() => {
      finish(rcptTo.map((rcpt) => result(rcpt, `451 4.4.2 Transaction with ${remoteMta} took longer than ${limits.totalMs} ms`, remoteMta)));
    }, limits.totalMs);
    connection.on("error", fail);
    const send = () => {
      const bytes = Buffer.from(message.message.buffer, message.message.byteOffset, message.message.byteLength);
      const envelope = {
        from: mailFrom,
        to: [...rcptTo],
        size: bytes.length,
        // RFC 6152: declare 8BITMIME (when offered) for a message with octets above 127.
        use8BitMime: bytes.some((b) => b > 0x7f),
      };
      connection.send(envelope, bytes, (sendError, info) => {
        if (sendError) fail(sendError);
        else finish(resultsAfterSend(rcptTo, info, remoteMta));
      });
    };
    if (cached !== undefined) return send();
    connection.connect((error) => {
      if (error) return fail(error);
      connected = true;
      const refusal = hop.tls?.inspect(tlsSocketOf(connection));
      if (refusal !== undefined) return finish(rcptTo.map((rcpt) => result(rcpt, refusal, remoteMta)));
      const relayHost = hop.relayHost;
      if (relayHost === undefined) return send();
      connection.login({ ...relayHost.auth }, (loginError) => {
        if (!loginError) return send();
        // Our credentials, not the message: the message waits (as Postfix defers on a SASL failure) and the log says why.
        const reply = `451 4.7.0 ${remoteMta} refused our login: ${loginError.response ?? loginError.message}`;
        finish(rcptTo.map((rcpt) => result(rcpt, reply, remoteMta)));
      });
    });
  });
}
