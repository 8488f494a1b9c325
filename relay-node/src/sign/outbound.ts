// The signatures of a submitted message, in the order a receiver meets them from the top:
//
//   ARC-Seal, ARC-Message-Signature, ARC-Authentication-Results   (RFC 8617, i=1, cv=none)
//   DKIM-Signature                                                 (RFC 6376, core/dkim/sign.ts)
//   DKIM-Signature, a=ed25519-sha256, when configured               (RFC 8463, dkim.ed25519)
//   … the message as submitted, our Received on top
//
// Both with the key and selector of the domain of the From address (DMARC alignment, RFC 7489 §3.1).
// The ARC set records that we authenticated the submitting user (RFC 8601 §2.7.4, "auth").
import { dkimSignature, type DkimKey } from "../../../core/dkim/sign.ts";
import { createSeal } from "../../../core/mailauth/internals.ts";

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

/** The DKIM-Signature fields of `message`, each with its CRLF: the identity's key, and its Ed25519 key beside it when configured. */
export function dkimSignatures(message: Buffer, identity: Pick<SigningIdentity, "key" | "ed25519">, now: Date): string[] {
  const time = Math.floor(now.getTime() / 1000);
  // Neither signature covers the other (DKIM-Signature is not in SIGNED_FIELDS), so their order does not matter.
  return [dkimSignature(message, identity.key, time), ...(identity.ed25519 ? [dkimSignature(message, identity.ed25519, time)] : [])].map((s) => `${s}\r\n`);
}

/** The signed message: DKIM-Signature, then an ARC set over it, prepended. */
export async function signOutbound(message: Buffer, identity: SigningIdentity, authResults: string, now: Date): Promise<Buffer> {
  const signed = Buffer.concat([Buffer.from(dkimSignatures(message, identity, now).join(""), "latin1"), message]);
  return Buffer.concat([await arcSet(signed, identity, authResults, now, { i: 1, cv: "none" }), signed]);
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
  const sealed = await createSeal(message, {
    seal: {
      signingDomain: identity.key.domain,
      selector: identity.key.selector,
      privateKey: identity.pem,
      authResults,
      cv: position.cv,
      ...("i" in position ? { i: position.i } : {}),
      signTime: now,
    },
  });
  if (sealed.headers.length === 0) throw new Error(`ARC sealing failed: ${sealed.errors.map((e) => e.err.message).join("; ") || "no set made"}`);
  return Buffer.from(sealed.headers.join("\r\n") + "\r\n", "utf8");
}
