// RFC 2920 §3.1: the replies to a pipelined group of commands leave as a unit. BoundedSmtpServer
// corks the socket at the first reply of a turn; with handlers that settle through promise jobs, as
// the relay's do once their lookups are cached, the 250s to MAIL and RCPT and the 354 to DATA reach
// the socket as one write (one _writev of the stream, so one send(2)), and a reply after a pause
// comes in its own. The client here shares the server's event loop and would read separate writes
// in one go as well: what is counted is the server socket's writes.
import { once } from "node:events";
import { connect, type AddressInfo, type Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { BoundedSmtpServer } from "../../relay-node/src/smtp/server.ts";

let server: BoundedSmtpServer | undefined;
let client: Socket | undefined;
afterEach(async () => {
  client?.destroy();
  await new Promise<void>((done) => (server ? server.close(() => done()) : done()));
  server = undefined;
});

/** A hook that answers in a promise job, as an async hook whose work was cached does. */
const soon = (callback: () => void): void => void Promise.resolve().then(callback);

/** Each write the server's side of a connection hands to the kernel: the text of its chunks, joined. */
function serverWrites(smtp: BoundedSmtpServer): string[] {
  const writes: string[] = [];
  smtp.server.prependListener("connection", (socket: Socket) => {
    const text = (chunk: unknown) => (Buffer.isBuffer(chunk) ? chunk.toString("latin1") : String(chunk));
    const internals = socket as unknown as {
      _write: (chunk: unknown, encoding: string, done: () => void) => void;
      _writev: (chunks: { chunk: unknown }[], done: () => void) => void;
    };
    const write = internals._write.bind(socket);
    const writev = internals._writev.bind(socket);
    internals._write = (chunk, encoding, done) => {
      writes.push(text(chunk));
      write(chunk, encoding, done);
    };
    internals._writev = (chunks, done) => {
      writes.push(chunks.map((c) => text(c.chunk)).join(""));
      writev(chunks, done);
    };
  });
  return writes;
}

/** Each data event's text, as the client's socket read it. */
function reads(socket: Socket): string[] {
  const seen: string[] = [];
  socket.on("data", (chunk: Buffer) => seen.push(chunk.toString("latin1")));
  return seen;
}

async function until(seen: string[], pattern: RegExp): Promise<void> {
  for (let i = 0; i < 200 && !pattern.test(seen.join("")); i++) await new Promise((done) => setTimeout(done, 10));
  expect(seen.join("")).toMatch(pattern);
}

describe("replies to a pipelined group", () => {
  it("reach the client in one read, and a later reply in its own", async () => {
    server = new BoundedSmtpServer(
      {
        authOptional: true,
        disabledCommands: ["STARTTLS", "AUTH"],
        logger: false,
        onMailFrom: (_address, _session, callback) => soon(callback),
        onRcptTo: (_address, _session, callback) => soon(callback),
        onData: (stream, _session, callback) => {
          stream.on("end", () => callback());
          stream.resume();
        },
      },
      { maxErrors: 10 },
    );
    const writes = serverWrites(server);
    server.listen(0, "127.0.0.1");
    await once(server.server, "listening");
    const socket = connect((server.server.address() as AddressInfo).port, "127.0.0.1");
    client = socket;
    const seen = reads(socket);
    await until(seen, /^220 /m);
    socket.write("EHLO client.example\r\n");
    await until(seen, /^250 /m);
    const before = writes.length;

    socket.write("MAIL FROM:<a@client.example>\r\nRCPT TO:<b@example.org>\r\nDATA\r\n");
    await until(seen, /^354 /m);
    expect(writes.slice(before)).toHaveLength(1);
    expect(writes[before]).toMatch(/^250 .*\r\n250 .*\r\n354 .*\r\n$/);

    socket.write("Subject: x\r\n\r\nbody\r\n.\r\n");
    await until(seen, /^354 [^]*^250 /m);
    expect(writes.slice(before + 1)).toEqual([expect.stringMatching(/^250 [^\r]*\r\n$/)]);
  });
});
