// relay-node/src/smtp/server.ts is the one adapter to smtp-server's internals. This pins what it relies
// on, so that an upgrade of smtp-server that changes one of them fails here with the member named:
// the members it overrides or calls (and that smtp-server's connect() still does what its replica
// does, compared with a plain SMTPServer over real sockets), then a real SMTP conversation with a
// BoundedSmtpServer proving each addition still works — exact replies, the error bound, the junk-command
// bound, AUTH only inside TLS, the HELO hook, the refusal hook, and corking the socket the replies are written to.
// (smtp-reply-batching.test.ts counts the writes of a pipelined group.)
import { once } from "node:events";
import { connect, type AddressInfo, type Socket } from "node:net";
import { TLSSocket } from "node:tls";
import { SMTPServer, type SMTPServerOptions } from "smtp-server";
import { SMTPConnection } from "smtp-server/lib/smtp-connection.js";
import { afterEach, describe, expect, it } from "vitest";
import { replyError } from "../../relay-node/src/smtp/replies.ts";
import { BoundedSmtpServer, JUNK_COMMAND_LIMIT, type SessionOptions } from "../../relay-node/src/smtp/server.ts";
import { selfSignedCertificate } from "../../relay-node/src/tls/self-signed.ts";
import { openSmtp, type SmtpDialogue } from "../harness/smtp-client.ts";

const NAME = "mx.example.org";
const MAX_ERRORS = 5;
const certificate = selfSignedCertificate(NAME);
const REFUSAL = { code: 554, enhanced: "5.7.1", text: "<a@sender.example>: Sender address rejected: not today" };

const servers: SMTPServer[] = [];
const dialogues: SmtpDialogue[] = [];
afterEach(async () => {
  for (const dialogue of dialogues.splice(0)) dialogue.close();
  await Promise.all(servers.splice(0).map((server) => new Promise<void>((done) => server.close(() => done()))));
});

/** What both kinds of server are given: enhanced codes on (the exact replies matter only then), STARTTLS, AUTH PLAIN. */
function options(overrides: SMTPServerOptions = {}): SMTPServerOptions {
  return {
    name: NAME,
    logger: false,
    disableReverseLookup: true,
    hideENHANCEDSTATUSCODES: false,
    key: certificate.key,
    cert: certificate.cert,
    authMethods: ["PLAIN"],
    authOptional: true,
    onAuth: (auth, _session, callback) => callback(null, { user: auth.username }),
    onMailFrom: (address, _session, callback) => callback(address.address === "refused@sender.example" ? replyError(REFUSAL) : null),
    ...overrides,
  };
}

async function listening<S extends SMTPServer>(server: S): Promise<{ server: S; port: number }> {
  servers.push(server);
  server.listen(0, "127.0.0.1");
  await once(server.server, "listening");
  return { server, port: (server.server.address() as AddressInfo).port };
}

function bounded(sessionOptions: Partial<SessionOptions> = {}, overrides: SMTPServerOptions = {}): Promise<{ server: BoundedSmtpServer; port: number }> {
  return listening(new BoundedSmtpServer(options(overrides), { maxErrors: MAX_ERRORS, ...sessionOptions }));
}

async function greeted(port: number): Promise<SmtpDialogue> {
  const smtp = await openSmtp(port);
  dialogues.push(smtp);
  expect(await smtp.reply()).toMatch(/^220 /);
  return smtp;
}

/** The one connection a server holds now. */
function onlyConnection(server: SMTPServer): SMTPConnection {
  expect(server.connections.size).toBe(1);
  return [...server.connections][0]!;
}

/** The names a function's source calls as methods, in order: `a.b(…)` → "b". */
function methodCalls(prototype: object, name: string): string[] {
  const fn: unknown = Reflect.get(prototype, name);
  if (typeof fn !== "function") throw new Error(`${name} is not a method`);
  return [...fn.toString().matchAll(/\.\s*([A-Za-z_$][\w$]*)\s*\(/g)].map((match) => match[1]!);
}

describe("the smtp-server members the adapter overrides or calls", () => {
  it("are still there, with the parameters the adapter passes", () => {
    const connection = SMTPConnection.prototype as unknown as Record<string, unknown>;
    const server = SMTPServer.prototype as unknown as Record<string, unknown>;
    const expected: [string, Record<string, unknown>, string, number][] = [
      ["SMTPConnection", connection, "_onCommand", 2],
      ["SMTPConnection", connection, "send", 3],
      ["SMTPConnection", connection, "handler_HELO", 2],
      ["SMTPConnection", connection, "handler_EHLO", 2],
      ["SMTPConnection", connection, "handler_AUTH", 2],
      ["SMTPConnection", connection, "init", 0],
      ["SMTPServer", server, "connect", 2],
      ["SMTPServer", server, "_onError", 1],
      ["SMTPServer", server, "_onClientConnect", 1],
    ];
    for (const [owner, prototype, member, parameters] of expected) {
      const method = prototype[member];
      expect(typeof method, `smtp-server's ${owner}.${member} is gone`).toBe("function");
      expect((method as (...args: unknown[]) => unknown).length, `smtp-server's ${owner}.${member} takes other parameters`).toBe(parameters);
    }
  });

  it("SMTPServer.connect() makes the calls BoundedSmtpServer.connect() replicates", () => {
    const upstream = methodCalls(SMTPServer.prototype, "connect");
    expect(upstream, "smtp-server's SMTPServer.connect() changed: replicate the change in BoundedSmtpServer.connect()").toEqual(
      methodCalls(BoundedSmtpServer.prototype, "connect"),
    );
    expect(upstream).toEqual(["add", "on", "_onError", "on", "_onClientConnect", "init"]);
  });
});

/** What a server did with one session: what it told of it, what it held while it lasted, and after. */
async function sessionAsSeen(server: SMTPServer, port: number) {
  const connects: Record<string, unknown>[] = [];
  server.on("connect", (data) => connects.push(data as unknown as Record<string, unknown>));
  const errors: (Error & { code?: string })[] = [];
  server.on("error", (err) => errors.push(err));

  const socket: Socket = connect(port, "127.0.0.1");
  let seen = "";
  socket.on("data", (chunk: Buffer) => (seen += chunk.toString("latin1")));
  const until = async (pattern: RegExp): Promise<void> => {
    while (!pattern.test(seen)) await once(socket, "data");
  };
  await until(/^220 /m);
  const held = onlyConnection(server);
  socket.write("EHLO client.example\r\nMAIL FROM:<a@sender.example>\r\n");
  await until(/^250 [^\r]*\r\n250 [^\r]*\r\n$/m);
  // A reset inside a transaction is an error smtp-server reports (outside one it is taken as a goodbye);
  // the socket's error comes before its close, which lets the session go.
  socket.resetAndDestroy();
  while (server.connections.size > 0) await new Promise((done) => setTimeout(done, 10));
  return {
    connection: held.constructor === SMTPConnection ? "SMTPConnection" : held instanceof SMTPConnection ? "a subclass of SMTPConnection" : "other",
    connectEvents: connects.map((data) => Object.keys(data).sort()),
    connectAddress: connects[0]?.["remoteAddress"],
    errors: errors.map((err) => err.code),
  };
}

describe("BoundedSmtpServer.connect(), beside smtp-server's own", () => {
  it("holds the session while it lasts, re-emits its connect and error events, and lets it go", async () => {
    const plain = await listening(new SMTPServer(options()));
    const ours = await bounded();
    const theirs = await sessionAsSeen(plain.server, plain.port);
    expect(theirs).toEqual({ connection: "SMTPConnection", connectEvents: [expect.any(Array)], connectAddress: "127.0.0.1", errors: ["ECONNRESET"] });
    expect(await sessionAsSeen(ours.server, ours.port), "BoundedSmtpServer.connect() no longer does what SMTPServer.connect() does").toEqual({
      ...theirs,
      connection: "a subclass of SMTPConnection",
    });
  });
});

describe("a conversation with a BoundedSmtpServer", () => {
  it("sends a refusal that starts with an enhanced code exactly (send's context false), smtp-server's own with its codes", async () => {
    const plain = await listening(new SMTPServer(options()));
    const ours = await bounded();
    const refusedAt = async (port: number): Promise<string> => {
      const smtp = await greeted(port);
      await smtp.command("EHLO client.example");
      return smtp.command("MAIL FROM:<refused@sender.example>");
    };
    expect(await refusedAt(plain.port)).not.toBe(`554 5.7.1 ${REFUSAL.text}`);
    expect(await refusedAt(ours.port), "SMTPConnection.send(code, text, false) no longer leaves out the enhanced code").toBe(`554 5.7.1 ${REFUSAL.text}`);
    const smtp = await greeted(ours.port);
    await smtp.command("EHLO client.example");
    expect(await smtp.command("RCPT TO:<b@example.org>")).toMatch(/^503 5\.5\.\d Error: need MAIL command$/);
  });

  it(`closes the session at the error bound (${MAX_ERRORS}) with 421 4.7.0 (SMTPConnection.send(421) closes)`, async () => {
    const { port } = await bounded();
    const smtp = await greeted(port);
    await smtp.command("EHLO client.example");
    for (let i = 1; i < MAX_ERRORS; i++) expect(await smtp.command("MAIL FROM:<refused@sender.example>")).toMatch(/^554 5\.7\.1 /);
    smtp.write("MAIL FROM:<refused@sender.example>\r\n");
    expect(await smtp.reply()).toMatch(/^554 5\.7\.1 /);
    expect(await smtp.reply()).toBe(`421 4.7.0 ${NAME} Error: too many errors`);
    await smtp.closed;
  });

  it("counts junk commands past the limit as errors (SMTPConnection._onCommand sees every command)", async () => {
    const { port } = await bounded();
    const smtp = await greeted(port);
    smtp.write("NOOP\r\n".repeat(JUNK_COMMAND_LIMIT + MAX_ERRORS));
    for (let i = 0; i < JUNK_COMMAND_LIMIT + MAX_ERRORS - 1; i++) expect(await smtp.reply()).toMatch(/^250 /);
    expect(await smtp.reply()).toBe(`421 4.7.0 ${NAME} Error: too many errors`);
    await smtp.closed;
  });

  it("lists and takes AUTH only inside TLS (handler_EHLO, handler_AUTH, session.disabledCommands)", async () => {
    const { port } = await bounded();
    const smtp = await greeted(port);
    const before = await smtp.command("EHLO client.example");
    expect(before).toMatch(/^250[- ]STARTTLS$/m);
    expect(before).not.toMatch(/AUTH/);
    const token = Buffer.from("\0alice@example.org\0secret").toString("base64");
    expect(await smtp.command(`AUTH PLAIN ${token}`)).toBe("538 5.7.11 Encryption required for requested authentication mechanism");
    await smtp.startTls();
    expect(await smtp.command("EHLO client.example")).toMatch(/^250[- ]AUTH PLAIN$/m);
    expect(await smtp.command(`AUTH PLAIN ${token}`)).toMatch(/^235 /);
  });

  it("calls onHelo after each HELO and EHLO with the session's name, after STARTTLS too (handler_HELO, handler_EHLO)", async () => {
    const names: string[] = [];
    const { server, port } = await bounded({ onHelo: (session, name) => names.push(`${session.hostNameAppearsAs}:${name}`) });
    const smtp = await greeted(port);
    expect(await smtp.command("MAIL FROM:<a@sender.example>"), "smtp-server takes MAIL before HELO/EHLO: no HELO check would have started").toBe(
      "503 5.5.1 Error: send HELO/EHLO first",
    );
    expect(await smtp.command("HELO")).toMatch(/^501 /);
    expect(names).toEqual([]);
    expect(await smtp.command("EHLO Client.Example")).toMatch(/^250-/);
    expect(await smtp.command("HELO other.example")).toMatch(/^250 /);
    expect(await smtp.command("EHLO")).toMatch(/^501 /);
    expect(names).toEqual(["client.example:client.example", "other.example:other.example", "other.example:other.example"]);
    const plainSocket = onlyConnection(server)._socket;
    await smtp.startTls();
    expect(await smtp.command("EHLO third.example")).toMatch(/^250-/);
    expect(names.at(-1)).toBe("third.example:third.example");
    expect(onlyConnection(server)._socket, "SMTPConnection._socket is no longer the TLS socket after STARTTLS").toBeInstanceOf(TLSSocket);
    expect(onlyConnection(server)._socket).not.toBe(plainSocket);
  });

  it("reports each refused reply, the application's and smtp-server's own, with the command it answers (send, _onCommand)", async () => {
    const refusals: string[] = [];
    const { port } = await bounded({ onRefusal: (_session, r) => refusals.push(`${r.command ?? "-"} ${r.code} ${r.text}`) });
    const smtp = await greeted(port);
    expect(await smtp.command("MAIL FROM:<a@sender.example>")).toMatch(/^503 /);
    expect(await smtp.command("EHLO client.example")).toMatch(/^250-/);
    expect(await smtp.command("MAIL FROM:<refused@sender.example>")).toMatch(/^554 /);
    expect(await smtp.command("XYZZY")).toMatch(/^500 /);
    expect(await smtp.command("MAIL FROM:<a@sender.example>")).toMatch(/^250 /);
    expect(await smtp.command("RCPT TO:<b@example.org")).toMatch(/^501 /);
    expect(refusals).toEqual([
      "MAIL 503 Error: send HELO/EHLO first",
      `MAIL 554 ${REFUSAL.enhanced} ${REFUSAL.text}`,
      "OTHER 500 Error: command not recognized",
      "RCPT 501 Error: Bad recipient address syntax",
    ]);
  });

  it("corks the socket the replies are written to, and uncorks it when the turn is over (SMTPConnection._socket)", async () => {
    const { server, port } = await bounded();
    const accepted: Socket[] = [];
    server.server.prependListener("connection", (socket: Socket) => accepted.push(socket));
    const smtp = await greeted(port);
    const socket = onlyConnection(server)._socket;
    expect(socket, "SMTPConnection._socket is not the accepted socket").toBe(accepted[0]);
    const corks: string[] = [];
    const cork = socket.cork.bind(socket);
    const uncork = socket.uncork.bind(socket);
    socket.cork = () => {
      corks.push("cork");
      cork();
    };
    socket.uncork = () => {
      corks.push("uncork");
      uncork();
    };
    smtp.write("EHLO client.example\r\nMAIL FROM:<a@sender.example>\r\nRCPT TO:<b@example.org>\r\n");
    expect(await smtp.reply()).toMatch(/^250-/);
    expect(await smtp.reply()).toMatch(/^250 /);
    expect(await smtp.reply()).toMatch(/^250 /);
    expect(corks.length).toBeGreaterThan(0);
    expect(corks.filter((c) => c === "cork")).toHaveLength(corks.filter((c) => c === "uncork").length);
    expect(socket.writableCorked).toBe(0);
  });
});
