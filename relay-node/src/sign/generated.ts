// Mail the relay writes itself — DSNs (queue/scheduler.ts), TLS and DMARC reports (tlsrpt/, dmarcrpt/sender.ts) — leaves
// like submitted mail: from a postmaster of one of our domains (RFC 2142 §2: the mailbox that must
// exist), with that domain's DKIM signatures (RFC 6376; RFC 8463 beside it when configured), so that
// DMARC aligns at the receiver. No ARC set: nothing was received and authenticated on its way.
import type { EdgemxConfig } from "../../../core/config/schema.ts";
import { dkimSignatures, type SigningIdentity } from "./outbound.ts";

/** The domain of an address, lower case (RFC 5321 §2.4: domains are case-insensitive). */
function domainOf(address: string): string {
  return address.slice(address.lastIndexOf("@") + 1).toLowerCase();
}

/**
 * The From of a DSN about a message from `mailFrom`: postmaster of the sender's domain when it is ours
 * (a user's bounce comes from their own domain), else of the first configured domain.
 */
export function dsnFrom(domains: EdgemxConfig["domains"], mailFrom: string): string {
  const ours = domains.find((domain) => domain.name.toLowerCase() === domainOf(mailFrom));
  return `postmaster@${(ours ?? domains[0]!).name.toLowerCase()}`;
}

/** Signs a generated message with the keys of `fromDomain`; undefined when we hold none for it. */
export type GeneratedMailSigner = (message: Buffer, fromDomain: string, now: Date) => Buffer | undefined;

export function generatedMailSigner(keys: ReadonlyMap<string, Pick<SigningIdentity, "key" | "ed25519">>): GeneratedMailSigner {
  return (message, fromDomain, now) => {
    const identity = keys.get(fromDomain.toLowerCase());
    if (identity === undefined) return undefined;
    return Buffer.concat([Buffer.from(dkimSignatures(message, identity, now).join(""), "latin1"), message]);
  };
}
