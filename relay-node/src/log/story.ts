// A session's story, read back from the relay's log (log.ts's lines): what `npm run why` prints
// (cli/why.ts). A key picks the sessions: a tracking id (12345-67, from a reply or the postmaster page),
// a session id, a queue id (from a 250 reply or a Received field), a client address or an e-mail
// address (what an id-less refusal names: the client host [ip], <address>). The story of a session is
// every line it wrote, in order — its refusals, its messages, its close — and the delivery lines of the
// messages it queued (their DSNs too).
//
// One pass over the log, in bounded memory, so that it reads a file of any size or a pipe: the lines
// of recent sessions are held (at most HELD_LINES) until one of them matches or they fall out, and at
// most MAX_STORIES stories are kept, the latest ones.

/** Lines held for sessions not matched yet; the lines of a session that fell out are not told. */
const HELD_LINES = 20_000;
/** Lines told per story; a session that wrote more has the rest counted. */
const LINES_PER_STORY = 500;
export const MAX_STORIES = 10;
/** A log line longer than this is not one of ours. */
export const MAX_LINE_CHARS = 256 * 1024;

export type LogLine = Record<string, unknown>;

export interface Story {
  /** The session id; null for lines of no session (a delivery of a message whose session is not in the log). */
  session: string | null;
  lines: LogLine[];
  /** Lines past LINES_PER_STORY, not kept. */
  untold: number;
}

const TRACKING_ID = /^\d{5}-\d{2}$/;

function text(value: unknown): string | null {
  return typeof value === "string" ? value : null;
}

/** Whether a line is about `key`. */
function mentions(line: LogLine, key: string): boolean {
  if (TRACKING_ID.test(key)) return line.id === key;
  if (line.session === key || line.queueId === key || line.dsnId === key || line.clientIp === key || line.id === key) return true;
  if (!key.includes("@")) return false;
  const address = key.toLowerCase();
  const same = (value: unknown): boolean => typeof value === "string" && value.toLowerCase() === address;
  return same(line.mailFrom) || same(line.rcpt) || same(line.user) || (Array.isArray(line.rcptTo) && line.rcptTo.some(same));
}

export class StoryCollector {
  readonly #key: string;
  /** Lines of sessions not matched (yet), by session, oldest session first. */
  readonly #held = new Map<string, LogLine[]>();
  #heldLines = 0;
  readonly #stories = new Map<string, Story>();
  /** Stories by the queue ids and tracking ids their messages got: delivery and outage lines have no session. */
  readonly #byQueueId = new Map<string, Story>();
  readonly #byTrackingId = new Map<string, Story>();
  #sessionless = 0;
  #dropped = 0;

  constructor(key: string) {
    this.#key = key;
  }

  /** One line of the log; lines that are not JSON objects are passed over. */
  add(raw: string): void {
    if (raw.length > MAX_LINE_CHARS || !raw.startsWith("{")) return;
    let line: unknown;
    try {
      line = JSON.parse(raw);
    } catch {
      return;
    }
    if (typeof line !== "object" || line === null || Array.isArray(line)) return;
    this.#addLine(line as LogLine);
  }

  #addLine(line: LogLine): void {
    const session = text(line.session);
    const follows = this.#following(line);
    if (session === null) {
      if (follows !== undefined) return this.#tell(follows, line);
      if (mentions(line, this.#key)) this.#tell(this.#open(`#${++this.#sessionless}`, null, []), line);
      return;
    }
    const story = this.#stories.get(session) ?? follows;
    if (story !== undefined) return this.#tell(story, line);
    const held = this.#held.get(session) ?? [];
    if (mentions(line, this.#key)) {
      this.#release(session);
      return this.#tell(this.#open(session, session, held), line);
    }
    if (!this.#held.has(session)) this.#held.set(session, held);
    held.push(line);
    this.#heldLines++;
    this.#evictHeld();
  }

  /** The story a session-less line continues: a delivery of a queued message, a DSN, an outage of a message. */
  #following(line: LogLine): Story | undefined {
    const queueId = text(line.queueId);
    const id = text(line.id);
    return (queueId === null ? undefined : this.#byQueueId.get(queueId)) ?? (id === null ? undefined : this.#byTrackingId.get(id));
  }

  #open(name: string, session: string | null, lines: LogLine[]): Story {
    const story: Story = { session, lines: [], untold: 0 };
    this.#stories.set(name, story);
    for (const line of lines) this.#tell(story, line);
    // The latest stories are kept: the oldest goes.
    if (this.#stories.size > MAX_STORIES) {
      const [oldest] = this.#stories.keys();
      if (oldest !== undefined) this.#forget(oldest);
    }
    return story;
  }

  #tell(story: Story, line: LogLine): void {
    if (story.lines.length >= LINES_PER_STORY) story.untold++;
    else story.lines.push(line);
    const queueId = text(line.queueId);
    const dsnId = text(line.dsnId);
    const id = text(line.id);
    if (queueId !== null) this.#byQueueId.set(queueId, story);
    if (dsnId !== null) this.#byQueueId.set(dsnId, story);
    if (id !== null) this.#byTrackingId.set(id, story);
  }

  #forget(name: string): void {
    const story = this.#stories.get(name);
    this.#stories.delete(name);
    this.#dropped++;
    for (const index of [this.#byQueueId, this.#byTrackingId]) for (const [key, value] of index) if (value === story) index.delete(key);
  }

  #release(session: string): void {
    this.#heldLines -= this.#held.get(session)?.length ?? 0;
    this.#held.delete(session);
  }

  #evictHeld(): void {
    while (this.#heldLines > HELD_LINES) {
      const [oldest] = this.#held.keys();
      if (oldest === undefined) return;
      this.#release(oldest);
    }
  }

  /** The stories found, oldest first, and how many earlier ones were not kept. */
  result(): { stories: Story[]; dropped: number } {
    return { stories: [...this.#stories.values()], dropped: this.#dropped };
  }
}

// ---------------------------------------------------------------------------------------------------
// Telling a story

/** A field of a log line as text: strings as they are, anything else as JSON. */
function shown(value: unknown): string {
  if (typeof value === "string") return value;
  if (typeof value === "number" || typeof value === "boolean") return `${value}`;
  return JSON.stringify(value) ?? "";
}

interface Check {
  check: string;
  outcome: string;
  detail?: string;
}

function checks(value: unknown): string {
  if (!Array.isArray(value)) return "";
  return (value as Check[]).map((c) => `${c.check} ${c.outcome}${c.detail ? ` (${c.detail})` : ""}`).join(", ");
}

/** The relay.allow entries a line names, as a line of the story; none when it names none. */
function allowlisted(value: unknown): string[] {
  return Array.isArray(value) && value.length > 0 ? [`allowlisted: ${value.map(shown).join(", ")}`] : [];
}

function addresses(value: unknown): string {
  return Array.isArray(value) ? value.map((a) => `<${shown(a)}>`).join(" ") : "";
}

function stageName(stage: string): string {
  switch (stage) {
    case "connect":
      return "connect";
    case "helo":
      return "HELO/EHLO";
    case "mail":
      return "MAIL FROM";
    case "rcpt":
      return "RCPT TO";
    default:
      return stage.toUpperCase();
  }
}

/** The story's lines as text, one entry each; the session's opening first (its close line knows it). */
function entries(story: Story): { time: string; text: string }[] {
  const told: { time: string; text: string }[] = [];
  const close = story.lines.find((l) => l.event === "session");
  if (close !== undefined) {
    const closedAt = Date.parse(shown(close.time));
    const duration = typeof close.durationMs === "number" ? close.durationMs : 0;
    const tls = close.tls as { version?: string; cipher?: string } | null;
    told.push({
      time: Number.isNaN(closedAt) ? "" : new Date(closedAt - duration).toISOString(),
      text: [
        `connect from ${shown(close.clientIp)}${close.verifiedName ? ` (${shown(close.verifiedName)})` : " (no confirmed name)"}`,
        `HELO ${close.helo ? shown(close.helo) : "(none)"}${tls?.version ? `, ${tls.version}` : ", no TLS"}`,
        ...(checks(close.checks) ? [`connect and HELO checks: ${checks(close.checks)}`] : []),
      ].join("\n"),
    });
  }
  for (const line of story.lines) {
    const time = shown(line.time ?? "");
    switch (line.event) {
      case "session":
        told.push({
          time,
          text: `closed: ${shown(line.messages)} message(s) accepted, ${shown(line.refusals ?? "?")} command(s) refused, ${shown(line.durationMs)} ms`,
        });
        break;
      case "refusal": {
        const stage = shown(line.stage);
        const address = stage === "rcpt" ? line.rcpt : stage === "mail" ? line.mailFrom : undefined;
        const argument = typeof address === "string" ? ` <${address}>` : "";
        const id = line.id ? `, id ${shown(line.id)}` : "";
        told.push({
          time,
          text: [`${stageName(stage)}${argument} refused (check ${shown(line.check)}${id}): ${shown(line.reply)}`, ...allowlisted(line.allowlist)].join("\n"),
        });
        break;
      }
      case "message":
        told.push({
          time,
          text: [
            `message ${shown(line.id)} from <${shown(line.mailFrom)}> to ${addresses(line.rcptTo)}, ${shown(line.sizeBytes)} bytes: ${shown(line.reply)}`,
            ...allowlisted(line.allowlist),
            `checks: ${checks(line.checks) || "none"}`,
            `virus scan: ${shown(line.scan)}; spam: ${shown(line.spam)}`,
          ].join("\n"),
        });
        break;
      default:
        told.push({ time, text: describeOther(line) });
    }
  }
  return told;
}

/** Delivery lines and the relay's other lines, in their own words. */
function describeOther(line: LogLine): string {
  const msg = shown(line.msg ?? "");
  if (msg === "delivery attempt" && Array.isArray(line.results)) {
    const results = (line.results as { rcpt: string; status: string; reply: string }[]).map((r) => `<${r.rcpt}> ${r.status}: ${r.reply}`);
    return [`delivery attempt ${shown(line.attempt)} of ${shown(line.queueId)}${line.done ? " (done)" : ""}`, ...results].join("\n");
  }
  if (line.dsnId !== undefined) return `${msg} for ${shown(line.queueId)}${line.dsnId ? `: ${shown(line.dsnId)}` : ""}`;
  const { time: _time, level: _level, service: _service, msg: _msg, event, session: _session, ...rest } = line;
  return `${event ? `${shown(event)}: ` : ""}${msg}${Object.keys(rest).length > 0 ? ` ${JSON.stringify(rest)}` : ""}`;
}

export function renderStory(story: Story): string {
  const told = entries(story);
  const width = Math.max(0, ...told.map((e) => e.time.length));
  const body = told.map(({ time, text: t }) => {
    const [first, ...more] = t.split("\n");
    return [`  ${time.padEnd(width)}  ${first ?? ""}`, ...more.map((m) => `  ${" ".repeat(width)}    ${m}`)].join("\n");
  });
  const head = story.session === null ? "lines of no session" : `session ${story.session}`;
  const listener = story.lines.find((l) => typeof l.listener === "string")?.listener;
  return [
    `${head}${typeof listener === "string" ? ` (${listener})` : ""}`,
    ...body,
    ...(story.untold > 0 ? [`  … and ${story.untold} more line(s) not shown`] : []),
  ].join("\n");
}
