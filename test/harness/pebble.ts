// pebble, Let's Encrypt's ACME (RFC 8555) test server (Debian package `pebble`): its configuration for a
// run. Its own HTTPS (the ACME directory and the management interface) gets a certificate from a test
// CA made here; the certificates it issues chain to a root it makes anew on every start, served at
// the management interface's /roots/0.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { issueCertificate, makeTestCa, type TestCa } from "./test-ca.ts";

export interface PebbleConfig {
  /** The file to pass as -config. */
  configPath: string;
  /** The test CA whose certificate pebble's HTTPS has: what the ACME client trusts for the directory. */
  ca: TestCa;
}

/**
 * - `httpPort`: where pebble's validation connects for HTTP-01 (RFC 8555 §8.3 says 80; pebble lets a
 *   test choose, so the relay's responder needs no privileged port);
 * - `validitySeconds`: the lifetime of the certificates it issues, short to let a renewal fall due in a test.
 */
export function writePebbleConfig(dir: string, options: { port: number; managementPort: number; httpPort: number; validitySeconds: number }): PebbleConfig {
  const ca = makeTestCa(join(dir, "ca"));
  const server = issueCertificate(ca, { names: ["127.0.0.1"] });
  const certificate = join(dir, "pebble-cert.pem");
  const privateKey = join(dir, "pebble-key.pem");
  writeFileSync(certificate, server.certPem);
  writeFileSync(privateKey, server.keyPem, { mode: 0o600 });
  const configPath = join(dir, "pebble.json");
  writeFileSync(
    configPath,
    JSON.stringify({
      pebble: {
        listenAddress: `127.0.0.1:${options.port}`,
        managementListenAddress: `127.0.0.1:${options.managementPort}`,
        certificate,
        privateKey,
        httpPort: options.httpPort,
        // TLS-ALPN-01 is not used: the relay answers HTTP-01
        tlsPort: 5001,
        ocspResponderURL: "",
        externalAccountBindingRequired: false,
        certificateValidityPeriod: options.validitySeconds,
      },
    }),
  );
  return { configPath, ca };
}

/**
 * pebble's test conveniences, set so the run resembles Let's Encrypt: no random sleep before a
 * validation (it only slows the test), and no reuse of a valid authorization, so each order, a
 * renewal's included, is validated by HTTP-01 again. Its random bad nonces (5 %) stay on: a client
 * must retry them (RFC 8555 §6.5).
 */
export const PEBBLE_ENV = { PEBBLE_VA_NOSLEEP: "1", PEBBLE_AUTHZREUSE: "0" } as const;
