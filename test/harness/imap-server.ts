// A minimal IMAP server for the tests of relay-node/src/users/imap.ts — a fake, not a real IMAP server:
// greeting, CAPABILITY, STARTTLS, LOGIN (quoted strings and literals, synchronizing or with LITERAL+),
// AUTHENTICATE PLAIN (with or without SASL-IR) and LOGOUT, with tagged replies (RFC 3501). It holds
// quoted strings to RFC 3501 §9 (7-bit: an 8-bit one is BAD), as a strict IMAP4rev1 host does. A
// self-signed certificate for 127.0.0.1 (openssl), the file usable as relay.users.caFile.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { createServer as createNetServer, type AddressInfo, type Server, type Socket } from "node:net";
import { join } from "node:path";
import { TLSSocket, createSecureContext } from "node:tls";

export interface ImapTestServer {
  port: number;
  caFile: string;
  /** Every command line received (passwords included: this is a test). */
  commands: string[];
  /** "up" answers; "down" drops connections at once; "silent" never greets; "bye" greets with BYE. */
  mode: "up" | "down" | "silent" | "bye";
  close(): Promise<void>;
}

export function selfSignedLoopback(dir: string): { certFile: string; keyFile: string } {
  const certFile = join(dir, "imap-cert.pem");
  const keyFile = join(dir, "imap-key.pem");
  execFileSync(
    "openssl",
    [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:P-256",
      "-nodes",
      "-days",
      "2",
      "-subj",
      "/CN=127.0.0.1",
      "-addext",
      "subjectAltName=IP:127.0.0.1",
      "-keyout",
      keyFile,
      "-out",
      certFile,
    ],
    { stdio: "ignore" },
  );
  return { certFile, keyFile };
}

/** RFC 3501 §9 astrings of a command line: quoted strings (7-bit TEXT-CHARs) or atoms; null for an 8-bit quoted string. */
function readAstrings(text: string): string[] | null {
  const out: string[] = [];
  const re = /\s*(?:"((?:[^"\\]|\\.)*)"|([^\s"]+))/gy;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    // eslint-disable-next-line no-control-regex -- the grammar is about 7-bit characters
    if (m[1] !== undefined && !/^[\x01-\x7f]*$/.test(m[1])) return null;
    out.push(m[1] !== undefined ? m[1].replace(/\\(.)/g, "$1") : m[2]!);
  }
  return out;
}

/** A literal's announcement at the end of a line (RFC 3501 §4.3, RFC 7888): its length and whether it waits for "+". */
const LITERAL_AT_END = /\{(\d+)(\+?)\}$/;

export async function startImapServer(
  dir: string,
  options: { users: Record<string, string>; implicitTls: boolean; saslIr?: boolean; authPlain?: boolean; literalPlus?: boolean },
): Promise<ImapTestServer> {
  const { certFile, keyFile } = selfSignedLoopback(dir);
  const context = createSecureContext({ cert: readFileSync(certFile), key: readFileSync(keyFile) });
  const sockets = new Set<Socket>();
  const state: ImapTestServer = { port: 0, caFile: certFile, commands: [], mode: "up", close: async () => {} };
  const capabilities = (secure: boolean): string =>
    [
      "IMAP4rev1",
      ...(secure ? [] : ["STARTTLS", "LOGINDISABLED"]),
      ...(secure && options.authPlain !== false ? ["AUTH=PLAIN"] : []),
      ...(secure && options.saslIr ? ["SASL-IR"] : []),
      ...(options.literalPlus ? ["LITERAL+"] : []),
    ].join(" ");

  const serve = (socket: Socket, secure: boolean): void => {
    let buffer = Buffer.alloc(0);
    let pending: { tag: string } | null = null;
    /** A command whose line ended in a literal: its text so far, its literals, and the octets still due. */
    let partial: { text: string; literals: string[]; due: number } | null = null;
    const check = (tag: string, user: string | undefined, pass: string | undefined): void => {
      socket.write(
        user !== undefined && options.users[user] === pass
          ? `${tag} OK [CAPABILITY IMAP4rev1] Logged in\r\n`
          : `${tag} NO [AUTHENTICATIONFAILED] Authentication failed.\r\n`,
      );
    };
    const plain = (tag: string, b64: string): void => {
      const [, user, pass] = Buffer.from(b64, "base64").toString("utf8").split("\0");
      check(tag, user, pass);
    };
    socket.on("data", (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      for (;;) {
        if (partial !== null && partial.due > 0) {
          if (buffer.length < partial.due) return;
          partial.literals.push(buffer.subarray(0, partial.due).toString("utf8"));
          buffer = buffer.subarray(partial.due);
          partial.due = 0;
        }
        const end = buffer.indexOf("\r\n");
        if (end < 0) return;
        const text = buffer.subarray(0, end).toString("utf8");
        buffer = buffer.subarray(end + 2);
        const literal = pending ? null : LITERAL_AT_END.exec(text);
        if (literal) {
          partial = { text: (partial?.text ?? "") + text, literals: partial?.literals ?? [], due: Number(literal[1]) };
          if (literal[2] !== "+") socket.write("+ Ready for literal data\r\n");
          continue;
        }
        const line = (partial?.text ?? "") + text;
        const literals = partial?.literals ?? [];
        partial = null;
        state.commands.push(line);
        if (pending) {
          plain(pending.tag, line);
          pending = null;
          continue;
        }
        const [tag = "", name = "", ...rest] = line.split(" ");
        const args = rest.join(" ");
        switch (name.toUpperCase()) {
          case "CAPABILITY":
            socket.write(`* CAPABILITY ${capabilities(secure)}\r\n${tag} OK done\r\n`);
            break;
          case "STARTTLS":
            socket.write(`${tag} OK Begin TLS negotiation now\r\n`);
            socket.removeAllListeners("data");
            serve(new TLSSocket(socket, { isServer: true, secureContext: context }), true);
            return;
          case "LOGIN": {
            // Each {n} stands for the next literal; the rest are quoted strings or atoms.
            const parts = args.split(/\{\d+\+?\}/);
            const strings = parts.map(readAstrings);
            if (strings.some((s) => s === null)) {
              socket.write(`${tag} BAD 8-bit characters in a quoted string\r\n`);
              break;
            }
            const [user, pass] = strings.flatMap((s, i) => [...s!, ...(i < literals.length ? [literals[i]!] : [])]);
            check(tag, user, pass);
            break;
          }
          case "AUTHENTICATE":
            if (rest[1] !== undefined) plain(tag, rest[1]);
            else {
              pending = { tag };
              socket.write("+ \r\n");
            }
            break;
          case "LOGOUT":
            socket.end(`* BYE Logging out\r\n${tag} OK Logout completed.\r\n`);
            break;
          default:
            socket.write(`${tag} BAD Unknown command\r\n`);
        }
      }
    });
    socket.on("error", () => {});
  };

  const server: Server = createNetServer((raw) => {
    sockets.add(raw);
    raw.on("close", () => sockets.delete(raw));
    raw.on("error", () => {});
    if (state.mode === "down") return raw.destroy();
    const socket = options.implicitTls ? new TLSSocket(raw, { isServer: true, secureContext: context }) : raw;
    socket.on("error", () => {});
    if (state.mode === "silent") return;
    if (state.mode === "bye") return void socket.end("* BYE Too busy\r\n");
    socket.write(`* OK [CAPABILITY ${capabilities(options.implicitTls)}] test IMAP ready\r\n`);
    serve(socket, options.implicitTls);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  state.port = (server.address() as AddressInfo).port;
  state.close = () =>
    new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    });
  return state;
}
