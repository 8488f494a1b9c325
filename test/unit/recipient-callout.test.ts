// The recipient callout against real peers on loopback: npm smtp-server as the mailbox host, in SMTP
// and in LMTP mode, knowing some users, refusing others 550 5.1.1 and answering 451 for one; a host
// that never says a word; a closed port; a host that sends a reply without end. What the peer saw is
// counted: connections, the commands of each session, and never a DATA.
import { createServer, type Socket } from "node:net";
import { SMTPServer, type SMTPServerSession } from "smtp-server";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import {
  MAX_REPLY_LENGTH,
  ReplyReader,
  createRecipientCallout,
  recipientCalloutFor,
  type CalloutAnswer,
  type MailboxHost,
  type RecipientCallout,
  type SharedAnswers,
} from "../../relay-node/src/smtp/recipient-callout.ts";
import { mailboxHostDecides } from "../../core/smtp/recipient.ts";
import { createLogger } from "../../relay-node/src/log/log.ts";
import { parseConfig } from "../../core/config/load.ts";
import { freePort } from "../harness/process.ts";

const HOSTNAME = "mx.example.org";
const KNOWN = ["alice@example.org", "bob@example.org"];
const UNKNOWN = "nobody@example.org";
const BUSY = "busy@example.org";

/** What one session with the peer looked like. */
interface PeerSession {
  opening: string;
  hello: string;
  mailFrom: string | null;
  rcptTo: string[];
}

interface Peer {
  host: MailboxHost;
  connections: number;
  sessions: PeerSession[];
  data: number;
  close(): Promise<void>;
}

/** The mailbox host: knows KNOWN, answers 451 for BUSY and 550 5.1.1 for anyone else; `rcptDelayMs` slows RCPT. */
async function startPeer(lmtp: boolean, options: { rcptDelayMs?: number; port?: number } = {}): Promise<Peer> {
  const byId = new Map<string, PeerSession>();
  const peer: Omit<Peer, "host" | "close"> = { connections: 0, sessions: [], data: 0 };
  const sessionOf = (session: SMTPServerSession): PeerSession => {
    let seen = byId.get(session.id);
    if (!seen) {
      seen = { opening: session.openingCommand, hello: session.hostNameAppearsAs, mailFrom: null, rcptTo: [] };
      byId.set(session.id, seen);
      peer.sessions.push(seen);
    }
    return seen;
  };
  const server = new SMTPServer({
    lmtp,
    disabledCommands: ["AUTH", "STARTTLS"],
    logger: false,
    onConnect(_session, callback) {
      peer.connections++;
      callback();
    },
    onMailFrom(address, session, callback) {
      sessionOf(session).mailFrom = address.address;
      callback();
    },
    onRcptTo(address, session, callback) {
      sessionOf(session).rcptTo.push(address.address);
      const answer = (): void => {
        if (KNOWN.includes(address.address)) return callback();
        if (address.address === BUSY) return callback(Object.assign(new Error("4.2.1 Mailbox busy, try again later"), { responseCode: 451 }));
        callback(Object.assign(new Error("5.1.1 No such user"), { responseCode: 550 }));
      };
      setTimeout(answer, options.rcptDelayMs ?? 0);
    },
    onData(stream, _session, callback) {
      peer.data++;
      stream.resume();
      stream.on("end", () => callback());
    },
  });
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, "127.0.0.1", resolve));
  const port = (server.server.address() as { port: number }).port;
  return Object.assign(peer, {
    host: { type: lmtp ? "lmtp" : "smtp", host: "127.0.0.1", port } satisfies MailboxHost,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  });
}

/** A raw TCP peer: `onSocket` decides what (if anything) it says. */
async function startRawPeer(onSocket: (socket: Socket) => void): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on("error", () => socket.destroy());
    socket.on("close", () => sockets.delete(socket));
    onSocket(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as { port: number }).port,
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

const callouts: RecipientCallout[] = [];
function callout(host: MailboxHost, options: Parameters<typeof createRecipientCallout>[2] = {}): RecipientCallout {
  const created = createRecipientCallout(host, HOSTNAME, options);
  callouts.push(created);
  return created;
}

afterEach(() => {
  for (const created of callouts.splice(0)) created.close();
  vi.useRealTimers();
});

describe.each([
  { mode: "SMTP", lmtp: false, hello: "EHLO" },
  { mode: "LMTP", lmtp: true, hello: "LHLO" },
])("against an $mode mailbox host", ({ lmtp, hello }) => {
  let peer: Peer;
  beforeAll(async () => {
    peer = await startPeer(lmtp);
  });
  afterAll(() => peer.close());

  it(`asks with ${hello} <hostname>, MAIL FROM:<> and RCPT TO, never DATA: a known user passes`, async () => {
    const before = peer.sessions.length;
    const finding = await callout(peer.host).verify(KNOWN[0]!, "12345-67");
    expect(finding).toMatchObject({ check: "recipient", outcome: "pass" });
    expect(finding.detail).toMatch(new RegExp(`^${lmtp ? "LMTP" : "SMTP"} host 127\\.0\\.0\\.1 port \\d+ accepts <alice@example\\.org>: 250 `));
    expect(peer.sessions.slice(before)).toEqual([{ opening: hello, hello: HOSTNAME, mailFrom: "", rcptTo: [KNOWN[0]] }]);
    expect(peer.data).toBe(0);
  });

  it("refuses an unknown user with the relay's 550 5.1.1, the host's reply in the detail", async () => {
    const finding = await callout(peer.host).verify(UNKNOWN, "12345-67");
    expect(finding).toMatchObject({
      check: "recipient",
      outcome: "fail",
      reply: { code: 550, enhanced: "5.1.1", text: `<${UNKNOWN}>: Recipient address rejected: User unknown in local recipient table` },
    });
    expect(finding.detail).toContain("refuses <nobody@example.org>: 550 5.1.1 No such user");
  });

  it("a 4xx to RCPT is temporary: 451 4.3.0 with the given id", async () => {
    const finding = await callout(peer.host).verify(BUSY, "12345-67");
    expect(finding).toMatchObject({
      check: "recipient",
      outcome: "temporary",
      reply: { code: 451, enhanced: "4.3.0", text: "Temporary local problem, id=12345-67, please try again later" },
    });
    expect(finding.detail).toContain("RCPT TO answered 451 4.2.1 Mailbox busy");
  });
});

describe("the dialogue, line by line", () => {
  it("greeting, EHLO, MAIL FROM:<>, RCPT TO, then RSET and QUIT after the answer; SMTPUTF8 only when needed and offered", async () => {
    const sessions: string[][] = [];
    const closed: Promise<void>[] = [];
    const scripted = await startRawPeer((socket) => {
      const commands: string[] = [];
      sessions.push(commands);
      closed.push(new Promise((resolve) => socket.on("close", () => resolve())));
      socket.setEncoding("utf8");
      socket.write("220 mailbox.example.org ESMTP\r\n");
      let pending = "";
      socket.on("data", (chunk: string) => {
        pending += chunk;
        for (let end = pending.indexOf("\r\n"); end >= 0; end = pending.indexOf("\r\n")) {
          const line = pending.slice(0, end);
          pending = pending.slice(end + 2);
          commands.push(line);
          if (line.startsWith("EHLO")) socket.write("250-mailbox.example.org\r\n250-PIPELINING\r\n250 SMTPUTF8\r\n");
          else if (line === "QUIT") socket.end("221 2.0.0 Bye\r\n");
          else socket.write("250 2.0.0 Ok\r\n");
        }
      });
    });
    try {
      const verifier = callout({ type: "smtp", host: "127.0.0.1", port: scripted.port });
      expect((await verifier.verify("alice@example.org", "1")).outcome).toBe("pass");
      expect((await verifier.verify("jörg@example.org", "1")).outcome).toBe("pass");
      await Promise.all(closed);
      expect(sessions).toEqual([
        [`EHLO ${HOSTNAME}`, "MAIL FROM:<>", "RCPT TO:<alice@example.org>", "RSET", "QUIT"],
        [`EHLO ${HOSTNAME}`, "MAIL FROM:<> SMTPUTF8", "RCPT TO:<jörg@example.org>", "RSET", "QUIT"],
      ]);
    } finally {
      await scripted.close();
    }
  });
});

describe("the cache", () => {
  let peer: Peer;
  beforeAll(async () => {
    peer = await startPeer(true);
  });
  afterAll(() => peer.close());

  it("answers a second verification of a known or an unknown user without connecting", async () => {
    const verifier = callout(peer.host);
    const before = peer.connections;
    await verifier.verify(KNOWN[0]!, "1");
    await verifier.verify(UNKNOWN, "1");
    expect(peer.connections - before).toBe(2);
    const known = await verifier.verify(KNOWN[0]!, "2");
    const unknown = await verifier.verify(UNKNOWN, "2");
    expect(peer.connections - before).toBe(2);
    // eslint-disable-next-line @typescript-eslint/no-unsafe-assignment -- vitest types its asymmetric matchers (expect.stringContaining, …) as any
    expect(known).toMatchObject({ outcome: "pass", detail: expect.stringContaining("(cached) accepts") });
    // eslint-disable-next-line @typescript-eslint/no-unsafe-assignment -- vitest types its asymmetric matchers (expect.stringContaining, …) as any
    expect(unknown).toMatchObject({ outcome: "fail", reply: { code: 550, enhanced: "5.1.1" }, detail: expect.stringContaining("(cached) refuses") });
  });

  it("shares answers with other relays: a relay finding one in the shared store does not ask the host", async () => {
    const kept = new Map<string, { answer: CalloutAnswer; ttlMs: number }>();
    const shared: SharedAnswers = {
      get: (host, address) => Promise.resolve(kept.get(`${host} ${address}`)?.answer),
      set: (host, address, answer, ttlMs) => void kept.set(`${host} ${address}`, { answer, ttlMs }),
    };
    const [one, two] = [callout(peer.host, { shared }), callout(peer.host, { shared })];
    const before = peer.connections;
    await one.verify(KNOWN[1]!, "1");
    await one.verify(UNKNOWN, "1");
    expect(peer.connections - before).toBe(2);
    expect([...kept.values()].map((entry) => [entry.answer.status, entry.ttlMs])).toEqual([
      ["exists", 600_000],
      ["unknown", 300_000],
    ]);
    const known = await two.verify(KNOWN[1]!, "2");
    const unknown = await two.verify(UNKNOWN, "2");
    expect(peer.connections - before).toBe(2);
    // eslint-disable-next-line @typescript-eslint/no-unsafe-assignment -- vitest types its asymmetric matchers (expect.stringContaining, …) as any
    expect(known).toMatchObject({ outcome: "pass", detail: expect.stringContaining("(cached by the relays) accepts") });
    expect(unknown).toMatchObject({ outcome: "fail", reply: { code: 550, enhanced: "5.1.1" } });
  });

  it("never keeps a temporary answer", async () => {
    const verifier = callout(peer.host);
    const before = peer.connections;
    expect((await verifier.verify(BUSY, "1")).outcome).toBe("temporary");
    expect((await verifier.verify(BUSY, "2")).outcome).toBe("temporary");
    expect(peer.connections - before).toBe(2);
  });

  it("keeps an existing mailbox for cacheSeconds and an unknown one for negativeCacheSeconds", async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    const verifier = callout(peer.host, { cacheSeconds: 600, negativeCacheSeconds: 300 });
    const before = peer.connections;
    await verifier.verify(KNOWN[0]!, "1");
    await verifier.verify(UNKNOWN, "1");
    vi.setSystemTime(Date.now() + 299_000);
    await verifier.verify(KNOWN[0]!, "2");
    await verifier.verify(UNKNOWN, "2");
    expect(peer.connections - before).toBe(2);
    vi.setSystemTime(Date.now() + 2_000); // 301 s: the unknown one is asked again, the known one is not
    await verifier.verify(KNOWN[0]!, "3");
    await verifier.verify(UNKNOWN, "3");
    expect(peer.connections - before).toBe(3);
    vi.setSystemTime(Date.now() + 300_000); // 601 s after the first: now the known one too
    await verifier.verify(KNOWN[0]!, "4");
    expect(peer.connections - before).toBe(4);
  });

  it("is bounded: past maxCacheEntries the least recently used address is forgotten", async () => {
    const verifier = callout(peer.host, { maxCacheEntries: 2 });
    const before = peer.connections;
    await verifier.verify(KNOWN[0]!, "1");
    await verifier.verify(KNOWN[1]!, "1");
    await verifier.verify(KNOWN[0]!, "1"); // a hit: alice is now the most recently used
    await verifier.verify(UNKNOWN, "1"); // a third entry: bob goes
    expect(peer.connections - before).toBe(3);
    await verifier.verify(KNOWN[0]!, "2");
    expect(peer.connections - before).toBe(3);
    await verifier.verify(KNOWN[1]!, "2");
    expect(peer.connections - before).toBe(4);
  });

  it("lets concurrent verifications of one address share one session, each with its own id", async () => {
    const slowPeer = await startPeer(true, { rcptDelayMs: 100 });
    try {
      const verifier = callout(slowPeer.host);
      const known = await Promise.all([1, 2, 3].map((n) => verifier.verify(KNOWN[0]!, `${n}`)));
      const busy = await Promise.all([1, 2].map((n) => verifier.verify(BUSY, `0000${n}-00`)));
      expect(known.map((f) => f.outcome)).toEqual(["pass", "pass", "pass"]);
      expect(busy.map((f) => (f.outcome === "temporary" ? f.reply.text : f.outcome))).toEqual([
        "Temporary local problem, id=00001-00, please try again later",
        "Temporary local problem, id=00002-00, please try again later",
      ]);
      expect(slowPeer.connections).toBe(2);
    } finally {
      await slowPeer.close();
    }
  });
});

describe("a host that cannot be asked", () => {
  it("one that never answers: temporary once the overall timeout has passed", async () => {
    const silent = await startRawPeer(() => {});
    try {
      const started = performance.now();
      const finding = await callout({ type: "lmtp", host: "127.0.0.1", port: silent.port }, { timeoutMs: 200 }).verify(KNOWN[0]!, "12345-67");
      const elapsed = performance.now() - started;
      expect(finding).toMatchObject({
        outcome: "temporary",
        reply: { code: 451, enhanced: "4.3.0" },
        // eslint-disable-next-line @typescript-eslint/no-unsafe-assignment -- vitest types its asymmetric matchers (expect.stringContaining, …) as any
        detail: expect.stringContaining("no answer within 200 ms"),
      });
      // It waited for the timeout (not a failure at once); that it ends at all is the test's own timeout's to guard.
      expect(elapsed).toBeGreaterThanOrEqual(190);
    } finally {
      await silent.close();
    }
  });

  it("a closed port: temporary at once, and not cached — the next verification asks again", async () => {
    const port = await freePort();
    const verifier = callout({ type: "smtp", host: "127.0.0.1", port });
    const finding = await verifier.verify(KNOWN[0]!, "12345-67");
    // eslint-disable-next-line @typescript-eslint/no-unsafe-assignment -- vitest types its asymmetric matchers (expect.stringContaining, …) as any
    expect(finding).toMatchObject({ outcome: "temporary", reply: { code: 451 }, detail: expect.stringContaining("ECONNREFUSED") });
    const peer = await startPeer(false, { port });
    try {
      expect(await verifier.verify(KNOWN[0]!, "1")).toMatchObject({ outcome: "pass" });
      expect(peer.connections).toBe(1);
    } finally {
      await peer.close();
    }
  });

  it("a greeting other than 220: temporary, whatever the RCPT would have said", async () => {
    const refusing = await startRawPeer((socket) => socket.end("554 5.3.2 No service here\r\n"));
    try {
      const finding = await callout({ type: "smtp", host: "127.0.0.1", port: refusing.port }).verify(UNKNOWN, "1");
      // eslint-disable-next-line @typescript-eslint/no-unsafe-assignment -- vitest types its asymmetric matchers (expect.stringContaining, …) as any
      expect(finding).toMatchObject({ outcome: "temporary", detail: expect.stringContaining("the greeting answered 554 5.3.2 No service here") });
    } finally {
      await refusing.close();
    }
  });

  it("a reply without end: temporary once it outgrows the bound, long before the timeout", async () => {
    const flooding = await startRawPeer((socket) => {
      const line = `220-${"x".repeat(1000)}\r\n`;
      const flood = (): void => {
        while (!socket.destroyed && socket.write(line));
        if (!socket.destroyed) socket.once("drain", flood);
      };
      flood();
    });
    try {
      const finding = await callout({ type: "smtp", host: "127.0.0.1", port: flooding.port }, { timeoutMs: 10_000 }).verify(KNOWN[0]!, "1");
      // eslint-disable-next-line @typescript-eslint/no-unsafe-assignment -- vitest types its asymmetric matchers (expect.stringContaining, …) as any
      expect(finding).toMatchObject({ outcome: "temporary", detail: expect.stringContaining(`a reply longer than ${MAX_REPLY_LENGTH} characters`) });
    } finally {
      await flooding.close();
    }
  });

  it("an address with CR or LF is never sent: no Mailbox has one", async () => {
    const peer = await startPeer(false);
    try {
      const finding = await callout(peer.host).verify("alice@example.org>\r\nDATA", "1");
      expect(finding).toMatchObject({ outcome: "fail", reply: { code: 550, enhanced: "5.1.1" } });
      expect(peer.connections).toBe(0);
    } finally {
      await peer.close();
    }
  });
});

describe("ReplyReader (RFC 5321 §4.2.1)", () => {
  it("joins the lines of a multi-line reply, across chunks, and reads a bare code", () => {
    const reader = new ReplyReader();
    expect(reader.push("250-mx.example.org\r\n250-PIPE")).toEqual([]);
    expect(reader.push("LINING\r\n250 SMTPUTF8\r\n221\r\n")).toEqual([
      { code: 250, lines: ["mx.example.org", "PIPELINING", "SMTPUTF8"] },
      { code: 221, lines: [""] },
    ]);
  });

  it("refuses lines without a reply code and replies whose lines disagree on it", () => {
    expect(() => new ReplyReader().push("hello\r\n")).toThrow("not a reply line");
    expect(() => new ReplyReader().push("250-one\r\n550 two\r\n")).toThrow("the codes 250 and 550");
    expect(() => new ReplyReader().push("650 no such class\r\n")).toThrow("not a reply line");
  });

  it("refuses a line without end past the bound", () => {
    expect(() => new ReplyReader().push(`220 ${"x".repeat(MAX_REPLY_LENGTH)}`)).toThrow("a reply longer than");
  });
});

describe("mailboxHostDecides: whom the callout asks about", () => {
  const config = parseConfig({
    hostname: HOSTNAME,
    domains: [
      { name: "example.org", mx: [HOSTNAME] },
      { name: "listed.example", mx: [HOSTNAME], mailboxes: ["alice"] },
      { name: "aliased.example", mx: [HOSTNAME], aliases: { info: "alice@example.org" } },
      { name: "catchall.example", mx: [HOSTNAME], catchAll: true },
    ],
    relay: { recipientCheck: true, nextHop: { type: "lmtp", host: "127.0.0.1" } },
  });

  it("a recipient at a domain that lists no mailboxes, no aliases and no catch-all", () => {
    expect(mailboxHostDecides("anyone@example.org", config)).toBe(true);
    expect(mailboxHostDecides("Anyone@EXAMPLE.org", config)).toBe(true);
  });

  it("never a role mailbox (RFC 5321 §4.5.1), a domain that names its recipients, or one not ours", () => {
    expect(mailboxHostDecides("postmaster@example.org", config)).toBe(false);
    expect(mailboxHostDecides("Abuse@example.org", config)).toBe(false);
    expect(mailboxHostDecides("alice@listed.example", config)).toBe(false);
    expect(mailboxHostDecides("info@aliased.example", config)).toBe(false);
    expect(mailboxHostDecides("anyone@catchall.example", config)).toBe(false);
    expect(mailboxHostDecides("anyone@elsewhere.example", config)).toBe(false);
    expect(mailboxHostDecides("postmaster", config)).toBe(false);
  });
});

describe("recipientCalloutFor", () => {
  const configWith = (recipientCheck: boolean, nextHop: { type: "maildir"; path: string } | { type: "lmtp"; host: string; port: number }) =>
    parseConfig({ hostname: HOSTNAME, domains: [{ name: "example.org", mx: [HOSTNAME], mailboxes: ["alice"] }], relay: { recipientCheck, nextHop } });
  const capture = () => {
    const lines: Record<string, unknown>[] = [];
    return { lines, logger: createLogger("info", { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) }) };
  };

  it("is null when relay.recipientCheck is off", () => {
    const { lines, logger } = capture();
    expect(recipientCalloutFor(configWith(false, { type: "lmtp", host: "127.0.0.1", port: 24 }), logger)).toBeNull();
    expect(lines).toEqual([]);
  });

  it("is null for a Maildir next hop, and says at start that the setting is ignored", () => {
    const { lines, logger } = capture();
    expect(recipientCalloutFor(configWith(true, { type: "maildir", path: "./Maildir" }), logger)).toBeNull();
    // eslint-disable-next-line @typescript-eslint/no-unsafe-assignment -- vitest types its asymmetric matchers (expect.stringContaining, …) as any
    expect(lines).toEqual([expect.objectContaining({ level: 40, event: "recipient-check", msg: expect.stringContaining("relay.recipientCheck is ignored") })]);
  });

  it("asks an LMTP next hop", async () => {
    const peer = await startPeer(true);
    try {
      const created = recipientCalloutFor(configWith(true, peer.host as { type: "lmtp"; host: string; port: number }), capture().logger);
      expect(created).not.toBeNull();
      callouts.push(created!);
      expect((await created!.verify(UNKNOWN, "1")).outcome).toBe("fail");
      expect(peer.sessions).toEqual([{ opening: "LHLO", hello: HOSTNAME, mailFrom: "", rcptTo: [UNKNOWN] }]);
    } finally {
      await peer.close();
    }
  });
});
