// What the MX and submission listeners share of an SMTP session on smtp-server (server.ts): the state
// of each session — with the configuration it started with, read once at connect, so a reload
// (config/reload.ts) applies to the sessions after it and never half-way through one — the connection
// bounds (connections.ts: counted in at connect, refused with 421 4.7.0 over a bound, counted out at close), the TLS facts once the session is encrypted, RCPT TO
// without a transaction (503 5.5.1) and the domainless postmaster (RFC 5321 §4.1.1.3), and DATA: the
// message read whole within the size bound with bare CR/LF and NUL refused (data.ts), then the
// listener's reply handed to smtp-server — a thrown error logged and answered 451 with a new tracking
// id. Each listener keeps what is its own: MAIL FROM, the decision on a recipient, what an accepted
// message goes through, and its log lines.
import type { Socket } from "node:net";
import type { TLSSocket } from "node:tls";
import type { SMTPServerAddress, SMTPServerDataStream, SMTPServerSession } from "smtp-server";
import type { EdgemxConfig } from "../../../core/config/schema.ts";
import { withPostmasterDomain } from "../../../core/smtp/recipient.ts";
import { buildReply, formatReply, type SmtpReply } from "../../../core/smtp/replies.ts";
import { newTrackingId } from "../../../core/smtp/tracking-id.ts";
import type { Logger, TlsFacts } from "../log/log.ts";
import { ConnectionCounter, type Admission } from "./connections.ts";
import { readData, type BodyFault } from "./data.ts";
import { BODY_FAULT_REPLIES, MESSAGE_TOO_BIG, NEED_MAIL, replyError, replyLine, tooManyConnections } from "./replies.ts";

/** What every listener knows of a session; a listener's own state extends it. */
export interface SessionState<T> {
  /** The relay's configuration when the session started: every decision of the session reads this one. */
  config: EdgemxConfig;
  /** The client's address at connect, as the connection bounds counted it. */
  ip: string;
  /** Counted in by the connection bounds (and so to be counted out at close). */
  admitted: boolean;
  /** The negotiated TLS, from STARTTLS (RFC 3207) or implicit TLS (RFC 8314). */
  tls: TlsFacts | null;
  /** The transaction MAIL FROM opened, until its DATA is answered. */
  transaction: T | null;
  /**
   * The last refusal the session got, as sent ("554 5.7.1 …"), for the MX's session log line: those
   * given here and those a listener gives through Sessions.refuse.
   */
  lastRefusal: string | null;
}

/** A listener's part in the session's life; all but `open` optional. */
export interface SessionHooks<T, S extends SessionState<T>> {
  /** The listener's state of a new session, built on what every listener knows of it. */
  open(session: SMTPServerSession, common: SessionState<T>): S;
  /** A session the connection bounds let in, before its greeting. */
  admitted?(session: SMTPServerSession, state: S): void;
  /** A session over a connection bound, about to be refused with 421 4.7.0. */
  refused?(session: SMTPServerSession, state: S, bound: Exclude<Admission, "admitted">): void;
  /** A message refused for its framing (data.ts), about to be answered. */
  bodyFault?(session: SMTPServerSession, state: S, fault: BodyFault): void;
  /** The session is over; its connection has been counted out. */
  closed?(session: SMTPServerSession, state: S): void;
}

/** What a listener's RCPT TO decision is given. */
export interface Recipient<T, S extends SessionState<T>> {
  /** The address, the domainless postmaster qualified (RFC 5321 §4.1.1.3). */
  rcpt: string;
  session: SMTPServerSession;
  state: S;
  transaction: T;
}

/** What a listener's DATA handler is given: the message, read whole and well framed. */
export interface Received<T, S extends SessionState<T>> {
  message: Buffer;
  session: SMTPServerSession;
  state: S;
  transaction: T;
  /** When DATA began (performance.now()), for the message's duration. */
  startedAt: number;
}

type Callback = (err?: Error | null) => void;
type DataCallback = (err?: Error | null, message?: string) => void;

/** The sessions of one listener, and smtp-server's hooks for what the listeners share. */
export class Sessions<T, S extends SessionState<T>> {
  readonly #configs: { readonly current: EdgemxConfig };
  readonly #logger: Logger;
  readonly #hooks: SessionHooks<T, S>;
  readonly #states = new WeakMap<SMTPServerSession, S>();
  readonly #counter: ConnectionCounter;

  /** `configs.current` is the configuration a new session starts with (config/reload.ts's holder). */
  constructor(configs: { readonly current: EdgemxConfig }, logger: Logger, hooks: SessionHooks<T, S>) {
    this.#configs = configs;
    this.#logger = logger;
    this.#hooks = hooks;
    // The bounds as they are when a session asks to be let in.
    this.#counter = new ConnectionCounter({
      get maxConnections() {
        return configs.current.relay.limits.maxConnections;
      },
      get maxConnectionsPerIp() {
        return configs.current.relay.limits.maxConnectionsPerIp;
      },
    });
  }

  /** The state of a session smtp-server has connected (onConnect runs before any other hook). */
  of(session: SMTPServerSession): S {
    const state = this.#states.get(session);
    if (!state) throw new Error(`no state for session ${session.id}`);
    return state;
  }

  /** A refusal for smtp-server's callback, remembered as the session's last. */
  refuse(state: S, reply: SmtpReply): Error {
    state.lastRefusal = formatReply(reply);
    return replyError(reply);
  }

  /** The bounds first (RFC 5321 §3.8: 421 and close); smtp-server sends the greeting once this calls back. */
  readonly onConnect = (session: SMTPServerSession, callback: Callback): void => {
    const ip = session.remoteAddress;
    const config = this.#configs.current;
    const admission = this.#counter.admit(ip);
    const common: SessionState<T> = { config, ip, admitted: admission === "admitted", tls: null, transaction: null, lastRefusal: null };
    const state = this.#hooks.open(session, common);
    this.#states.set(session, state);
    if (admission !== "admitted") {
      this.#hooks.refused?.(session, state, admission);
      return callback(this.refuse(state, tooManyConnections(config.hostname)));
    }
    this.#hooks.admitted?.(session, state);
    callback();
  };

  readonly onSecure = (socket: Socket | TLSSocket, session: SMTPServerSession, callback: Callback): void => {
    const tls = socket as TLSSocket;
    this.of(session).tls = { version: tls.getProtocol() ?? "unknown", cipher: tls.getCipher().name };
    callback();
  };

  readonly onClose = (session: SMTPServerSession): void => {
    const state = this.#states.get(session);
    if (!state) return;
    if (state.admitted) this.#counter.release(state.ip);
    this.#hooks.closed?.(session, state);
  };

  /**
   * smtp-server's onRcptTo around a listener's decision (null accepts): the recipient with the
   * domainless postmaster qualified. A decision given at once is answered at once.
   */
  onRcptTo(
    decide: (recipient: Recipient<T, S>) => SmtpReply | null | Promise<SmtpReply | null>,
  ): (address: SMTPServerAddress, session: SMTPServerSession, callback: Callback) => void {
    return (address, session, callback) => {
      const state = this.of(session);
      const transaction = state.transaction;
      // smtp-server answers RCPT before MAIL itself, with the same reply; this guards a MAIL it took
      // that the listener holds no transaction for.
      if (transaction === null) return callback(this.refuse(state, NEED_MAIL));
      const answer = (reply: SmtpReply | null): void => callback(reply === null ? null : this.refuse(state, reply));
      const decision = decide({ rcpt: withPostmasterDomain(address.address, state.config), session, state, transaction });
      if (decision instanceof Promise) decision.then(answer, callback);
      else answer(decision);
    };
  }

  /**
   * smtp-server's onData around a listener's `receive`: the message read whole first (data.ts), so a
   * refusal is always the reply to the final dot. Too big → 552 5.3.4; bare CR/LF or NUL → 554; a
   * client gone mid-message → 451 with the session id (it hears nothing; the reply only keeps
   * smtp-server from saying 250). The transaction ends with the reply.
   */
  onData(
    receive: (received: Received<T, S>) => Promise<SmtpReply>,
  ): (stream: SMTPServerDataStream, session: SMTPServerSession, callback: DataCallback) => void {
    return (stream, session, callback) => {
      const state = this.of(session);
      const transaction = state.transaction;
      const startedAt = performance.now();
      const answer = async (): Promise<SmtpReply> => {
        const data = await readData(stream, state.config.relay.limits.maxMessageBytes);
        if (data.status === "aborted" || transaction === null) return buildReply("tempfail", { id: session.id });
        if (data.status === "too-big") return MESSAGE_TOO_BIG;
        if (data.status === "fault") {
          this.#hooks.bodyFault?.(session, state, data.fault);
          return BODY_FAULT_REPLIES[data.fault];
        }
        return receive({ message: data.message, session, state, transaction, startedAt });
      };
      answer().then(
        (reply) => {
          state.transaction = null;
          if (reply.code >= 400) return callback(this.refuse(state, reply));
          callback(null, replyLine(reply));
        },
        (err: unknown) => {
          const id = newTrackingId();
          this.#logger.error({ event: "data-error", session: session.id, id, err }, "DATA failed");
          callback(this.refuse(state, buildReply("tempfail", { id })));
        },
      );
    };
  }
}
