// A minimal IMAP server for the tests of relay-node/src/users/imap.ts: greeting, CAPABILITY, STARTTLS,
// LOGIN (quoted strings), AUTHENTICATE PLAIN (with or without SASL-IR) and LOGOUT, with tagged replies
// (RFC 3501). A self-signed certificate for 127.0.0.1 (openssl), the file usable as relay.users.caFile.
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

/** RFC 3501 §9 astring, as our client sends it: a quoted string or an atom. */
function readAstrings(text: string): string[] {
  const out: string[] = [];
  const re = /\s*(?:"((?:[^"\\]|\\.)*)"|([^\s"]+))/gy;
  for (let m = re.exec(text); m; m = re.exec(text)) out.push(m[1] !== undefined ? m[1].replace(/\\(.)/g, "$1") : m[2]!);
  return out;
}

export async function startImapServer(
  dir: string,
  options: { users: Record<string, string>; implicitTls: boolean; saslIr?: boolean; authPlain?: boolean },
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
    ].join(" ");

  const serve = (socket: Socket, secure: boolean): void => {
    let buffer = "";
    let pending: { tag: string } | null = null;
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
      buffer += chunk.toString("utf8");
      for (let end = buffer.indexOf("\r\n"); end >= 0; end = buffer.indexOf("\r\n")) {
        const line = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
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
            const [user, pass] = readAstrings(args);
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
