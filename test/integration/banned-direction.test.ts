// Banned content per direction, and 7z and RAR opened, against the real relay (startRelay) with real
// DNS (the harness), real clamd, swaks as the client and a Maildir next hop: a user's .docx, .xlsx and
// .zip submitted on 587 are delivered, the same files from the Internet on the MX are refused with
// the spec's BANNED reply; a clean 7z and RAR reach the mailbox, a 7z with an executable two levels
// deep and an encrypted RAR do not. The zip and 7z files are made by the 7z program (p7zip-full); the
// RAR files are fixtures of maintained npm packages (see seven-zip.test.ts).
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { UserStore } from "../../relay-node/src/users/store.ts";
import { ooxmlFile, PDF, peFile } from "../fixtures/banned-content.ts";
import { freePort } from "../harness/process.ts";
import { delivered, LOCAL, messageWithAttachment, relayDocument, startTestRelay, type TestRelay } from "../harness/relay.ts";
import { startClamd, type ClamdService } from "../harness/services.ts";
import { runSwaks, writeSwaksData, type SwaksRun } from "../harness/swaks.ts";
import { TEST_DNS } from "../harness/zones.ts";

const harness = inject("harness");
const dir = mkdtempSync(join(tmpdir(), "edgemx-banned-direction-"));
const ALICE = { user: LOCAL.mailbox, password: "correct horse battery" };
const require = createRequire(import.meta.url);
const BITJS_RAR = join(dirname(require.resolve("@codedread/bitjs")), "tests/archive-testfiles");
const UNRAR_PROMISE_RAR = join(dirname(require.resolve("unrar-promise/package.json")), "test/contents");
const BANNED = /^554 5\.7\.0 Reject, id=\d{5}-\d{2} – BANNED$/;
const QUEUED = /^250 2\.0\.0 Ok: queued as [0-9A-F]{18}$/;

let clamd: ClamdService;
let relay: TestRelay;
let submissionPort: number;
let files = 0;

beforeAll(async () => {
  clamd = await startClamd();
  const usersPath = join(dir, "users.sqlite");
  const users = new UserStore(usersPath, { N: 2 ** 10, r: 8, p: 1 });
  await users.add(ALICE.user, ALICE.password);
  users.close();
  submissionPort = await freePort();
  relay = await startTestRelay(
    relayDocument(join(dir, "relay"), harness.dnsPort, {
      clamd: { host: clamd.host, port: clamd.port, timeoutMs: 10_000 },
      listeners: { submission: { host: "127.0.0.1", port: submissionPort } },
      users: { path: usersPath },
    }),
  );
}, 60_000);

afterAll(async () => {
  await relay?.relay.stop();
  await clamd?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** An archive made by the 7z program (`7z a`, with extra switches) from the given files. */
function sevenZip(name: string, contents: Record<string, Uint8Array | string>, switches: string[] = []): Uint8Array {
  const folder = join(dir, `in-${++files}`);
  for (const [path, data] of Object.entries(contents)) {
    mkdirSync(dirname(join(folder, path)), { recursive: true });
    writeFileSync(join(folder, path), data);
  }
  const archive = join(dir, `${files}-${name}`);
  execFileSync("7z", ["a", "-bd", ...switches, archive, ...Object.keys(contents)], { cwd: folder, stdio: "ignore" });
  return readFileSync(archive);
}

/** swaks sends `raw`: on the MX from the sender.test host that passes every check, or on 587 with STARTTLS and AUTH as Alice. */
async function send(raw: string, how: "mx" | "submission", from: string): Promise<SwaksRun> {
  const data = join(dir, `message-${++files}.eml`);
  writeSwaksData(data, raw);
  const client = how === "mx" ? ["--local-interface", TEST_DNS.sender.authorizedIp, "--ehlo", TEST_DNS.sender.mailHost] : ["--ehlo", "laptop.home.test"];
  const login = how === "submission" ? ["--tls", "--auth", "PLAIN", "--auth-user", ALICE.user, "--auth-password", ALICE.password] : [];
  const port = how === "mx" ? relay.port : submissionPort;
  return runSwaks(["--server", `127.0.0.1:${port}`, ...client, "--from", from, "--to", LOCAL.mailbox, "--data", `@${data}`, ...login]);
}

const finalReply = (run: SwaksRun): string => run.exchanges.filter((e) => !/^QUIT$/i.test(e.command)).at(-1)?.reply ?? run.transcript;

/** The one delivered copy that carries `word`, or undefined. */
async function deliveredWith(word: string): Promise<string[]> {
  return (await delivered(relay, LOCAL.mailbox)).filter((m) => m.includes(word));
}

const OOXML = {
  docx: ["application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml", "word/document.xml"],
  xlsx: ["application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml", "xl/workbook.xml"],
} as const;

async function userFiles(): Promise<[string, Uint8Array][]> {
  return [
    ["offer.docx", await ooxmlFile(...OOXML.docx)],
    ["budget.xlsx", await ooxmlFile(...OOXML.xlsx)],
    ["photos.zip", sevenZip("photos.zip", { "a.pdf": PDF, "b.pdf": PDF }, ["-tzip"])],
  ];
}

describe("a user's documents: delivered when submitted, BANNED from the Internet", () => {
  it("delivers a .docx, an .xlsx and a .zip submitted on 587", async () => {
    for (const [name, content] of await userFiles()) {
      const word = `submitted-${name}-${Math.random().toString(36).slice(2)}`;
      const run = await send(messageWithAttachment(name, content, { from: ALICE.user, subject: word }), "submission", ALICE.user);
      expect(finalReply(run), run.transcript).toMatch(QUEUED);
      const copies = await deliveredWith(word);
      expect(copies, name).toHaveLength(1);
      expect(copies[0]).toContain(`filename="${name}"`);
    }
  });

  it("refuses the same files on the MX with 554 5.7.0 … BANNED, and delivers none", async () => {
    for (const [name, content] of await userFiles()) {
      const word = `inbound-${name}-${Math.random().toString(36).slice(2)}`;
      const run = await send(messageWithAttachment(name, content, { subject: word }), "mx", `bob@${TEST_DNS.sender.domain}`);
      expect(finalReply(run), run.transcript).toMatch(BANNED);
      const line = relay.logs.find((l) => l.event === "message" && l.reply === finalReply(run));
      expect(line?.checks, name).toContainEqual({ check: "banned", outcome: "fail", detail: `attachment "${name}": extension .${name.split(".").pop()}` });
      expect(await deliveredWith(word)).toEqual([]);
    }
  });
});

describe("7z and RAR from the Internet, opened by the relay", () => {
  async function inbound(name: string, content: Uint8Array): Promise<{ reply: string; detail: unknown; copies: string[] }> {
    const word = `archive-${name}-${Math.random().toString(36).slice(2)}`;
    const run = await send(messageWithAttachment(name, content, { subject: word }), "mx", `bob@${TEST_DNS.sender.domain}`);
    const reply = finalReply(run);
    const line = relay.logs.find((l) => l.event === "message" && l.reply === reply);
    const banned = (line?.checks as { check: string; detail: string }[] | undefined)?.find((c) => c.check === "banned");
    return { reply, detail: banned?.detail, copies: await deliveredWith(word) };
  }

  it("delivers a 7z of PDFs and refuses one with an executable two levels deep", async () => {
    const clean = await inbound("papers.7z", sevenZip("papers.7z", { "a.pdf": PDF, "more/b.7z": sevenZip("b.7z", { "b.pdf": PDF }) }));
    expect(clean.reply).toMatch(QUEUED);
    expect(clean.copies).toHaveLength(1);
    const inner = sevenZip("inner.7z", { "invoice.pdf": peFile() });
    const hidden = await inbound("papers.7z", sevenZip("papers.7z", { "a.pdf": PDF, "more/inner.7z": inner }));
    expect(hidden.reply).toMatch(BANNED);
    expect(hidden.detail).toBe('attachment "papers.7z" › "more/inner.7z" › "invoice.pdf": content is Windows PE executable (.exe)');
    expect(hidden.copies).toEqual([]);
  });

  it("delivers a RAR of text files and refuses a RAR with encrypted headers", async () => {
    const clean = await inbound("samples.rar", readFileSync(join(BITJS_RAR, "archive-rar-default.rar")));
    expect(clean.reply).toMatch(QUEUED);
    expect(clean.copies).toHaveLength(1);
    const encrypted = await inbound("example.rar", readFileSync(join(UNRAR_PROMISE_RAR, "example-encrypted.rar")));
    expect(encrypted.reply).toMatch(BANNED);
    expect(encrypted.detail).toBe('attachment "example.rar": cannot be inspected: the archive is encrypted');
  });
});
