// The judge pool (relay-node/src/verdict/pool.ts, relay.threads): the same verdict() in worker threads
// must give the very verdicts the main thread gives, over a corpus that reaches every kind of outcome,
// against the real DNS harness; a thread that dies mid-message costs that message a verdict (the session
// answers 451), and the pool judges the next message on a new thread; closed, it leaves no thread.
import { createSocket, type Socket } from "node:dgram";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, inject, it } from "vitest";
import { dkimSign } from "../../core/mailauth/internals.ts";
import { SpfMemo } from "../../core/authentication/authenticate.ts";
import { parseConfig } from "../../core/config/load.ts";
import type { VerdictEnvelope } from "../../core/verdict/types.ts";
import { createRelayResolver } from "../../relay-node/src/dns/resolver.ts";
import { startJudgePool } from "../../relay-node/src/verdict/pool.ts";
import { createVerdictSource } from "../../relay-node/src/verdict/source.ts";
import { attachment, mail, peFile, zipFile } from "../fixtures/banned-content.ts";
import { DKIM_PRIVATE_KEY_PEM } from "../harness/dkim-key.ts";
import { LOCAL, relayDocument, testMessage } from "../harness/relay.ts";
import { TEST_DNS } from "../harness/zones.ts";

const harness = inject("harness");
const dir = mkdtempSync(join(tmpdir(), "edgemx-judge-pool-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const { sender } = TEST_DNS;

// Every message to the pool, however small (relay.threadsFromBytes 0): the threads are what is tested here.
const config = parseConfig(relayDocument(dir, harness.dnsPort, { threadsFromBytes: 0 }));
const envelope = (mailFrom: string): VerdictEnvelope => ({
  clientIp: sender.authorizedIp,
  helo: sender.mailHost,
  mailFrom,
  rcptTo: [LOCAL.mailbox],
  direction: "inbound",
});

async function signed(message: string): Promise<Uint8Array> {
  const signature = { signingDomain: sender.domain, selector: sender.dkimSelector, privateKey: DKIM_PRIVATE_KEY_PEM, canonicalization: "relaxed/relaxed" };
  const raw = Buffer.from(message, "utf8");
  const result = await dkimSign(raw, { ...signature, signatureData: [signature] });
  return Buffer.concat([Buffer.from(result.signatures, "utf8"), raw]);
}

/** Messages whose verdicts differ: accepted (DKIM pass, SPF pass), refused by DMARC, BANNED (a bare exe, one in a zip), and an RFC 5322 fault. */
async function corpus(): Promise<{ name: string; raw: Uint8Array; envelope: VerdictEnvelope }[]> {
  const from = `alice@${sender.domain}`;
  const text = (s: string): Uint8Array => Buffer.from(s, "utf8");
  const head = `From: Alice <${from}>\r\nTo: ${LOCAL.mailbox}\r\nSubject: files\r\nDate: ${new Date().toUTCString().replace("GMT", "+0000")}\r\nMessage-ID: <pool-${Date.now()}@${sender.domain}>\r\n`;
  return [
    { name: "DKIM-signed text", raw: await signed(testMessage({ from, body: "Signed, and from an authorized address." })), envelope: envelope(from) },
    {
      name: "From a p=reject domain, unsigned, from an address its SPF does not list",
      raw: text(testMessage({ from })),
      envelope: { ...envelope(from), clientIp: "127.0.0.99" },
    },
    { name: "a bare executable", raw: text(head + mail([attachment("invoice.exe", "application/octet-stream", peFile())])), envelope: envelope(from) },
    {
      name: "an executable inside a zip",
      raw: text(head + mail([attachment("invoice.zip", "application/zip", await zipFile([{ name: "invoice.exe", data: peFile() }]))])),
      envelope: envelope(from),
    },
    { name: "two From fields", raw: text(`From: Mallory <mallory@${sender.domain}>\r\n${testMessage({ from })}`), envelope: envelope(from) },
  ];
}

describe("the judge pool", () => {
  it("gives the verdicts the main thread gives, message by message", async () => {
    const messages = await corpus();
    const mainThread = createVerdictSource(config, createRelayResolver(config.relay.resolver), {}, undefined, 0);
    const pool = createVerdictSource(config, createRelayResolver(config.relay.resolver), {}, undefined, 2);
    try {
      expect(pool.threads).toBe(2);
      const actions = new Set<string>();
      let cpu = 0;
      for (const [n, { name, raw, envelope: env }] of messages.entries()) {
        const id = `54321-${String(n).padStart(2, "0")}`;
        const [expected, pooled] = await Promise.all([
          mainThread.ask(raw, env, { id, config, spfMemo: new SpfMemo() }),
          pool.ask(raw, env, { id, config, spfMemo: new SpfMemo() }),
        ]);
        expect(expected.ok, name).toBe(true);
        if (!expected.ok || !pooled.ok) throw new Error(`${name}: no verdict`);
        const { cpuSeconds, ...verdictOnly } = pooled;
        expect(verdictOnly, name).toEqual(expected);
        // The thread's own CPU for this message. Linux splits a thread's time between its getrusage() readings
        // so that they never go back: one message may read 0 and the next one more, but the sum is the thread's.
        expect(cpuSeconds, name).toBeGreaterThanOrEqual(0);
        expect(cpuSeconds, name).toBeLessThan(60);
        cpu += cpuSeconds ?? NaN;
        actions.add(`${expected.verdict.action} ${expected.verdict.reason ?? ""}`);
      }
      // The corpus is worth its name: accepted, and refused for more than one reason.
      expect(actions.size).toBeGreaterThanOrEqual(3);
      expect(cpu).toBeGreaterThan(0);
    } finally {
      await mainThread.close();
      await pool.close();
    }
  });

  it("judges a message below relay.threadsFromBytes on the main thread and one of that size in a thread", async () => {
    const bySize = parseConfig(relayDocument(dir, harness.dnsPort, { threadsFromBytes: 64 * 1024 }));
    const from = `alice@${sender.domain}`;
    const small = await signed(testMessage({ from, body: "A short note." }));
    const large = await signed(testMessage({ from, body: `${"A long report line, seventy-odd characters of text to fill the body.\r\n".repeat(1000)}` }));
    expect(small.byteLength).toBeLessThan(64 * 1024);
    expect(large.byteLength).toBeGreaterThanOrEqual(64 * 1024);
    const source = createVerdictSource(bySize, createRelayResolver(bySize.relay.resolver), {}, undefined, 1);
    try {
      const [onMain, inThread] = [
        await source.ask(small, envelope(from), { id: "54321-70", config: bySize }),
        await source.ask(large, envelope(from), { id: "54321-71", config: bySize }),
      ];
      if (!onMain.ok || !inThread.ok) throw new Error("no verdict");
      expect([onMain.verdict.action, inThread.verdict.action]).toEqual(["accept", "accept"]);
      // Only a thread's verdict carries the thread's CPU time (pool.ts): none for the small message.
      expect(onMain.cpuSeconds).toBeUndefined();
      expect(inThread.cpuSeconds).toBeGreaterThanOrEqual(0);
    } finally {
      await source.close();
    }
  });

  it("judges by a reloaded configuration, sent to the threads with the first message that needs it", async () => {
    const pool = createVerdictSource(config, createRelayResolver(config.relay.resolver), {}, undefined, 1);
    const reloaded = parseConfig(relayDocument(dir, harness.dnsPort, {}, { greylist: { enabled: false } }));
    reloaded.judge.auth.authservId = "reloaded.example.org";
    try {
      const raw = await signed(testMessage({ from: `alice@${sender.domain}` }));
      const before = await pool.ask(raw, envelope(`alice@${sender.domain}`), { id: "54321-90", config });
      const after = await pool.ask(raw, envelope(`alice@${sender.domain}`), { id: "54321-91", config: reloaded });
      if (!before.ok || !after.ok) throw new Error("no verdict");
      expect(before.verdict.headers.join("\n")).toContain(`Authentication-Results: ${LOCAL.hostname};`);
      expect(after.verdict.headers.join("\n")).toContain("Authentication-Results: reloaded.example.org;");
    } finally {
      await pool.close();
    }
  });

  it("answers a message whose thread dies mid-verdict without a verdict (a 451), and judges the next one on a new thread", async () => {
    // A resolver in front of the harness's that holds every query while `holding`: a verdict asked
    // then waits for DNS, mid-message, until its thread is ended.
    let holding = true;
    const held: (() => void)[] = [];
    const front: Socket = createSocket("udp4");
    front.on("message", (query, client) => {
      const forward = (): void => {
        const upstream = createSocket("udp4");
        upstream.once("message", (answer) => {
          front.send(answer, client.port, client.address);
          upstream.close();
        });
        upstream.send(query, harness.dnsPort, "127.0.0.1");
      };
      if (holding) held.push(forward);
      else forward();
    });
    await new Promise<void>((resolve) => front.bind(0, "127.0.0.1", resolve));
    const port = front.address().port;
    const pool = startJudgePool({ threads: 1, resolver: { host: "127.0.0.1", port, timeoutMs: 20_000 }, config });
    try {
      const raw = await signed(testMessage({ from: `alice@${sender.domain}` }));
      const asked = pool.ask(raw, envelope(`alice@${sender.domain}`), { id: "54321-80", config });
      await expect.poll(() => held.length, { timeout: 20_000 }).toBeGreaterThan(0);
      const [thread] = pool.threads;
      await thread!.terminate();
      const outcome = await asked;
      expect(outcome.ok).toBe(false);
      if (!outcome.ok) expect(outcome.detail).toMatch(/^judge thread: /);

      holding = false;
      for (const forward of held.splice(0)) forward();
      const next = await pool.ask(raw, envelope(`alice@${sender.domain}`), { id: "54321-81", config });
      expect(next.ok).toBe(true);
      if (next.ok) expect(next.verdict.action).toBe("accept");
      expect(pool.threads.map((t) => t.threadId)).not.toContain(thread!.threadId);
    } finally {
      await pool.close();
      front.close();
    }
    expect(pool.threads).toHaveLength(0);
  });
});
