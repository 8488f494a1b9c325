// Outbound TLS against real Postfix peers (Debian's postfix, a private instance per case on its own
// loopback address, test/harness/postfix.ts): the harness's signed zone outbound.test names each one as
// the MX of a domain. Our remote delivery offers TLS ≥ 1.2 with forward secrecy first; where no policy
// requires TLS it falls back on the same host to legacy TLS (1.0+, any suite), then to plaintext, and
// counts the failure for TLS-RPT once; under a policy it never downgrades. Then the other direction:
// Postfix relaying to our MX with smtp_tls_security_level = encrypt.
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import SMTPConnection from "nodemailer/lib/smtp-connection";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { remoteDeliverer } from "../../relay-node/src/deliver/remote.ts";
import { createRelayResolver } from "../../relay-node/src/dns/resolver.ts";
import { createLogger } from "../../relay-node/src/log/log.ts";
import { openStsPolicyCache } from "../../relay-node/src/mtasts/cache.ts";
import type { OutgoingMessage } from "../../relay-node/src/queue/deliverer.ts";
import { openTlsRptStore, utcDay, type TlsCountRow, type TlsRptStore } from "../../relay-node/src/tlsrpt/counts.ts";
import { loadConfigFile } from "../../relay-node/src/config/file.ts";
import type { EdgemxConfig } from "../../core/config/schema.ts";
import { DANE_MX_KEY_PEM } from "../harness/dane-key.ts";
import { startPostfix, writePostfixInstance, type RunningPostfix } from "../harness/postfix.ts";
import { freePort } from "../harness/process.ts";
import { delivered, LOCAL, relayDocument, startTestRelay, testMessage, type TestRelay } from "../harness/relay.ts";
import { issueCertificate, makeTestCa } from "../harness/test-ca.ts";
import { TEST_DNS } from "../harness/zones.ts";

const { outbound } = TEST_DNS;
type PeerName = "tls10" | "noEcdhe" | "noStarttls" | "starttlsRefused" | "handshakeFails" | "tls13" | "dane";

const dir = mkdtempSync(join(tmpdir(), "edgemx-postfix-"));
let port: number;
const peers = {} as Record<PeerName, RunningPostfix>;
let config: EdgemxConfig;
let tlsRpt: TlsRptStore;
let logs: Record<string, unknown>[] = [];

/** main.cf lines of a peer's smtpd TLS; `files` are the certificate and key as Postfix reads them. */
function tlsMain(name: PeerName, files: { cert: string; key: string }): string[] {
  const certificate = [`smtpd_tls_cert_file = ${files.cert}`, `smtpd_tls_key_file = ${files.key}`, "smtpd_tls_loglevel = 1"];
  switch (name) {
    case "noStarttls":
      return ["smtpd_tls_security_level = none"];
    case "starttlsRefused":
      // Postfix still advertises STARTTLS, and answers it 454 4.7.0 "TLS not available due to local problem".
      return ["smtpd_tls_security_level = may", `smtpd_tls_cert_file = ${files.cert}.missing`, `smtpd_tls_key_file = ${files.key}`];
    case "handshakeFails":
      // 220 to STARTTLS, then "no protocols available": OpenSSL 3 has no SSLv3.
      return ["smtpd_tls_security_level = may", ...certificate, "smtpd_tls_protocols = >=SSLv3, <=SSLv3"];
    case "tls10":
      // Postfix sets OpenSSL's security level itself: no @SECLEVEL needed on this side for TLS 1.0.
      return ["smtpd_tls_security_level = may", ...certificate, "smtpd_tls_protocols = >=TLSv1, <=TLSv1"];
    case "noEcdhe":
      return [
        "smtpd_tls_security_level = may",
        ...certificate,
        "smtpd_tls_protocols = >=TLSv1.2, <=TLSv1.2",
        "smtpd_tls_ciphers = high",
        "tls_high_cipherlist = kRSA:kDHE:!aNULL",
      ];
    case "tls13":
    case "dane":
      return ["smtpd_tls_security_level = may", ...certificate, "smtpd_tls_protocols = >=TLSv1.3"];
  }
}

async function startPeer(name: PeerName, certificate: { keyPem: string; chainPem: string }): Promise<void> {
  const entry = outbound[name];
  const folder = join(dir, name);
  const files = { cert: join(dir, `${name}-cert.pem`), key: join(dir, `${name}-key.pem`) };
  writeFileSync(files.cert, certificate.chainPem);
  writeFileSync(files.key, certificate.keyPem, { mode: 0o600 });
  const instance = writePostfixInstance(folder, port, entry.mx, entry.domain, tlsMain(name, files), entry.mxAddress);
  peers[name] = await startPostfix(instance);
}

beforeAll(async () => {
  const ca = makeTestCa(join(dir, "ca"));
  const ec = (name: PeerName) => issueCertificate(ca, { names: [outbound[name].mx] });
  // RSA: without ECDHE, a P-256 certificate would leave no suite at all.
  const rsaKey = execFileSync("openssl", ["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"], { encoding: "utf8" });
  port = await freePort();
  await Promise.all([
    startPeer("tls10", ec("tls10")),
    startPeer("noEcdhe", issueCertificate(ca, { names: [outbound.noEcdhe.mx], keyPem: rsaKey })),
    startPeer("noStarttls", ec("noStarttls")),
    startPeer("starttlsRefused", ec("starttlsRefused")),
    startPeer("handshakeFails", ec("handshakeFails")),
    startPeer("tls13", ec("tls13")),
    startPeer("dane", issueCertificate(ca, { names: [outbound.dane.mx], keyPem: DANE_MX_KEY_PEM })),
  ]);
  const example = loadConfigFile("config/example.yaml");
  config = { ...example, connection: { ...example.connection, mandatoryTls: { domains: [outbound.mandatoryTls.domain] } } };
}, 120_000);

afterAll(async () => {
  await Promise.all(Object.values(peers).map((peer) => peer.stop()));
  rmSync(dir, { recursive: true, force: true });
});

function deliverer() {
  const resolver = createRelayResolver({ host: "127.0.0.1", port: inject("harness").dnsPort, timeoutMs: 3000 });
  tlsRpt = openTlsRptStore(":memory:");
  logs = [];
  const logger = createLogger("info", { write: (line: string) => void logs.push(JSON.parse(line) as Record<string, unknown>) });
  return remoteDeliverer(config, resolver, {
    port,
    stsCache: openStsPolicyCache(":memory:"),
    tlsRpt,
    logger,
    dnssecProbeName: TEST_DNS.sender.domain,
    timeouts: { connectMs: 3000, greetingMs: 5000, idleMs: 5000, totalMs: 20_000 },
  });
}

function messageTo(rcpt: string): OutgoingMessage {
  return {
    id: "TEST",
    envelope: { mailFrom: LOCAL.mailbox, rcptTo: [rcpt] },
    message: new TextEncoder().encode(`From: ${LOCAL.mailbox}\r\nTo: ${rcpt}\r\nSubject: to Postfix\r\n\r\nHello.\r\n`),
  };
}

/** The day's TLS-RPT rows of `domain`. */
function rowsOf(domain: string): TlsCountRow[] {
  return tlsRpt.rows(utcDay(Date.now())).filter((row) => row.policyDomain === domain);
}

/** Waits until Postfix's log has a line matching `pattern` (postlogd writes it a moment after the event); the line. */
async function maillogLine(peer: RunningPostfix, pattern: RegExp): Promise<string> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const line = peer
      .maillog()
      .split("\n")
      .find((l) => pattern.test(l));
    if (line !== undefined) return line;
    if (Date.now() > deadline) throw new Error(`no line ${pattern} in Postfix's log:\n${peer.maillog()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Postfix's smtpd lines about TLS sessions (loglevel 1: one per established session). */
function tlsLines(peer: RunningPostfix): string[] {
  return peer
    .maillog()
    .split("\n")
    .filter((line) => /TLS connection established from/.test(line));
}

describe("opportunistic TLS against Postfix (RFC 7435): no policy, so it falls back on the same host", () => {
  it("a good TLS 1.3 peer: delivered over TLS 1.3, counted as a success", async () => {
    const rcpt = `bob@${outbound.tls13.domain}`;
    const [result] = await deliverer()(messageTo(rcpt));
    expect(result).toMatchObject({ status: "delivered", remoteMta: outbound.tls13.mx });
    expect(await maillogLine(peers.tls13, new RegExp(`to=<${rcpt}>.*status=sent`))).toBeTruthy();
    expect(tlsLines(peers.tls13).at(-1)).toMatch(/: TLSv1\.3 with cipher /);
    expect(rowsOf(outbound.tls13.domain)).toMatchObject([{ policyType: "no-policy-found", resultType: "", count: 1 }]);
  });

  it("a TLS 1.0-only peer: the modern handshake fails, legacy TLS 1.0 is accepted, logged, and the failure counted", async () => {
    const rcpt = `bob@${outbound.tls10.domain}`;
    const [result] = await deliverer()(messageTo(rcpt));
    expect(result).toMatchObject({ status: "delivered", remoteMta: outbound.tls10.mx });
    expect(await maillogLine(peers.tls10, new RegExp(`to=<${rcpt}>.*status=sent`))).toBeTruthy();
    expect(tlsLines(peers.tls10).at(-1)).toMatch(/: TLSv1 with cipher ECDHE-/);
    expect(rowsOf(outbound.tls10.domain)).toMatchObject([
      {
        policyType: "no-policy-found",
        resultType: "validation-failure",
        receivingMxHostname: outbound.tls10.mx,
        receivingIp: outbound.tls10.mxAddress,
        detail: "TLS handshake failed: ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION",
        count: 1,
      },
    ]);
    expect(logs).toContainEqual(expect.objectContaining({ msg: "outbound STARTTLS failed: trying legacy TLS on the same host", mx: outbound.tls10.mx }));
    expect(logs).toContainEqual(
      expect.objectContaining({ msg: "outbound session after a TLS fallback", offer: "legacy", tls: expect.stringMatching(/^TLSv1 /) as unknown }),
    );
  });

  it("a TLS 1.2 peer without ECDHE: legacy TLS accepts its DHE suite", async () => {
    const rcpt = `bob@${outbound.noEcdhe.domain}`;
    const [result] = await deliverer()(messageTo(rcpt));
    expect(result?.status).toBe("delivered");
    expect(await maillogLine(peers.noEcdhe, new RegExp(`to=<${rcpt}>.*status=sent`))).toBeTruthy();
    expect(tlsLines(peers.noEcdhe).at(-1)).toMatch(/: TLSv1\.2 with cipher (DHE-RSA|AES)/);
    expect(rowsOf(outbound.noEcdhe.domain)).toMatchObject([
      { resultType: "validation-failure", detail: "TLS handshake failed: ERR_SSL_SSL/TLS_ALERT_HANDSHAKE_FAILURE" },
    ]);
  });

  it("a peer without STARTTLS: delivered in plaintext, counted as starttls-not-supported", async () => {
    const rcpt = `bob@${outbound.noStarttls.domain}`;
    const [result] = await deliverer()(messageTo(rcpt));
    expect(result?.status).toBe("delivered");
    expect(await maillogLine(peers.noStarttls, new RegExp(`to=<${rcpt}>.*status=sent`))).toBeTruthy();
    expect(tlsLines(peers.noStarttls)).toEqual([]);
    expect(rowsOf(outbound.noStarttls.domain)).toMatchObject([{ resultType: "starttls-not-supported", detail: "the server offered no STARTTLS", count: 1 }]);
  });

  it("STARTTLS advertised but refused (454): retried in plaintext on the same host, counted once", async () => {
    const rcpt = `bob@${outbound.starttlsRefused.domain}`;
    const [result] = await deliverer()(messageTo(rcpt));
    expect(result?.status).toBe("delivered");
    expect(await maillogLine(peers.starttlsRefused, new RegExp(`to=<${rcpt}>.*status=sent`))).toBeTruthy();
    expect(rowsOf(outbound.starttlsRefused.domain)).toMatchObject([
      { resultType: "starttls-not-supported", detail: "STARTTLS refused: 454 4.7.0 TLS not available due to local problem", count: 1 },
    ]);
  });

  it("STARTTLS advertised but every handshake fails: modern, then legacy, then plaintext", async () => {
    const rcpt = `bob@${outbound.handshakeFails.domain}`;
    const [result] = await deliverer()(messageTo(rcpt));
    expect(result?.status).toBe("delivered");
    expect(await maillogLine(peers.handshakeFails, new RegExp(`to=<${rcpt}>.*status=sent`))).toBeTruthy();
    expect(peers.handshakeFails.maillog().match(/no protocols available/g)?.length).toBe(2);
    expect(rowsOf(outbound.handshakeFails.domain)).toMatchObject([{ resultType: "validation-failure", count: 1 }]);
    expect(logs.filter((line) => String(line.msg).startsWith("outbound STARTTLS failed")).map((line) => line.next)).toEqual(["legacy", "none"]);
  });
});

describe("policy TLS against Postfix: never a downgrade", () => {
  it("mandatory TLS to the TLS 1.0-only peer: deferred with 4.7.5, nothing sent, the failure counted", async () => {
    const rcpt = `bob@${outbound.mandatoryTls.domain}`;
    const [result] = await deliverer()(messageTo(rcpt));
    expect(result?.status).toBe("deferred");
    expect(result?.reply).toBe(
      `451 4.7.5 Mandatory TLS: ${outbound.tls10.mx}: validation-failure (TLS handshake failed: ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION)`,
    );
    expect(peers.tls10.maillog()).not.toContain(`to=<${rcpt}>`);
    expect(rowsOf(outbound.mandatoryTls.domain)).toMatchObject([{ policyType: "no-policy-found", resultType: "validation-failure", count: 1 }]);
    expect(logs.filter((line) => String(line.msg).startsWith("outbound STARTTLS failed"))).toHaveLength(1);
  });

  it("DANE-EE (TLSA 3 1 1) to Postfix: delivered over TLS, counted under the tlsa policy", async () => {
    const rcpt = `bob@${outbound.dane.domain}`;
    const [result] = await deliverer()(messageTo(rcpt));
    expect(result).toMatchObject({ status: "delivered", remoteMta: outbound.dane.mx });
    expect(await maillogLine(peers.dane, new RegExp(`to=<${rcpt}>.*status=sent`))).toBeTruthy();
    expect(tlsLines(peers.dane).at(-1)).toMatch(/: TLSv1\.3 with cipher /);
    expect(rowsOf(outbound.dane.domain)).toMatchObject([{ policyType: "tlsa", resultType: "", count: 1 }]);
  });
});

describe("Postfix as a client: relaying to our MX with smtp_tls_security_level = encrypt", () => {
  let relay: TestRelay;
  let sender: RunningPostfix;

  beforeAll(async () => {
    relay = await startTestRelay(relayDocument(join(dir, "relay"), inject("harness").dnsPort));
    const senderPort = await freePort();
    const instance = writePostfixInstance(join(dir, "sender"), senderPort, TEST_DNS.sender.mailHost, TEST_DNS.sender.domain, [
      "mydestination =",
      "default_transport = smtp",
      `relayhost = [127.0.0.1]:${relay.port}`,
      "smtp_tls_security_level = encrypt",
      "smtp_tls_loglevel = 1",
      // The address and name the harness's DNS vouches for: PTR, A and SPF of sender.test.
      `smtp_bind_address = ${TEST_DNS.sender.authorizedIp}`,
      `smtp_helo_name = ${TEST_DNS.sender.mailHost}`,
      "mynetworks = 127.0.0.0/8",
    ]);
    sender = await startPostfix(instance);
  }, 60_000);

  afterAll(async () => {
    await sender?.stop();
    await relay?.relay.stop();
  });

  it("Postfix's message arrives in our Maildir over TLS", async () => {
    const from = `carol@${TEST_DNS.sender.domain}`;
    // The greeting may wait 20 s, well inside this test's 60 s: a Postfix that does not greet fails the
    // test through the handler below, which prints Postfix's log, not through vitest's timeout.
    const connection = new SMTPConnection({
      host: "127.0.0.1",
      port: sender.instance.port,
      name: "client.test",
      ignoreTLS: true,
      greetingTimeout: 20_000,
    });
    // nodemailer reports a failed connect (no greeting, say) only as an "error" event: a rejection here,
    // with Postfix's log to tell why, not an uncaught exception.
    await new Promise<void>((resolve, reject) => {
      connection.once("error", (err: Error) => reject(new Error(`${err.message}; Postfix's log:\n${sender.maillog()}`, { cause: err })));
      connection.connect(() => resolve());
    });
    const raw = testMessage({ from, to: LOCAL.mailbox, subject: "through Postfix" });
    await new Promise<void>((resolve, reject) => connection.send({ from, to: [LOCAL.mailbox] }, raw, (err) => (err ? reject(err) : resolve())));
    connection.quit();
    const sent = await maillogLine(sender, new RegExp(`to=<${LOCAL.mailbox}>.*relay=127\\.0\\.0\\.1.*status=sent`));
    expect(sent).toMatch(/250 2\.0\.0 Ok: queued as /);
    expect(sender.maillog()).toMatch(/TLS connection established to 127\.0\.0\.1\[127\.0\.0\.1\]:\d+: TLSv1\.3 with cipher /);
    const [message] = await delivered(relay, LOCAL.mailbox);
    expect(message).toContain("Subject: through Postfix");
    // Our Received field: the client Postfix presented, over ESMTPS (RFC 3848).
    expect(message).toMatch(new RegExp(`^Received: from ${TEST_DNS.sender.mailHost.replace(/\./g, "\\.")} [^]*?with ESMTPS`, "m"));
  }, 60_000);
});
