// Certificates by ACME (RFC 8555) end to end against pebble, Let's Encrypt's test server: pebble asks the
// harness's unbound for mx.acme.test and mail.acme.test (127.0.0.1) and fetches the HTTP-01 tokens from
// the relay's own responder. The relay starts on a self-signed placeholder for its new key, gets the
// CA's certificate, renews it by itself when it falls due (pebble issues 30-second certificates), and
// the TLSA 3 1 1 digest stays the same throughout; `npm run tls -- rollover` (a child process, over the
// control socket) prints the next key's record beside the current one, and the relay switches to the
// next key only after relay.acme.rolloverDelaySeconds (RFC 7671 §8.1). What the served certificate is
// is read from STARTTLS handshakes, verified against pebble's root.
import { execFile } from "node:child_process";
import type { X509Certificate } from "node:crypto";
import { statSync, writeFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { ConfigInput } from "../../core/config/schema.ts";
import { controlSocketPath } from "../../relay-node/src/control/control.ts";
import { acmeFiles } from "../../relay-node/src/tls/acme-files.ts";
import { recordFactsFromConfig, spkiSha256Hex } from "../../relay-node/src/tls/tlsa.ts";
import { freePort } from "../harness/process.ts";
import { relayDocument, startTestRelay, type TestRelay } from "../harness/relay.ts";
import { startPebble, type PebbleService } from "../harness/services.ts";
import { openSmtp } from "../harness/smtp-client.ts";
import { TEST_DNS } from "../harness/zones.ts";

const harness = inject("harness");
const { acme, sender } = TEST_DNS;
const TLS_CLI = join(import.meta.dirname, "../../relay-node/src/cli/tls.ts");
/** pebble's certificates live 30 s: the relay renews a third of that before the end (core/acme/renewal.ts). */
const VALIDITY_SECONDS = 30;
const ROLLOVER_DELAY_SECONDS = 5;

let dir: string;
let pebble: PebbleService;
let test: TestRelay;
let configPath: string;
const started = Date.now();
const elapsed = (): string => `${((Date.now() - started) / 1000).toFixed(1)} s`;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "edgemx-acme-"));
  const httpPort = await freePort();
  pebble = await startPebble({ dnsPort: harness.dnsPort, httpPort, validitySeconds: VALIDITY_SECONDS });
  const base = relayDocument(dir, harness.dnsPort, {
    acme: {
      directoryUrl: pebble.directoryUrl,
      caFile: pebble.caPath,
      contact: `postmaster@${acme.domain}`,
      names: [acme.mx, acme.mail],
      challengeListener: { host: acme.address, port: httpPort },
      rolloverDelaySeconds: ROLLOVER_DELAY_SECONDS,
    },
  });
  const document: ConfigInput = { ...base, hostname: acme.mx, domains: [{ name: acme.domain, mx: [acme.mx], mailboxes: ["alice"] }] };
  configPath = join(dir, "edgemx.json");
  writeFileSync(configPath, JSON.stringify(document));
  test = await startTestRelay(document);
}, 60_000);

afterAll(async () => {
  await test?.relay.stop();
  await pebble?.stop();
  await rm(dir, { recursive: true, force: true });
});

/** The certificate the relay serves to a new STARTTLS session, and whether it verifies against `ca` for mx.acme.test. */
async function served(ca?: string): Promise<{ certificate: X509Certificate; authorized: boolean }> {
  const smtp = await openSmtp(test.port, { localAddress: sender.authorizedIp });
  await smtp.reply();
  await smtp.command(`EHLO ${sender.mailHost}`);
  const socket = await smtp.startTls({ servername: acme.mx, ...(ca === undefined ? {} : { ca }) });
  const seen = { certificate: socket.getPeerX509Certificate()!, authorized: socket.authorized };
  smtp.close();
  return seen;
}

/** Waits for the n-th log line with this message (the relay's own account of what it did). */
async function logLine(message: string, n: number, timeoutMs: number): Promise<Record<string, unknown>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const lines = test.logs.filter((line) => line.msg === message);
    if (lines.length >= n) return lines[n - 1]!;
    if (Date.now() > deadline) throw new Error(`no ${n}. "${message}" within ${timeoutMs} ms; logs:\n${test.logs.map((l) => JSON.stringify(l)).join("\n")}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function tlsCli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const socket = controlSocketPath(test.config.relay.spool);
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [TLS_CLI, "--socket", socket, ...args], {
      env: { ...process.env, EDGEMX_CONFIG: configPath },
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

const ASKING = "asking the CA for a certificate";
const RENEWED = "new certificate for the same key: the TLSA record stays valid";
const SWAPPED = "switched to the next key; the old TLSA record can be removed now";

describe("ACME against pebble", () => {
  let tlsa: string;
  let firstSerial: string;

  it("starts on a self-signed placeholder for the key whose TLSA record the CA's certificate will have", () => {
    const files = acmeFiles(test.config);
    expect(statSync(files.key).mode & 0o777).toBe(0o600);
    expect(statSync(files.accountKey).mode & 0o777).toBe(0o600);
    const { facts, warning } = recordFactsFromConfig(test.config);
    expect(warning).toBeUndefined();
    tlsa = facts.tlsaSpkiSha256!;
    expect(tlsa).toMatch(/^[0-9a-f]{64}$/);
    expect(facts.tlsaNextSpkiSha256).toBeUndefined();
    const placeholder = test.logs.find((line) => typeof line.msg === "string" && line.msg.startsWith("serving a self-signed placeholder"));
    expect(placeholder).toBeDefined();
    console.log(`[acme] ${elapsed()}: placeholder for ${acme.mx}, TLSA 3 1 1 ${tlsa}`);
  });

  it("gets a certificate from the CA for both names by HTTP-01 and serves it without a restart", async () => {
    const issued = await logLine(RENEWED, 1, 60_000);
    expect(issued.names).toEqual([acme.mx, acme.mail]);
    expect(issued.tlsa).toBe(`3 1 1 ${tlsa}`);
    const root = await pebble.rootPem();
    const { certificate, authorized } = await served(root);
    expect(authorized).toBe(true);
    expect(certificate.subjectAltName).toBe(`DNS:${acme.mx}, DNS:${acme.mail}`);
    expect(certificate.issuer).not.toBe(certificate.subject);
    expect(spkiSha256Hex(certificate.raw)).toBe(tlsa);
    expect(recordFactsFromConfig(test.config).facts.tlsaSpkiSha256).toBe(tlsa);
    firstSerial = certificate.serialNumber;
    console.log(
      `[acme] ${elapsed()}: issued in ${String(issued.ms)} ms, serial ${firstSerial}, valid ${certificate.validFrom} to ${certificate.validTo}, ` +
        `issuer ${certificate.issuer.replace(/\n/g, ", ")}, served TLSA 3 1 1 ${spkiSha256Hex(certificate.raw)}`,
    );
  });

  it("renews by itself when the certificate falls due, for the same key: the TLSA record is unchanged", async () => {
    const renewed = await logLine(RENEWED, 2, VALIDITY_SECONDS * 1000 + 60_000);
    const asked = await logLine(ASKING, 2, 0);
    expect(asked.reason).toMatch(/^the certificate expires at /);
    const { certificate, authorized } = await served(await pebble.rootPem());
    expect(authorized).toBe(true);
    expect(certificate.serialNumber).not.toBe(firstSerial);
    expect(spkiSha256Hex(certificate.raw)).toBe(tlsa);
    expect(recordFactsFromConfig(test.config).facts.tlsaSpkiSha256).toBe(tlsa);
    console.log(
      `[acme] ${elapsed()}: renewed in ${String(renewed.ms)} ms (${String(asked.reason)}), serial ${certificate.serialNumber}, ` +
        `valid ${certificate.validFrom} to ${certificate.validTo}, served TLSA 3 1 1 ${spkiSha256Hex(certificate.raw)} (before: ${tlsa})`,
    );
  }, 120_000);

  it("rolls the key over: both records to publish, the old key served until the delay is over, then the new one", async () => {
    const status = await tlsCli("status");
    expect(status.stderr).toBe("");
    expect(status.code).toBe(0);
    expect(status.stdout).toContain(`_25._tcp.${acme.mx}.\t3600\tIN\tTLSA\t3 1 1 ${tlsa}`);

    const rolled = await tlsCli("rollover");
    const rolledAt = Date.now();
    expect(rolled.code).toBe(0);
    const next = /; next: .*\n_25\._tcp\.mx\.acme\.test\.\t3600\tIN\tTLSA\t3 1 1 ([0-9a-f]{64})/.exec(rolled.stdout)?.[1];
    expect(next).toBeDefined();
    expect(next).not.toBe(tlsa);
    expect(rolled.stdout).toContain(`; current: the key the relay uses\n_25._tcp.${acme.mx}.\t3600\tIN\tTLSA\t3 1 1 ${tlsa}`);
    // `npm run dns` prints both records while the rollover waits.
    expect(recordFactsFromConfig(test.config).facts).toEqual({ tlsaSpkiSha256: tlsa, tlsaNextSpkiSha256: next });
    expect((await tlsCli("rollover")).stderr).toContain("a rollover is under way");
    expect(spkiSha256Hex((await served()).certificate.raw)).toBe(tlsa);
    console.log(`[acme] ${elapsed()}: npm run tls -- rollover printed:\n${rolled.stdout}`);

    const swap = await logLine(SWAPPED, 1, ROLLOVER_DELAY_SECONDS * 1000 + 60_000);
    const swapLoggedAt = Date.parse(String(swap.time));
    expect(swapLoggedAt - rolledAt).toBeGreaterThanOrEqual(ROLLOVER_DELAY_SECONDS * 1000);
    expect(swap.retiredTlsa).toBe(`3 1 1 ${tlsa}`);
    const { certificate, authorized } = await served(await pebble.rootPem());
    expect(authorized).toBe(true);
    expect(spkiSha256Hex(certificate.raw)).toBe(next);
    expect(recordFactsFromConfig(test.config).facts).toEqual({ tlsaSpkiSha256: next });
    const after = await tlsCli("status");
    expect(after.stdout).toContain(`; retired: not used since `);
    expect(after.stdout).toContain(`; _25._tcp.${acme.mx}.\t3600\tIN\tTLSA\t3 1 1 ${tlsa}`);
    console.log(
      `[acme] ${elapsed()}: swapped ${((swapLoggedAt - rolledAt) / 1000).toFixed(1)} s after the rollover (delay ${ROLLOVER_DELAY_SECONDS} s), ` +
        `served TLSA 3 1 1 ${spkiSha256Hex(certificate.raw)}; npm run tls -- status:\n${after.stdout}`,
    );
  }, 120_000);
});
