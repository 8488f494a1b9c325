// The ACME files on disk (tls/acme-files.ts names them): made on the first start, read as facts for
// core/acme's decisions, and put back in order after a stop in the middle of a key swap.
import { X509Certificate, createPrivateKey, generateKeyPairSync } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from "node:fs";
import type { ACME_KEY_TYPES, EdgemxConfig } from "../../../core/config/schema.ts";
import { acmeNames, renewalTime, type CertificateFacts } from "../../../core/acme/renewal.ts";
import { reconcile, tlsaToPublish, type PublishedTlsa, type RolloverState } from "../../../core/acme/rollover.ts";
import type { Logger } from "../log/log.ts";
import { acmeFiles, readRolloverState, storedRolloverState, type AcmeFiles } from "../tls/acme-files.ts";
import { checkPair, writeAtomically, type Certificate } from "../tls/certificate.ts";
import { selfSignedCertificate } from "../tls/self-signed.ts";
import { keySpkiSha256Hex, spkiSha256Hex } from "../tls/tlsa.ts";

export type AcmeKeyType = (typeof ACME_KEY_TYPES)[number];

/** A new private key of `type`, PEM PKCS#8. */
export function newPrivateKey(type: AcmeKeyType): string {
  const pair =
    type === "ecdsa-p256" || type === "ecdsa-p384"
      ? generateKeyPairSync("ec", { namedCurve: type === "ecdsa-p256" ? "P-256" : "P-384" })
      : generateKeyPairSync("rsa", { modulusLength: Number(type.slice("rsa-".length)) });
  return pair.privateKey.export({ type: "pkcs8", format: "pem" }).toString();
}

export function writeRolloverState(files: AcmeFiles, state: RolloverState): void {
  writeAtomically(files.state, storedRolloverState(state), 0o644);
}

/** The dNSNames of a certificate's subjectAltName, in lower case. */
function dnsNames(certificate: X509Certificate): string[] {
  return (certificate.subjectAltName ?? "")
    .split(", ")
    .filter((entry) => entry.startsWith("DNS:"))
    .map((entry) => entry.slice("DNS:".length).toLowerCase());
}

/** What core/acme decides on: cert.pem's names, validity, origin, and whether key.pem is its key. Null without one. */
export function certificateFacts(files: AcmeFiles): CertificateFacts | null {
  if (!existsSync(files.cert)) return null;
  const certificate = new X509Certificate(readFileSync(files.cert));
  return {
    names: dnsNames(certificate),
    notBefore: certificate.validFromDate.getTime(),
    notAfter: certificate.validToDate.getTime(),
    selfSigned: certificate.issuer === certificate.subject && certificate.verify(certificate.publicKey),
    keyMatches: existsSync(files.key) && certificate.checkPrivateKey(createPrivateKey(readFileSync(files.key))),
  };
}

/** What `npm run tls -- status` shows; JSON, since it crosses the control socket. */
export interface AcmeStatus {
  names: string[];
  certificate: { issuer: string; notBefore: string; notAfter: string; renewAt: string; selfSigned: boolean } | null;
  /** The TLSA 3 1 1 digests to publish now (RFC 7671 §8.1), with what each is for. */
  tlsa: PublishedTlsa[];
  rollover: { phase: RolloverState["phase"]; swapAfter?: string; swappedAt?: string };
  /** From the running relay: its next look, and the last failure since a success. */
  nextCheckAt?: string;
  lastError?: string;
}

/** The status from the files alone (readable by others: cert.pem, rollover.json), as `npm run tls` shows it without a relay. */
export function readAcmeStatus(config: EdgemxConfig): AcmeStatus {
  const files = acmeFiles(config);
  const settings = config.relay.acme!;
  const state = readRolloverState(files.state);
  const pem = existsSync(files.cert) ? readFileSync(files.cert) : null;
  const certificate = pem === null ? null : new X509Certificate(pem);
  const iso = (ms: number): string => new Date(ms).toISOString();
  const validity = certificate && { notBefore: certificate.validFromDate.getTime(), notAfter: certificate.validToDate.getTime() };
  return {
    names: acmeNames(config),
    certificate:
      certificate && validity
        ? {
            issuer: certificate.issuer.replace(/\n/g, ", "),
            notBefore: iso(validity.notBefore),
            notAfter: iso(validity.notAfter),
            renewAt: iso(renewalTime(validity, settings.renewBeforeDays)),
            selfSigned: certificate.issuer === certificate.subject && certificate.verify(certificate.publicKey),
          }
        : null,
    tlsa: pem === null ? [] : tlsaToPublish(state, spkiSha256Hex(pem)),
    rollover:
      state.phase === "publishing"
        ? { phase: state.phase, swapAfter: iso(state.swapAfter) }
        : state.phase === "swapped"
          ? { phase: state.phase, swappedAt: iso(state.swappedAt) }
          : { phase: state.phase },
  };
}

/** Puts the rollover's files in order after a stop at any point of it (core/acme/rollover.ts reconcile). */
function reconcileFiles(files: AcmeFiles, logger: Logger, now: number): void {
  const state = readRolloverState(files.state);
  let certificate: string | null = null;
  try {
    if (existsSync(files.cert)) certificate = spkiSha256Hex(readFileSync(files.cert));
  } catch {
    // not a certificate: replaced by the placeholder below
  }
  const digests = {
    certificate,
    current: keySpkiSha256Hex(readFileSync(files.key)),
    next: existsSync(files.nextKey) ? keySpkiSha256Hex(readFileSync(files.nextKey)) : null,
  };
  const step = reconcile(state, digests, now);
  switch (step.action) {
    case "none":
      return;
    case "promote-next":
      renameSync(files.nextKey, files.key);
      writeRolloverState(files, step.state);
      logger.info({ event: "acme", tlsa: `3 1 1 ${digests.next}` }, "finished the key swap a stop had interrupted");
      return;
    case "record-swap":
      writeRolloverState(files, step.state);
      return;
    case "remove-next":
      rmSync(files.nextKey);
      logger.warn({ event: "acme", path: files.nextKey }, "removed a next key that no rollover records (a rollover stopped before it began)");
      return;
    case "abandon":
      rmSync(files.nextKey, { force: true });
      writeRolloverState(files, { phase: "none" });
      logger.warn({ event: "acme", reason: step.reason }, "the key rollover is abandoned; start it again with npm run tls -- rollover");
      return;
  }
}

/**
 * The certificate the relay serves with relay.acme, made ready before the listeners start: the folder
 * and the keys on the first start, the rollover's files in order, and until the CA's first certificate
 * a self-signed placeholder for key.pem — so STARTTLS works at once, and the TLSA record `npm run dns`
 * prints now is already the one the CA's certificate will have.
 */
export function prepareAcmeCertificate(config: EdgemxConfig, logger: Logger, now: number = Date.now()): Certificate {
  const settings = config.relay.acme!;
  const files = acmeFiles(config);
  mkdirSync(files.dir, { recursive: true, mode: 0o700 });
  if (!existsSync(files.accountKey)) {
    // RFC 8555 §6.2 signs with ES256 among others; P-256 is what every CA takes.
    writeAtomically(files.accountKey, newPrivateKey("ecdsa-p256"), 0o600);
    logger.info({ event: "acme", path: files.accountKey }, "made the ACME account key");
  }
  if (!existsSync(files.key)) {
    writeAtomically(files.key, newPrivateKey(settings.keyType), 0o600);
    logger.info({ event: "acme", path: files.key, keyType: settings.keyType }, "made the certificate key");
  }
  reconcileFiles(files, logger, now);
  const facts = (() => {
    try {
      return certificateFacts(files);
    } catch {
      return null;
    }
  })();
  if (facts === null || !facts.keyMatches) {
    const key = readFileSync(files.key, "utf8");
    const [name] = acmeNames(config);
    writeAtomically(files.cert, selfSignedCertificate(name!, new Date(now), 90, key).cert, 0o644);
    logger.info({ event: "acme", certPath: files.cert }, `serving a self-signed placeholder for ${name} until the CA's certificate`);
  }
  return {
    pair: checkPair({ cert: readFileSync(files.cert, "utf8"), key: readFileSync(files.key, "utf8") }),
    source: "acme",
    certPath: files.cert,
    keyPath: files.key,
  };
}
