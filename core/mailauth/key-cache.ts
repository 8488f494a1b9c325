// mailauth turns a DKIM key record into a key for every signature it verifies: createPublicKey() of
// the record's DER bytes, export() to PEM, and then crypto.verify() parses that PEM again. The DNS
// answer is cached, the parsing was not: about 6 % of the relay's CPU per message. This memoises, on
// the node:crypto object that mailauth's require("node:crypto") returns (as digest-names.ts
// does), createPublicKey() for the same public key input, a PEM export of such a cached key, and
// hands verify() the cached KeyObject for a public-key PEM string. KeyObjects are immutable and PEM
// exports are strings, so a cached result is indistinguishable from a fresh one. Bounded: the least
// recently used of 256 keys is dropped.
//
// The same for our own signing key when mailauth seals an ARC set (lib/arc/index.js): it takes the key
// as PEM only (a KeyObject fails in its lib/tools.js getPrivateKey(), which calls createPrivateKey() of
// { key, format: "pem" }), parses it with createPrivateKey() for the ARC-Message-Signature, and hands the
// PEM string to crypto.sign() for the ARC-Seal, which parses it once more: two parses of a 2048-bit RSA
// key per submitted message, about 0.6 ms CPU each. createPrivateKey() of a PEM private key (string, or
// { key, format: "pem" } without a passphrase) is memoised in a cache of its own (no export memo: a
// private key's export is never cached as text), and sign() gets the cached KeyObject for a
// private-key PEM string. A PEM that does not parse throws as before and is not cached.
// Every other input goes straight through.
// internals.ts imports this before any of mailauth's modules; test/unit/mailauth-adapter.test.ts
// fails when mailauth stops handing node:crypto the inputs memoised here.
import { Buffer } from "node:buffer";
import crypto, { type KeyObject } from "node:crypto";

const LIMIT = 256;
const keys = new Map<string, KeyObject>();
const privateKeys = new Map<string, KeyObject>();

/** The KeyObject cached under `cacheKey` in `cache`, made and cached first when missing. */
function lookUp(cache: Map<string, KeyObject>, cacheKey: string, make: () => KeyObject): KeyObject {
  const cached = cache.get(cacheKey);
  if (cached) {
    cache.delete(cacheKey); // most recently used last
    cache.set(cacheKey, cached);
    return cached;
  }
  const key = make();
  cache.set(cacheKey, key);
  if (cache.size > LIMIT) cache.delete(cache.keys().next().value!);
  return key;
}

function remember(cacheKey: string, make: () => KeyObject): KeyObject {
  return lookUp(keys, cacheKey, () => withMemoisedExport(make()));
}

/** export() of this KeyObject remembers its string (PEM) results by options. */
function withMemoisedExport(key: KeyObject): KeyObject {
  const original = key.export.bind(key) as (options?: unknown) => unknown;
  const exported = new Map<string, unknown>();
  try {
    Object.defineProperty(key, "export", {
      value: (options?: { type?: string; format?: string }) => {
        if (options?.format !== "pem" || typeof options.type !== "string" || Object.keys(options).length !== 2) return original(options);
        const memo = options.type;
        if (!exported.has(memo)) exported.set(memo, original(options));
        return exported.get(memo);
      },
    });
  } catch {
    // a runtime whose KeyObjects take no own properties: export() stays as it is
  }
  return key;
}

const PUBLIC_PEM = /^-----BEGIN (RSA )?PUBLIC KEY-----/;

/** The cache key of a createPublicKey() input we memoise, or undefined for any other input. */
function cacheKeyOf(input: unknown): string | undefined {
  if (typeof input === "string") return PUBLIC_PEM.test(input) ? "pem:" + input : undefined;
  if (typeof input !== "object" || input === null) return undefined;
  const { key, format, type, ...rest } = input as { key?: unknown; format?: unknown; type?: unknown };
  if (Object.keys(rest).length > 0 || format !== "der" || (type !== "spki" && type !== "pkcs1") || !Buffer.isBuffer(key)) return undefined;
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-assertion -- needed in the Worker's project, where @cloudflare/workers-types declares Buffer as any
  return `der:${type}:${(key as Buffer).toString("base64")}`;
}

const PRIVATE_PEM = /^-----BEGIN (RSA |EC )?PRIVATE KEY-----/;

/** The cache key of a createPrivateKey() input we memoise (PEM without a passphrase), or undefined for any other input. */
function privateCacheKeyOf(input: unknown): string | undefined {
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-assertion -- needed in the Worker's project, where @cloudflare/workers-types declares Buffer as any
  const text = typeof input === "string" ? input : Buffer.isBuffer(input) ? (input as Buffer).toString("latin1") : undefined;
  if (text !== undefined) return PRIVATE_PEM.test(text) ? text : undefined;
  if (typeof input !== "object" || input === null) return undefined;
  const { key, format, ...rest } = input as { key?: unknown; format?: unknown };
  if (Object.keys(rest).length > 0 || format !== "pem") return undefined;
  return typeof key === "string" || Buffer.isBuffer(key) ? privateCacheKeyOf(key) : undefined;
}

const createPublicKey = crypto.createPublicKey;
const createPrivateKey = crypto.createPrivateKey;
const verify = crypto.verify;
const sign = crypto.sign;

crypto.createPublicKey = (input: Parameters<typeof createPublicKey>[0]) => {
  const cacheKey = cacheKeyOf(input);
  return cacheKey === undefined ? createPublicKey(input) : remember(cacheKey, () => createPublicKey(input));
};

crypto.verify = ((algorithm: unknown, data: unknown, key: unknown, signature: unknown, callback?: unknown) => {
  const cacheKey = typeof key === "string" ? cacheKeyOf(key) : undefined;
  const usable = cacheKey === undefined ? key : remember(cacheKey, () => createPublicKey(key as string));
  const call = verify as unknown as (...args: unknown[]) => unknown;
  return callback === undefined ? call(algorithm, data, usable, signature) : call(algorithm, data, usable, signature, callback);
}) as unknown as typeof verify;

crypto.createPrivateKey = (input: Parameters<typeof createPrivateKey>[0]) => {
  const cacheKey = privateCacheKeyOf(input);
  return cacheKey === undefined ? createPrivateKey(input) : lookUp(privateKeys, cacheKey, () => createPrivateKey(input));
};

crypto.sign = ((algorithm: unknown, data: unknown, key: unknown, callback?: unknown) => {
  const cacheKey = typeof key === "string" ? privateCacheKeyOf(key) : undefined;
  const usable = cacheKey === undefined ? key : lookUp(privateKeys, cacheKey, () => createPrivateKey(key as string));
  const call = sign as unknown as (...args: unknown[]) => unknown;
  return callback === undefined ? call(algorithm, data, usable) : call(algorithm, data, usable, callback);
}) as unknown as typeof sign;
