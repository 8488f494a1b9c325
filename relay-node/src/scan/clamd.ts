// clamd's INSTREAM protocol over TCP (clamd(8), "COMMANDS"): the "z" prefix makes commands and replies
// NUL-terminated; the message follows as chunks of <4-byte big-endian length><data>, a zero-length
// chunk ends it, and clamd answers one line: "stream: OK", "stream: <Signature> FOUND" or "<why> ERROR".
// Every failure — refused, reset, timeout, an over-long stream, an unreadable reply — is an "error",
// which the session turns into a 451: never an unscanned accept (docs/architecture.md, "Promises the code keeps").
import { connect } from "node:net";

export interface ClamdSettings {
  host: string;
  port: number;
  /** The whole exchange, connect to reply, must finish within this. */
  timeoutMs: number;
}

export type ClamdResult = { status: "clean" } | { status: "infected"; signature: string } | { status: "error"; detail: string };

/** Chunk size of the stream: well under clamd's StreamMaxLength, large enough to keep syscalls few. */
export const CHUNK_BYTES = 64 * 1024;
/** A reply is a signature name and a few words; anything longer is not clamd talking. */
const MAX_REPLY_BYTES = 4096;

/** Scans one message with clamd INSTREAM. */
export async function scanWithClamd(message: Uint8Array, settings: ClamdSettings): Promise<ClamdResult> {
  const reply = await exchange(settings, (write) => {
    write(Buffer.from("zINSTREAM\0", "latin1"));
    for (let at = 0; at < message.length; at += CHUNK_BYTES) {
      const chunk = message.subarray(at, at + CHUNK_BYTES);
      const length = Buffer.alloc(4);
      length.writeUInt32BE(chunk.length);
      write(length);
      write(chunk);
    }
    write(Buffer.alloc(4)); // the zero-length chunk: end of stream
  });
  return "detail" in reply ? { status: "error", detail: reply.detail } : parseScanReply(reply.text);
}

/** clamd's answer to zPING is "PONG": for start-up checks and health probes. */
export async function pingClamd(settings: ClamdSettings): Promise<{ status: "ok" } | { status: "error"; detail: string }> {
  const reply = await exchange(settings, (write) => write(Buffer.from("zPING\0", "latin1")));
  if ("detail" in reply) return { status: "error", detail: reply.detail };
  return reply.text === "PONG" ? { status: "ok" } : { status: "error", detail: `clamd answered PING with ${JSON.stringify(reply.text)}` };
}

/** Reads one INSTREAM reply line. */
export function parseScanReply(text: string): ClamdResult {
  if (text === "stream: OK") return { status: "clean" };
  const found = /^stream: (.+) FOUND$/.exec(text);
  if (found) return { status: "infected", signature: found[1]! };
  // e.g. "INSTREAM size limit exceeded. ERROR", "stream: Can't allocate memory ERROR"
  return { status: "error", detail: `clamd: ${text}` };
}

type Reply = { text: string } | { detail: string };

/**
 * One command on a fresh connection: `send` writes it (queued on the socket as clamd reads), then the
 * NUL-terminated reply is read. clamd may answer and close before the stream is complete (size limit):
 * a reply that arrived wins over the write error that follows it.
 */
function exchange(settings: ClamdSettings, send: (write: (bytes: Uint8Array) => void) => void): Promise<Reply> {
  const where = `clamd ${settings.host}:${settings.port}`;
  return new Promise((resolve) => {
    const received: Buffer[] = [];
    let receivedBytes = 0;
    let settled = false;
    const socket = connect({ host: settings.host, port: settings.port });
    const finish = (reply: Reply): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(reply);
    };
    const replyText = (): string | undefined => {
      const all = Buffer.concat(received);
      const end = all.indexOf(0);
      return end >= 0 ? all.subarray(0, end).toString("latin1").trim() : undefined;
    };
    const timer = setTimeout(() => finish({ detail: `${where}: no reply within ${settings.timeoutMs} ms` }), settings.timeoutMs);
    socket.once("connect", () => send((bytes) => socket.write(bytes)));
    socket.on("data", (data) => {
      received.push(data);
      receivedBytes += data.length;
      const text = replyText();
      if (text !== undefined) finish({ text });
      else if (receivedBytes > MAX_REPLY_BYTES) finish({ detail: `${where}: reply longer than ${MAX_REPLY_BYTES} bytes` });
    });
    socket.on("error", (err) => {
      // A reset after the reply was read is clamd closing on an over-long stream: keep the reply.
      const text = replyText();
      finish(text !== undefined ? { text } : { detail: `${where}: ${err.message}` });
    });
    socket.on("close", () => {
      const partial = Buffer.concat(received).toString("latin1").trim();
      finish({ detail: `${where}: connection closed ${partial === "" ? "without a reply" : `mid-reply: ${JSON.stringify(partial)}`}` });
    });
  });
}
