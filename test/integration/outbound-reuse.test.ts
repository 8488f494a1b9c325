// Outbound SMTP connection reuse (deliver/session-cache.ts) against real peers: a private Postfix with
// TLS 1.3 as the MX host of tls13.outbound.test (test/harness/postfix.ts), a Postfix that ends idle
// sessions after 1 s as the MX host of plaintext.outbound.test, and the harness's SMTP sink as the MX
// host of insecure.test. What is counted is what the peers saw: Postfix's "connect from" log lines and
// the sink's accepted connections.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { EdgemxConfig } from "../../core/config/schema.ts";
import { loadConfigFile } from "../../relay-node/src/config/file.ts";
import { remoteDeliverer } from "../../relay-node/src/deliver/remote.ts";
import { SessionCache } from "../../relay-node/src/deliver/session-cache.ts";
import { createRelayResolver } from "../../relay-node/src/dns/resolver.ts";
import { openStsPolicyCache } from "../../relay-node/src/mtasts/cache.ts";
import type { OutgoingMessage } from "../../relay-node/src/queue/deliverer.ts";
import { openTlsRptStore, utcDay, type TlsRptStore } from "../../relay-node/src/tlsrpt/counts.ts";
import { startPostfix, writePostfixInstance, type RunningPostfix } from "../harness/postfix.ts";
import { freePort } from "../harness/process.ts";
import { LOCAL } from "../harness/relay.ts";
import { startSmtpSink, type SmtpSink } from "../harness/smtp-sink.ts";
import { issueCertificate, makeTestCa, type TestCa } from "../harness/test-ca.ts";
import { TEST_DNS } from "../harness/zones.ts";

const { outbound, insecure } = TEST_DNS;
const dir = mkdtempSync(join(tmpdir(), "edgemx-outbound-reuse-"));
let port: number;
let ca: TestCa;
let tls13: RunningPostfix;
let idleClosing: RunningPostfix;
const example = loadConfigFile("config/example.yaml");
/** The test's caches, closed after each test that opened one. */
const caches: SessionCache[] = [];

beforeAll(async () => {
  ca = makeTestCa(join(dir, "ca"));
  port = await freePort();
  const certificate = issueCertificate(ca, { names: [outbound.tls13.mx] });
  const cert = join(dir, "tls13-cert.pem");
  const key = join(dir, "tls13-key.pem");
  writeFileSync(cert, certificate.chainPem);
  writeFileSync(key, certificate.keyPem, { mode: 0o600 });
  [tls13, idleClosing] = await Promise.all([
    startPostfix(
      writePostfixInstance(
        join(dir, "tls13"),
        port,
        outbound.tls13.mx,
        outbound.tls13.domain,
        ["smtpd_tls_security_level = may", `smtpd_tls_cert_file = ${cert}`, `smtpd_tls_key_file = ${key}`, "smtpd_tls_loglevel = 1"],
        outbound.tls13.mxAddress,
      ),
    ),
    // Ends a session idle for 1 s with "421 … timeout exceeded", as a busy server ends idle clients.
    startPostfix(
      writePostfixInstance(
        join(dir, "idle-closing"),
        port,
        outbound.noStarttls.mx,
        outbound.noStarttls.domain,
        ["smtpd_tls_security_level = none", "smtpd_timeout = 1s"],
        outbound.noStarttls.mxAddress,
      ),
    ),
  ]);
}, 120_000);

afterAll(async () => {
  await Promise.all(caches.map((cache) => cache.close()));
  await Promise.all([tls13?.stop(), idleClosing?.stop()]);
  rmSync(dir, { recursive: true, force: true });
});

/** A cache whose idle sessions outlast a slow test machine (the default idle time is 2 s). */
function sessionCache(): SessionCache {
  const cache = new SessionCache({ idleMs: 60_000 });
  caches.push(cache);
  return cache;
}

function deliverer(sessions: SessionCache, config: EdgemxConfig = example, tlsRpt: TlsRptStore = openTlsRptStore(":memory:"), peerPort = port) {
  return remoteDeliverer(config, createRelayResolver({ host: "127.0.0.1", port: inject("harness").dnsPort, timeoutMs: 3000 }), {
    port: peerPort,
    ca: ca.certPem,
    stsCache: openStsPolicyCache(":memory:"),
    tlsRpt,
    sessions,
    dnssecProbeName: TEST_DNS.sender.domain,
    timeouts: { connectMs: 3000, greetingMs: 5000, idleMs: 5000, totalMs: 20_000 },
  });
}

let sequence = 0;
function messageTo(rcpt: string): OutgoingMessage {
  sequence++;
  return {
    id: `REUSE${sequence}`,
    envelope: { mailFrom: LOCAL.mailbox, rcptTo: [rcpt] },
    message: new TextEncoder().encode(`From: ${LOCAL.mailbox}\r\nTo: ${rcpt}\r\nSubject: reuse ${sequence}\r\n\r\nHello.\r\n`),
  };
}

/** Lines of Postfix's log matching `pattern`, once at least `atLeast` are there (postlogd writes them a moment after the event). */
async function maillogLines(peer: RunningPostfix, pattern: RegExp, atLeast: number): Promise<string[]> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const lines = peer
      .maillog()
      .split("\n")
      .filter((line) => pattern.test(line));
    if (lines.length >= atLeast) return lines;
    if (Date.now() > deadline) throw new Error(`fewer than ${atLeast} lines ${pattern} in Postfix's log:\n${peer.maillog()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const CONNECT = /smtpd\[\d+\]: connect from /;
const DISCONNECT = /smtpd\[\d+\]: disconnect from /;
const TLS_SESSION = /TLS connection established from/;

describe("outbound connection reuse", () => {
  it("sends five messages to one MX host over one TLS session, and closes it with the cache", async () => {
    const cache = sessionCache();
    const tlsRpt = openTlsRptStore(":memory:");
    const deliver = deliverer(cache, example, tlsRpt);
    const connectsBefore = (await maillogLines(tls13, CONNECT, 0)).length;
    const rcpts = Array.from({ length: 5 }, (_, i) => `user${i}-reuse@${outbound.tls13.domain}`);
    for (const rcpt of rcpts) {
      const [result] = await deliver(messageTo(rcpt));
      expect(result).toMatchObject({ rcpt, status: "delivered", remoteMta: outbound.tls13.mx });
    }
    for (const rcpt of rcpts) await maillogLines(tls13, new RegExp(`to=<${rcpt}>.*status=sent`), 1);
    expect((await maillogLines(tls13, CONNECT, 0)).length - connectsBefore).toBe(1);
    expect(cache.idle).toBe(1);
    // TLS-RPT counts sessions (RFC 8460 §4.4): one.
    expect(tlsRpt.rows(utcDay(Date.now())).filter((row) => row.policyDomain === outbound.tls13.domain)).toMatchObject([{ resultType: "", count: 1 }]);
    await cache.close();
    expect(cache.idle).toBe(0);
    const connects = (await maillogLines(tls13, CONNECT, 0)).length;
    await maillogLines(tls13, DISCONNECT, connects);
  });

  it("never lets a session judged under one TLS requirement carry a message under another", async () => {
    const cache = sessionCache();
    const mandatory: EdgemxConfig = { ...example, connection: { ...example.connection, mandatoryTls: { domains: [outbound.tls13.domain] } } };
    const opportunistically = deliverer(cache);
    const verified = deliverer(cache, mandatory);
    const before = { connects: (await maillogLines(tls13, CONNECT, 0)).length, tls: (await maillogLines(tls13, TLS_SESSION, 0)).length };
    const sends: [typeof verified, string][] = [
      [opportunistically, "opportunistic-1"],
      [verified, "verified-1"],
      [verified, "verified-2"],
      [opportunistically, "opportunistic-2"],
    ];
    for (const [deliver, local] of sends) {
      const [result] = await deliver(messageTo(`${local}@${outbound.tls13.domain}`));
      expect(result?.status).toBe("delivered");
    }
    for (const [, local] of sends) await maillogLines(tls13, new RegExp(`to=<${local}@.*status=sent`), 1);
    // One session per requirement: the second of each went over its own requirement's session.
    expect((await maillogLines(tls13, CONNECT, 0)).length - before.connects).toBe(2);
    expect((await maillogLines(tls13, TLS_SESSION, 0)).length - before.tls).toBe(2);
    expect(cache.idle).toBe(2);
  });

  it("a session the server ended while idle (its 421 timeout) is not used: the next message goes over a new one", async () => {
    const cache = sessionCache();
    const deliver = deliverer(cache);
    const connectsBefore = (await maillogLines(idleClosing, CONNECT, 0)).length;
    const [first] = await deliver(messageTo(`first@${outbound.noStarttls.domain}`));
    expect(first?.status).toBe("delivered");
    await maillogLines(idleClosing, /timeout after /, 1);
    await maillogLines(idleClosing, DISCONNECT, connectsBefore + 1);
    const [second] = await deliver(messageTo(`second@${outbound.noStarttls.domain}`));
    expect(second).toMatchObject({ status: "delivered", reply: expect.stringMatching(/^250 /) as unknown });
    await maillogLines(idleClosing, new RegExp(`to=<second@.*status=sent`), 1);
    expect((await maillogLines(idleClosing, CONNECT, 0)).length - connectsBefore).toBe(2);
  });

  describe("against the SMTP sink", () => {
    let sink: SmtpSink;
    let sinkPort: number;

    beforeAll(async () => {
      sinkPort = await freePort();
      // A server that, asked RSET on a session it is about to end, answers 421 and closes (RFC 5321 §3.8).
      sink = await startSmtpSink(insecure.mxAddress, sinkPort, { rsetClosing: "421 4.4.2 sink closing the idle session" });
    });

    afterAll(async () => {
      await sink?.stop();
    });

    it("a cached session found dead at its RSET: the message goes at once over a new session, not deferred", async () => {
      const cache = sessionCache();
      const deliver = deliverer(cache, example, openTlsRptStore(":memory:"), sinkPort);
      const [first] = await deliver(messageTo(`first@${insecure.domain}`));
      expect(first?.status).toBe("delivered");
      expect(cache.idle).toBe(1);
      const [second] = await deliver(messageTo(`second@${insecure.domain}`));
      expect(second?.status).toBe("delivered");
      expect(sink.transactions.map((t) => t.rcptTo)).toEqual([[`first@${insecure.domain}`], [`second@${insecure.domain}`]]);
      expect(sink.connections()).toBe(2);
    });

    it("a cached session the server dropped: the next message goes over a new session", async () => {
      const cache = sessionCache();
      const deliver = deliverer(cache, example, openTlsRptStore(":memory:"), sinkPort);
      const connectionsBefore = sink.connections();
      const [first] = await deliver(messageTo(`third@${insecure.domain}`));
      expect(first?.status).toBe("delivered");
      sink.dropConnections();
      const [second] = await deliver(messageTo(`fourth@${insecure.domain}`));
      expect(second?.status).toBe("delivered");
      expect(sink.transactions.slice(-2).map((t) => t.rcptTo)).toEqual([[`third@${insecure.domain}`], [`fourth@${insecure.domain}`]]);
      expect(sink.connections() - connectionsBefore).toBe(2);
    });
  });
});
