// Hostile and slow clients (issue 16, item 4), against the relay as a process with the default limits
// (relay.limits: 500 sessions, 20 per client address, 10 errors, 100 recipients, 50 MiB): 1,000 idle
// connections from 100 loopback addresses, slowloris (a byte a second in DATA), a client that never
// reads replies, an oversized command line and header, TLS handshakes that stall, 10,000 RCPTs. In
// each, normal mail from the harness's sender address (127.0.0.11) runs beside the attack: it must be
// delivered, and its latency is printed beside the figure without attack. The limits must hold, and
// the relay's peak resident memory (VmHWM) stays under a bound derived from them (below).
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { freePort } from "../harness/process.ts";
import { startRelayWithConfig, type RelayProcess } from "../harness/relay-process.ts";
import { LOCAL, relayDocument } from "../harness/relay.ts";
import { TEST_DNS } from "../harness/zones.ts";
import { countIds, drained, maildirContents, printRow, spoolIds, tally } from "./support/checker.ts";
import { connectMany, greeting, loopbackAddresses, rawClient, stallTls, type RawClient } from "./support/hostile.ts";
import { runLoad } from "./support/load.ts";
import { mebibytes, processStats } from "./support/process-stats.ts";

const harness = inject("harness");
const work = mkdtempSync(join(tmpdir(), "edgemx-hostile-"));
const spool = join(work, "spool");
const maildir = join(work, "Maildir");
/** The role mailbox spares the checks of a client without DNS (FCrDNS, SPF, DMARC …): the attack's own addresses have none. */
const POSTMASTER = `postmaster@${LOCAL.domain}`;
const LIMITS = { maxConnections: 500, maxConnectionsPerIp: 20, maxErrors: 10, maxRecipients: 100, maxMessageBytes: 50 * 1024 * 1024 };
let relay: RelayProcess;
let port: number;
let startRss = 0;
/** Normal mail's median latency without attack, ms. */
let baselineMs = 0;

beforeAll(async () => {
  port = await freePort();
  const document = relayDocument(work, harness.dnsPort, {
    listeners: { mx: { host: "127.0.0.1", port } },
    metrics: { port: await freePort() },
    limits: LIMITS,
  });
  const configPath = join(work, "edgemx.json");
  writeFileSync(configPath, JSON.stringify(document));
  relay = await startRelayWithConfig(configPath, { tailOnly: true });
  startRss = processStats(relay.child.pid!).rss;
  const baseline = await runLoad({ port, dir: work, prefix: "baseline", sessions: 1, maxMessages: 30, seconds: 20 });
  expect(baseline.accepted).toBe(30);
  baselineMs = baseline.p50Ms;
}, 60_000);

afterAll(async () => {
  relay?.child.kill("SIGTERM");
  await relay?.exited;
  rmSync(work, { recursive: true, force: true });
});

/**
 * Normal mail beside an attack: 30 messages over one session from the sender's address, all of which
 * must be accepted and delivered once; the row and the latency against the baseline are printed.
 * With `waitForSession`, one message at a time is tried first until one gets its 250 (the relay refused
 * the session with 421 while every session was taken), and the wait is printed.
 */
async function normalMailBeside(attack: string, waitForSession = false): Promise<void> {
  if (waitForSession) {
    const started = performance.now();
    let tries = 0;
    for (let accepted = false; !accepted; tries++) {
      const one = await runLoad({ port, dir: work, prefix: `${attack.replace(/\W+/g, "-")}-try${tries}`, sessions: 1, maxMessages: 1, seconds: 5 });
      accepted = one.accepted === 1;
      if (!accepted) await new Promise((resolve) => setTimeout(resolve, 500));
    }
    console.log(`${attack}: normal mail got a session after ${((performance.now() - started) / 1000).toFixed(1)} s (${tries} tries)`);
  }
  const load = await runLoad({ port, dir: work, prefix: attack.replace(/\W+/g, "-"), sessions: 1, maxMessages: 30, seconds: 20 });
  await drained(spool, () => maildirContents(maildir).length);
  const row = tally(attack, load.messages, countIds(maildirContents(maildir)), spoolIds(spool), null);
  printRow(row);
  const stats = processStats(relay.child.pid!);
  console.log(
    `${attack}: normal mail p50 ${load.p50Ms.toFixed(1)} ms (without attack ${baselineMs.toFixed(1)} ms), p99 ${load.p99Ms.toFixed(1)} ms; ` +
      `relay RSS ${mebibytes(stats.rss)}, peak ${mebibytes(stats.peakRss)}, ${stats.openFds} open fds; refusals ${JSON.stringify(load.refused)} errors ${JSON.stringify(load.errors)}`,
  );
  expect(load.errors).toEqual({});
  expect(row.accepted).toBe(30);
  expect(row.delivered).toBe(30);
  expect(row.lost).toBe(0);
  expect(row.duplicated).toBe(0);
}

const closeAll = (clients: readonly (RawClient | Error)[]): void => clients.forEach((c) => c instanceof Error || c.close());

describe("hostile and slow clients: the limits hold and normal mail flows", () => {
  it("20 sessions per client address: the 21st to 25th get 421", async () => {
    const clients = await connectMany(port, ["127.3.0.1"], 25);
    try {
      const greetings = await Promise.all(clients.map((c) => (c instanceof Error ? Promise.resolve("") : greeting(c))));
      expect(greetings.filter((g) => g.startsWith("220 ")).length).toBe(LIMITS.maxConnectionsPerIp);
      expect(greetings.filter((g) => g.startsWith("421 ")).length).toBe(25 - LIMITS.maxConnectionsPerIp);
      await normalMailBeside("25 connections from one address");
    } finally {
      closeAll(clients);
    }
  });

  it("1,000 idle connections from 100 addresses: at most maxConnections are served, the rest get 421, normal mail flows", async () => {
    const addresses = loopbackAddresses(4, 100);
    const clients = await connectMany(port, addresses, 1000);
    try {
      const greetings = await Promise.all(clients.map((c) => (c instanceof Error ? Promise.resolve("") : greeting(c))));
      const served = greetings.filter((g) => g.startsWith("220 ")).length;
      const refused = greetings.filter((g) => g.startsWith("421 ")).length;
      console.log(
        `idle flood: ${served} greeted, ${refused} refused with 421, ${1000 - served - refused} without a reply (${clients.filter((c) => c instanceof Error).length} could not connect)`,
      );
      expect(served).toBeLessThanOrEqual(LIMITS.maxConnections);
      expect(served + refused).toBe(1000);
      // Stress mode: the idle sessions are closed with 421 after the stress timeout, and the sessions
      // come free for mail (until then, normal mail is refused 421 and tries again, as an MTA would).
      await normalMailBeside("1,000 idle connections from 100 addresses", true);
      const timedOut = clients.filter((c) => !(c instanceof Error) && /^421 .*[Tt]imeout/m.test(c.received())).length;
      console.log(`idle flood: ${timedOut} of the ${served} idle sessions closed with 421 for their idle timeout (stress mode)`);
      expect(timedOut).toBeGreaterThan(0);
    } finally {
      closeAll(clients);
    }
  });

  it("slowloris: 20 sessions sending their message a byte a second are all still read, and normal mail flows", async () => {
    const clients = (await connectMany(port, ["127.5.0.1"], 20)).filter((c): c is RawClient => !(c instanceof Error));
    const header = `From: <eve@${TEST_DNS.sender.domain}>\r\nTo: <${POSTMASTER}>\r\nSubject: slow\r\n\r\n`;
    try {
      await Promise.all(clients.map((c) => greeting(c)));
      for (const c of clients)
        c.socket.write(`EHLO ${TEST_DNS.sender.mailHost}\r\nMAIL FROM:<eve@${TEST_DNS.sender.domain}>\r\nRCPT TO:<${POSTMASTER}>\r\nDATA\r\n`);
      await Promise.all(clients.map((c) => c.waitFor(/^354 /m)));
      for (const c of clients) c.socket.write(header);
      const dribble = setInterval(() => clients.forEach((c) => c.socket.write("x")), 1000);
      const dribbling = performance.now();
      try {
        await normalMailBeside("slowloris: 20 sessions, a byte a second in DATA");
        // Ten seconds of dribbling at least, normal mail or not.
        await new Promise((resolve) => setTimeout(resolve, Math.max(0, 10_000 - (performance.now() - dribbling))));
      } finally {
        clearInterval(dribble);
      }
      const marks = clients.map((c) => c.received().length);
      for (const c of clients) c.socket.write("\r\n.\r\n");
      const finals = await Promise.all(clients.map((c, i) => c.waitFor(/^\d{3} [^\r\n]*\r\n/m, 30_000, marks[i]).catch((err: unknown) => String(err))));
      console.log(`slowloris: the final replies ${JSON.stringify([...new Set(finals.map((f) => f.slice(0, 9)))])}`);
      // Still read to the end: each slow message got its final reply (the relay's verdict on it, whatever it is).
      expect(finals.filter((f) => /^[245]\d\d /.test(f)).length).toBe(clients.length);
    } finally {
      closeAll(clients);
    }
  });

  it("a client that pipelines commands and never reads the replies: the relay stops reading it, memory stays bounded", async () => {
    const client = await rawClient(port, "127.7.0.1");
    try {
      await greeting(client);
      client.socket.pause(); // never read again
      const line = Buffer.from(`EHLO ${TEST_DNS.sender.mailHost}\r\n`);
      const chunk = Buffer.concat(Array.from({ length: 4096 }, () => line));
      let written = 0;
      const writer = setInterval(() => {
        // Only while the socket takes it: what the kernel will not take stays out of this process too.
        while (!client.socket.writableNeedDrain && written < 256 * 1024 * 1024) {
          client.socket.write(chunk);
          written += chunk.length;
        }
      }, 50);
      try {
        await normalMailBeside("a client pipelining EHLO without reading");
      } finally {
        clearInterval(writer);
      }
      console.log(`never reads: ${mebibytes(written)} of commands written before the relay stopped reading`);
    } finally {
      client.close();
    }
  });

  it("an oversized command line and an oversized header: refused with a reply, the session or the message ended", async () => {
    const longLine = await rawClient(port, "127.8.0.1");
    const longHeader = await rawClient(port, "127.8.0.2");
    try {
      await Promise.all([greeting(longLine), greeting(longHeader)]);
      longLine.socket.write(`EHLO ${"a".repeat(1024 * 1024)}\r\n`);
      longHeader.socket.write(`EHLO ${TEST_DNS.sender.mailHost}\r\nMAIL FROM:<eve@${TEST_DNS.sender.domain}>\r\nRCPT TO:<${POSTMASTER}>\r\nDATA\r\n`);
      await longHeader.waitFor(/^354 /m);
      const mark = longHeader.received().length;
      longHeader.socket.write(`Subject: ${"b".repeat(8 * 1024 * 1024)}\r\nFrom: <eve@${TEST_DNS.sender.domain}>\r\n\r\nbody\r\n.\r\n`);
      const [lineReply, headerReply] = await Promise.all([
        longLine.waitFor(/^[45]\d\d [^\r\n]*\r\n/m),
        longHeader.waitFor(/^[245]\d\d [^\r\n]*\r\n/m, 30_000, mark),
      ]);
      console.log(`oversized: a 1 MiB command line got ${JSON.stringify(lineReply.trim())}; an 8 MiB header line got ${JSON.stringify(headerReply.trim())}`);
      await normalMailBeside("a 1 MiB command line, an 8 MiB header line");
    } finally {
      longLine.close();
      longHeader.close();
    }
  });

  it("TLS handshakes that stall after the ClientHello: bounded per address, normal mail flows", async () => {
    const clients = (await connectMany(port, ["127.9.0.1"], LIMITS.maxConnectionsPerIp)).filter((c): c is RawClient => !(c instanceof Error));
    try {
      await Promise.all(clients.map((c) => greeting(c)));
      for (const c of clients) c.socket.write(`EHLO ${TEST_DNS.sender.mailHost}\r\nSTARTTLS\r\n`);
      await Promise.all(clients.map((c) => c.waitFor(/^220 2\.0\.0 /m)));
      clients.forEach(stallTls);
      // One more from the same address is over its bound.
      const extra = await rawClient(port, "127.9.0.1");
      expect(await greeting(extra)).toMatch(/^421 /);
      extra.close();
      await normalMailBeside("20 TLS handshakes stalled after the ClientHello");
    } finally {
      closeAll(clients);
    }
  });

  it("10,000 RCPTs in one transaction: 100 accepted, then 452, and the session closed at the error bound", async () => {
    // From the sender's own address (every check passes), to 10,000 different subaddresses of the mailbox.
    const client = await rawClient(port, TEST_DNS.sender.authorizedIp);
    try {
      await greeting(client);
      const rcpts = Array.from({ length: 10_000 }, (_, n) => `RCPT TO:<alice+${n}@${LOCAL.domain}>\r\n`).join("");
      client.socket.write(`EHLO ${TEST_DNS.sender.mailHost}\r\nMAIL FROM:<alice@${TEST_DNS.sender.domain}>\r\n${rcpts}`);
      await client.closed;
      const replies = client
        .received()
        .split("\r\n")
        .filter((l) => /^\d{3} /.test(l));
      const codes = replies.map((l) => l.slice(0, 3));
      const count = (code: string): number => codes.filter((c) => c === code).length;
      console.log(`10,000 RCPTs: ${replies.length} replies: ${count("250")} × 250, ${count("452")} × 452, ${count("421")} × 421 (then closed)`);
      // EHLO and MAIL, then the recipients up to the bound.
      expect(count("250")).toBe(2 + LIMITS.maxRecipients);
      // Each 452 is an error; the one that reaches the bound is followed by the 421.
      expect(count("452")).toBe(LIMITS.maxErrors);
      expect(codes.at(-1)).toBe("421");
      await normalMailBeside("10,000 RCPTs in one transaction");
    } finally {
      client.close();
    }
  });

  it("peak memory stays under the bound the limits give", () => {
    const { peakRss } = processStats(relay.child.pid!);
    // The bound: every session the limits allow with a generous 256 KiB each (socket buffers, parser,
    // session state), plus two messages of the largest size held whole (DATA is read whole before it
    // is judged), above the resident memory at start. Exceeding it would mean memory grows with what
    // a client sends rather than with what the limits allow.
    const bound = startRss + LIMITS.maxConnections * 256 * 1024 + 2 * LIMITS.maxMessageBytes;
    console.log(`hostile clients: the relay's peak RSS ${mebibytes(peakRss)} (at start ${mebibytes(startRss)}, bound ${mebibytes(bound)})`);
    expect(peakRss).toBeLessThan(bound);
  });
});
