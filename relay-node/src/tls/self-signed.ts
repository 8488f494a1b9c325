// A self-signed X.509 v3 certificate (RFC 5280) for the relay's STARTTLS when none is configured:
// ECDSA P-256 with SHA-256 (RFC 5758 §3.2), the host name as CN and as the one dNSName of the
// subjectAltName (RFC 5280 §4.2.1.6), an end-entity for server authentication. The ACME service's
// placeholder is signed with the ACME key itself, which may also be P-384 or RSA.
//
// Written as DER by hand with node:crypto, from when @peculiar/x509 could not run in this install (npm
// had placed several copies of @peculiar/asn1-schema, so its schema registry missed the classes of
// asn1-ecc: "Cannot get schema for 'AlgorithmIdentifier'"); package.json's `overrides` now keep one copy
// for acme-client's CSRs. Node's X509Certificate (OpenSSL) parses and verifies the result in the tests.
import { createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, sign, type KeyObject } from "node:crypto";

export interface CertificatePair {
  /** PEM PKCS#8 private key. */
  key: string;
  /** PEM certificate. */
  cert: string;
}

// X.690 DER: tag, definite length, content.
function der(tag: number, ...content: Buffer[]): Buffer {
  const body = Buffer.concat(content);
  const length = body.length;
  let header: Buffer;
  if (length < 0x80) header = Buffer.from([tag, length]);
  else if (length < 0x100) header = Buffer.from([tag, 0x81, length]);
  else header = Buffer.from([tag, 0x82, length >> 8, length & 0xff]);
  return Buffer.concat([header, body]);
}

const sequence = (...content: Buffer[]): Buffer => der(0x30, ...content);
const set = (...content: Buffer[]): Buffer => der(0x31, ...content);
const octetString = (content: Buffer): Buffer => der(0x04, content);
const bitString = (content: Buffer): Buffer => der(0x03, Buffer.from([0]), content);
const explicit = (tagNumber: number, content: Buffer): Buffer => der(0xa0 + tagNumber, content);
const TRUE = Buffer.from([0x01, 0x01, 0xff]);

function oid(dotted: string): Buffer {
  const [first = 0, second = 0, ...rest] = dotted.split(".").map(Number);
  const bytes = [40 * first + second];
  for (const arc of rest) {
    const groups = [arc & 0x7f];
    for (let value = arc >> 7; value > 0; value >>= 7) groups.unshift((value & 0x7f) | 0x80);
    bytes.push(...groups);
  }
  return der(0x06, Buffer.from(bytes));
}

/** A non-negative INTEGER from big-endian magnitude bytes (a 0x00 keeps a high first bit positive). */
function integer(magnitude: Buffer): Buffer {
  let start = 0;
  while (start < magnitude.length - 1 && magnitude[start] === 0) start++;
  const trimmed = magnitude.subarray(start);
  return der(0x02, (trimmed[0] ?? 0) & 0x80 ? Buffer.concat([Buffer.from([0]), trimmed]) : trimmed);
}

/** RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050. */
function time(date: Date): Buffer {
  const iso = date.toISOString().replace(/[-:T]/g, "").slice(0, 14);
  return date.getUTCFullYear() < 2050 ? der(0x17, Buffer.from(`${iso.slice(2)}Z`)) : der(0x18, Buffer.from(`${iso}Z`));
}

const commonName = (name: string): Buffer => sequence(set(sequence(oid("2.5.4.3"), der(0x0c, Buffer.from(name, "utf8")))));

function extension(id: string, critical: boolean, value: Buffer): Buffer {
  return critical ? sequence(oid(id), TRUE, octetString(value)) : sequence(oid(id), octetString(value));
}

function keyPairOf(keyPem: string): { publicKey: KeyObject; privateKey: KeyObject } {
  const privateKey = createPrivateKey(keyPem);
  return { publicKey: createPublicKey(privateKey), privateKey };
}

/** The signature algorithm for the key (RFC 5758 §3.2 for ECDSA, RFC 4055 §5 for RSA, whose parameters are NULL) and its hash. */
function signatureAlgorithm(key: KeyObject): { algorithm: Buffer; hash: string } {
  const curve = key.asymmetricKeyDetails?.namedCurve;
  if (key.asymmetricKeyType === "ec" && curve === "prime256v1") return { algorithm: sequence(oid("1.2.840.10045.4.3.2")), hash: "sha256" };
  if (key.asymmetricKeyType === "ec" && curve === "secp384r1") return { algorithm: sequence(oid("1.2.840.10045.4.3.3")), hash: "sha384" };
  if (key.asymmetricKeyType === "rsa") return { algorithm: sequence(oid("1.2.840.113549.1.1.11"), Buffer.from([0x05, 0x00])), hash: "sha256" };
  throw new Error(`no self-signed certificate for a ${key.asymmetricKeyType ?? "unknown"} ${curve ?? ""} key: expected ECDSA P-256, P-384 or RSA`);
}

function pem(label: string, body: Buffer): string {
  const lines = body.toString("base64").match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----\n`;
}

/**
 * A self-signed certificate for `hostname`, valid from now for `days`, with a fresh P-256 key or with
 * `keyPem` (ECDSA P-256 or P-384, or RSA: the ACME key's placeholder has the TLSA record the CA's certificate will have).
 */
export function selfSignedCertificate(hostname: string, now: Date = new Date(), days = 3650, keyPem?: string): CertificatePair {
  const { publicKey, privateKey } = keyPem === undefined ? generateKeyPairSync("ec", { namedCurve: "P-256" }) : keyPairOf(keyPem);
  const { algorithm, hash } = signatureAlgorithm(privateKey);
  const serial = randomBytes(16);
  serial[0] = serial[0]! & 0x7f; // RFC 5280 §4.1.2.2: positive, at most 20 octets
  const notBefore = new Date(now.getTime() - 3_600_000); // an hour back, for clients whose clock is slow
  const notAfter = new Date(now.getTime() + days * 86_400_000);
  const tbs = sequence(
    explicit(0, integer(Buffer.from([2]))), // v3
    integer(serial),
    algorithm,
    commonName(hostname),
    sequence(time(notBefore), time(notAfter)),
    commonName(hostname),
    publicKey.export({ type: "spki", format: "der" }),
    explicit(
      3,
      sequence(
        extension("2.5.29.19", true, sequence()), // basicConstraints: not a CA
        extension("2.5.29.15", true, der(0x03, Buffer.from([0x07, 0x80]))), // keyUsage: digitalSignature (bit 0; X.690 §11.2.2)
        extension("2.5.29.37", false, sequence(oid("1.3.6.1.5.5.7.3.1"))), // extKeyUsage: serverAuth
        extension("2.5.29.17", false, sequence(der(0x82, Buffer.from(hostname, "ascii")))), // subjectAltName: dNSName
      ),
    ),
  );
  const signature = sign(hash, tbs, { key: privateKey, dsaEncoding: "der" });
  const certificate = sequence(tbs, algorithm, bitString(signature));
  return { key: privateKey.export({ type: "pkcs8", format: "pem" }).toString(), cert: pem("CERTIFICATE", certificate) };
}
