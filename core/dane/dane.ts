// DANE for SMTP (RFC 7672) as pure decisions: whether a host's TLSA answer makes DANE apply, and whether a
// server's certificate chain matches the usable TLSA records. The DNS lookups and the TLS handshake are
// remote.ts's; everything here is a function of their results.
import { createHash, type X509Certificate } from "node:crypto";
import type { Lookup, TlsaRecord } from "../dns/resolver.ts";

/** RFC 7672 §3.1: SMTP uses only DANE-TA(2) and DANE-EE(3); PKIX-TA(0) and PKIX-EE(1) are unusable. */
const DANE_TA = 2;
const DANE_EE = 3;

/**
 * What a host's TLSA lookup means for the session (RFC 7672 §2.2):
 * - `dane`: authenticated, usable records — TLS is mandatory and the certificate must match them;
 * - `encrypt-only`: authenticated records, none usable (§2.2 "unusable TLSA RRset"): TLS is still
 *   mandatory, without authentication;
 * - `none`: no secure TLSA records (insecure zone, or an authenticated denial): DANE does not apply;
 * - `defer`: the lookup failed in a secure zone (bogus, SERVFAIL, timeout): the host must not be used
 *   without TLSA — never a downgrade to opportunistic TLS (§2.1.1).
 */
export type DaneRequirement =
  | { kind: "dane"; records: readonly TlsaRecord[] }
  | { kind: "encrypt-only"; records: readonly TlsaRecord[] }
  | { kind: "none"; reason: string }
  | { kind: "defer"; reason: string };

/** RFC 7672 §2.2: TLSA records are sought only where the MX and address answers are secure (AD set). */
export function mxHostIsSecure(mxAuthenticated: boolean, addressAuthenticated: boolean): boolean {
  return mxAuthenticated && addressAuthenticated;
}

/** Whether the record is one an SMTP client can use (RFC 7672 §3.1, RFC 6698 §2.1.2–2.1.3). */
export function isUsableTlsa(record: TlsaRecord): boolean {
  return (record.usage === DANE_TA || record.usage === DANE_EE) && (record.selector === 0 || record.selector === 1) && record.matchingType <= 2;
}

/** The requirement a TLSA lookup for `_25._tcp.<host>` imposes on a host reached through secure MX and address answers. */
export function daneRequirement(tlsa: Lookup<"TLSA">): DaneRequirement {
  switch (tlsa.status) {
    case "servfail":
    case "timeout":
      // RFC 7672 §2.2.1: a failed TLSA lookup for a host in a signed zone defers delivery to it.
      return { kind: "defer", reason: `TLSA lookup failed (${tlsa.status}): ${tlsa.detail}` };
    case "nxdomain":
    case "nodata":
      return { kind: "none", reason: tlsa.authenticated ? "no TLSA records (authenticated denial)" : "no TLSA records" };
    case "ok": {
      // §2.1.1: records without the AD bit are insecure and ignored, as if absent.
      if (!tlsa.authenticated) return { kind: "none", reason: "TLSA records are not DNSSEC-authenticated" };
      const usable = tlsa.answers.filter(isUsableTlsa);
      return usable.length > 0 ? { kind: "dane", records: usable } : { kind: "encrypt-only", records: tlsa.answers };
    }
  }
}

/** RFC 6698 §2.1.2: selector 0 is the whole certificate (DER), selector 1 its SubjectPublicKeyInfo (DER). */
function selectedBytes(certificate: X509Certificate, selector: number): Buffer {
  return selector === 0 ? certificate.raw : certificate.publicKey.export({ type: "spki", format: "der" });
}

/** RFC 6698 §2.1.3: matching type 0 is the bytes themselves, 1 their SHA-256, 2 their SHA-512. */
function associationData(bytes: Buffer, matchingType: number): Buffer {
  if (matchingType === 1) return createHash("sha256").update(bytes).digest();
  if (matchingType === 2) return createHash("sha512").update(bytes).digest();
  return bytes;
}

function recordMatches(record: TlsaRecord, certificate: X509Certificate): boolean {
  return associationData(selectedBytes(certificate, record.selector), record.matchingType).equals(Buffer.from(record.data));
}

/** Each certificate of the chain up to `upTo` is issued and signed by the next (RFC 5280 §6.1, reduced to the presented chain). */
function chainsTo(chain: readonly X509Certificate[], upTo: number): boolean {
  for (let i = 0; i < upTo; i += 1) {
    const subject = chain[i]!;
    const issuer = chain[i + 1]!;
    if (!subject.checkIssued(issuer) || !subject.verify(issuer.publicKey)) return false;
  }
  return true;
}

/** The validity period of `certificate` contains `now`. */
function isCurrent(certificate: X509Certificate, now: Date): boolean {
  return new Date(certificate.validFrom) <= now && now <= new Date(certificate.validTo);
}

export type TlsaMatch = { matched: true; usage: number } | { matched: false; reason: string };

/**
 * Whether the server's chain (its own certificate first, as sent, RFC 8446 §4.4.2) satisfies one of the
 * usable records:
 * - DANE-EE(3), RFC 7672 §3.1.1: the server's own certificate matches; names and dates are not checked.
 * - DANE-TA(2), RFC 7672 §3.1.2 and §3.2: a certificate the server sent above its own matches, the chain
 *   from the server's certificate up to it is intact, the server's certificate is current and names one of
 *   `referenceNames` (§3.2.2: the MX host name, and the next-hop domain).
 */
export function tlsaMatches(records: readonly TlsaRecord[], chain: readonly X509Certificate[], referenceNames: readonly string[], now = new Date()): TlsaMatch {
  const server = chain[0];
  if (server === undefined) return { matched: false, reason: "the server sent no certificate" };
  const usable = records.filter(isUsableTlsa);
  if (usable.some((record) => record.usage === DANE_EE && recordMatches(record, server))) return { matched: true, usage: DANE_EE };
  for (const record of usable.filter((r) => r.usage === DANE_TA)) {
    const anchorAt = chain.findIndex((certificate, i) => i > 0 && recordMatches(record, certificate));
    if (anchorAt < 0 || !chainsTo(chain, anchorAt)) continue;
    if (!isCurrent(server, now)) return { matched: false, reason: "DANE-TA: the server certificate is not currently valid" };
    if (!referenceNames.some((name) => server.checkHost(name) !== undefined)) {
      return { matched: false, reason: `DANE-TA: the server certificate names none of ${referenceNames.join(", ")}` };
    }
    return { matched: true, usage: DANE_TA };
  }
  return { matched: false, reason: `none of ${usable.length} usable TLSA record(s) matches the certificate chain` };
}
