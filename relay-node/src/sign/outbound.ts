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
  const sealed = await createSeal(signed, {
    seal: {
      signingDomain: identity.key.domain,
      selector: identity.key.selector,
      privateKey: identity.pem,
      authResults,
      cv: "none",
      i: 1,
      signTime: now,
    },
  });
  if (sealed.headers.length === 0) throw new Error(`ARC sealing failed: ${sealed.errors.map((e) => e.err.message).join("; ") || "no set made"}`);
  return Buffer.concat([Buffer.from(sealed.headers.join("\r\n") + "\r\n", "latin1"), signed]);
}
