// The load generator of the mx benchmark, run as a child process so that its CPU time is never the
// server's. Argument: JSON of a LoadTask. Over IPC the parent sends { run: seconds } for each phase
// (a warm-up, then the measured load) and gets a PhaseResult back for each; { exit: true } ends it.
//
// Each of `sessions` concurrent sessions connects from `localAddress`, waits for the greeting (a
// client that talks first is an early talker), says EHLO, and then sends up to `perSession`
// messages on the connection before QUIT and a new connection: MAIL FROM, RCPT TO and DATA in one
// write (RFC 2920 PIPELINING, when the server offers it), then the message, dot-stuffed, and the
// final dot. The message is the same pre-built buffer every time. A phase starts no transaction
// after its deadline; the ones in flight finish, and the wall time runs until the last one has.
// With `submission` (the outbound benchmark) each connection does STARTTLS, EHLO again and AUTH PLAIN
// after the first EHLO, before its messages. With `tag` (the fault suite, test/faults/) every message
// gets a header field with an id of its own on top, and the phase reports each message's outcome, so
// that a test can find every message in the mailbox again; `maxMessages` bounds a phase by count too.
import { readFileSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { connect as tlsConnect } from "node:tls";

export interface LoadTask {
  host: string;
  port: number;
  localAddress: string;
  helo: string;
  /** `{n}` in it is replaced by the message's number in the phase: a new sender per message (a new greylisting triplet). */
  mailFrom: string;
  rcptTo: string;
  /** The raw message (CRLF line ends); dot-stuffed here. */
  messageFile: string;
  sessions: number;
  perSession: number;
  /** Bound on any one reply. */
  replyTimeoutMs: number;
  /** Submission (the outbound benchmark): STARTTLS after EHLO (any certificate), EHLO again, AUTH PLAIN. */
  submission?: { user: string; password: string };
  /** Put `<header>: <prefix>.<n>` on top of each message and report each message's outcome. */
  tag?: { header: string; prefix: string };
  /** Start no more than this many transactions in a phase (all sessions together). */
  maxMessages?: number;
}

/** With `tag`: one transaction's outcome. */
export interface MessageOutcome {
  id: string;
  /** The reply that ended the transaction (the final reply, or the refusal of MAIL, RCPT or DATA); null when none came. */
  code: number | null;
  /** When that reply came (or the connection failed), ms since the epoch. */
  at: number;
  /** From the transaction's MAIL FROM write to that reply, ms. */
  ms: number;
}

export interface PhaseResult {
  /** Transactions whose final reply was 250. */
  accepted: number;
  /** Transactions refused at any step, by the reply that refused them (first line, counted). */
  refused: Record<string, number>;
  /** Connections that failed (socket error, timeout, unexpected greeting), by reason. */
  errors: Record<string, number>;
  connections: number;
  wallSeconds: number;
  /** Per accepted transaction, ms from the MAIL FROM write to the final 250. */
  p50Ms: number;
  p99Ms: number;
  /** This process's own CPU (user + system) during the phase. */
  generatorCpuSeconds: number;
  /** With `tag`: every transaction started, in the order they ended. */
  messages?: MessageOutcome[];
}

interface Reply {
  code: number;
  text: string;
}

/** Any one phase ends, whatever happens, this long after its deadline. */
const PHASE_GRACE_MS = 60_000;

const task = JSON.parse(process.argv[2] ?? "null") as LoadTask;
const payload = dotStuffed(readFileSync(task.messageFile));
const envelopeOf = (n: number): Buffer =>
  Buffer.from(`MAIL FROM:<${task.mailFrom.replace("{n}", String(n))}>\r\nRCPT TO:<${task.rcptTo}>\r\nDATA\r\n`, "latin1");
const fixedEnvelope = task.mailFrom.includes("{n}") ? undefined : envelopeOf(0);

/** RFC 5321 §4.5.2: a line starting with "." gets another; then CRLF . CRLF ends the data. */
function dotStuffed(message: Buffer): Buffer {
  let text = message.toString("latin1");
  if (!text.endsWith("\r\n")) text += "\r\n";
  text = text.replace(/(^|\r\n)\./g, "$1..");
  return Buffer.from(`${text}.\r\n`, "latin1");
}

/** One SMTP connection: replies are read line by line, a reply ends at "NNN " (or a bare "NNN"). */
class Connection {
  private readonly replies: Reply[] = [];
  private readonly waiters: { resolve: (reply: Reply) => void; reject: (err: Error) => void; timer: NodeJS.Timeout }[] = [];
  private buffer = "";
  private lines: string[] = [];
  private failure: Error | null = null;
  readonly socket: Socket;

  constructor(socket: Socket) {
    this.socket = socket;
    socket.setEncoding("latin1");
    socket.setNoDelay(true);
    socket.on("data", (chunk: string) => this.receive(chunk));
    socket.on("error", (err) => this.fail(err));
    socket.on("close", () => this.fail(new Error("connection closed by the server")));
  }

  private receive(chunk: string): void {
    this.buffer += chunk;
    let end: number;
    while ((end = this.buffer.indexOf("\r\n")) >= 0) {
      const line = this.buffer.slice(0, end);
      this.buffer = this.buffer.slice(end + 2);
      this.lines.push(line);
      if (/^\d{3}( |$)/.test(line)) {
        const reply = { code: Number(line.slice(0, 3)), text: this.lines.join("\n") };
        this.lines = [];
        const waiter = this.waiters.shift();
        if (waiter) {
          clearTimeout(waiter.timer);
          waiter.resolve(reply);
        } else {
          this.replies.push(reply);
        }
      }
    }
  }

  private fail(err: Error): void {
    if (this.failure !== null) return;
    this.failure = err;
    for (const waiter of this.waiters.splice(0)) {
      clearTimeout(waiter.timer);
      waiter.reject(err);
    }
  }

  next(): Promise<Reply> {
    const ready = this.replies.shift();
    if (ready) return Promise.resolve(ready);
    if (this.failure !== null) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const index = this.waiters.findIndex((w) => w.timer === timer);
        if (index >= 0) this.waiters.splice(index, 1);
        reject(new Error(`no reply within ${task.replyTimeoutMs} ms`));
      }, task.replyTimeoutMs);
      this.waiters.push({ resolve, reject, timer });
    });
  }

  write(data: Buffer | string): void {
    this.socket.write(data);
  }

  close(): void {
    this.socket.destroy();
  }

  /** After a 220 to STARTTLS: a Connection over TLS on this socket; this one stops listening to it. */
  upgrade(): Promise<Connection> {
    this.socket.removeAllListeners("data");
    this.socket.removeAllListeners("close");
    this.socket.on("error", () => undefined);
    return new Promise((resolve, reject) => {
      const secure = tlsConnect({ socket: this.socket, rejectUnauthorized: false });
      secure.once("secureConnect", () => resolve(new Connection(secure)));
      secure.once("error", reject);
    });
  }
}

function open(): Promise<Connection> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: task.host, port: task.port, localAddress: task.localAddress });
    const timer = setTimeout(() => socket.destroy(new Error("connect timeout")), task.replyTimeoutMs);
    socket.once("connect", () => {
      clearTimeout(timer);
      resolve(new Connection(socket));
    });
    socket.once("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

/** The reply's first line, ids and numbers that differ per message blanked, so that equal refusals count together. */
const firstLine = (reply: Reply): string =>
  reply.text
    .split("\n")[0]!
    .replace(/[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}(\.\d+)?/gi, "…")
    .replace(/\d{6,}|[0-9A-Z]{16,}|\d{5}-\d{2}/g, "…")
    .slice(0, 300);

async function runPhase(seconds: number): Promise<PhaseResult> {
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  const deadline = started + seconds * 1000;
  const hardStop = deadline + PHASE_GRACE_MS;
  const result: PhaseResult = { accepted: 0, refused: {}, errors: {}, connections: 0, wallSeconds: 0, p50Ms: 0, p99Ms: 0, generatorCpuSeconds: 0 };
  const outcomes: MessageOutcome[] = [];
  let transactions = 0;
  const more = (): boolean => performance.now() < deadline && (task.maxMessages === undefined || transactions < task.maxMessages);
  const latencies: number[] = [];
  const open_: Connection[] = [];
  const count = (into: Record<string, number>, key: string): void => void (into[key] = (into[key] ?? 0) + 1);
  const hardTimer = setTimeout(() => open_.forEach((c) => c.close()), hardStop - performance.now());

  async function session(): Promise<void> {
    /** The tagged message in flight: its id until a reply ends it. */
    let inFlight: string | undefined;
    let startedAt = 0;
    const ended = (code: number | null): void => {
      if (inFlight !== undefined) outcomes.push({ id: inFlight, code, at: Date.now(), ms: performance.now() - startedAt });
      inFlight = undefined;
    };
    // Bounded by the deadline, and by a connection count no phase can legitimately reach.
    for (let round = 0; round < 1_000_000 && more(); round++) {
      let connection: Connection | undefined;
      try {
        connection = await open();
        open_.push(connection);
        result.connections++;
        const greeting = await connection.next();
        if (greeting.code !== 220) throw new Error(`greeting: ${firstLine(greeting)}`);
        connection.write(`EHLO ${task.helo}\r\n`);
        const ehlo = await connection.next();
        if (ehlo.code !== 250) throw new Error(`EHLO: ${firstLine(ehlo)}`);
        let pipelining = /^250[- ]PIPELINING\b/im.test(ehlo.text);
        if (task.submission) {
          connection.write("STARTTLS\r\n");
          const ready = await connection.next();
          if (ready.code !== 220) throw new Error(`STARTTLS: ${firstLine(ready)}`);
          const plain = connection;
          connection = await plain.upgrade();
          open_.splice(open_.indexOf(plain), 1, connection);
          connection.write(`EHLO ${task.helo}\r\n`);
          const again = await connection.next();
          if (again.code !== 250) throw new Error(`EHLO after STARTTLS: ${firstLine(again)}`);
          pipelining = /^250[- ]PIPELINING\b/im.test(again.text);
          const credentials = Buffer.from(`\0${task.submission.user}\0${task.submission.password}`).toString("base64");
          connection.write(`AUTH PLAIN ${credentials}\r\n`);
          const auth = await connection.next();
          if (auth.code !== 235) throw new Error(`AUTH PLAIN: ${firstLine(auth)}`);
        }
        for (let i = 0; i < task.perSession && more(); i++) {
          const sent = performance.now();
          const n = transactions++;
          if (task.tag) inFlight = `${task.tag.prefix}.${n}`;
          startedAt = sent;
          const envelope = fixedEnvelope ?? envelopeOf(n);
          let replies: Reply[];
          if (pipelining) {
            connection.write(envelope);
            replies = [];
            try {
              for (let k = 0; k < 3; k++) replies.push(await connection.next());
            } catch (err) {
              // A refusal that closed the session (421) is the message's reply.
              const closing = replies.find((r) => r.code >= 400);
              if (closing !== undefined) ended(closing.code);
              throw err;
            }
          } else {
            replies = [];
            for (const command of envelope.toString("latin1").split("\r\n").slice(0, 3)) {
              connection.write(`${command}\r\n`);
              const reply = await connection.next();
              replies.push(reply);
              if (reply.code >= 400) break;
            }
          }
          const refusal = replies.find((r) => r.code >= 400);
          const data = replies[2];
          if (refusal !== undefined || data === undefined || data.code !== 354) {
            const refusedBy = refusal ?? data ?? replies[replies.length - 1]!;
            count(result.refused, firstLine(refusedBy));
            ended(refusedBy.code);
            if (data?.code === 354) {
              // A server that said 354 after a refused recipient: end the empty message.
              connection.write(".\r\n");
              await connection.next();
            }
            connection.write("RSET\r\n");
            await connection.next();
            continue;
          }
          connection.write(inFlight === undefined ? payload : Buffer.concat([Buffer.from(`${task.tag!.header}: ${inFlight}\r\n`, "latin1"), payload]));
          const final = await connection.next();
          ended(final.code);
          if (final.code === 250) {
            result.accepted++;
            latencies.push(performance.now() - sent);
          } else {
            count(result.refused, firstLine(final));
          }
        }
        connection.write("QUIT\r\n");
        await connection.next().catch(() => undefined);
      } catch (err) {
        count(result.errors, (err as Error).message);
        ended(null);
        // A session that failed stops: the phase is invalid anyway, and a failing server must not be hammered.
        return;
      } finally {
        connection?.close();
        if (connection) open_.splice(open_.indexOf(connection), 1);
      }
    }
  }

  await Promise.all(Array.from({ length: task.sessions }, () => session()));
  if (task.tag) result.messages = outcomes;
  clearTimeout(hardTimer);
  result.wallSeconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  const rank = (p: number): number => latencies[Math.min(latencies.length - 1, Math.max(0, Math.ceil((p / 100) * latencies.length) - 1))] ?? 0;
  result.p50Ms = rank(50);
  result.p99Ms = rank(99);
  const cpu = process.cpuUsage(cpuBefore);
  result.generatorCpuSeconds = (cpu.user + cpu.system) / 1e6;
  return result;
}

process.on("message", (message: { run?: number; exit?: boolean }) => {
  if (message.exit) {
    process.disconnect();
    return;
  }
  if (typeof message.run === "number") {
    void runPhase(message.run).then((result) => process.send?.({ result }));
  }
});
process.on("disconnect", () => process.exit(0));
process.send?.({ ready: true });
