// What the MX and submission listeners share of an SMTP session on smtp-server (server.ts): the state
// of each session — with the configuration it started with, read once at connect, so a reload
// (config/reload.ts) applies to the sessions after it and never half-way through one — the connection
// bounds (connections.ts: counted in at connect, refused with 421 4.7.0 over a bound, counted out at
// close), the TLS facts once the session is encrypted, RCPT TO without a transaction (503 5.5.1) and
// the domainless postmaster (RFC 5321 §4.1.1.3), and DATA: the message read whole within the size
// bound with bare CR/LF and NUL refused (data.ts), then the listener's reply handed to smtp-server — a
// thrown error logged and answered 451 with a new tracking id. And the accounting of every session
// alike: one log line per refused command (with the check a listener names when it refuses, through
// `refuse`) and the session's metrics. Each listener keeps what is its own: MAIL FROM, the decision on
// a recipient, what an accepted message goes through, and its log lines.
import type { Socket } from "node:net";
import type { TLSSocket } from "node:tls";
import type { SMTPServerAddress, SMTPServerDataStream, SMTPServerSession } from "smtp-server";
import type { EdgemxConfig } from "../../../core/config/schema.ts";
import { withPostmasterDomain } from "../../../core/smtp/recipient.ts";
import { buildReply, formatReply, type SmtpReply } from "../../../core/smtp/replies.ts";
import { newTrackingId } from "../../../core/smtp/tracking-id.ts";
import { logRefusal, type Logger, type TlsFacts } from "../log/log.ts";
import type { ListenerName, RelayMetrics, Stage } from "../metrics/metrics.ts";
import { ConnectionCounter, type Admission } from "./connections.ts";
import { readData, type BodyFault } from "./data.ts";
import { BODY_FAULT_REPLIES, MESSAGE_TOO_BIG, NEED_MAIL, replyError, replyLine, tooManyConnections } from "./replies.ts";
import type { SentRefusal } from "./server.ts";

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
  /** The refused commands so far, smtp-server's own included. */
  refusals: number;
  /** The client's forward-confirmed name, once the MX's connect checks found one; null otherwise. */
  verifiedName: string | null;
  /** Why the refusal about to be sent was given (set by `refuse`, taken by the refusal's log line). */
  cause: RefusalCause | null;
}

/** Why a command was refused, as the listener knows it; the rest of the refusal's line is the session's. */
export interface RefusalCause {
  /** The check that refused (dnsbl, recipient, greylist, spam …). */
  check: string;
  /** The message's tracking id, for a DATA refusal whose text names none. */
  id?: string;
  /** The refused MAIL FROM (smtp-server keeps only accepted ones). */
  mailFrom?: string;
  /** The refused RCPT TO. */
  rcpt?: string;
  /** The stage where the command does not tell it (the credentials lines of AUTH). */
  stage?: Stage;
  /** The allowlist entries the client or sender matched (core/allow/), so the line says what was spared and what still refused. */
  allowlist?: string[];
  /** What the check found, for the log line (a temporary refusal's cause: "greylist store: Command timed out"). */
  detail?: string;
}

/** A listener's refusal: the reply and why. */
export interface Refusal {
  reply: SmtpReply;
  cause: RefusalCause;
}

/** What a listener's DATA handler answers; `cause` says why, when the reply refuses. */
export interface DataAnswer {
  reply: SmtpReply;
  cause?: RefusalCause;
}

/** The listener's name and what counts its sessions (null: relay.metrics.enabled is false). */
export interface ListenerAccounting {
  listener: ListenerName;
  metrics: RelayMetrics | null;
}

/** The stage a refused command belongs to, by its name (server.ts); null is the connection itself. */
export function stageOf(command: string | null): Stage {
  switch (command) {
    case null:
      return "connect";
    case "HELO":
    case "EHLO":
      return "helo";
    case "STARTTLS":
      return "starttls";
    case "AUTH":
      return "auth";
    case "MAIL":
      return "mail";
    case "RCPT":
      return "rcpt";
    case "DATA":
    case "BDAT":
      return "data";
    default:
      return "other";
  }
}

/** A tracking id in a reply text (core/smtp/tracking-id.ts's shape): "Reject, id=54321-07 – BANNED". */
const ID_IN_TEXT = /\bid=(\d{5}-\d{2})\b/;

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
  readonly #listener: ListenerName;
  readonly #metrics: RelayMetrics | null;

  /** `configs.current` is the configuration a new session starts with (config/reload.ts's holder). */
  constructor(configs: { readonly current: EdgemxConfig }, logger: Logger, hooks: SessionHooks<T, S>, accounting: ListenerAccounting) {
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
    this.#listener = accounting.listener;
    this.#metrics = accounting.metrics;
  }

  /** The state of a session smtp-server has connected (onConnect runs before any other hook). */
  of(session: SMTPServerSession): S {
    const state = this.#states.get(session);
    if (!state) throw new Error(`no state for session ${session.id}`);
    return state;
  }

  /** A refusal for smtp-server's callback, remembered as the session's last, with why for its log line. */
  refuse(state: S, reply: SmtpReply, cause: RefusalCause): Error {
    state.lastRefusal = formatReply(reply);
    state.cause = cause;
    return replyError(reply);
  }

  /** How long a stage took, from `startedAt` (performance.now()). */
  observeStage(stage: Stage, startedAt: number): void {
    this.#metrics?.stage(this.#listener, stage, startedAt);
  }

  /**
   * server.ts's refusal hook: the refusal's log line and count, with the cause `refuse` left (smtp-server's
   * own replies have none: "protocol"). It runs as the reply is sent, before smtp-server forgets the
   * transaction the reply ends.
   */
  readonly onRefusal = (session: SMTPServerSession, sent: SentRefusal): void => {
    const state = this.#states.get(session);
    const cause = state?.cause ?? null;
    if (state) {
      state.cause = null;
      state.refusals++;
    }
    const stage = cause?.stage ?? stageOf(sent.command);
    const check = cause?.check ?? "protocol";
    this.#metrics?.refused(this.#listener, stage, check, sent.code);
    // smtp-server fills the session in once the connection is ready: a client that talks before
    // then is refused (421) with neither envelope nor address in it.
    const envelope = session.envelope as SMTPServerSession["envelope"] | undefined;
    const accepted = stage === "data" ? (envelope?.rcptTo ?? []).map((r) => r.address) : [];
    logRefusal(this.#logger, {
      listener: this.#listener,
      session: session.id,
      id: ID_IN_TEXT.exec(sent.text)?.[1] ?? cause?.id ?? null,
      stage,
      clientIp: state?.ip ?? session.remoteAddress,
      verifiedName: state?.verifiedName ?? null,
      helo: session.hostNameAppearsAs || null,
      ...(typeof session.user === "string" ? { user: session.user } : {}),
      mailFrom: cause?.mailFrom ?? (envelope?.mailFrom ? envelope.mailFrom.address : null),
      ...(cause?.rcpt !== undefined ? { rcpt: cause.rcpt } : {}),
      ...(accepted.length > 0 ? { rcptTo: accepted } : {}),
      check,
      ...(cause?.allowlist !== undefined && cause.allowlist.length > 0 ? { allowlist: cause.allowlist } : {}),
      ...(cause?.detail !== undefined ? { detail: cause.detail } : {}),
      reply: `${sent.code} ${sent.text}`,
    });
  };

  /** The bounds first (RFC 5321 §3.8: 421 and close); smtp-server sends the greeting once this calls back. */
  readonly onConnect = (session: SMTPServerSession, callback: Callback): void => {
    const ip = session.remoteAddress;
    const config = this.#configs.current;
    const admission = this.#counter.admit(ip);
    const common: SessionState<T> = {
      config,
      ip,
      admitted: admission === "admitted",
      tls: null,
      transaction: null,
      lastRefusal: null,
      refusals: 0,
      verifiedName: null,
      cause: null,
    };
    const state = this.#hooks.open(session, common);
    this.#states.set(session, state);
    this.#metrics?.sessionOpened(this.#listener);
    if (admission !== "admitted") {
      this.#hooks.refused?.(session, state, admission);
      return callback(this.refuse(state, tooManyConnections(config.hostname), { check: "connections" }));
    }
    this.#hooks.admitted?.(session, state);
    callback();
  };

  readonly onSecure = (socket: Socket | TLSSocket, session: SMTPServerSession, callback: Callback): void => {
    const tls = socket as TLSSocket;
    const version = tls.getProtocol() ?? "unknown";
    this.of(session).tls = { version, cipher: tls.getCipher().name };
    this.#metrics?.tlsSession("in", version);
    callback();
  };

  readonly onClose = (session: SMTPServerSession): void => {
    const state = this.#states.get(session);
    if (!state) return;
    if (state.admitted) this.#counter.release(state.ip);
    this.#metrics?.sessionClosed(this.#listener);
    this.#hooks.closed?.(session, state);
  };

  /**
   * smtp-server's onRcptTo around a listener's decision (null accepts): the recipient with the
   * domainless postmaster qualified. A decision given at once is answered at once.
   */
  onRcptTo(
    decide: (recipient: Recipient<T, S>) => Refusal | null | Promise<Refusal | null>,
  ): (address: SMTPServerAddress, session: SMTPServerSession, callback: Callback) => void {
    return (address, session, callback) => {
      const state = this.of(session);
      const transaction = state.transaction;
      // smtp-server answers RCPT before MAIL itself, with the same reply; this guards a MAIL it took
      // that the listener holds no transaction for.
      if (transaction === null) return callback(this.refuse(state, NEED_MAIL, { check: "protocol", rcpt: address.address }));
      const startedAt = performance.now();
      const rcpt = withPostmasterDomain(address.address, state.config);
      const answer = (refusal: Refusal | null): void => {
        this.observeStage("rcpt", startedAt);
        callback(refusal === null ? null : this.refuse(state, refusal.reply, { ...refusal.cause, rcpt }));
      };
      const decision = decide({ rcpt, session, state, transaction });
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
    receive: (received: Received<T, S>) => Promise<DataAnswer>,
  ): (stream: SMTPServerDataStream, session: SMTPServerSession, callback: DataCallback) => void {
    return (stream, session, callback) => {
      const state = this.of(session);
      const transaction = state.transaction;
      const startedAt = performance.now();
      let readAt = startedAt;
      const answer = async (): Promise<DataAnswer> => {
        const data = await readData(stream, state.config.relay.limits.maxMessageBytes);
        readAt = performance.now();
        if (data.status === "aborted" || transaction === null) return { reply: buildReply("tempfail", { id: session.id }), cause: { check: "aborted" } };
        if (data.status === "too-big") return { reply: MESSAGE_TOO_BIG, cause: { check: "size" } };
        if (data.status === "fault") {
          this.#hooks.bodyFault?.(session, state, data.fault);
          return { reply: BODY_FAULT_REPLIES[data.fault], cause: { check: data.fault } };
        }
        return receive({ message: data.message, session, state, transaction, startedAt });
      };
      answer().then(
        ({ reply, cause }) => {
          state.transaction = null;
          this.observeStage("data", readAt);
          if (reply.code >= 400) return callback(this.refuse(state, reply, cause ?? { check: "message" }));
          this.#metrics?.accepted(this.#listener);
          callback(null, replyLine(reply));
        },
        (err: unknown) => {
          const id = newTrackingId();
          this.#logger.error({ event: "data-error", session: session.id, id, err }, "DATA failed");
          callback(this.refuse(state, buildReply("tempfail", { id }), { check: "error" }));
        },
      );
    };
  }
}
