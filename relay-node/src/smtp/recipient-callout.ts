// The recipient check against the mailbox host (relay.recipientCheck): a recipient verification
// callout, as Postfix's reject_unverified_recipient and Exim's `verify = recipient/callout` do. For a
// domain that lists no mailboxes, the relay asks the next hop itself during RCPT TO, in its own SMTP
// (RFC 5321) or LMTP (RFC 2033) session: the greeting, EHLO/LHLO, MAIL FROM:<> — the null reverse-path
// (RFC 5321 §4.5.5), so nothing this session causes can ever bounce — RCPT TO:<address>, then RSET and
// QUIT. It never sends DATA, so nothing is delivered.
//
// - The RCPT reply decides (RFC 5321 §4.2.1): 2yz, the mailbox exists → pass; 5yz → fail, 550 5.1.1
//   (except 503, a bad sequence of commands, which blames the session, not the address); anything else
//   — a 4yz, a refused greeting, EHLO/LHLO or MAIL, a connection that fails, a malformed or oversized
//   reply, the one overall timeout — the host could not be asked → temporary, 451.
// - Answers are cached in a bounded LRU: existing mailboxes for cacheSeconds, unknown ones for
//   negativeCacheSeconds; temporary answers never, so an outage ends with the next RCPT. Concurrent
//   verifications of one address share one session with the host. Relays sharing a Redis
//   (relay.store) also share the answers (SharedAnswers): what one relay asked, the others
//   need not ask the host again — with N relays, up to N times fewer sessions with the mailbox host for
//   one Redis round trip per answer not in this relay's memory. A Redis that does not answer is a
//   miss (the host is asked), never a refusal.
// - A Maildir next hop has no one to ask: recipientCalloutFor gives null and says so at start.
import { connect, type Socket } from "node:net";
import type { EdgemxConfig } from "../../../core/config/schema.ts";
import { buildReply } from "../../../core/smtp/replies.ts";
import type { Logger } from "../log/log.ts";
import type { Finding } from "../../../core/smtp/finding.ts";
import type { Redis } from "ioredis";
import { fastFailingRedis } from "../redis/client.ts";

/** The next hops that can be asked: LMTP and SMTP mailbox hosts. */
export type MailboxHost = Extract<EdgemxConfig["relay"]["nextHop"], { type: "lmtp" | "smtp" }>;

export interface RecipientCalloutOptions {
  /** The whole session with the host, from connect to the RCPT reply and on to QUIT, in ms. Default 10 s. */
  timeoutMs?: number;
  /** How long an existing mailbox is remembered. Default 600 s. */
  cacheSeconds?: number;
  /** How long an unknown one is remembered. Default 300 s. */
  negativeCacheSeconds?: number;
  /** The most addresses remembered; the least recently used is forgotten first. Default 10000. */
  maxCacheEntries?: number;
  /** The answers the relays share (a Redis); each relay still keeps its own LRU in front of it. */
  shared?: SharedAnswers;
}

/** Callout answers kept where several relays find them. */
export interface SharedAnswers {
  /** The answer for `address` at `host`, or undefined (absent, or the store did not answer). */
  get(host: string, address: string): Promise<CalloutAnswer | undefined>;
  set(host: string, address: string, answer: CalloutAnswer, ttlMs: number): void;
}

/**
 * Keys "edgemx:callout:<host>:<address>" holding the answer as JSON, expiring with it (SET … PX).
 * Errors are misses: the callout asks the host, as without Redis.
 */
export function redisAnswers(client: Pick<Redis, "get" | "set">): SharedAnswers {
  const key = (host: string, address: string): string => `edgemx:callout:${host}:${address.toLowerCase()}`;
  return {
    async get(host, address) {
      const text = await client.get(key(host, address)).catch(() => null);
      if (text === null) return undefined;
      try {
        const answer = JSON.parse(text) as CalloutAnswer;
        return (answer.status === "exists" || answer.status === "unknown") && typeof answer.reply === "string" ? answer : undefined;
      } catch {
        return undefined;
      }
    },
    set(host, address, answer, ttlMs) {
      client.set(key(host, address), JSON.stringify(answer), "PX", ttlMs).catch(() => undefined);
    },
  };
}

export interface RecipientCallout {
  /** Asks the mailbox host about `address`; `id` goes into a temporary reply. Never rejects. */
  verify(address: string, id: string): Promise<Finding>;
  /** Ends the sessions still open and forgets every answer. */
  close(): void;
}

/**
 * Our sessions keep the sending client waiting at RCPT; RFC 5321 §4.5.3.2.3 has it wait 5 minutes
 * for that reply, so a mailbox host on the local network that takes longer than this is as good as down.
 */
const DEFAULT_TIMEOUT_MS = 10_000;
const DEFAULT_CACHE_SECONDS = 600;
const DEFAULT_NEGATIVE_CACHE_SECONDS = 300;
const DEFAULT_MAX_CACHE_ENTRIES = 10_000;
/**
 * One reply, all its lines together, in characters. RFC 5321 §4.5.3.1.5 puts a reply line at 512
 * octets; an EHLO reply has a line per extension. Anything longer is no mailbox host worth waiting for.
 */
export const MAX_REPLY_LENGTH = 16 * 1024;

/** One reply of the peer: its code and the text of each of its lines. */
export interface PeerReply {
  code: number;
  lines: string[];
}

/**
 * RFC 5321 §4.2: Reply-line = *( Reply-code "-" [ textstring ] CRLF ) Reply-code [ SP textstring ] CRLF,
 * Reply-code = %x32-35 %x30-35 %x30-39.
 */
const REPLY_LINE = /^([2-5][0-5][0-9])(?:([- ])(.*))?$/;

/**
 * Splits what the peer sends into whole replies (RFC 5321 §4.2.1: every line but the last has a hyphen
 * after the code, all lines the same code). Bounded by MAX_REPLY_LENGTH; a bare LF ends a line too.
 */
export class ReplyReader {
  #pending = "";
  #lines: string[] = [];
  #code: number | null = null;
  #length = 0;

  /** The replies this chunk completes; throws on a malformed or oversized reply. */
  push(chunk: string): PeerReply[] {
    this.#pending += chunk;
    const tooLong = () => new Error(`a reply longer than ${MAX_REPLY_LENGTH} characters`);
    const replies: PeerReply[] = [];
    for (let end = this.#pending.indexOf("\n"); end >= 0; end = this.#pending.indexOf("\n")) {
      const line = this.#pending.slice(0, end).replace(/\r$/, "");
      this.#pending = this.#pending.slice(end + 1);
      this.#length += end + 1;
      if (this.#length > MAX_REPLY_LENGTH) throw tooLong();
      const match = REPLY_LINE.exec(line);
      if (!match) throw new Error(`not a reply line: ${JSON.stringify(line.slice(0, 80))}`);
      const code = Number(match[1]);
      if (this.#code !== null && code !== this.#code) throw new Error(`a reply whose lines have the codes ${this.#code} and ${code}`);
      this.#code = code;
      this.#lines.push(match[3] ?? "");
      if (match[2] === "-") continue;
      replies.push({ code, lines: this.#lines });
      this.#lines = [];
      this.#code = null;
      this.#length = 0;
    }
    if (this.#length + this.#pending.length > MAX_REPLY_LENGTH) throw tooLong();
    return replies;
  }
}

/** A reply as one log-friendly line: "550 5.1.1 No such user". */
function replyLine(reply: PeerReply): string {
  return `${reply.code} ${reply.lines.join(" / ")}`.trimEnd();
}

/** What the mailbox host said about one address: its RCPT reply, or why it could not be asked. */
export type CalloutAnswer = { status: "exists" | "unknown"; reply: string } | { status: "unavailable"; detail: string };

/** The RCPT reply's meaning (RFC 5321 §4.2.1): 2yz exists, 5yz (not 503) unknown, anything else: ask again later. */
export function answerOfRcptReply(reply: PeerReply): CalloutAnswer {
  if (reply.code >= 200 && reply.code < 300) return { status: "exists", reply: replyLine(reply) };
  if (reply.code >= 500 && reply.code !== 503) return { status: "unknown", reply: replyLine(reply) };
  return { status: "unavailable", detail: `RCPT TO answered ${replyLine(reply)}` };
}

/** The finding for one verification; `host` names the mailbox host (and a cached answer) for the log. */
export function findingOfAnswer(address: string, answer: CalloutAnswer, id: string, host: string): Finding {
  switch (answer.status) {
    case "exists":
      return { check: "recipient", outcome: "pass", detail: `${host} accepts <${address}>: ${answer.reply}` };
    case "unknown":
      return {
        check: "recipient",
        outcome: "fail",
        reply: buildReply("unknownRecipient", { address }),
        detail: `${host} refuses <${address}>: ${answer.reply}`,
      };
    case "unavailable":
      return {
        check: "recipient",
        outcome: "temporary",
        reply: buildReply("tempfail", { id }),
        detail: `${host} could not be asked about <${address}>: ${answer.detail}`,
      };
  }
}

/** One line-oriented session with the peer: replies in order, one overall deadline. */
class PeerSession {
  readonly #socket: Socket;
  readonly #reader = new ReplyReader();
  readonly #replies: PeerReply[] = [];
  readonly #deadline: NodeJS.Timeout;
  #waiting: { resolve: (reply: PeerReply) => void; reject: (err: Error) => void } | null = null;
  #failure: Error | null = null;

  constructor(host: MailboxHost, timeoutMs: number, onEnd: () => void) {
    this.#socket = connect({ host: host.host, port: host.port });
    this.#socket.setEncoding("utf8");
    this.#deadline = setTimeout(() => this.#fail(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    this.#socket.on("data", (chunk: string) => {
      try {
        this.#replies.push(...this.#reader.push(chunk));
      } catch (err) {
        return this.#fail(err as Error);
      }
      this.#deliver();
    });
    this.#socket.on("error", (err) => this.#fail(err));
    this.#socket.on("close", () => {
      this.#fail(new Error("the connection was closed"));
      clearTimeout(this.#deadline);
      onEnd();
    });
  }

  /** The next whole reply; rejects once the session failed (error, close, deadline, bad reply). */
  reply(): Promise<PeerReply> {
    return new Promise((resolve, reject) => {
      this.#waiting = { resolve, reject };
      this.#deliver();
    });
  }

  /** Sends one command line (RFC 5321 §2.3.8: ends in CRLF) and reads its reply. */
  command(line: string): Promise<PeerReply> {
    this.#socket.write(`${line}\r\n`);
    return this.reply();
  }

  /** Ends the session at once. */
  destroy(): void {
    this.#socket.destroy();
  }

  #deliver(): void {
    const waiting = this.#waiting;
    if (waiting === null) return;
    const reply = this.#replies.shift();
    if (reply !== undefined) {
      this.#waiting = null;
      waiting.resolve(reply);
    } else if (this.#failure !== null) {
      this.#waiting = null;
      waiting.reject(this.#failure);
    }
  }

  #fail(err: Error): void {
    this.#failure ??= err;
    this.#socket.destroy();
    this.#deliver();
  }
}

/** RFC 6531 §3.4: an address with non-ASCII characters needs the SMTPUTF8 parameter on MAIL. */
function needsSmtputf8(address: string): boolean {
  return /\P{ASCII}/u.test(address);
}

/** Whether an EHLO/LHLO reply lists the extension keyword (RFC 5321 §4.1.1.1: one per line after the first). */
function offers(hello: PeerReply, keyword: string): boolean {
  return hello.lines.slice(1).some((line) => line.split(" ")[0]!.toUpperCase() === keyword);
}

/** One session with the mailbox host, up to the RCPT reply; RSET and QUIT follow without being waited for. */
async function askMailboxHost(session: PeerSession, host: MailboxHost, hostname: string, address: string): Promise<CalloutAnswer> {
  const refused = (what: string, reply: PeerReply): CalloutAnswer => ({ status: "unavailable", detail: `${what} answered ${replyLine(reply)}` });
  try {
    // RFC 5321 §4.3.1 (and RFC 2033 §4): the session opens with 220; 554 means no service.
    const greeting = await session.reply();
    if (greeting.code !== 220) return refused("the greeting", greeting);
    // RFC 2033 §4.1: LMTP greets with LHLO; RFC 5321 §4.1.1.1: SMTP with EHLO.
    const hello = await session.command(`${host.type === "lmtp" ? "LHLO" : "EHLO"} ${hostname}`);
    if (hello.code !== 250) return refused(host.type === "lmtp" ? "LHLO" : "EHLO", hello);
    const smtputf8 = needsSmtputf8(address) && offers(hello, "SMTPUTF8") ? " SMTPUTF8" : "";
    const mail = await session.command(`MAIL FROM:<>${smtputf8}`);
    if (mail.code !== 250) return refused("MAIL FROM:<>", mail);
    const answer = answerOfRcptReply(await session.command(`RCPT TO:<${address}>`));
    // RFC 5321 §4.1.1.5 and §4.1.1.10: end the transaction and the session; the deadline bounds them,
    // and a host that hangs up first changes nothing: the answer is in.
    void session
      .command("RSET")
      .then(() => session.command("QUIT"))
      .catch(() => {})
      .finally(() => session.destroy());
    return answer;
  } catch (err) {
    session.destroy();
    return { status: "unavailable", detail: (err as Error).message };
  }
}

type KnownAnswer = Extract<CalloutAnswer, { status: "exists" | "unknown" }>;

/** The answers of the host by address, each until it expires, least recently used first. */
class AnswerCache {
  readonly #entries = new Map<string, { answer: KnownAnswer; expiresAt: number }>();
  readonly #maxEntries: number;

  constructor(maxEntries: number) {
    this.#maxEntries = maxEntries;
  }

  get(address: string, now: number): KnownAnswer | undefined {
    const entry = this.#entries.get(address);
    if (entry === undefined) return undefined;
    this.#entries.delete(address);
    if (entry.expiresAt <= now) return undefined;
    this.#entries.set(address, entry);
    return entry.answer;
  }

  set(address: string, answer: KnownAnswer, expiresAt: number): void {
    this.#entries.delete(address);
    this.#entries.set(address, { answer, expiresAt });
    for (const oldest of this.#entries.keys()) {
      if (this.#entries.size <= this.#maxEntries) break;
      this.#entries.delete(oldest);
    }
  }

  clear(): void {
    this.#entries.clear();
  }
}

function positive(name: string, value: number, integer: boolean): number {
  if (!(value > 0) || !Number.isFinite(value) || (integer && !Number.isInteger(value)))
    throw new RangeError(`${name} must be a positive ${integer ? "integer" : "number"}, not ${value}`);
  return value;
}

export function createRecipientCallout(host: MailboxHost, hostname: string, options: RecipientCalloutOptions = {}): RecipientCallout {
  const timeoutMs = positive("timeoutMs", options.timeoutMs ?? DEFAULT_TIMEOUT_MS, false);
  const ttlMs = {
    exists: positive("cacheSeconds", options.cacheSeconds ?? DEFAULT_CACHE_SECONDS, false) * 1000,
    unknown: positive("negativeCacheSeconds", options.negativeCacheSeconds ?? DEFAULT_NEGATIVE_CACHE_SECONDS, false) * 1000,
  };
  const cache = new AnswerCache(positive("maxCacheEntries", options.maxCacheEntries ?? DEFAULT_MAX_CACHE_ENTRIES, true));
  const inFlight = new Map<string, Promise<CalloutAnswer>>();
  const sessions = new Set<PeerSession>();
  const where = `${host.type.toUpperCase()} host ${host.host} port ${host.port}`;
  const hostKey = `${host.host}:${host.port}`;

  const ask = (address: string): Promise<CalloutAnswer> => {
    const session: PeerSession = new PeerSession(host, timeoutMs, () => sessions.delete(session));
    sessions.add(session);
    return askMailboxHost(session, host, hostname, address);
  };

  return {
    async verify(address, id) {
      // RFC 5321 §4.1.2: no Mailbox holds CR, LF or NUL; sent, one would smuggle commands into the
      // session (§2.3.8: a command line ends in CRLF). The host is not asked.
      if (/[\r\n\0]/.test(address)) {
        return {
          check: "recipient",
          outcome: "fail",
          reply: buildReply("unknownRecipient", { address }),
          detail: "not an RFC 5321 §4.1.2 Mailbox: a control character",
        };
      }
      const cached = cache.get(address, Date.now());
      if (cached !== undefined) return findingOfAnswer(address, cached, id, `${where} (cached)`);
      const sharedAnswer = await options.shared?.get(hostKey, address);
      if (sharedAnswer !== undefined && sharedAnswer.status !== "unavailable") {
        cache.set(address, sharedAnswer, Date.now() + ttlMs[sharedAnswer.status]);
        return findingOfAnswer(address, sharedAnswer, id, `${where} (cached by the relays)`);
      }
      let pending = inFlight.get(address);
      if (pending === undefined) {
        pending = ask(address)
          .then((answer) => {
            if (answer.status !== "unavailable") {
              cache.set(address, answer, Date.now() + ttlMs[answer.status]);
              options.shared?.set(hostKey, address, answer, ttlMs[answer.status]);
            }
            return answer;
          })
          .finally(() => inFlight.delete(address));
        inFlight.set(address, pending);
      }
      return findingOfAnswer(address, await pending, id, where);
    },
    close() {
      for (const session of sessions) session.destroy();
      cache.clear();
    },
  };
}

/**
 * The callout relay.recipientCheck asks for, or null: when it is off, and for a Maildir next hop,
 * which has no mailbox host to ask (said once, at start).
 */
export function recipientCalloutFor(config: EdgemxConfig, logger: Logger): RecipientCallout | null {
  if (!config.relay.recipientCheck) return null;
  const nextHop = config.relay.nextHop;
  if (nextHop.type === "maildir") {
    logger.warn({ event: "recipient-check" }, "relay.recipientCheck is ignored: a Maildir next hop has no mailbox host to ask");
    return null;
  }
  const store = config.relay.store;
  if (store.type !== "redis") return createRecipientCallout(nextHop, config.hostname);
  const client = fastFailingRedis(store.url);
  const callout = createRecipientCallout(nextHop, config.hostname, { shared: redisAnswers(client) });
  return {
    verify: (address, id) => callout.verify(address, id),
    close() {
      callout.close();
      client.disconnect();
    },
  };
}
