// Submission users checked by the IMAP host (relay.users: { type: "imap" }): for each AUTH we open a
// TLS connection to the host — implicit TLS (RFC 8314 §3.2, port 993) or STARTTLS (RFC 3501 §6.2.1),
// never plaintext — ask CAPABILITY, log in, and LOGOUT:
//
// - AUTHENTICATE PLAIN (RFC 4959 / RFC 4616) when CAPABILITY lists AUTH=PLAIN, with the initial
//   response on the command line when it also lists SASL-IR, else after the "+" continuation;
// - otherwise LOGIN (RFC 3501 §6.2.3), unless the host says LOGINDISABLED, with the user as a quoted
//   string (§9 "quoted") and the password as one too, or as a literal (§4.3) when a quoted string
//   cannot carry it (8-bit, CR, LF): synchronizing, or non-synchronizing when the host offers LITERAL+
//   (RFC 7888). A password with NUL is invalid: neither a literal (CHAR8) nor PLAIN (RFC 4616 §2) holds one.
//
// Hand-written rather than imapflow: imapflow (2.10) sends LOGIN's password as a quoted string whatever
// it holds: an 8-bit password goes out as raw UTF-8 between quotes, which RFC 3501 §9 does not allow
// (a quoted string is 7-bit there; IMAP4rev2, RFC 9051 §9, allows UTF-8), so an IMAP4rev1 host may
// refuse it, and CR or LF make it throw. LOGIN is used exactly with hosts that offer neither AUTH=PLAIN
// nor AUTH=LOGIN, so that is the case that has to work.
//
// Outcomes: tagged OK → ok; NO → invalid, unless its response code is UNAVAILABLE (RFC 5530 §3) →
// temporary; BAD, BYE, a TLS or connection failure, an oversized reply or the timeout → temporary.
// Only logins that are full addresses of our domains (domains[].name) are passed on, so the relay is
// no oracle for the IMAP host's other accounts. The user's own addresses come from the configuration:
// the login address itself and every domains[].aliases entry that points to it.
import { readFileSync } from "node:fs";
import { connect as netConnect, isIP, type Socket } from "node:net";
import { connect as tlsConnect, type TLSSocket } from "node:tls";
import type { EdgemxConfig } from "../../../core/config/schema.ts";
import type { Authenticator, AuthOutcome } from "./checker.ts";
import { isPlainAddress, normalizeAddress } from "./store.ts";

export type ImapUsersConfig = Extract<EdgemxConfig["relay"]["users"], { type: "imap" }>;

/** Longest reply line and whole conversation we read; a host sending more is treated as failing. */
export const MAX_LINE_BYTES = 8192;
export const MAX_REPLY_BYTES = 65536;

/** RFC 3501 §9: a quoted string holds TEXT-CHARs (CHAR without CR, LF; CHAR is %x01-7F), `"` and `\` escaped. */
export function imapQuoted(value: string): string | null {
  // eslint-disable-next-line no-control-regex -- the grammar is about control characters
  if (!/^[\x01-\x09\x0b\x0c\x0e-\x7f]*$/.test(value)) return null;
  return `"${value.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

export interface ImapResponse {
  /** "*" untagged, "+" continuation, else the command's tag. */
  tag: string;
  /** OK, NO, BAD, BYE, PREAUTH (upper case), or null for other untagged data such as CAPABILITY. */
  status: string | null;
  /** The bracketed response code's text (RFC 3501 §7.1), e.g. "UNAVAILABLE" or "CAPABILITY IMAP4rev1 …". */
  code: string | null;
  text: string;
}

/** One response line (without CRLF), RFC 3501 §7. */
export function parseImapResponse(line: string): ImapResponse {
  const space = line.indexOf(" ");
  const tag = space < 0 ? line : line.slice(0, space);
  let rest = space < 0 ? "" : line.slice(space + 1);
  if (tag === "+") return { tag, status: null, code: null, text: rest };
  const word = /^([A-Za-z]+)(?: |$)/.exec(rest);
  const status = word && ["OK", "NO", "BAD", "BYE", "PREAUTH"].includes(word[1]!.toUpperCase()) ? word[1]!.toUpperCase() : null;
  if (status !== null) rest = rest.slice(word![0].length);
  const code = status !== null ? (/^\[([^\]]*)\]\s?/.exec(rest) ?? null) : null;
  return { tag, status, code: code ? code[1]! : null, text: code ? rest.slice(code[0].length) : rest };
}

/** The capability names (upper case) of an untagged CAPABILITY response or a [CAPABILITY …] code, else null. */
export function capabilitiesOf(response: ImapResponse): Set<string> | null {
  const source =
    response.tag === "*" && response.status === null && /^CAPABILITY /i.test(response.text)
      ? response.text
      : response.code !== null && /^CAPABILITY /i.test(response.code)
        ? response.code
        : null;
  return source === null
    ? null
    : new Set(
        source
          .split(/\s+/)
          .slice(1)
          .map((c) => c.toUpperCase()),
      );
}

/** A literal (RFC 3501 §4.3): its octets, announced as {n} (wait for "+") or {n+} (RFC 7888, send at once). */
export interface ImapLiteral {
  bytes: Buffer;
  synchronizing: boolean;
}

/** RFC 7888 §5: LITERAL- allows non-synchronizing literals of at most 4096 octets. */
const LITERAL_MINUS_MAX = 4096;

/**
 * How LOGIN carries the password (an astring, RFC 3501 §6.2.3): a quoted string when it can, else a
 * literal of its UTF-8 octets, non-synchronizing when the host's capabilities allow it.
 */
export function loginPassword(password: string, capabilities: ReadonlySet<string>): { quoted: string } | { literal: ImapLiteral } {
  const quoted = imapQuoted(password);
  if (quoted !== null) return { quoted };
  const bytes = Buffer.from(password, "utf8");
  const nonSynchronizing = capabilities.has("LITERAL+") || (capabilities.has("LITERAL-") && bytes.length <= LITERAL_MINUS_MAX);
  return { literal: { bytes, synchronizing: !nonSynchronizing } };
}

/** The outcome of a tagged reply to LOGIN or AUTHENTICATE. */
export function loginOutcome(response: ImapResponse): "ok" | "invalid" | "temporary" {
  if (response.status === "OK") return "ok";
  if (response.status === "NO") return /^(UNAVAILABLE|SERVERBUG|LIMIT|INUSE)\b/i.test(response.code ?? "") ? "temporary" : "invalid";
  return "temporary";
}

class TemporaryFailure extends Error {}

const CRLF = Buffer.from("\r\n");

/** Reads CRLF-terminated lines from a socket within the size bounds. */
class LineReader {
  readonly #lines: string[] = [];
  #partial = "";
  #total = 0;
  #failure: Error | null = null;
  #waiting: { resolve: (line: string) => void; reject: (err: Error) => void } | null = null;
  readonly #socket: Socket;
  readonly #onData = (chunk: Buffer): void => this.#push(chunk);
  readonly #onEnd = (): void => this.#fail(new TemporaryFailure("the IMAP host closed the connection"));
  readonly #onError = (err: Error): void => this.#fail(new TemporaryFailure(`IMAP connection: ${err.message}`));

  constructor(socket: Socket) {
    this.#socket = socket;
    socket.on("data", this.#onData);
    socket.on("end", this.#onEnd);
    socket.on("close", this.#onEnd);
    socket.on("error", this.#onError);
  }

  /** Stops reading this socket (before STARTTLS hands it to TLS); returns whether bytes were left over. */
  detach(): boolean {
    this.#socket.off("data", this.#onData);
    this.#socket.off("end", this.#onEnd);
    this.#socket.off("close", this.#onEnd);
    this.#socket.off("error", this.#onError);
    return this.#lines.length > 0 || this.#partial.length > 0;
  }

  #push(chunk: Buffer): void {
    this.#total += chunk.length;
    if (this.#total > MAX_REPLY_BYTES) return this.#fail(new TemporaryFailure("the IMAP host's replies are too long"));
    const parts = (this.#partial + chunk.toString("latin1")).split("\r\n");
    this.#partial = parts.pop()!;
    if (this.#partial.length > MAX_LINE_BYTES) return this.#fail(new TemporaryFailure("an IMAP reply line is too long"));
    this.#lines.push(...parts);
    this.#deliver();
  }

  #fail(err: Error): void {
    this.#failure ??= err;
    this.#deliver();
  }

  #deliver(): void {
    const waiting = this.#waiting;
    if (waiting === null) return;
    const line = this.#lines.shift();
    if (line !== undefined) {
      this.#waiting = null;
      waiting.resolve(line);
    } else if (this.#failure !== null) {
      this.#waiting = null;
      waiting.reject(this.#failure);
    }
  }

  next(): Promise<ImapResponse> {
    return new Promise<string>((resolve, reject) => {
      this.#waiting = { resolve, reject };
      this.#deliver();
    }).then(parseImapResponse);
  }
}

function connectTls(options: ImapUsersConfig, ca: string | undefined, socket?: Socket): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const tls = tlsConnect({
      // host also names the certificate check's identity after STARTTLS (node would assume "localhost").
      host: options.host,
      ...(socket ? { socket } : { port: options.port }),
      ...(isIP(options.host) === 0 ? { servername: options.host } : {}),
      ...(ca === undefined ? {} : { ca }),
      minVersion: "TLSv1.2",
    });
    tls.once("secureConnect", () => {
      tls.off("error", reject);
      resolve(tls);
    });
    tls.once("error", reject);
  });
}

function connectPlain(options: ImapUsersConfig): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = netConnect({ host: options.host, port: options.port });
    socket.once("connect", () => {
      socket.off("error", reject);
      resolve(socket);
    });
    socket.once("error", reject);
  });
}

export class ImapAuthenticator implements Authenticator {
  readonly #options: ImapUsersConfig;
  readonly #domains: () => EdgemxConfig["domains"];
  readonly #ca: string | undefined;

  /** `domains`: the domains as configured now (a reload changes their aliases, config/reload.ts). */
  constructor(options: ImapUsersConfig, domains: () => EdgemxConfig["domains"]) {
    this.#options = options;
    this.#domains = domains;
    this.#ca = options.caFile === undefined ? undefined : readFileSync(options.caFile, "utf8");
  }

  /** The login address and every alias of our domains that points to it (lower case). */
  ownedAddresses(login: string): Set<string> {
    const user = normalizeAddress(login);
    const owned = new Set([user]);
    for (const domain of this.#domains()) {
      const name = domain.name.toLowerCase();
      for (const [local, target] of Object.entries(domain.aliases)) {
        const resolved = normalizeAddress(target.includes("@") ? target : `${target}@${name}`);
        if (resolved === user) owned.add(normalizeAddress(`${local}@${name}`));
      }
    }
    return owned;
  }

  #isOurs(login: string): boolean {
    const user = normalizeAddress(login);
    if (!isPlainAddress(user)) return false;
    const domain = user.slice(user.lastIndexOf("@") + 1);
    return this.#domains().some((d) => d.name.toLowerCase() === domain);
  }

  async authenticate(username: string, password: string): Promise<AuthOutcome> {
    if (!this.#isOurs(username) || password.length === 0 || password.includes("\0")) return { status: "invalid" };
    const sockets: Socket[] = [];
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new TemporaryFailure(`the IMAP host did not answer within ${this.#options.timeoutMs} ms`)), this.#options.timeoutMs);
    });
    try {
      const outcome = await Promise.race([this.#converse(username.trim(), password, sockets), timeout]);
      return outcome === "ok"
        ? { status: "ok", user: { address: normalizeAddress(username), aliases: [...this.ownedAddresses(username)].slice(1) } }
        : { status: "invalid" };
    } catch (err) {
      return { status: "temporary", reason: err instanceof Error ? err.message : String(err) };
    } finally {
      clearTimeout(timer);
      // After LOGOUT the last socket is ended: give it a moment to flush, then close everything.
      const destroy = (): void => sockets.forEach((socket) => socket.destroy());
      if (sockets.at(-1)?.writableEnded === true) setTimeout(destroy, 1000).unref();
      else destroy();
    }
  }

  async #converse(username: string, password: string, sockets: Socket[]): Promise<"ok" | "invalid"> {
    let tag = 0;
    let socket: Socket;
    let reader: LineReader;
    const expectGreeting = async (): Promise<void> => {
      const greeting = await reader.next();
      if (greeting.tag !== "*" || greeting.status !== "OK") throw new TemporaryFailure(`the IMAP host greeted with ${greeting.status ?? "no status"}`);
    };
    /**
     * Sends a command (its line: text, or text and a non-synchronizing literal) and reads to its tagged
     * reply; untagged lines go to `untagged`, continuations to `onContinue`, whose answer is sent as a line.
     */
    const command = async (
      line: string | Buffer,
      untagged: (r: ImapResponse) => void = () => {},
      onContinue?: () => string | Buffer,
    ): Promise<ImapResponse> => {
      const own = `a${++tag}`;
      socket.write(Buffer.concat([Buffer.from(`${own} `), Buffer.from(line), CRLF]));
      for (;;) {
        const response = await reader.next();
        if (response.tag === "*" && response.status === "BYE") throw new TemporaryFailure("the IMAP host said BYE");
        if (response.tag === "*") untagged(response);
        else if (response.tag === "+") {
          if (onContinue === undefined) throw new TemporaryFailure("unexpected IMAP continuation");
          socket.write(Buffer.concat([Buffer.from(onContinue()), CRLF]));
        } else if (response.tag === own) return response;
        else throw new TemporaryFailure("an IMAP reply with a foreign tag");
      }
    };

    if (this.#options.tls === "implicit") {
      socket = await connectTls(this.#options, this.#ca);
      sockets.push(socket);
      reader = new LineReader(socket);
      await expectGreeting();
    } else {
      const plain = await connectPlain(this.#options);
      sockets.push(plain);
      socket = plain;
      reader = new LineReader(plain);
      await expectGreeting();
      const reply = await command("STARTTLS");
      if (reply.status !== "OK") throw new TemporaryFailure("the IMAP host refused STARTTLS");
      // Anything sent before the handshake would be read as if protected (CVE-2011-0411-style injection).
      if (reader.detach()) throw new TemporaryFailure("the IMAP host sent data after its STARTTLS reply");
      socket = await connectTls(this.#options, this.#ca, plain);
      sockets.push(socket);
      reader = new LineReader(socket);
    }

    let capabilities = new Set<string>();
    const capability = await command("CAPABILITY", (r) => {
      capabilities = capabilitiesOf(r) ?? capabilities;
    });
    if (capability.status !== "OK") throw new TemporaryFailure("the IMAP host refused CAPABILITY");

    let reply: ImapResponse;
    if (capabilities.has("AUTH=PLAIN")) {
      const initial = Buffer.from(`\0${username}\0${password}`, "utf8").toString("base64");
      let sent = capabilities.has("SASL-IR");
      reply = await command(
        sent ? `AUTHENTICATE PLAIN ${initial}` : "AUTHENTICATE PLAIN",
        () => {},
        () => {
          // The first "+" asks for the response; another one would be a challenge PLAIN has none of: cancel.
          if (sent) return "*";
          sent = true;
          return initial;
        },
      );
    } else {
      const user = imapQuoted(username);
      if (capabilities.has("LOGINDISABLED")) throw new TemporaryFailure("the IMAP host offers neither AUTH=PLAIN nor LOGIN");
      if (user === null) return "invalid";
      const pass = loginPassword(password, capabilities);
      if ("quoted" in pass) reply = await command(`LOGIN ${user} ${pass.quoted}`);
      else if (!pass.literal.synchronizing)
        reply = await command(Buffer.concat([Buffer.from(`LOGIN ${user} {${pass.literal.bytes.length}+}\r\n`), pass.literal.bytes]));
      else {
        // The host answers {n} with "+" when it takes the literal (RFC 3501 §7.5), or with a tagged NO or BAD.
        let sent = false;
        reply = await command(`LOGIN ${user} {${pass.literal.bytes.length}}`, undefined, () => {
          if (sent) throw new TemporaryFailure("a second IMAP continuation during LOGIN");
          sent = true;
          return pass.literal.bytes;
        });
      }
    }
    const outcome = loginOutcome(reply);
    if (outcome === "temporary")
      throw new TemporaryFailure(`the IMAP host answered the login with ${reply.status ?? "?"}${reply.code ? ` [${reply.code}]` : ""}`);
    // Best effort: the answer is known, the socket is destroyed right after.
    socket.end(`a${++tag} LOGOUT\r\n`);
    return outcome;
  }

  close(): void {}
}
