// A raw SMTP client for tests that need what a real client would never send (bare LF, smuggling
// sequences, pipelined junk) or need to see every reply as it comes: lines in, replies out, STARTTLS
// with chosen protocol versions. Replies are whole (a multi-line reply is one string, lines joined
// with "\n"); nothing is interpreted.
import { connect, type Socket } from "node:net";
import { connect as connectTls, type ConnectionOptions, type TLSSocket } from "node:tls";

export interface SmtpDialogue {
  /** The next whole reply, e.g. "220 mx.example.org ESMTP" or "250-mx.example.org\n250 SIZE 1024". */
  reply(): Promise<string>;
  /** Sends a command line (CRLF added) and reads its reply. */
  command(line: string): Promise<string>;
  /** Writes bytes as they are. */
  write(bytes: string | Uint8Array): void;
  /** STARTTLS, then the TLS handshake with `options`; resolves with the TLS socket, rejects if the handshake fails. */
  startTls(options?: ConnectionOptions): Promise<TLSSocket>;
  /** Resolves when the server has closed the connection. */
  closed: Promise<void>;
  close(): void;
}

/** Reply lines end in CRLF; the last line of a reply has a space after its code (RFC 5321 §4.2.1). */
const LAST_LINE = /^\d{3}(?: |$)/;

export function openSmtp(port: number, options: { host?: string; localAddress?: string } = {}): Promise<SmtpDialogue> {
  return new Promise((resolveOpen, rejectOpen) => {
    let socket: Socket | TLSSocket = connect({
      host: options.host ?? "127.0.0.1",
      port,
      ...(options.localAddress ? { localAddress: options.localAddress } : {}),
    });
    let buffer = "";
    let lines: string[] = [];
    const replies: string[] = [];
    const waiting: { resolve: (reply: string) => void; reject: (err: Error) => void }[] = [];
    let ended = false;
    let resolveClosed: () => void = () => {};
    const closed = new Promise<void>((resolve) => (resolveClosed = resolve));

    const deliver = (): void => {
      while (replies.length > 0 && waiting.length > 0) waiting.shift()!.resolve(replies.shift()!);
      if (ended) while (waiting.length > 0) waiting.shift()!.reject(new Error("connection closed"));
    };
    const onData = (chunk: Buffer): void => {
      buffer += chunk.toString("latin1");
      for (let end = buffer.indexOf("\r\n"); end >= 0; end = buffer.indexOf("\r\n")) {
        const line = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        lines.push(line);
        if (LAST_LINE.test(line)) {
          replies.push(lines.join("\n"));
          lines = [];
        }
      }
      deliver();
    };
    const onClose = (): void => {
      ended = true;
      resolveClosed();
      deliver();
    };
    socket.on("data", onData);
    socket.on("close", onClose);
    socket.on("error", () => {});

    const reply = (): Promise<string> =>
      new Promise((resolve, reject) => {
        waiting.push({ resolve, reject });
        deliver();
      });
    const write = (bytes: string | Uint8Array): void => {
      socket.write(typeof bytes === "string" ? Buffer.from(bytes, "latin1") : bytes);
    };
    const dialogue: SmtpDialogue = {
      reply,
      command(line) {
        write(`${line}\r\n`);
        return reply();
      },
      write,
      async startTls(tlsOptions = {}) {
        const answer = await dialogue.command("STARTTLS");
        if (!answer.startsWith("220")) throw new Error(`STARTTLS refused: ${answer}`);
        const plain = socket;
        plain.off("data", onData);
        plain.off("close", onClose);
        return new Promise<TLSSocket>((resolve, reject) => {
          const secure = connectTls({ socket: plain, rejectUnauthorized: false, ...tlsOptions });
          secure.once("secureConnect", () => {
            socket = secure;
            secure.on("data", onData);
            secure.on("close", onClose);
            resolve(secure);
          });
          secure.once("error", reject);
        });
      },
      closed,
      close: () => socket.destroy(),
    };
    socket.once("connect", () => resolveOpen(dialogue));
    socket.once("error", rejectOpen);
  });
}
