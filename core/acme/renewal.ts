// When the relay asks its ACME CA (RFC 8555) for a certificate, and for which names: pure decisions over
// the configuration and the facts of the certificate on disk. relay-node/src/acme/ does the asking.
import type { EdgemxConfig } from "../config/schema.ts";

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

/** Without anything due, the relay looks again after this long (certbot's timer runs twice a day too). */
export const ACME_CHECK_INTERVAL_MS = 12 * HOUR_MS;

/**
 * The names of the certificate: relay.acme.names, else `hostname` — the MX host that is the relay, the
 * one core/records/records.ts publishes the TLSA record for (RFC 7672 §3.1.1 pins the key of that name).
 */
export function acmeNames(config: Pick<EdgemxConfig, "hostname" | "relay">): string[] {
  return [...new Set(config.relay.acme?.names ?? [config.hostname])];
}

/** What the relay knows of the certificate it serves, read from cert.pem and key.pem. */
export interface CertificateFacts {
  /** The dNSNames of its subjectAltName, in lower case. */
  names: readonly string[];
  notBefore: number;
  notAfter: number;
  /** The placeholder the relay serves until the CA's first certificate: signed with its own key. */
  selfSigned: boolean;
  /** Its public key is the one in key.pem (after a key rollover it is not, until the next issuance). */
  keyMatches: boolean;
}

export type RenewalDecision = { due: true; reason: string } | { due: false; dueAt: number };

/**
 * When the certificate is renewed: `renewBeforeDays` before it expires, or a third of its lifetime
 * before for shorter-lived ones (a 6-day certificate is renewed with 2 days left, not 30 days early).
 */
export function renewalTime(cert: Pick<CertificateFacts, "notBefore" | "notAfter">, renewBeforeDays: number): number {
  const lifetime = cert.notAfter - cert.notBefore;
  return cert.notAfter - Math.min(renewBeforeDays * DAY_MS, lifetime / 3);
}

/** Whether to ask the CA now, and why; else when it will be due. */
export function renewalDecision(cert: CertificateFacts | null, names: readonly string[], now: number, renewBeforeDays: number): RenewalDecision {
  if (cert === null) return { due: true, reason: "there is no certificate yet" };
  if (cert.selfSigned) return { due: true, reason: "the relay serves its self-signed placeholder until the CA's first certificate" };
  if (!cert.keyMatches) return { due: true, reason: "the certificate is not for the current key" };
  const missing = names.filter((name) => !cert.names.includes(name));
  const extra = cert.names.filter((name) => !names.includes(name));
  if (missing.length > 0 || extra.length > 0) {
    return { due: true, reason: `the certificate is for ${cert.names.join(", ")}, the configuration asks for ${names.join(", ")}` };
  }
  if (now >= cert.notAfter) return { due: true, reason: `the certificate expired at ${new Date(cert.notAfter).toISOString()}` };
  const dueAt = renewalTime(cert, renewBeforeDays);
  if (now >= dueAt) return { due: true, reason: `the certificate expires at ${new Date(cert.notAfter).toISOString()}` };
  return { due: false, dueAt };
}

/**
 * After `failures` failed attempts in a row: 5 minutes, doubled each time, at most a day. Let's Encrypt
 * allows 5 failed validations per name and hour; this stays under it and still retries soon after a
 * passing outage (a CA down, port 80 not forwarded yet).
 */
export function retryDelayMs(failures: number): number {
  return Math.min(5 * 60_000 * 2 ** Math.max(0, failures - 1), DAY_MS);
}

/** The next look: the earliest of what is due, never later than ACME_CHECK_INTERVAL_MS from now. */
export function nextCheckAt(now: number, ...dueTimes: readonly (number | undefined)[]): number {
  return Math.min(now + ACME_CHECK_INTERVAL_MS, ...dueTimes.filter((t): t is number => t !== undefined).map((t) => Math.max(t, now)));
}
