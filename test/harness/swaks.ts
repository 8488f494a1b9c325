// swaks (Debian's "Swiss Army Knife for SMTP") as a test client: a real MTA-like client in its own
// process, whose transcript tells which command got which reply.
//
// swaks writes what it sent as " -> line" (" ~> " inside TLS) and each reply line as "<-  line"
// ("<~  " inside TLS; "<** " and "<~* " for a refusal); "=== TLS started with cipher
// TLSv1.3:TLS_AES_256_GCM_SHA384:256" reports the handshake.
import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";

/** One reply and the command it answered ("" for the greeting; "." for the end of DATA). */
export interface SwaksExchange {
  command: string;
  reply: string;
}

export interface SwaksRun {
  /** swaks's exit status: 0 when the message was accepted. */
  status: number | null;
  exchanges: SwaksExchange[];
  /** The negotiated TLS, when STARTTLS succeeded. */
  tls: { version: string; cipher: string } | null;
  /** What swaks printed, for failure messages. */
  transcript: string;
}

const SENT = /^ [-~]> (.*)$/;
const RECEIVED = /^<(?:- |\*\*|~ |~\*) (.*)$/;
const TLS_STARTED = /^=== TLS started with cipher ([^:]+):([^:]+):/;
/** The last line of a reply has a space (or nothing) after its code (RFC 5321 §4.2.1). */
const LAST_LINE = /^\d{3}(?: |$)/;

export function parseSwaksTranscript(transcript: string): Pick<SwaksRun, "exchanges" | "tls"> {
  const exchanges: SwaksExchange[] = [];
  let tls: SwaksRun["tls"] = null;
  let command = "";
  let lines: string[] = [];
  for (const line of transcript.split("\n")) {
    const sent = SENT.exec(line);
    if (sent) command = sent[1]!;
    const received = RECEIVED.exec(line);
    if (received) {
      lines.push(received[1]!);
      if (LAST_LINE.test(received[1]!)) {
        exchanges.push({ command, reply: lines.join("\n") });
        lines = [];
      }
    }
    const handshake = TLS_STARTED.exec(line);
    if (handshake) tls = { version: handshake[1]!, cipher: handshake[2]! };
  }
  return { exchanges, tls };
}

/** Runs swaks with `args` (never blocking the event loop: the relay under test may run in this process). */
export function runSwaks(args: readonly string[]): Promise<SwaksRun> {
  return new Promise((resolve, reject) => {
    const child = spawn("swaks", args, { stdio: ["ignore", "pipe", "pipe"] });
    const output: Buffer[] = [];
    child.stdout.on("data", (chunk: Buffer) => output.push(chunk));
    child.stderr.on("data", (chunk: Buffer) => output.push(chunk));
    child.once("error", reject);
    child.once("close", (status) => {
      // Replies may carry UTF-8 (the en dash of "… – INFECTED"): decoded once, whole.
      const transcript = Buffer.concat(output).toString("utf8");
      resolve({ status, transcript, ...parseSwaksTranscript(transcript) });
    });
  });
}

/**
 * Writes a message for `swaks --data @file`, UTF-8 encoded (as nodemailer sends a string). swaks
 * dot-stuffs the data and ends it with CRLF "." CRLF itself, so a message's final CRLF is left out of
 * the file (else the message would gain an empty line). swaks also replaces "\n" written as two
 * characters and %TOKEN% words: test messages hold none.
 */
export function writeSwaksData(path: string, raw: string): void {
  if (/\\n|%[A-Z_]+%/.test(raw)) throw new Error("swaks would rewrite this message: it holds a \\n or a %TOKEN%");
  writeFileSync(path, raw.endsWith("\r\n") ? raw.slice(0, -2) : raw, "utf8");
}
