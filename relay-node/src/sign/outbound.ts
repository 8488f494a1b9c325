// The signatures of a submitted message, in the order a receiver meets them from the top:
//
//   ARC-Seal, ARC-Message-Signature, ARC-Authentication-Results   (RFC 8617, i=1, cv=none)
//   DKIM-Signature                                                 (RFC 6376, core/dkim/sign.ts)
//   DKIM-Signature, a=ed25519-sha256, when configured               (RFC 8463, dkim.ed25519)
//   … the message as submitted, our Received on top
//
// Both with the key and selector of the domain of the From address (DMARC alignment, RFC 7489 §3.1).
// The ARC set records that we authenticated the submitting user (RFC 8601 §2.7.4, "auth").
import { dkimSignature, relaxedBodyHash, type DkimKey } from "../../../core/dkim/sign.ts";
import { createSeal, parseHeaders } from "../../../core/mailauth/internals.ts";

export interface SigningIdentity {
  key: DkimKey;
  /** The same key as PEM, for mailauth's ARC sealing. */
  pem: string;
  /** An optional second signature (RFC 8463 §3, Ed25519), made over the same message beside the first. */
  ed25519?: DkimKey;
}

/** The ARC-Authentication-Results payload after "i=1;": who we are and that the user logged in. */
export function submissionAuthResults(authservId: string, user: string): string {
  return `${authservId}; auth=pass smtp.auth=${user}`;
}

/**
 * The DKIM-Signature fields of `message`, each with its CRLF: the identity's key, and its Ed25519 key
 * beside it when configured. `bodyHash`: relaxedBodyHash() of the body, when the caller has it.
 */
export function dkimSignatures(message: Buffer, identity: Pick<SigningIdentity, "key" | "ed25519">, now: Date, bodyHash?: string): string[] {
  const time = Math.floor(now.getTime() / 1000);
  const hash = bodyHash ?? relaxedBodyHash(bodyOf(message));
  // Neither signature covers the other (DKIM-Signature is not in SIGNED_FIELDS), so their order does not matter.
  return [dkimSignature(message, identity.key, time, hash), ...(identity.ed25519 ? [dkimSignature(message, identity.ed25519, time, hash)] : [])].map(
    (s) => `${s}\r\n`,
  );
}

/** The body: what follows the empty line after the header section (RFC 5322 §2.1); none without one. */
function bodyOf(message: Buffer): Buffer {
  const end = message.indexOf("\r\n\r\n");
  return end < 0 ? Buffer.alloc(0) : message.subarray(end + 4);
}

/**
 * The signed message: DKIM-Signature, then an ARC set over it, prepended. The body is canonicalized
 * and hashed once: DKIM's bh= and the ARC-Message-Signature's are the same (both c=relaxed/relaxed,
 * SHA-256, over the same body), so mailauth seals from the header section and that hash instead of
 * reading the message again.
 */
export async function signOutbound(message: Buffer, identity: SigningIdentity, authResults: string, now: Date): Promise<Buffer> {
  const bodyHash = relaxedBodyHash(bodyOf(message));
  const dkim = Buffer.from(dkimSignatures(message, identity, now, bodyHash).join(""), "latin1");
  const end = message.indexOf("\r\n\r\n");
  const header = Buffer.concat([dkim, end < 0 ? message : message.subarray(0, end + 2)]);
  const sealed = await createSeal(false, {
    headers: parseHeaders(header),
    seal: { ...sealOptions(identity, authResults, now, { i: 1, cv: "none" }), bodyHash },
  });
  return Buffer.concat([arcFields(sealed), dkim, message]);
}

/**
 * Where the new ARC set stands in the chain (RFC 8617 §4.2.1, §4.1.3): i=1 with cv=none for mail we
 * start the chain of (submission), or after the highest instance on the message with the validation of
 * the chain it carries (forwarded mail, relay-node/src/forward/).
 */
export type ArcChainPosition = { i: 1; cv: "none" } | { cv: "none" | "pass" | "fail" };

/**
 * An ARC set (ARC-Seal, ARC-Message-Signature, ARC-Authentication-Results) over `message`, with the
 * identity's key and selector, as the fields to prepend, each with its CRLF. Throws when mailauth makes
 * none (e.g. RFC 8617 §5.1 step 2: the newest seal says cv=fail).
 */
export async function arcSet(
  message: Buffer,
  identity: Pick<SigningIdentity, "key" | "pem">,
  authResults: string,
  now: Date,
  position: ArcChainPosition,
): Promise<Buffer> {
  return arcFields(await createSeal(message, { seal: sealOptions(identity, authResults, now, position) }));
}

function sealOptions(identity: Pick<SigningIdentity, "key" | "pem">, authResults: string, now: Date, position: ArcChainPosition) {
  return {
    signingDomain: identity.key.domain,
    selector: identity.key.selector,
    privateKey: identity.pem,
    authResults,
    cv: position.cv,
    ...("i" in position ? { i: position.i } : {}),
    signTime: now,
  };
}

/** The set createSeal() made, as the fields to prepend; throws when it made none. */
function arcFields(sealed: Awaited<ReturnType<typeof createSeal>>): Buffer {
  if (sealed.headers.length === 0) throw new Error(`ARC sealing failed: ${sealed.errors.map((e) => e.err.message).join("; ") || "no set made"}`);
  return Buffer.from(sealed.headers.join("\r\n") + "\r\n", "utf8");
}
