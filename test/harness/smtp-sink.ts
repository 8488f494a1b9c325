// An SMTP next hop that keeps what came over the wire: each transaction's envelope and its DATA
// octets exactly as sent — still dot-stuffed, bare CR or LF left as they are — ended only at
// CRLF "." CRLF (RFC 5321 §4.1.1.4). It answers 250 to every command it knows. For tests of what the
// relay passes on, where a real server's parser would already have interpreted the bytes.
import { createServer, type Socket } from "node:net";

export interface SinkTransaction {
  mailFrom: string;
  rcptTo: string[];
  /** The octets between DATA's 354 and the final CRLF "." CRLF, the first of those CRLFs included. */
  data: Buffer;
}

export interface SmtpSink {
  port: number;
  transactions: SinkTransaction[];
  /** Connections accepted so far. */
  connections(): number;
  /** Connections open now. */
  openConnections(): number;
  /** Ends every open connection from the sink's side, as a server ending idle sessions does. */
  dropConnections(): void;
  stop(): Promise<void>;
}

export interface SmtpSinkOptions {
  /** The reply to RSET, after which the sink closes the connection (e.g. a 421, RFC 5321 §3.8); default "250 sink" and the session goes on. */
  rsetClosing?: string;
}

const END_OF_DATA = Buffer.from("\r\n.\r\n");

function serve(socket: Socket, transactions: SinkTransaction[], options: SmtpSinkOptions): void {
  let buffer = Buffer.alloc(0);
  let envelope: { mailFrom: string; rcptTo: string[] } | null = null;
  let inData = false;
  const reply = (line: string): void => void socket.write(`${line}\r\n`);
  const command = (line: string): void => {
    const verb = line.slice(0, 4).toUpperCase();
    if (verb === "RSET" && options.rsetClosing !== undefined) {
      reply(options.rsetClosing);
      socket.end();
    } else if (verb === "EHLO" || verb === "HELO" || verb === "RSET" || verb === "NOOP") {
      if (verb === "RSET") envelope = null;
      reply("250 sink");
    } else if (verb === "MAIL") {
      envelope = { mailFrom: /<(.*)>/.exec(line)?.[1] ?? "", rcptTo: [] };
      reply("250 2.1.0 Ok");
    } else if (verb === "RCPT" && envelope) {
      envelope.rcptTo.push(/<(.*)>/.exec(line)?.[1] ?? "");
      reply("250 2.1.5 Ok");
    } else if (verb === "DATA" && envelope) {
      inData = true;
      // The data so far is "\r\n" (the DATA line's), so that a message ending at once is found too.
      buffer = Buffer.concat([Buffer.from("\r\n"), buffer]);
      reply("354 go ahead");
    } else if (verb === "QUIT") {
      reply("221 2.0.0 Bye");
      socket.end();
    } else {
      reply("500 5.5.2 not understood");
    }
  };
  socket.on("data", (chunk: Buffer) => {
    buffer = Buffer.concat([buffer, chunk]);
    for (;;) {
      if (inData) {
        const end = buffer.indexOf(END_OF_DATA);
        if (end < 0) return;
        transactions.push({ ...envelope!, data: buffer.subarray(2, end + 2) });
        buffer = buffer.subarray(end + END_OF_DATA.length);
        inData = false;
        envelope = null;
        reply("250 2.0.0 Ok: kept");
        continue;
      }
      const end = buffer.indexOf("\r\n");
      if (end < 0) return;
      const line = buffer.subarray(0, end).toString("latin1");
      buffer = buffer.subarray(end + 2);
      command(line);
    }
  });
  socket.on("error", () => {});
  reply("220 sink ESMTP");
}

/** The sink on `port` of `host`: by default a free port of 127.0.0.1; a loopback address is an MX host's address of the test zones. */
export async function startSmtpSink(host = "127.0.0.1", port = 0, options: SmtpSinkOptions = {}): Promise<SmtpSink> {
  const transactions: SinkTransaction[] = [];
  const sockets = new Set<Socket>();
  let accepted = 0;
  const server = createServer((socket) => {
    accepted++;
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
    serve(socket, transactions, options);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, resolve);
  });
  const address = server.address();
  if (typeof address !== "object" || address === null) throw new Error("the SMTP sink has no port");
  return {
    port: address.port,
    transactions,
    connections: () => accepted,
    openConnections: () => sockets.size,
    dropConnections: () => {
      for (const socket of sockets) socket.end();
    },
    stop: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
