// The relay's certificate: the self-signed one (checked by OpenSSL through node:crypto and the openssl
// command), its reuse across starts, configured files, reloads, and the secure context's protocol and
// cipher policy.
import { execFileSync } from "node:child_process";
import { X509Certificate, createPrivateKey } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { createLogger } from "../../relay-node/src/log/log.ts";
import { selfSignedCertificate } from "../../relay-node/src/tls/self-signed.ts";
import { TLS12_CIPHERS, TLS13_SUITES, loadCertificate, rereadCertificate, secureContextOptions } from "../../relay-node/src/tls/certificate.ts";
import { parseConfig } from "../../core/config/load.ts";

const dir = mkdtempSync(join(tmpdir(), "edgemx-relay-tls-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const logger = createLogger("silent");
const configFor = (hostname: string, tls?: { cert: string; key: string }) =>
  parseConfig({ hostname, domains: [{ name: "example.org", mx: [hostname], catchAll: true }], relay: tls ? { tls } : {} });

describe("the self-signed certificate", () => {
  const now = new Date(Date.UTC(2026, 0, 1));
  const pair = selfSignedCertificate("mx.example.org", now);
  const cert = new X509Certificate(pair.cert);

  it("is an ECDSA P-256 end-entity certificate for the host name, signed by its own key", () => {
    expect(cert.subject).toBe("CN=mx.example.org");
    expect(cert.issuer).toBe("CN=mx.example.org");
    expect(cert.subjectAltName).toBe("DNS:mx.example.org");
    expect(cert.ca).toBe(false);
    expect(cert.publicKey.asymmetricKeyDetails).toMatchObject({ namedCurve: "prime256v1" });
    expect(cert.verify(cert.publicKey)).toBe(true);
    expect(cert.checkPrivateKey(createPrivateKey(pair.key))).toBe(true);
    expect(cert.checkHost("mx.example.org")).toBe("mx.example.org");
    expect(cert.keyUsage).toEqual(["1.3.6.1.5.5.7.3.1"]); // node's keyUsage lists the extended key usages: serverAuth
  });

  it("is valid from an hour before now for ten years", () => {
    expect(new Date(cert.validFrom).toISOString()).toBe("2025-12-31T23:00:00.000Z");
    expect(new Date(cert.validTo).getUTCFullYear()).toBe(2035);
  });

  it("passes openssl's own parser and verification, with the server-auth extensions", () => {
    const path = join(dir, "openssl-check.pem");
    writeFileSync(path, pair.cert);
    const text = execFileSync("openssl", ["x509", "-in", path, "-noout", "-text"], { encoding: "utf8" });
    expect(text).toMatch(/Signature Algorithm: ecdsa-with-SHA256/);
    expect(text).toMatch(/Basic Constraints: critical\s+CA:FALSE/);
    expect(text).toMatch(/Key Usage: critical\s+Digital Signature/);
    expect(text).toMatch(/Extended Key Usage:\s+TLS Web Server Authentication/);
    expect(execFileSync("openssl", ["verify", "-CAfile", path, "-attime", String(now.getTime() / 1000 + 60), path], { encoding: "utf8" })).toBe(
      `${path}: OK\n`,
    );
  });
});

describe("loading the certificate", () => {
  it("makes a self-signed pair on first start, keeps it after, and makes a new one for a new host name", () => {
    const selfDir = join(dir, "self");
    const first = loadCertificate(configFor("mx.example.org"), selfDir, logger);
    expect(first.source).toBe("self-signed");
    expect(statSync(first.keyPath).mode & 0o777).toBe(0o600);
    const again = loadCertificate(configFor("mx.example.org"), selfDir, logger);
    expect(again.pair).toEqual(first.pair);
    const renamed = loadCertificate(configFor("mx2.example.org"), selfDir, logger);
    expect(new X509Certificate(renamed.pair.cert).subjectAltName).toBe("DNS:mx2.example.org");
  });

  it("reads configured files, refuses a key that does not fit, and re-reads on reload", () => {
    const a = selfSignedCertificate("mx.example.org");
    const b = selfSignedCertificate("mx.example.org");
    const cert = join(dir, "cert.pem");
    const key = join(dir, "key.pem");
    writeFileSync(cert, a.cert);
    writeFileSync(key, a.key);
    const loaded = loadCertificate(configFor("mx.example.org", { cert, key }), join(dir, "unused"), logger);
    expect(loaded).toMatchObject({ source: "configured", certPath: cert, keyPath: key, pair: a });

    writeFileSync(cert, b.cert); // mid-update: the new certificate, the old key
    expect(() => rereadCertificate(loaded)).toThrow();
    writeFileSync(key, b.key);
    expect(rereadCertificate(loaded).pair).toEqual(b);
    expect(readFileSync(cert, "utf8")).toBe(b.cert);
    writeFileSync(key, a.key);
    expect(() => loadCertificate(configFor("mx.example.org", { cert, key }), join(dir, "unused"), logger)).toThrow();
  });
});

describe("the secure context policy", () => {
  const options = secureContextOptions(selfSignedCertificate("mx.example.org"));

  it("allows TLS 1.2 and later only, the server's cipher order first", () => {
    expect(options.minVersion).toBe("TLSv1.2");
    expect(options.honorCipherOrder).toBe(true);
  });

  it("lists only ECDHE AEAD suites for TLS 1.2 and names the TLS 1.3 suites, so 1.3 stays on", () => {
    const names = options.ciphers.split(":");
    expect(names).toEqual([...TLS13_SUITES, ...TLS12_CIPHERS]);
    expect(TLS12_CIPHERS.every((name) => /^ECDHE-(ECDSA|RSA)-(AES(128|256)-GCM-SHA(256|384)|CHACHA20-POLY1305)$/.test(name))).toBe(true);
  });
});
