// smtp-server with three things it lacks, added by subclassing its connection (SMTPConnection's
// methods are public and typed in the package):
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
import type { Socket } from "node:net";
import type { TLSSocket } from "node:tls";
import { SMTPServer, type SMTPServerConnectionInfo, type SMTPServerOptions } from "smtp-server";
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

export interface SessionBounds {
  maxErrors: number;
}

class BoundedConnection extends SMTPConnection {
  readonly #bounds: SessionBounds;
  #errors = 0;
  #junkCommands = 0;
  /** The socket corked for this turn's replies, until it is uncorked. */
  #corked: Socket | TLSSocket | undefined;

  constructor(server: SMTPServer, socket: Socket | TLSSocket, options: SMTPConnectionOptions | null | undefined, bounds: SessionBounds) {
    super(server, socket, options);
    this.#bounds = bounds;
  }

  override send(code: number, data?: string | string[] | null, context?: string | false): void {
    // A 220 may be STARTTLS's, after which the TLS handshake takes the socket over: everything held
    // goes first, and the 220 itself is written at once.
    if (code === 220) this.#uncork();
    else this.#cork();
    const exact = typeof data === "string" && LEADING_ENHANCED_CODE.test(data);
    super.send(code, data, exact ? false : context);
    if (code >= 400 && code !== 421) this.#countError();
  }

  override _onCommand(command: Buffer, callback?: () => void): void {
    const name = (/^\S*/.exec(command.toString("latin1", 0, 8))?.[0] ?? "").toUpperCase();
    if (JUNK_COMMANDS.has(name) && ++this.#junkCommands > JUNK_COMMAND_LIMIT && this.#countError()) {
      callback?.();
      return;
    }
    super._onCommand(command, callback);
  }

  override handler_EHLO(command: Buffer, callback: () => void): void {
    if (this.secure) return super.handler_EHLO(command, callback);
    // smtp-server reads the session's disabledCommands, when set, instead of the server's.
    const disabled = this.session.disabledCommands;
    this.session.disabledCommands = [...(disabled ?? this._server.options.disabledCommands ?? []), "AUTH"];
    try {
      super.handler_EHLO(command, callback);
    } finally {
      this.session.disabledCommands = disabled;
    }
  }

  override handler_AUTH(command: Buffer, callback: () => void): void {
    if (this.secure) return super.handler_AUTH(command, callback);
    this.send(538, replyLine(buildReply("authBeforeTls", {})));
    callback();
  }

  #cork(): void {
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

  /** Counts one error; at the bound the session is told so and closed (a 421 closes in smtp-server). */
  #countError(): boolean {
    if (++this.#errors < this.#bounds.maxErrors) return false;
    super.send(421, replyLine(tooManyErrors(this.name)), false);
    return true;
  }
}

/** An SMTPServer whose sessions are BoundedConnections. */
export class BoundedSmtpServer extends SMTPServer {
  readonly #bounds: SessionBounds;

  constructor(options: SMTPServerOptions, bounds: SessionBounds) {
    super(options);
    this.#bounds = bounds;
  }

  // smtp-server's own connect(), with the connection class swapped.
  override connect(socket: Socket | TLSSocket, socketOptions?: SMTPConnectionOptions | null): void {
    const connection = new BoundedConnection(this, socket, socketOptions, this.#bounds);
    this.connections.add(connection);
    connection.on("error", (err: Error) => this._onError(err));
    connection.on("connect", (data: SMTPServerConnectionInfo) => this._onClientConnect(data));
    connection.init();
  }
}

/** RFC 5321 §4.5.3.1.4 puts a command line at 512 octets; extensions lengthen it (Postfix allows 2048). */
const MAX_COMMAND_LINE = 2048;
/** How long a shutdown waits for sessions before it sends them 421 (never longer than the command timeout). */
const SHUTDOWN_GRACE_MS = 30_000;

/**
 * What every listener (MX and submission) announces and bounds alike: RFC 1870 SIZE, RFC 6152
 * 8BITMIME, RFC 6531 SMTPUTF8, RFC 2920 PIPELINING, RFC 2034 ENHANCEDSTATUSCODES, RFC 3207 STARTTLS;
 * no DSN (RFC 3461) and no REQUIRETLS (RFC 8689); the RFC 5321 §4.5.3.2 command timeout.
 */
export function commonServerOptions(config: EdgemxConfig, certificate: CertificatePair): SMTPServerOptions {
  const limits = config.relay.limits;
  const socketTimeout = limits.commandTimeoutSeconds * 1000;
  return {
    name: config.hostname,
    size: limits.maxMessageBytes,
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
    socketTimeout,
    closeTimeout: Math.min(socketTimeout, SHUTDOWN_GRACE_MS),
    logger: false,
    ...secureContextOptions(certificate),
  };
}

/**
 * A hard ceiling below the session bounds: past twice maxConnections, sockets are dropped at accept,
 * before even the 100 ms greeting delay (a flood must not get to hold sockets open).
 */
export function boundServer(server: BoundedSmtpServer, config: EdgemxConfig, logger: Logger): BoundedSmtpServer {
  server.server.maxConnections = config.relay.limits.maxConnections * 2;
  server.on("error", (err) => logger.debug({ event: "connection-error", err: err.message }, "connection error"));
  return server;
}
