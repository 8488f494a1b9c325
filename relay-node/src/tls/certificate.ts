// The relay's TLS: its certificate and the secure context of STARTTLS (RFC 3207).
//
// - The certificate is relay.tls {cert, key} (PEM files), else a self-signed one made on first start in
//   the data folder and reused after (its key stays, so a TLSA 3 1 1 record for it stays valid).
// - TLS 1.2 and 1.3 only (RFC 8996 deprecates 1.0 and 1.1; RFC 7525 §3.1.1), forward secrecy only:
//   TLS 1.2 gets ECDHE key exchange with AEAD ciphers (RFC 7525 §4.2), TLS 1.3 is forward-secret by
//   design (RFC 8446 §2), and its three suites are named explicitly — Node drops TLS 1.3 altogether
//   when a cipher list names none.
// - A new certificate is taken up without a restart: reloadable() re-reads the files (on SIGHUP, or when
//   a watched file changes) and the listener builds new contexts; sessions already in TLS keep theirs.
import { createSecureContext } from "node:tls";
import { existsSync, mkdirSync, readFileSync, renameSync, unwatchFile, watchFile, writeFileSync } from "node:fs";
import { X509Certificate } from "node:crypto";
import { join } from "node:path";
import type { EdgemxConfig } from "../../../core/config/schema.ts";
import type { Logger } from "../log/log.ts";
import { selfSignedCertificate, type CertificatePair } from "./self-signed.ts";

export type { CertificatePair } from "./self-signed.ts";

/** TLS 1.2: ECDHE only, AEAD only (Mozilla's "intermediate" list without its DHE suites). */
export const TLS12_CIPHERS = [
  "ECDHE-ECDSA-AES128-GCM-SHA256",
  "ECDHE-RSA-AES128-GCM-SHA256",
  "ECDHE-ECDSA-AES256-GCM-SHA384",
  "ECDHE-RSA-AES256-GCM-SHA384",
  "ECDHE-ECDSA-CHACHA20-POLY1305",
  "ECDHE-RSA-CHACHA20-POLY1305",
] as const;

/** TLS 1.3: all of RFC 8446 §B.4's suites that OpenSSL enables by default. */
export const TLS13_SUITES = ["TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"] as const;

/** The options of every secure context the listener builds. */
export function secureContextOptions(pair: CertificatePair) {
  return {
    key: pair.key,
    cert: pair.cert,
    minVersion: "TLSv1.2" as const,
    ciphers: [...TLS13_SUITES, ...TLS12_CIPHERS].join(":"),
    honorCipherOrder: true,
  };
}

export interface Certificate {
  pair: CertificatePair;
  /** Where it comes from: the configured files, the self-signed files in the data folder, or ACME (acme/). */
  source: "configured" | "self-signed" | "acme";
  certPath: string;
  keyPath: string;
}

/** Proves a pair usable (key matches certificate) by building a context from it; throws when it is not. */
export function checkPair(pair: CertificatePair): CertificatePair {
  createSecureContext(secureContextOptions(pair));
  return pair;
}

/** Reads a PEM pair and proves it usable. */
function readPair(certPath: string, keyPath: string): CertificatePair {
  return checkPair({ cert: readFileSync(certPath, "utf8"), key: readFileSync(keyPath, "utf8") });
}

/** Writes a file whole or not at all: a crash mid-write leaves no half key behind. */
export function writeAtomically(path: string, text: string, mode: number): void {
  const temporary = `${path}.tmp`;
  writeFileSync(temporary, text, { mode, flush: true });
  renameSync(temporary, path);
}

/** The self-signed files in `dir` when they are for `hostname`, else new ones. */
function selfSigned(hostname: string, dir: string, logger: Logger): Certificate {
  const certPath = join(dir, "cert.pem");
  const keyPath = join(dir, "key.pem");
  if (existsSync(certPath) && existsSync(keyPath)) {
    const pair = readPair(certPath, keyPath);
    if (new X509Certificate(pair.cert).checkHost(hostname) !== undefined) return { pair, source: "self-signed", certPath, keyPath };
  }
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const pair = selfSignedCertificate(hostname);
  writeAtomically(keyPath, pair.key, 0o600);
  writeAtomically(certPath, pair.cert, 0o644);
  logger.info({ event: "tls", certPath }, `made a self-signed certificate for ${hostname}`);
  return { pair, source: "self-signed", certPath, keyPath };
}

/**
 * The certificate to serve: relay.tls when configured (an unreadable or mismatched pair throws, and the
 * relay does not start), else the self-signed one in `selfSignedDir`, with a warning.
 */
export function loadCertificate(config: EdgemxConfig, selfSignedDir: string, logger: Logger): Certificate {
  const configured = config.relay.tls;
  if (configured) return { pair: readPair(configured.cert, configured.key), source: "configured", certPath: configured.cert, keyPath: configured.key };
  const certificate = selfSigned(config.hostname, selfSignedDir, logger);
  logger.warn(
    { event: "tls", certPath: certificate.certPath },
    `relay.tls is not configured: STARTTLS uses a self-signed certificate for ${config.hostname}; senders that verify certificates (DANE, MTA-STS) need a real one`,
  );
  return certificate;
}

/** Polls the configured files (atomic renames by certbot and the like included) every few seconds. */
const WATCH_INTERVAL_MS = 5_000;

/** Calls `onChange` when the certificate or key file changes; returns the function that stops watching. */
export function watchCertificate(certificate: Certificate, onChange: () => void): () => void {
  const paths = [certificate.certPath, certificate.keyPath];
  const listener = (current: { mtimeMs: number }, previous: { mtimeMs: number }): void => {
    if (current.mtimeMs !== previous.mtimeMs) onChange();
  };
  for (const path of paths) watchFile(path, { interval: WATCH_INTERVAL_MS, persistent: false }, listener);
  return () => {
    for (const path of paths) unwatchFile(path, listener);
  };
}

/** Re-reads the certificate's files; a pair that does not fit together (mid-update) throws. */
export function rereadCertificate(certificate: Certificate): Certificate {
  return { ...certificate, pair: readPair(certificate.certPath, certificate.keyPath) };
}
