// The fault suite's load: the benchmarks' load generator (bench/support/smtp-load.ts) as a child
// process, each message tagged with an id of its own (ID_HEADER) so that the checker can find it in
// the mailbox or the spool again. Loopback only, from the harness's mail.sender.test address (SPF,
// FCrDNS and HELO pass), bounded by a count and by seconds.
import { fork } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { LoadTask, MessageOutcome, PhaseResult } from "../../../bench/support/smtp-load.ts";
import { PROJECT_NODE } from "../../harness/relay-process.ts";
import { LOCAL, testMessage } from "../../harness/relay.ts";
import { TEST_DNS } from "../../harness/zones.ts";

const LOAD_GENERATOR = fileURLToPath(new URL("../../../bench/support/smtp-load.ts", import.meta.url));
/** The header field that carries each message's id. */
export const ID_HEADER = "X-Fault-Id";
export const SENDER = `alice@${TEST_DNS.sender.domain}`;
/** About 2 KiB of body: a real message's size, small enough that a short run sends hundreds. */
export const BODY = Array.from({ length: 28 }, (_, i) => `line ${i} of a fault suite message, long enough to be a real line of text.`).join("\r\n");
/** How every message of the load ends, to tell a whole message from a cut one. */
export const BODY_LAST_LINE = "line 27 of a fault suite message, long enough to be a real line of text.\r\n";

export interface LoadPlan {
  port: number;
  /** Ids are `<prefix>.<n>`: a prefix per case keeps them unique across cases. */
  prefix: string;
  /** Where the message file is written. */
  dir: string;
  sessions: number;
  /** At most this many messages… */
  maxMessages: number;
  /** …and none started after this many seconds. */
  seconds: number;
  /** Bound on any one reply; default 10 s. */
  replyTimeoutMs?: number;
  /** The envelope and the message, when not the default message from alice@sender.test to the mailbox (`{n}` in mailFrom: bench/support/smtp-load.ts). */
  mailFrom?: string;
  rcptTo?: string;
  message?: string;
  /** The client address (a loopback address); default the harness's mail.sender.test. */
  localAddress?: string;
}

/** Runs one bounded phase of load; resolves with the generator's result, every message's outcome included. */
export async function runLoad(plan: LoadPlan): Promise<PhaseResult & { messages: MessageOutcome[] }> {
  const messageFile = join(plan.dir, `${plan.prefix}.eml`);
  writeFileSync(messageFile, plan.message ?? testMessage({ from: SENDER, to: LOCAL.mailbox, subject: `fault suite ${plan.prefix}`, body: BODY }));
  const task: LoadTask = {
    host: "127.0.0.1",
    port: plan.port,
    localAddress: plan.localAddress ?? TEST_DNS.sender.authorizedIp,
    helo: TEST_DNS.sender.mailHost,
    mailFrom: plan.mailFrom ?? SENDER,
    rcptTo: plan.rcptTo ?? LOCAL.mailbox,
    messageFile,
    sessions: plan.sessions,
    perSession: 20,
    replyTimeoutMs: plan.replyTimeoutMs ?? 10_000,
    tag: { header: ID_HEADER, prefix: plan.prefix },
    maxMessages: plan.maxMessages,
  };
  const generator = fork(LOAD_GENERATOR, [JSON.stringify(task)], { execPath: PROJECT_NODE, stdio: ["ignore", "inherit", "inherit", "ipc"] });
  try {
    return await new Promise((resolve, reject) => {
      generator.on("message", (message: { ready?: boolean; result?: PhaseResult }) => {
        if (message.ready) generator.send({ run: plan.seconds });
        if (message.result) resolve({ ...message.result, messages: message.result.messages ?? [] });
      });
      generator.once("error", reject);
      generator.once("exit", (code) => reject(new Error(`the load generator exited (${code}) before its result`)));
    });
  } finally {
    if (generator.connected) generator.send({ exit: true });
  }
}
