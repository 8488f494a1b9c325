// Password hashes for submission users: scrypt (RFC 7914) with a per-user random salt, the cost
// parameters stored beside the hash so they can be raised later without invalidating old hashes:
//
//   scrypt$<N>$<r>$<p>$<salt, base64>$<hash, base64>
//
// Comparison is constant-time (timingSafeEqual). A password never leaves this module in any form
// other than its hash.
import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from "node:crypto";

export interface ScryptParameters {
  /** CPU/memory cost, a power of two. */
  N: number;
  r: number;
  p: number;
}

/** OWASP's 2023 minimum for scrypt (N=2^17, r=8, p=1): about 128 MiB and 0.1–0.3 s per hash. */
export const DEFAULT_SCRYPT: ScryptParameters = { N: 2 ** 17, r: 8, p: 1 };

const SALT_BYTES = 16;
const HASH_BYTES = 32;
const PREFIX = "scrypt";

function derive(password: string, salt: Buffer, params: ScryptParameters): Promise<Buffer> {
  // RFC 7914 §2: memory is 128 · N · r bytes; node's default maxmem (32 MiB) is below N=2^17.
  const options: ScryptOptions = { N: params.N, r: params.r, p: params.p, maxmem: 256 * params.N * params.r };
  return new Promise((resolve, reject) => {
    scrypt(password.normalize("NFC"), salt, HASH_BYTES, options, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

export async function hashPassword(password: string, params: ScryptParameters = DEFAULT_SCRYPT): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  const hash = await derive(password, salt, params);
  return [PREFIX, params.N, params.r, params.p, salt.toString("base64"), hash.toString("base64")].join("$");
}

interface StoredHash {
  params: ScryptParameters;
  salt: Buffer;
  hash: Buffer;
}

export function parseStoredHash(stored: string): StoredHash | null {
  const parts = stored.split("$");
  if (parts.length !== 6 || parts[0] !== PREFIX) return null;
  const [N, r, p] = parts.slice(1, 4).map(Number) as [number, number, number];
  if (![N, r, p].every((n) => Number.isSafeInteger(n) && n > 0)) return null;
  const salt = Buffer.from(parts[4]!, "base64");
  const hash = Buffer.from(parts[5]!, "base64");
  if (salt.length === 0 || hash.length === 0) return null;
  return { params: { N, r, p }, salt, hash };
}

/** True when `password` matches `stored`; a malformed stored hash never matches. */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const parsed = parseStoredHash(stored);
  if (parsed === null) return false;
  const candidate = await derive(password, parsed.salt, parsed.params);
  return candidate.length === parsed.hash.length && timingSafeEqual(candidate, parsed.hash);
}
