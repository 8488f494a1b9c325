// The relay's scan endpoint (relay-node/src/scan/endpoint.ts) with real clamd and rspamd behind it, for
// the Worker tests inside workerd and the judge benchmark: clamd with this run's signatures, Redis and
// rspamd (services.ts), a test CA (test-ca.ts) that issued the endpoints' server certificate for
// 127.0.0.1 and a client certificate, and two endpoints on loopback — one with the bearer token alone,
// one that also requires the client certificate (mutual TLS, relay.scanListener.clientCaFile).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SCAN_PATH } from "../../core/scan/answer.ts";
import { createLogger, type Logger } from "../../relay-node/src/log/log.ts";
import { scanWithClamd } from "../../relay-node/src/scan/clamd.ts";
import { startScanEndpoint, type RunningScanEndpoint } from "../../relay-node/src/scan/endpoint.ts";
import { createRspamdClient, type RspamdEnvelope } from "../../relay-node/src/spam/rspamd.ts";
import { secureContextOptions } from "../../relay-node/src/tls/certificate.ts";
import { startClamd, startRedis, startRspamd } from "./services.ts";
import { issueCertificate, makeTestCa } from "./test-ca.ts";

/** What a test needs to reach the endpoints (all strings: vitest provides it to workerd as bindings). */
export interface ScanHarnessAddresses {
  /** The endpoint that takes the bearer token alone: https://127.0.0.1:<port>/v1/scan. */
  url: string;
  /** The endpoint that also requires a client certificate of the test CA. */
  mtlsUrl: string;
  token: string;
  /** The test CA's certificate: what a client must trust for the endpoints' certificate. */
  caPem: string;
  /** A client certificate (and key) the test CA issued, for mutual TLS. */
  clientKeyPem: string;
  clientCertPem: string;
  /** How long clamd and rspamd took to become ready, together. */
  startupMs: number;
}

export interface ScanHarness extends ScanHarnessAddresses {
  stop(): Promise<void>;
}

export const SCAN_TEST_TOKEN = "test-scan-token";

/** `logger`: where the endpoints' lines go (one per request, with its durationMs); silent by default. */
export async function startScanHarness(dnsPort: number, options: { maxBytes?: number; logger?: Logger } = {}): Promise<ScanHarness> {
  const started = performance.now();
  const dir = mkdtempSync(join(tmpdir(), "edgemx-scan-harness-"));
  const stops: (() => Promise<void>)[] = [() => Promise.resolve(rmSync(dir, { recursive: true, force: true }))];
  const stop = async (): Promise<void> => {
    for (const step of stops.reverse()) await step().catch(() => undefined);
  };
  try {
    const ca = makeTestCa(join(dir, "ca"));
    const server = issueCertificate(ca, { names: ["127.0.0.1", "localhost"] });
    const client = issueCertificate(ca, { names: ["edgemx-worker.test"], usage: "client" });
    const clamd = await startClamd();
    stops.push(() => clamd.stop());
    const redis = await startRedis();
    stops.push(() => redis.stop());
    const rspamd = await startRspamd({ redisUrl: redis.url, dnsPort });
    stops.push(() => rspamd.stop());
    const startupMs = Math.round(performance.now() - started);
    const spam = createRspamdClient({ url: rspamd.normalUrl, timeoutMs: 20_000 });
    stops.push(() => Promise.resolve(spam.close()));
    const endpointOptions = {
      host: "127.0.0.1",
      port: 0,
      token: SCAN_TEST_TOKEN,
      tls: secureContextOptions({ key: server.keyPem, cert: server.chainPem }),
      maxBytes: options.maxBytes ?? 50 * 1024 * 1024,
      scan: (message: Uint8Array) => scanWithClamd(message, { host: clamd.host, port: clamd.port, timeoutMs: 20_000 }),
      spamCheck: (message: Uint8Array, envelope: RspamdEnvelope) => spam.check(message, envelope),
      hostname: "mx.example.org",
      logger: options.logger ?? createLogger("silent"),
    };
    const tokenOnly: RunningScanEndpoint = await startScanEndpoint(endpointOptions);
    stops.push(() => tokenOnly.close());
    const mutual: RunningScanEndpoint = await startScanEndpoint({ ...endpointOptions, clientCa: ca.certPem });
    stops.push(() => mutual.close());
    return {
      url: `https://127.0.0.1:${tokenOnly.port}${SCAN_PATH}`,
      mtlsUrl: `https://127.0.0.1:${mutual.port}${SCAN_PATH}`,
      token: SCAN_TEST_TOKEN,
      caPem: ca.certPem,
      clientKeyPem: client.keyPem,
      clientCertPem: client.certPem,
      startupMs,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
