// The relay's scan endpoint (relay.scanListener, relay-node/src/scan/endpoint.ts) in a running relay,
// asked with Node's HTTPS client as Email Routing's Worker asks it: real clamd and rspamd behind it, the
// relay's certificate (from a test CA), the bearer token from the environment, mutual TLS where
// clientCaFile is set; every refusal with its status and reason, 503 when the scanners are down.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { request, type RequestOptions } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { parseScanAnswer, SCAN_ENVELOPE_HEADER, SCAN_ID_HEADER, SCAN_PATH, type ScanAnswer } from "../../core/scan/answer.ts";
import { EICAR, SIGNATURES } from "../harness/clamd.ts";
import { GTUBE, GTUBE_PATTERNS } from "../harness/gtube.ts";
import { freePort } from "../harness/process.ts";
import { messageWithAttachment, relayDocument, startTestRelay, testMessage, type RelaySettings, type TestRelay } from "../harness/relay.ts";
import { startClamd, startRedis, startRspamd, type ClamdService, type RedisService, type RspamdService } from "../harness/services.ts";
import { issueCertificate, makeTestCa, type IssuedCertificate, type TestCa } from "../harness/test-ca.ts";
import { TEST_DNS } from "../harness/zones.ts";

const harness = inject("harness");
const dir = mkdtempSync(join(tmpdir(), "edgemx-scan-endpoint-"));
const TOKEN = "test-scan-token";
const MAX_BYTES = 64 * 1024;
const ENVELOPE = {
  clientIp: TEST_DNS.sender.authorizedIp,
  helo: TEST_DNS.sender.mailHost,
  mailFrom: `bob@${TEST_DNS.sender.domain}`,
  rcptTo: ["alice@example.org"],
};

let clamd: ClamdService;
let redis: RedisService;
let rspamd: RspamdService;
let ca: TestCa;
let client: IssuedCertificate;
const relays: TestRelay[] = [];
let runs = 0;

/** A relay with relay.tls from the test CA, clamd and rspamd as given, and the scan endpoint on a free port. */
async function scanRelay(relay: RelaySettings = {}, env: NodeJS.ProcessEnv = { EDGEMX_SCAN_TOKEN: TOKEN }): Promise<TestRelay> {
  const folder = join(dir, `relay-${++runs}`);
  const server = issueCertificate(ca, { names: ["127.0.0.1", "mx.example.org"] });
  const certPath = join(dir, `cert-${runs}.pem`);
  const keyPath = join(dir, `key-${runs}.pem`);
  writeFileSync(certPath, server.chainPem);
  writeFileSync(keyPath, server.keyPem);
  const document = relayDocument(folder, harness.dnsPort, {
    tls: { cert: certPath, key: keyPath },
    clamd: { enabled: true, host: clamd.host, port: clamd.port, timeoutMs: 10_000 },
    rspamd: { url: rspamd.normalUrl, timeoutMs: 10_000 },
    limits: { maxMessageBytes: MAX_BYTES },
    scanListener: {},
    ...relay,
  });
  const started = await startTestRelay(document, env, { scanListen: { host: "127.0.0.1", port: 0 } });
  relays.push(started);
  return started;
}

interface Answer {
  status: number;
  body: string;
}

/** POST /v1/scan over HTTPS, trusting the test CA; `tls` adds a client certificate. */
function scan(relay: TestRelay, body: string | Buffer, headers: Record<string, string> = {}, tls: RequestOptions = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: "127.0.0.1",
        port: relay.relay.scanPort!,
        path: SCAN_PATH,
        method: "POST",
        ca: ca.certPem,
        agent: false,
        headers: { authorization: `Bearer ${TOKEN}`, [SCAN_ENVELOPE_HEADER]: JSON.stringify(ENVELOPE), [SCAN_ID_HEADER]: "12345-67", ...headers },
        ...tls,
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on("data", (chunk: Buffer) => chunks.push(chunk));
        response.on("end", () => resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }));
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

function answerOf(result: Answer): ScanAnswer {
  expect(result.status, result.body).toBe(200);
  const answer = parseScanAnswer(result.body);
  if (typeof answer === "string") throw new Error(`not a scan answer: ${answer}`);
  return answer;
}

beforeAll(async () => {
  ca = makeTestCa(join(dir, "ca"));
  client = issueCertificate(ca, { names: ["edgemx-worker.test"], usage: "client" });
  clamd = await startClamd();
  redis = await startRedis();
  rspamd = await startRspamd({ redisUrl: redis.url, dnsPort: harness.dnsPort });
}, 120_000);

afterAll(async () => {
  for (const relay of relays) await relay.relay.stop();
  await rspamd?.stop();
  await redis?.stop();
  await clamd?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe("the scan endpoint: clamd and rspamd over HTTPS for Email Routing", () => {
  let relay: TestRelay;
  beforeAll(async () => {
    relay = await scanRelay();
  });

  it("answers a clean message: no virus, rspamd's action and score", async () => {
    const answer = answerOf(await scan(relay, testMessage({ body: "Minutes of Monday's meeting." })));
    expect(answer.virus).toEqual({ status: "clean" });
    expect(answer.spam.action).toBe("no action");
    expect(answer.spam.score).toBeLessThan(answer.spam.requiredScore);
    expect(relay.logs.find((line) => line.event === "scan" && line.id === "12345-67")).toMatchObject({ virus: "clean", spam: { action: "no action" } });
  });

  it("finds EICAR by its signature name, and GTUBE as rspamd's reject", async () => {
    const infected = answerOf(await scan(relay, messageWithAttachment("readme.txt", Buffer.from(EICAR, "latin1"))));
    expect(infected.virus).toEqual({ status: "infected", signature: SIGNATURES.eicar });
    const spam = answerOf(await scan(relay, testMessage({ body: GTUBE })));
    expect(spam.virus).toEqual({ status: "clean" });
    expect(spam.spam.action).toBe("reject");
    const marked = answerOf(await scan(relay, testMessage({ body: GTUBE_PATTERNS["add header"] })));
    expect(marked.spam.action).toBe("add header");
  });

  it("takes a message without the client's address (Email Routing without a trace field)", async () => {
    const { clientIp: _none, helo: _helo, ...envelope } = ENVELOPE;
    const answer = answerOf(await scan(relay, testMessage(), { [SCAN_ENVELOPE_HEADER]: JSON.stringify(envelope) }));
    expect(answer.virus.status).toBe("clean");
  });

  it("refuses no token and a wrong one with 401, before reading the message", async () => {
    for (const authorization of ["", "Bearer not-the-token", `Basic ${Buffer.from(`x:${TOKEN}`).toString("base64")}`]) {
      const result = await scan(relay, testMessage(), { authorization });
      expect(result.status, authorization).toBe(401);
      expect(JSON.parse(result.body)).toEqual({ error: "a valid bearer token is required" });
    }
  });

  it("refuses a message over relay.limits.maxMessageBytes with 413 and the reason", async () => {
    const result = await scan(relay, testMessage({ body: "x".repeat(MAX_BYTES) }));
    expect(result.status).toBe(413);
    expect(JSON.parse(result.body)).toEqual({ error: `the message is larger than ${MAX_BYTES} bytes (relay.limits.maxMessageBytes)` });
  });

  it("refuses a bad request with 400: no envelope, one that is not JSON or not an envelope, a bad id, no message", async () => {
    const cases: [Record<string, string>, string, RegExp][] = [
      [{ [SCAN_ENVELOPE_HEADER]: "" }, testMessage(), /header \(the envelope as JSON\) is missing/],
      [{ [SCAN_ENVELOPE_HEADER]: "{not json" }, testMessage(), /header is not JSON/],
      [{ [SCAN_ENVELOPE_HEADER]: JSON.stringify({ ...ENVELOPE, rcptTo: [] }) }, testMessage(), /^rcptTo: /],
      [{ [SCAN_ID_HEADER]: "not-an-id" }, testMessage(), /is not a tracking id/],
      [{}, "", /the body must be the raw message/],
    ];
    for (const [headers, body, reason] of cases) {
      const result = await scan(relay, body, headers);
      expect(result.status, JSON.stringify(headers)).toBe(400);
      expect((JSON.parse(result.body) as { error: string }).error).toMatch(reason);
    }
  });
});

describe("the scan endpoint when it cannot scan, or is not set up", () => {
  it("answers 503 with the reason when clamd and rspamd do not answer", async () => {
    const deadClamd = await freePort();
    const deadRspamd = await freePort();
    const relay = await scanRelay({
      clamd: { enabled: true, host: "127.0.0.1", port: deadClamd, timeoutMs: 2000 },
      rspamd: { url: `http://127.0.0.1:${deadRspamd}/`, timeoutMs: 2000 },
    });
    const result = await scan(relay, testMessage());
    expect(result.status).toBe(503);
    const { error } = JSON.parse(result.body) as { error: string };
    expect(error).toContain(`clamd 127.0.0.1:${deadClamd}`);
    expect(error).toContain(`rspamd http://127.0.0.1:${deadRspamd}`);
  });

  it("refuses to start without EDGEMX_SCAN_TOKEN, naming it", async () => {
    await expect(scanRelay({}, {})).rejects.toThrow("relay.scanListener is set, but EDGEMX_SCAN_TOKEN (its bearer token) is not in the environment");
  });
});

describe("the scan endpoint with mutual TLS (relay.scanListener.clientCaFile)", () => {
  let relay: TestRelay;
  beforeAll(async () => {
    const caFile = join(dir, "client-ca.pem");
    writeFileSync(caFile, ca.certPem);
    relay = await scanRelay({ scanListener: { clientCaFile: caFile } });
  });

  it("answers a client presenting a certificate the CA issued", async () => {
    const answer = answerOf(
      await scan(relay, messageWithAttachment("readme.txt", Buffer.from(EICAR, "latin1")), {}, { key: client.keyPem, cert: client.certPem }),
    );
    expect(answer.virus).toEqual({ status: "infected", signature: SIGNATURES.eicar });
  });

  it("refuses, in the TLS handshake, a client without a certificate or with one another CA issued", async () => {
    const scanned = () => relay.logs.filter((line) => line.event === "scan").length;
    const before = scanned();
    // TLS 1.3: the server's alert arrives after the client's Finished, as the request is written.
    await expect(scan(relay, testMessage())).rejects.toThrow(/alert certificate required|socket hang up|ECONNRESET/);
    const stranger = makeTestCa(join(dir, "stranger-ca"));
    const foreign = issueCertificate(stranger, { names: ["edgemx-worker.test"], usage: "client" });
    await expect(scan(relay, testMessage(), {}, { key: foreign.keyPem, cert: foreign.certPem })).rejects.toThrow(/alert unknown ca|socket hang up|ECONNRESET/);
    // Refused before any HTTP: no request reached the endpoint.
    expect(scanned()).toBe(before);
  });
});
