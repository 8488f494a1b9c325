// smtp-server with what it lacks, added by subclassing its connection. This file is the one adapter
// to smtp-server's internals: every member of SMTPConnection or SMTPServer used here that the package
// does not document (an underscore, or a handler_ method it dispatches by name) says beside its use
// why it is needed, and test/unit/smtp-server-adapter.test.ts fails, naming the member, when an
// upgrade of smtp-server changes what is relied on.
//
// 1. Exact replies. With ENHANCEDSTATUSCODES advertised (RFC 2034), smtp-server prefixes an enhanced
//    code of its own choosing to every reply, hook refusals included — "554 5.6.0" where the spec
//    says "554 5.7.1". A reply text that starts with an enhanced code (replies.ts, replyLine) is sent
//    as it is; smtp-server's own replies keep its codes.
// 2. An error bound (relay.limits.maxErrors, Postfix's smtpd_hard_error_limit): every 4xx/5xx reply
//    counts, and the session that reaches the bound gets 421 4.7.0 and is closed.
// 3. A command bound: NOOP, RSET, VRFY and HELP beyond JUNK_COMMAND_LIMIT each count as an error
//    (Postfix's smtpd_junk_command_limit), so a client cannot hold a session open with chatter.
//    smtp-server itself closes after 10 unrecognised commands.
// 4. AUTH only inside TLS (RFC 4954 §4, RFC 8314 §3.3): smtp-server lists AUTH in EHLO before STARTTLS
//    and answers AUTH there with a 538 of its own words; here it is not listed, and the 538 is the
//    spec's. (The MX disables AUTH altogether; this matters to the submission listeners.)
// 5. Replies written together: RFC 2920 §3.1 asks a server to buffer the replies to a pipelined group
//    of commands and send them as a unit. smtp-server writes each reply at once, one send(2) each;
//    here the socket is corked at the first reply and uncorked when the current run of callbacks and
//    promise jobs is over, so MAIL, RCPT and DATA's replies leave in one write.
// 6. A HELO hook: smtp-server calls the application at connect, STARTTLS, AUTH, MAIL, RCPT, DATA and
//    close, never at HELO/EHLO; onHelo is called after each of them (RFC 5321 §4.1.1.1), so a check of
//    the client's name starts where the client gives it.
// 8. Stress mode (Postfix's, STRESS_README): when a connection arrives with every session the
//    relay serves taken (relay.limits.maxConnections), the idle timeout of the sessions open drops
//    from the command timeout to STRESS_IDLE_TIMEOUT_MS, as Postfix's smtpd_timeout does under stress:
//    clients that hold a session without talking (an idle flood from many addresses) are closed
//    with 421 within seconds instead of minutes, and the sessions come free for mail.
// 7. A refusal hook: every 4xx/5xx reply, the application's and smtp-server's own (syntax, sequence,
//    timeouts), is reported with the command it answers, so that each refused command gets its log
//    line and its count (session.ts) — smtp-server tells the application of none of its own.
import type { Socket } from "node:net";
import type { TLSSocket } from "node:tls";
import { SMTPServer, type SMTPServerConnectionInfo, type SMTPServerOptions, type SMTPServerSession } from "smtp-server";
import { SMTPConnection, type SMTPConnectionOptions } from "smtp-server/lib/smtp-connection.js";
import type { EdgemxConfig } from "../../../core/config/schema.ts";
import { buildReply } from "../../../core/smtp/replies.ts";
import type { Logger } from "pino";
import { replyLine, tooManyErrors } from "./replies.ts";
import { secureContextOptions, type CertificatePair } from "../tls/certificate.ts";

/** Postfix's default smtpd_junk_command_limit. */
export const JUNK_COMMAND_LIMIT = 100;
const JUNK_COMMANDS = new Set(["NOOP", "RSET", "VRFY", "HELP"]);

/** RFC 3463 §2: class "." subject "." detail, then a space. */
const LEADING_ENHANCED_CODE = /^[245]\.\d{1,3}\.\d{1,3} /;

export interface SessionOptions {
  /** The error bound (2 above). */
  maxErrors: number;
  /** The sessions the relay serves at once (relay.limits.maxConnections): more open connections is stress (8 above); unset, never. */
  maxConnections?: number;
  /**
   * Called after each HELO or EHLO with the name the session now goes on with (lower case, as
   * smtp-server keeps it): the new one, or the earlier one when smtp-server refused the command's
   * syntax (501). Not called while the session has no name (a refused first HELO, or a refused EHLO
   * after STARTTLS, which discards the earlier one).
   */
  onHelo?: (session: SMTPServerSession, name: string) => void;
  /** Called for each 4xx/5xx reply as it is sent (7 above). */
  onRefusal?: (session: SMTPServerSession, refusal: SentRefusal) => void;
}

/** A refusal as sent: the command it answers (null: none yet, the connection itself), the code and text. */
export interface SentRefusal {
  /** The command name in capitals (HELO, MAIL …); AUTH for the lines of an AUTH exchange; OTHER for anything else. */
  command: string | null;
  code: number;
  /** The text after the code; the replies of replies.ts start with their enhanced code. */
  text: string;
}

/** The commands a refusal is reported under by name; other lines are OTHER. */
const NAMED_COMMANDS = new Set(["HELO", "EHLO", "STARTTLS", "AUTH", "MAIL", "RCPT", "DATA", "BDAT", "RSET", "NOOP", "VRFY", "HELP", "QUIT"]);

class BoundedConnection extends SMTPConnection {
  readonly #server: SMTPServer;
  readonly #options: SessionOptions;
  /** The error bound this session started with (a reload changes the server's for later sessions). */
  readonly #maxErrors: number;
  #errors = 0;
  #junkCommands = 0;
  /** The command being answered, for the refusal hook; null before the first. */
  #command: string | null = null;
  /** Whether stress mode shortened this session's idle timeout already (8 above). */
  #stressed = false;
  /** The socket corked for this turn's replies, until it is uncorked. */
  #corked: Socket | TLSSocket | undefined;

  constructor(server: SMTPServer, socket: Socket | TLSSocket, options: SMTPConnectionOptions | null | undefined, sessionOptions: SessionOptions) {
    super(server, socket, options);
    this.#server = server;
    this.#options = sessionOptions;
    this.#maxErrors = sessionOptions.maxErrors;
    // Stress mode (8 above), here rather than in the server's connect(), which stays smtp-server's own.
    if (server.connections.size >= (sessionOptions.maxConnections ?? Infinity)) {
      for (const open of server.connections) (open as BoundedConnection).underStress();
    }
  }

  override send(code: number, data?: string | string[] | null, context?: string | false): void {
    // A 220 may be STARTTLS's, after which the TLS handshake takes the socket over: everything held
    // goes first, and the 220 itself is written at once.
    if (code === 220) this.#uncork();
    else this.#cork();
    const exact = typeof data === "string" && LEADING_ENHANCED_CODE.test(data);
    super.send(code, data, exact ? false : context);
    if (code >= 400) this.#refused(code, data);
    if (code >= 400 && code !== 421) this.#countError();
  }

  #refused(code: number, data: string | string[] | null | undefined): void {
    const text = Array.isArray(data) ? data.join(" ") : (data ?? "");
    this.#options.onRefusal?.(this.session, { command: this.#command, code, text });
  }

  // Private: _onCommand is where every command line passes before smtp-server picks its handler, the
  // one place to count junk commands of every kind (smtp-server has no hook before a command).
  override _onCommand(command: Buffer, callback?: () => void): void {
    const name = (/^\S*/.exec(command.toString("latin1", 0, 8))?.[0] ?? "").toUpperCase();
    // The lines of an AUTH exchange after the first are credentials, not commands (RFC 4954 §4).
    this.#command = NAMED_COMMANDS.has(name) ? name : this.#command === "AUTH" ? "AUTH" : "OTHER";
    if (JUNK_COMMANDS.has(name) && ++this.#junkCommands > JUNK_COMMAND_LIMIT && this.#countError()) {
      callback?.();
      return;
    }
    super._onCommand(command, callback);
  }

  // The handler_ methods are typed in the package, but that smtp-server finds a command's handler as
  // this["handler_" + name] is its internal dispatch: overriding them is how a command is changed.
  override handler_HELO(command: Buffer, callback: () => void): void {
    super.handler_HELO(command, this.#afterHelo(callback));
  }

  override handler_EHLO(command: Buffer, callback: () => void): void {
    const after = this.#afterHelo(callback);
    if (this.secure) return super.handler_EHLO(command, after);
    // smtp-server reads the session's disabledCommands, when set, instead of the server's.
    const disabled = this.session.disabledCommands;
    this.session.disabledCommands = [...(disabled ?? this.#server.options.disabledCommands), "AUTH"];
    try {
      super.handler_EHLO(command, after);
    } finally {
      this.session.disabledCommands = disabled;
    }
  }

  override handler_AUTH(command: Buffer, callback: () => void): void {
    if (this.secure) return super.handler_AUTH(command, callback);
    this.send(538, replyLine(buildReply("authBeforeTls", {})));
    callback();
  }

  /** HELO/EHLO's callback, calling onHelo first: smtp-server has set the name and replied by then. */
  #afterHelo(callback: () => void): () => void {
    return () => {
      const name = this.hostNameAppearsAs;
      if (name !== false && name !== "") this.#options.onHelo?.(this.session, name);
      callback();
    };
  }

  #cork(): void {
    // Private: _socket is the socket replies are written to, which STARTTLS replaces by its TLS socket.
    const socket = this._socket;
    if (this.#corked !== undefined || socket === undefined || socket.destroyed) return;
    socket.cork();
    this.#corked = socket;
    process.nextTick(() => this.#uncork());
  }

  #uncork(): void {
    const socket = this.#corked;
    this.#corked = undefined;
    socket?.uncork();
  }

  /**
   * Stress mode (8 above): the idle timeout shortened. Node's socket timeout is an idle timer that any
   * traffic restarts, so a session that talks is not affected. Private: _socket as in #cork above.
   */
  underStress(): void {
    // Once: setting it again would restart the idle timer, and every refused arrival would keep the idle sessions alive.
    if (this.#stressed) return;
    this.#stressed = true;
    this._socket.setTimeout(Math.min(STRESS_IDLE_TIMEOUT_MS, this.#server.options.socketTimeout ?? STRESS_IDLE_TIMEOUT_MS));
  }

  /** Counts one error; at the bound the session is told so and closed (a 421 closes in smtp-server). */
  #countError(): boolean {
    if (++this.#errors < this.#maxErrors) return false;
    const line = replyLine(tooManyErrors(this.name));
    super.send(421, line, false);
    this.#refused(421, line);
    return true;
  }
}

/** An SMTPServer whose sessions are BoundedConnections. */
export class BoundedSmtpServer extends SMTPServer {
  #sessionOptions: SessionOptions;

  constructor(options: SMTPServerOptions, sessionOptions: SessionOptions) {
    super(options);
    this.#sessionOptions = sessionOptions;
  }

  // smtp-server's own connect(), with the connection class swapped: smtp-server takes no connection
  // class as an option. Private: _onError and _onClientConnect are what its connect() wires a
  // connection's "error" and "connect" events to (re-emitted as the server's events).
  override connect(socket: Socket | TLSSocket, socketOptions?: SMTPConnectionOptions | null): void {
    const connection = new BoundedConnection(this, socket, socketOptions, this.#sessionOptions);
    this.connections.add(connection);
    connection.on("error", (err: Error) => this._onError(err));
    connection.on("connect", (data: SMTPServerConnectionInfo) => this._onClientConnect(data));
    connection.init();
  }

  /**
   * The bounds of relay.limits after a configuration reload (config/reload.ts): the error bound and
   * the hard ceiling for the sessions that start from now on; SIZE and the command timeout as
   * smtp-server reads them from its options, when a session announces SIZE (EHLO, MAIL FROM) or arms
   * its timeout — so from now on in every session.
   */
  applyLimits(limits: EdgemxConfig["relay"]["limits"]): void {
    Object.assign(this.options, limitOptions(limits));
    this.#sessionOptions = { ...this.#sessionOptions, maxErrors: limits.maxErrors, maxConnections: limits.maxConnections };
    this.server.maxConnections = hardCeiling(limits);
  }
}

/** Postfix's smtpd_timeout under stress (its default is `${stress?{10}:{300}}s`). */
const STRESS_IDLE_TIMEOUT_MS = 10_000;

/** RFC 5321 §4.5.3.1.4 puts a command line at 512 octets; extensions lengthen it (Postfix allows 2048). */
const MAX_COMMAND_LINE = 2048;
/** How long a shutdown waits for sessions before it sends them 421 (never longer than the command timeout). */
const SHUTDOWN_GRACE_MS = 30_000;

/** The options relay.limits sets: the SIZE announced and enforced (RFC 1870), the command timeout. */
function limitOptions(limits: EdgemxConfig["relay"]["limits"]): Pick<SMTPServerOptions, "size" | "socketTimeout" | "closeTimeout"> {
  const socketTimeout = limits.commandTimeoutSeconds * 1000;
  return { size: limits.maxMessageBytes, socketTimeout, closeTimeout: Math.min(socketTimeout, SHUTDOWN_GRACE_MS) };
}

/**
 * What every listener (MX and submission) announces and bounds alike: RFC 1870 SIZE, RFC 6152
 * 8BITMIME, RFC 6531 SMTPUTF8, RFC 2920 PIPELINING, RFC 2034 ENHANCEDSTATUSCODES, RFC 3207 STARTTLS;
 * no DSN (RFC 3461) and no REQUIRETLS (RFC 8689); the RFC 5321 §4.5.3.2 command timeout.
 */
export function commonServerOptions(config: EdgemxConfig, certificate: CertificatePair): SMTPServerOptions {
  return {
    name: config.hostname,
    ...limitOptions(config.relay.limits),
    hideENHANCEDSTATUSCODES: false,
    hide8BITMIME: false,
    hideSMTPUTF8: false,
    hidePIPELINING: false,
    hideDSN: true,
    hideREQUIRETLS: true,
    // Our FCrDNS asks the relay's resolver; smtp-server's own reverse lookup would ask the system's.
    disableReverseLookup: true,
    heloResponse: "%s",
    maxCommandLength: MAX_COMMAND_LINE,
    logger: false,
    ...secureContextOptions(certificate),
  };
}

/**
 * A hard ceiling below the session bounds: past twice maxConnections, sockets are dropped at accept,
 * before even the 100 ms greeting delay (a flood must not get to hold sockets open).
 */
function hardCeiling(limits: EdgemxConfig["relay"]["limits"]): number {
  return limits.maxConnections * 2;
}

export function boundServer(server: BoundedSmtpServer, config: EdgemxConfig, logger: Logger): BoundedSmtpServer {
  server.server.maxConnections = hardCeiling(config.relay.limits);
  server.on("error", (err) => logger.debug({ event: "connection-error", err: err.message }, "connection error"));
  return server;
}
