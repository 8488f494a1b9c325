// `npm run queue` against a running relay: mail to a next hop that answers 421 stays queued, and the
// CLI (a child process, as the postmaster runs it) lists, shows, flushes and deletes it over the
// relay's control socket; with the relay stopped, list and show read the spool, flush and delete refuse.
import { execFile } from "node:child_process";
import { stat } from "node:fs/promises";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { controlSocketPath } from "../../relay-node/src/control/control.ts";
import { LOCAL, relayDocument, startTestRelay, testMessage, type TestRelay } from "../harness/relay.ts";

const harness = inject("harness");
const CLI = join(import.meta.dirname, "../../relay-node/src/cli/queue.ts");

/** A next hop that is always busy: 421 at the greeting (RFC 5321 §3.8), so every attempt defers. */
let busyHop: Server;
let busyConnections = 0;
let dir: string;
let test: TestRelay;
let socket: string;
let spool: string;

async function queueCli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [CLI, "--socket", socket, "--spool", spool, ...args]);
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

async function enqueue(subject: string): Promise<string> {
  const id = await test.relay.spool.enqueue({
    envelope: { mailFrom: "bob@sender.test", rcptTo: [LOCAL.mailbox] },
    message: Buffer.from(testMessage({ subject })),
  });
  test.relay.delivery.notify();
  return id;
}

/** Waits until the entry's first attempt was recorded (deferred by the busy next hop). */
async function deferred(id: string): Promise<void> {
  for (let i = 0; i < 100 && (test.relay.spool.get(id)?.attempts ?? 0) === 0; i++) await new Promise((r) => setTimeout(r, 50));
  expect(test.relay.spool.get(id)?.attempts).toBe(1);
}

beforeAll(async () => {
  busyHop = createServer((connection) => {
    busyConnections++;
    connection.end("421 4.3.2 busy, try later\r\n");
  });
  await new Promise<void>((done) => busyHop.listen(0, "127.0.0.1", done));
  const port = (busyHop.address() as { port: number }).port;
  dir = await mkdtemp(join(tmpdir(), "edgemx-queue-cli-"));
  spool = join(dir, "spool");
  test = await startTestRelay(relayDocument(dir, harness.dnsPort, { nextHop: { type: "smtp", host: "127.0.0.1", port } }));
  socket = controlSocketPath(spool);
});

afterAll(async () => {
  await test.relay.stop().catch(() => undefined);
  await new Promise<void>((done) => busyHop.close(() => done()));
  await rm(dir, { recursive: true, force: true });
});

describe("npm run queue", () => {
  it("serves the control socket beside the spool, for the relay's user only", async () => {
    expect(socket).toBe(join(dir, "control.sock"));
    expect((await stat(socket)).mode & 0o777).toBe(0o600);
  });

  it("lists, shows, flushes and deletes a deferred entry through the running relay", async () => {
    const id = await enqueue("stuck");
    await deferred(id);

    const list = await queueCli("list");
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(new RegExp(`^${id}\\s+\\d+s\\s+\\d+\\s+1\\s+in \\d+[sm]\\s+<bob@sender.test>$`, "m"));
    expect(list.stdout).toContain(`    ${LOCAL.mailbox}  pending  421 4.3.2 busy, try later`);

    const show = await queueCli("show", id);
    expect(show.code).toBe(0);
    expect(show.stdout).toContain(`id:            ${id}`);
    expect(show.stdout).toContain("Subject: stuck");
    expect(show.stdout).not.toContain("Hello Alice."); // headers only

    const before = busyConnections;
    const flush = await queueCli("flush", id);
    expect(flush).toMatchObject({ code: 0, stdout: `flushed ${id}\n` });
    for (let i = 0; i < 100 && (test.relay.spool.get(id)?.attempts ?? 0) < 2; i++) await new Promise((r) => setTimeout(r, 50));
    expect(test.relay.spool.get(id)?.attempts).toBe(2);
    expect(busyConnections).toBeGreaterThan(before);

    const deleted = await queueCli("delete", id);
    expect(deleted.code).toBe(0);
    expect(deleted.stdout).toBe(`deleted ${id} from <bob@sender.test> to ${LOCAL.mailbox} (pending)\n`);
    expect(test.relay.spool.get(id)).toBeUndefined();
    expect(await queueCli("show", id)).toMatchObject({ code: 1, stderr: `${id}: not queued\n` });
    expect((await queueCli("delete", id)).code).toBe(1);
  });

  it("without the relay: list and show read the spool, flush and delete refuse", async () => {
    const id = await enqueue("left behind");
    await deferred(id);
    await test.relay.stop();

    const list = await queueCli("list");
    expect(list.code).toBe(0);
    expect(list.stderr).toContain("read-only");
    expect(list.stdout).toContain(id);
    expect((await queueCli("show", id)).stdout).toContain("Subject: left behind");

    const flush = await queueCli("flush", id);
    expect(flush.code).toBe(1);
    expect(flush.stderr).toMatch(/flush needs the running relay/);
    expect((await queueCli("delete", id)).stderr).toMatch(/delete needs the running relay/);
  });

  it("refuses bad usage with status 2", async () => {
    expect((await queueCli("delete")).code).toBe(2);
  });
});
