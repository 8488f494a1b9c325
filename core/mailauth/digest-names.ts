// mailauth hands DKIM's algorithm name ("rsa-sha256", RFC 6376 §3.3) to node:crypto's verify() and
// sign() as the digest. Node (OpenSSL) takes digest names in any case; workerd's node:crypto only
// knows "sha256", "RSA-SHA256" and the like, so inside the Worker every RSA signature verified as
// "neutral (Unknown digest: rsa-sha256)" and DMARC then failed for DKIM-authenticated mail.
// Where the runtime refuses that name, this maps it to the plain digest on the node:crypto object
// that mailauth's require("node:crypto") returns: the module's default export, in workerd's
// vitest pool and in wrangler's bundle alike. In Node nothing is changed. internals.ts imports this
// before any of mailauth's modules (it says why); test/workers/mailauth-crypto.test.ts fails when
// workerd takes the DKIM names itself (this can go) or when the renaming no longer reaches mailauth.
import crypto from "node:crypto";

/** RFC 6376 §3.3 / RFC 8301 algorithm names whose RSA digest goes by another name in workerd. */
const DIGEST_OF: Readonly<Record<string, string>> = { "rsa-sha256": "sha256", "rsa-sha1": "sha1" };

function runtimeKnowsDkimNames(): boolean {
  try {
    crypto.createHash("rsa-sha256");
    return true;
  } catch {
    return false;
  }
}

const digest = (algorithm: unknown): unknown => (typeof algorithm === "string" ? (DIGEST_OF[algorithm.toLowerCase()] ?? algorithm) : algorithm);

/** The same function, with its first argument (the digest) renamed; both are overloaded, hence the casts. */
function withDigestNames<F extends (...args: never[]) => unknown>(original: F): F {
  const call = original as unknown as (...args: unknown[]) => unknown;
  return ((algorithm: unknown, ...rest: unknown[]) => call(digest(algorithm), ...rest)) as unknown as F;
}

if (!runtimeKnowsDkimNames()) {
  crypto.verify = withDigestNames(crypto.verify);
  crypto.sign = withDigestNames(crypto.sign);
}
