// One mail transaction with the next hop over nodemailer's SMTPConnection, in SMTP (RFC 5321) or LMTP
// (RFC 2033) — the two differ only in LHLO and in LMTP's one reply per recipient after DATA (RFC 2033
// §4.2), which SMTPConnection collects into rejectedErrors. The mapping of replies to per-recipient
// results is pure (resultsAfterSend, resultsAfterError); the connection is the thin edge around it.
import type { TLSSocket } from "node:tls";
import SMTPConnection, { type SentMessageInfo, type SMTPError } from "nodemailer/lib/smtp-connection";
import type { OutgoingMessage, RecipientResult } from "../queue/deliverer.ts";
import { tlsSocketOf } from "./nodemailer-internals.ts";

export interface NextHop {
  host: string;
  port: number;
  lmtp: boolean;
  /** Our name in EHLO/LHLO. */
  hostname: string;
  /** TLS as a remote MX's policy wants it (remote.ts); without it, opportunistic and unauthenticated. */
  tls?: SessionTls;
}

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
  /** Whether a failed STARTTLS may go on in plaintext (RFC 7435); false where the policy requires TLS. */
  opportunistic: boolean;
}

/**
 * Outbound TLS preferences: TLS 1.2 at least, 1.3 preferred (Node offers the highest version first), and
 * only forward-secret ECDHE key exchange for TLS 1.2 (RFC 7525 §4.2); certificate checks are the
 * policy's `inspect`, so the handshake itself never rejects.
 */
const REMOTE_CIPHERS =
  "TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256";

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

/** Sends `message` to its pending recipients; resolves with a result for each, never rejects. */
export function sendTransaction(hop: NextHop, message: OutgoingMessage, timeouts: TransactionTimeouts = {}): Promise<RecipientResult[]> {
  const limits = { ...DEFAULT_TIMEOUTS, ...timeouts };
  const remoteMta = hop.tls?.servername ?? hop.host;
  const { mailFrom, rcptTo } = message.envelope;
  return new Promise((resolve) => {
    const connection = new SMTPConnection({
      host: hop.host,
      port: hop.port,
      lmtp: hop.lmtp,
      name: hop.hostname,
      connectionTimeout: limits.connectMs,
      greetingTimeout: limits.greetingMs,
      socketTimeout: limits.idleMs,
      // The next hop is often on loopback; let SMTPConnection's address-family check count it.
      allowInternalNetworkInterfaces: true,
      // Opportunistic TLS (RFC 7435, RFC 3207): STARTTLS when offered, unauthenticated, and plaintext
      // when the upgrade fails. The mailbox host is ours; TLS here protects against passive listeners.
      opportunisticTLS: hop.tls?.opportunistic ?? true,
      tls: hop.tls
        ? {
            rejectUnauthorized: false,
            minVersion: "TLSv1.2",
            ciphers: REMOTE_CIPHERS,
            servername: hop.tls.servername,
            ...(hop.tls.ca === undefined ? {} : { ca: hop.tls.ca }),
          }
        : { rejectUnauthorized: false, minVersion: "TLSv1.2" },
    });
    let connected = false;
    let settled = false;
    const finish = (results: RecipientResult[]) => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      if (connected) connection.quit();
      else connection.close();
      resolve(results);
    };
    const deadline = setTimeout(() => {
      finish(rcptTo.map((rcpt) => result(rcpt, `451 4.4.2 Transaction with ${remoteMta} took longer than ${limits.totalMs} ms`, remoteMta)));
    }, limits.totalMs);
    connection.on("error", (error: SMTPError) => finish(resultsAfterError(rcptTo, error, connected, remoteMta)));
    connection.connect((error) => {
      if (error) return finish(resultsAfterError(rcptTo, error, connected, remoteMta));
      connected = true;
      const refusal = hop.tls?.inspect(tlsSocketOf(connection));
      if (refusal !== undefined) return finish(rcptTo.map((rcpt) => result(rcpt, refusal, remoteMta)));
      const bytes = Buffer.from(message.message.buffer, message.message.byteOffset, message.message.byteLength);
      const envelope = {
        from: mailFrom,
        to: [...rcptTo],
        size: bytes.length,
        // RFC 6152: declare 8BITMIME (when offered) for a message with octets above 127.
        use8BitMime: bytes.some((b) => b > 0x7f),
      };
      connection.send(envelope, bytes, (sendError, info) => {
        finish(sendError ? resultsAfterError(rcptTo, sendError, connected, remoteMta) : resultsAfterSend(rcptTo, info, remoteMta));
      });
    });
  });
}
