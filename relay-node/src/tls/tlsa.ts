// The relay certificate's key digest for TLSA "3 1 1" records (RFC 7672 §3.1.1, RFC 6698 §2.1).
import { KeyObject, X509Certificate, createHash, createPublicKey } from "node:crypto";
import { acmeFiles, readRolloverState } from "./acme-files.ts";
import { readFileSync } from "node:fs";
import type { EdgemxConfig } from "../../../core/config/schema.ts";
import type { RecordFacts } from "../../../core/records/records.ts";

/**
 * RFC 6698 §2.1.2–2.1.3: selector 1 is the DER SubjectPublicKeyInfo, matching type 1 its SHA-256.
 * `pem` may be a chain: the first certificate is the server's own (the order of RFC 8446 §4.4.2), the one
 * DANE-EE pins.
 */
export function spkiSha256Hex(pem: string | Buffer): string {
  return keySpkiSha256Hex(new X509Certificate(pem).publicKey);
}

/** The same digest of a key: a public key, or the public half of a private one (a key without a certificate yet). */
export function keySpkiSha256Hex(key: KeyObject | string | Buffer): string {
  const publicKey = key instanceof KeyObject && key.type === "public" ? key : createPublicKey(key);
  const spki = publicKey.export({ type: "spki", format: "der" });
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
  if (config.relay.acme !== undefined) return acmeRecordFacts(config, read);
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

/**
 * With ACME the record is of cert.pem's key: key.pem, kept across renewals (the placeholder before the
 * CA's first certificate has it too). During a key rollover the next key's record goes beside it (RFC
 * 7671 §8.1), its digest read from rollover.json. Only files readable by others: keys stay 0600.
 */
function acmeRecordFacts(config: EdgemxConfig, read: (path: string) => Buffer): RecordFactsResult {
  const files = acmeFiles(config);
  let pem: Buffer;
  try {
    pem = read(files.cert);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? String(err);
    const hint = code === "ENOENT" ? "; the relay makes it on its first start with relay.acme" : "";
    return { facts: {}, warning: `no TLSA record: cannot read the ACME certificate ${files.cert} (${code})${hint}` };
  }
  let current: string;
  try {
    current = spkiSha256Hex(pem);
  } catch {
    return { facts: {}, warning: `no TLSA record: ${files.cert} holds no PEM certificate` };
  }
  const state = readRolloverState(files.state);
  return { facts: { tlsaSpkiSha256: current, ...(state.phase === "publishing" ? { tlsaNextSpkiSha256: state.next } : {}) } };
}
