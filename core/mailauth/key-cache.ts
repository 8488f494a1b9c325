// mailauth turns a DKIM key record into a key for every signature it verifies: createPublicKey() of
// the record's DER bytes, export() to PEM, and then crypto.verify() parses that PEM again. The DNS
// answer is cached, the parsing was not: about 6 % of the relay's CPU per message. This memoises, on
// the node:crypto object that mailauth's require("node:crypto") returns (as digest-names.ts
// does), createPublicKey() for the same public key input, a PEM export of such a cached key, and
// hands verify() the cached KeyObject for a public-key PEM string. KeyObjects are immutable and PEM
// exports are strings, so a cached result is indistinguishable from a fresh one. Private keys and
// every other input go straight through. Bounded: the least recently used of 256 keys is dropped.
// internals.ts imports this before any of mailauth's modules; test/unit/mailauth-adapter.test.ts
// fails when mailauth stops handing node:crypto the inputs memoised here.
import { Buffer } from "node:buffer";
import crypto, { type KeyObject } from "node:crypto";

const LIMIT = 256;
const keys = new Map<string, KeyObject>();

function remember(cacheKey: string, make: () => KeyObject): KeyObject {
  const cached = keys.get(cacheKey);
  if (cached) {
    keys.delete(cacheKey); // most recently used last
    keys.set(cacheKey, cached);
    return cached;
  }
  const key = withMemoisedExport(make());
  keys.set(cacheKey, key);
  if (keys.size > LIMIT) keys.delete(keys.keys().next().value!);
  return key;
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

const createPublicKey = crypto.createPublicKey;
const verify = crypto.verify;

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
