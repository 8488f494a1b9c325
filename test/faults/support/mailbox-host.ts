// A mailbox host that fails on demand: an LMTP server (RFC 2033) on loopback that, by its current
// mode, takes messages (one 250 per recipient after the final dot, §4.2), answers 451 to RCPT, hangs
// (connection taken, no greeting ever), takes the whole message and then drops the connection before
// its reply, or takes it and never replies — or is not listening at all (connection refused). The
// fault is the point, so this is scripted; what it keeps is the id (checker.ts) of every message it
// took, a copy per take: a take whose reply never reached the relay is SMTP's "reply lost" window,
// and the copy the relay's retry brings is the duplicate that window forces.
import { createServer, type Server, type Socket } from "node:net";
import { messageId } from "./checker.ts";

export type MailboxHostMode = "accept" | "tempfail" | "hang" | "drop-after-data" | "hang-after-data";

export interface MailboxHost {
  port: number;
  mode: MailboxHostMode;
  /** Id → copies taken (the whole message received in a mode that stores it). */
  taken: Map<string, number>;
  /** Takes whose reply was never sent (drop-after-data, hang-after-data). */
  unanswered: number;
  /** Every message's content, as taken (to check that nothing half-written went out). */
  messages: string[];
  /** Connections so far. */
  connections: number;
  /** Stops listening (connections are refused) and closes the open ones; listen() starts again on the same port. */
  refuse(): Promise<void>;
  listen(): Promise<void>;
  stop(): Promise<void>;
}

const END_OF_DATA = "\r\n.\r\n";

export async function startMailboxHost(mode: MailboxHostMode = "accept"): Promise<MailboxHost> {
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  const host: MailboxHost = {
    port: 0,
    mode,
    taken: new Map(),
    unanswered: 0,
    messages: [],
    connections: 0,
    refuse: () => close(),
    listen: () => open(host.port),
    stop: () => close(),
  };

  function take(data: string): void {
    // Dot-stuffing undone (RFC 5321 §4.5.2); the data started after DATA's 354.
    const message = data.replace(/\r\n\.\./g, "\r\n.").slice(2);
    host.messages.push(message);
    const id = messageId(message);
    if (id !== undefined) host.taken.set(id, (host.taken.get(id) ?? 0) + 1);
  }

  function serve(socket: Socket): void {
    host.connections++;
    socket.on("error", () => undefined);
    if (host.mode === "hang") return;
    let buffer = "";
    let inData = false;
    let recipients = 0;
    const reply = (line: string): void => void socket.write(`${line}\r\n`);
    socket.setEncoding("latin1");
    socket.on("data", (chunk: string) => {
      buffer += chunk;
      for (;;) {
        if (inData) {
          const end = buffer.indexOf(END_OF_DATA);
          if (end < 0) return;
          take(buffer.slice(0, end + 2));
          buffer = buffer.slice(end + END_OF_DATA.length);
          inData = false;
          if (host.mode === "drop-after-data" || host.mode === "hang-after-data") {
            host.unanswered++;
            if (host.mode === "drop-after-data") socket.destroy();
            return;
          }
          for (let i = 0; i < recipients; i++) reply("250 2.0.0 Ok: delivered");
          recipients = 0;
          continue;
        }
        const end = buffer.indexOf("\r\n");
        if (end < 0) return;
        const line = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const verb = line.slice(0, 4).toUpperCase();
        if (verb === "LHLO") reply("250-mailbox.test\r\n250 PIPELINING");
        else if (verb === "MAIL") reply("250 2.1.0 Ok");
        else if (verb === "RCPT" && host.mode === "tempfail") reply("451 4.3.0 Mailbox host busy");
        else if (verb === "RCPT") {
          recipients++;
          reply("250 2.1.5 Ok");
        } else if (verb === "DATA" && recipients === 0) reply("503 5.5.1 No valid recipients");
        else if (verb === "DATA") {
          inData = true;
          buffer = "\r\n" + buffer;
          reply("354 go ahead");
        } else if (verb === "RSET" || verb === "NOOP") reply("250 2.0.0 Ok");
        else if (verb === "QUIT") {
          reply("221 2.0.0 Bye");
          socket.end();
        } else reply("500 5.5.2 not understood");
      }
    });
    reply("220 mailbox.test LMTP");
  }

  function open(port: number): Promise<void> {
    const listening = createServer((socket) => {
      sockets.add(socket);
      socket.once("close", () => sockets.delete(socket));
      serve(socket);
    });
    server = listening;
    return new Promise((resolve, reject) => {
      listening.once("error", reject);
      listening.listen(port, "127.0.0.1", () => {
        const address = listening.address();
        if (typeof address === "object" && address !== null) host.port = address.port;
        resolve();
      });
    });
  }

  function close(): Promise<void> {
    const closing = server;
    server = undefined;
    for (const socket of sockets) socket.destroy();
    return new Promise((resolve) => (closing ? closing.close(() => resolve()) : resolve()));
  }

  await open(0);
  return host;
}
