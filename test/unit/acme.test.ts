// The ACME decisions (core/acme/): which names, when to renew, the key rollover of RFC 7671 §8.1 and
// its recovery after a stop at any point; the files the relay keeps (relay-node/src/acme/store.ts) in a
// temp folder; the configuration's rules; the command line of `npm run tls`.
import { X509Certificate, generateKeyPairSync } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ACME_CHECK_INTERVAL_MS, acmeNames, nextCheckAt, renewalDecision, renewalTime, retryDelayMs, type CertificateFacts } from "../../core/acme/renewal.ts";
import { reconcile, startRollover, swapDue, swapped, tlsaToPublish, type RolloverState } from "../../core/acme/rollover.ts";
import { ConfigError, parseConfig } from "../../core/config/load.ts";
import type { ConfigInput } from "../../core/config/schema.ts";
import { domainRecords } from "../../core/records/records.ts";
import { prepareAcmeCertificate, readAcmeStatus, writeRolloverState } from "../../relay-node/src/acme/store.ts";
import { parseControlRequest } from "../../relay-node/src/control/control.ts";
import { formatTlsStatus, parseTlsCommand } from "../../relay-node/src/cli/tls-commands.ts";
import { createLogger } from "../../relay-node/src/log/log.ts";
import { acmeFiles, readRolloverState } from "../../relay-node/src/tls/acme-files.ts";
import { selfSignedCertificate } from "../../relay-node/src/tls/self-signed.ts";
import { keySpkiSha256Hex, recordFactsFromConfig, spkiSha256Hex } from "../../relay-node/src/tls/tlsa.ts";

const DAY = 86_400_000;
const NOW = Date.parse("2026-03-01T12:00:00Z");
const A = "a".repeat(64);
const B = "b".repeat(64);
const C = "c".repeat(64);

const dir = mkdtempSync(join(tmpdir(), "edgemx-acme-unit-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function configWith(acme: NonNullable<ConfigInput["relay"]>["acme"], relay: NonNullable<ConfigInput["relay"]> = {}) {
  return parseConfig({
    hostname: "mx.example.org",
    domains: [{ name: "example.org", mx: ["mx.example.org", "mx2.example.net"], catchAll: true }],
    relay: { ...relay, ...(acme === undefined ? {} : { acme }) },
  });
}

function cert(facts: Partial<CertificateFacts> = {}): CertificateFacts {
  return { names: ["mx.example.org"], notBefore: NOW - 10 * DAY, notAfter: NOW + 80 * DAY, selfSigned: false, keyMatches: true, ...facts };
}

describe("the names of the certificate", () => {
  it("are hostname by default, the MX host the TLSA record is published for", () => {
    expect(acmeNames(configWith({}))).toEqual(["mx.example.org"]);
  });
  it("are relay.acme.names when given, each once", () => {
    expect(acmeNames(configWith({ names: ["mx.example.org", "MAIL.example.org", "mail.example.org"] }))).toEqual(["mx.example.org", "mail.example.org"]);
  });
});

describe("when to renew", () => {
  const names = ["mx.example.org"];
  it("at once without a certificate, for the placeholder, for another key, for other names", () => {
    expect(renewalDecision(null, names, NOW, 30)).toEqual({ due: true, reason: "there is no certificate yet" });
    expect(renewalDecision(cert({ selfSigned: true }), names, NOW, 30)).toEqual({
      due: true,
      reason: "the relay serves its self-signed placeholder until the CA's first certificate",
    });
    expect(renewalDecision(cert({ keyMatches: false }), names, NOW, 30)).toEqual({ due: true, reason: "the certificate is not for the current key" });
    expect(renewalDecision(cert(), ["mx.example.org", "mail.example.org"], NOW, 30)).toEqual({
      due: true,
      reason: "the certificate is for mx.example.org, the configuration asks for mx.example.org, mail.example.org",
    });
    expect(renewalDecision(cert({ names: ["mx.example.org", "old.example.org"] }), names, NOW, 30)).toMatchObject({ due: true });
  });
  it("renewBeforeDays before the end of a 90-day certificate, not a moment earlier", () => {
    const ninetyDays = cert({ notBefore: NOW - 10 * DAY, notAfter: NOW + 80 * DAY });
    expect(renewalDecision(ninetyDays, names, NOW, 30)).toEqual({ due: false, dueAt: NOW + 50 * DAY });
    expect(renewalDecision(ninetyDays, names, NOW + 50 * DAY - 1, 30)).toEqual({ due: false, dueAt: NOW + 50 * DAY });
    expect(renewalDecision(ninetyDays, names, NOW + 50 * DAY, 30)).toEqual({
      due: true,
      reason: `the certificate expires at ${new Date(NOW + 80 * DAY).toISOString()}`,
    });
    expect(renewalDecision(ninetyDays, names, NOW + 80 * DAY, 30)).toEqual({
      due: true,
      reason: `the certificate expired at ${new Date(NOW + 80 * DAY).toISOString()}`,
    });
  });
  it("a third of the lifetime before the end of a shorter-lived certificate", () => {
    expect(renewalTime({ notBefore: NOW, notAfter: NOW + 6 * DAY }, 30)).toBe(NOW + 4 * DAY);
    expect(renewalTime({ notBefore: NOW, notAfter: NOW + 30_000 }, 30)).toBe(NOW + 20_000);
    expect(renewalTime({ notBefore: NOW, notAfter: NOW + 90 * DAY }, 7)).toBe(NOW + 83 * DAY);
  });
  it("retries after 5 minutes, doubling, at most a day", () => {
    expect([1, 2, 3, 4, 9, 30].map(retryDelayMs)).toEqual([300_000, 600_000, 1_200_000, 2_400_000, 76_800_000, DAY]);
  });
  it("looks again at the earliest of what falls due, at least every 12 hours, never in the past", () => {
    expect(nextCheckAt(NOW)).toBe(NOW + ACME_CHECK_INTERVAL_MS);
    expect(nextCheckAt(NOW, NOW + 60_000, undefined)).toBe(NOW + 60_000);
    expect(nextCheckAt(NOW, NOW + 30 * DAY, NOW + 5_000)).toBe(NOW + 5_000);
    expect(nextCheckAt(NOW, NOW - 5_000)).toBe(NOW);
  });
});

describe("the key rollover (RFC 7671 §8.1)", () => {
  const publishing: RolloverState = { phase: "publishing", current: A, next: B, startedAt: NOW, swapAfter: NOW + 7200_000 };

  it("begins with both records to publish and the swap after the delay; a second one is refused meanwhile", () => {
    expect(startRollover({ phase: "none" }, { current: A, next: B }, NOW, 7200_000)).toEqual({ state: publishing });
    expect(startRollover(publishing, { current: A, next: C }, NOW + 1, 7200_000)).toEqual({
      refused: `a rollover is under way: the relay switches to the key ${B} at ${new Date(NOW + 7200_000).toISOString()}`,
    });
    const after: RolloverState = { phase: "swapped", current: B, retired: A, swappedAt: NOW };
    expect(startRollover(after, { current: B, next: C }, NOW + 1, 0)).toEqual({
      state: { phase: "publishing", current: B, next: C, startedAt: NOW + 1, swapAfter: NOW + 1 },
    });
  });
  it("swaps only when the delay is over", () => {
    expect(swapDue({ phase: "none" }, NOW)).toEqual({ due: false });
    expect(swapDue(publishing, NOW + 7200_000 - 1)).toEqual({ due: false, at: NOW + 7200_000 });
    expect(swapDue(publishing, NOW + 7200_000)).toEqual({ due: true });
  });
  it("publishes the current record, both during the delay, and marks the old one for removal after the swap", () => {
    expect(tlsaToPublish({ phase: "none" }, A)).toEqual([{ spkiSha256: A, role: "current" }]);
    expect(tlsaToPublish(publishing, A)).toEqual([
      { spkiSha256: A, role: "current" },
      { spkiSha256: B, role: "next" },
    ]);
    if (publishing.phase !== "publishing") throw new Error("unreachable");
    expect(tlsaToPublish(swapped(publishing, NOW + 7200_000), B)).toEqual([
      { spkiSha256: B, role: "current" },
      { spkiSha256: A, role: "retired" },
    ]);
  });
  it("finds its way back after a stop at any point", () => {
    const after = { phase: "swapped", current: B, retired: A, swappedAt: NOW } as const;
    // nothing under way, or the rollover simply waiting
    expect(reconcile({ phase: "none" }, { certificate: A, current: A, next: null }, NOW)).toEqual({ action: "none" });
    expect(reconcile(publishing, { certificate: A, current: A, next: B }, NOW)).toEqual({ action: "none" });
    // stopped after next-key.pem, before the state: nobody saw that key
    expect(reconcile({ phase: "none" }, { certificate: A, current: A, next: B }, NOW)).toEqual({ action: "remove-next" });
    // stopped after cert.pem of the swap, before the rename
    expect(reconcile(publishing, { certificate: B, current: A, next: B }, NOW)).toEqual({ action: "promote-next", state: after });
    // stopped after the rename, before the state
    expect(reconcile(publishing, { certificate: B, current: B, next: null }, NOW)).toEqual({ action: "record-swap", state: after });
    // a key removed by hand
    expect(reconcile(publishing, { certificate: A, current: A, next: null }, NOW)).toMatchObject({ action: "abandon" });
    expect(reconcile(publishing, { certificate: A, current: C, next: B }, NOW)).toMatchObject({ action: "abandon" });
  });
});

describe("the ACME files (store.ts)", () => {
  const logger = createLogger("fatal");

  it("on the first start: the keys (mode 0600) and a self-signed placeholder for the certificate key", () => {
    const config = configWith({ dir: join(dir, "first"), keyType: "ecdsa-p384" });
    const certificate = prepareAcmeCertificate(config, logger, NOW);
    const files = acmeFiles(config);
    expect(statSync(files.dir).mode & 0o777).toBe(0o700);
    expect(statSync(files.key).mode & 0o777).toBe(0o600);
    expect(statSync(files.accountKey).mode & 0o777).toBe(0o600);
    const placeholder = new X509Certificate(certificate.pair.cert);
    expect(placeholder.verify(placeholder.publicKey)).toBe(true);
    expect(placeholder.publicKey.asymmetricKeyDetails?.namedCurve).toBe("secp384r1");
    expect(placeholder.subjectAltName).toBe("DNS:mx.example.org");
    expect(spkiSha256Hex(certificate.pair.cert)).toBe(keySpkiSha256Hex(readFileSync(files.key)));
    expect(readAcmeStatus(config)).toMatchObject({ names: ["mx.example.org"], certificate: { selfSigned: true }, rollover: { phase: "none" } });
    // the next start keeps both keys
    const key = readFileSync(files.key, "utf8");
    const account = readFileSync(files.accountKey, "utf8");
    prepareAcmeCertificate(config, logger, NOW);
    expect(readFileSync(files.key, "utf8")).toBe(key);
    expect(readFileSync(files.accountKey, "utf8")).toBe(account);
  });

  it("finishes a swap a stop interrupted after cert.pem was written", () => {
    const config = configWith({ dir: join(dir, "swap") });
    prepareAcmeCertificate(config, logger, NOW);
    const files = acmeFiles(config);
    const current = keySpkiSha256Hex(readFileSync(files.key));
    const nextPem = generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey.export({ type: "pkcs8", format: "pem" }).toString();
    const next = keySpkiSha256Hex(nextPem);
    writeFileSync(files.nextKey, nextPem, { mode: 0o600 });
    writeRolloverState(files, { phase: "publishing", current, next, startedAt: NOW - 10_000, swapAfter: NOW - 1 });
    expect(recordFactsFromConfig(config).facts).toEqual({ tlsaSpkiSha256: current, tlsaNextSpkiSha256: next });
    writeFileSync(files.cert, selfSignedCertificate("mx.example.org", new Date(NOW), 90, nextPem).cert);

    const certificate = prepareAcmeCertificate(config, logger, NOW);
    expect(existsSync(files.nextKey)).toBe(false);
    expect(readFileSync(files.key, "utf8")).toBe(nextPem);
    expect(spkiSha256Hex(certificate.pair.cert)).toBe(next);
    expect(readRolloverState(files.state)).toEqual({ phase: "swapped", current: next, retired: current, swappedAt: NOW });
    expect(recordFactsFromConfig(config).facts).toEqual({ tlsaSpkiSha256: next });
  });

  it("removes a next key no rollover records", () => {
    const config = configWith({ dir: join(dir, "stray") });
    prepareAcmeCertificate(config, logger, NOW);
    const files = acmeFiles(config);
    writeFileSync(files.nextKey, readFileSync(files.accountKey));
    prepareAcmeCertificate(config, logger, NOW);
    expect(existsSync(files.nextKey)).toBe(false);
  });

  it("refuses a rollover state that is not one, naming the file", () => {
    const path = join(dir, "bad-state.json");
    writeFileSync(path, JSON.stringify({ phase: "publishing", current: A, next: "beef", startedAt: "x", swapAfter: "y" }));
    expect(() => readRolloverState(path)).toThrow(`${path}: not a key rollover state ("beef" is not a SHA-256 digest)`);
  });
});

describe("relay.acme in the configuration", () => {
  it("has Let's Encrypt, port 80, 30 days, P-256 and a two-day rollover delay by default", () => {
    expect(configWith({}).relay.acme).toEqual({
      directoryUrl: "https://acme-v02.api.letsencrypt.org/directory",
      challengeListener: { host: "::", port: 80 },
      renewBeforeDays: 30,
      keyType: "ecdsa-p256",
      rolloverDelaySeconds: 172_800,
    });
  });
  it("is refused beside relay.tls, and with a directory that is not https:", () => {
    expect(() => configWith({}, { tls: { cert: "c.pem", key: "k.pem" } })).toThrow(ConfigError);
    expect(() => configWith({}, { tls: { cert: "c.pem", key: "k.pem" } })).toThrow(
      "relay.acme: expected relay.acme or relay.tls, not both: with ACME the relay serves the certificate it gets itself",
    );
    expect(() => configWith({ directoryUrl: "http://ca.example/dir" })).toThrow("relay.acme.directoryUrl: expected the https:// URL of an ACME directory");
    expect(() => configWith({ keyType: "dsa" as "rsa-2048" })).toThrow("relay.acme.keyType");
  });
});

describe("the TLSA records during a rollover", () => {
  it("are both published for the MX host that is the relay", async () => {
    const config = configWith({});
    const records = (await domainRecords(config.domains[0]!, config, { tlsaSpkiSha256: A, tlsaNextSpkiSha256: B })).filter((r) => r.type === "TLSA");
    expect(records.map((r) => `${r.name} ${r.value}`)).toEqual([`_25._tcp.mx.example.org. 3 1 1 ${A}`, `_25._tcp.mx.example.org. 3 1 1 ${B}`]);
    expect(records[1]!.comment).toContain("RFC 7671 §8.1");
  });
});

describe("npm run tls", () => {
  it("parses its commands and refuses others", () => {
    expect(parseTlsCommand(["status"])).toEqual({ request: { op: "tls-status" } });
    expect(parseTlsCommand(["--socket", "/run/x.sock", "rollover"])).toEqual({ request: { op: "tls-rollover" }, socket: "/run/x.sock" });
    expect(parseTlsCommand(["renew"])).toEqual({ request: { op: "tls-renew" } });
    expect(parseTlsCommand([])).toBe("no command");
    expect(parseTlsCommand(["revoke"])).toBe("unknown command: revoke");
    expect(parseTlsCommand(["status", "now"])).toBe("too many arguments: now");
    expect(parseControlRequest('{"op":"tls-rollover"}')).toEqual({ op: "tls-rollover" });
  });
  it("prints the records to publish as zone lines, the retired one commented out", () => {
    const config = configWith({});
    const text = formatTlsStatus(
      {
        names: ["mx.example.org"],
        certificate: null,
        tlsa: [
          { spkiSha256: B, role: "current" },
          { spkiSha256: A, role: "retired" },
        ],
        rollover: { phase: "swapped", swappedAt: "2026-03-01T12:00:00.000Z" },
      },
      config,
    );
    expect(text).toContain(`; current: the key the relay uses\n_25._tcp.mx.example.org.\t3600\tIN\tTLSA\t3 1 1 ${B}`);
    expect(text).toContain(
      `; retired: not used since 2026-03-01T12:00:00.000Z; remove it from the zone\n; _25._tcp.mx.example.org.\t3600\tIN\tTLSA\t3 1 1 ${A}`,
    );
  });
});
