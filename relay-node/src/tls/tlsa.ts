// The relay certificate's key digest for TLSA "3 1 1" records (RFC 7672 §3.1.1, RFC 6698 §2.1).
import { X509Certificate, createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import type { EdgemxConfig } from "../../../core/config/schema.ts";
import type { RecordFacts } from "../../../core/records/records.ts";

/**
 * RFC 6698 §2.1.2–2.1.3: selector 1 is the DER SubjectPublicKeyInfo, matching type 1 its SHA-256.
 * `pem` may be a chain: the first certificate is the server's own (the order of RFC 8446 §4.4.2), the one
 * DANE-EE pins.
 */
export function spkiSha256Hex(pem: string | Buffer): string {
  const spki = new X509Certificate(pem).publicKey.export({ type: "spki", format: "der" });
  return createHash("sha256").update(spki).digest("hex");
}

/** The facts for the records and, when the TLSA digest is missing, why (for a one-line warning). */
export interface RecordFactsResult {
  facts: RecordFacts;
  warning?: string;
}

/**
 * The facts the relay's certificate gives. A certificate that is not configured, or not readable where
 * this runs (a build machine rarely holds the relay's files), leaves the TLSA record out with a warning.
 */
export function recordFactsFromConfig(config: EdgemxConfig, read: (path: string) => Buffer = readFileSync): RecordFactsResult {
  const path = config.relay.tls?.cert;
  if (!path) return { facts: {}, warning: "no TLSA record: relay.tls.cert is not configured" };
  let pem: Buffer;
  try {
    pem = read(path);
  } catch (err) {
    return { facts: {}, warning: `no TLSA record: cannot read relay.tls.cert ${path} (${(err as NodeJS.ErrnoException).code ?? String(err)})` };
  }
  try {
    return { facts: { tlsaSpkiSha256: spkiSha256Hex(pem) } };
  } catch {
    return { facts: {}, warning: `no TLSA record: relay.tls.cert ${path} holds no PEM certificate` };
  }
}
