// Forwarding to another domain (docs/forwarding.md): an accepted message whose recipients include an
// alias to another domain — or a bounce to one of our SRS addresses, which goes back to the address it
// stands for — is spooled as its own copy, with
//
// - the envelope sender rewritten with SRS at the alias's domain (core/srs/), so the receiver's SPF
//   checks us, who send it, and a bounce comes back to us to be checked and passed on;
// - an ARC set (RFC 8617 §5.1) of the alias's domain over it, carrying our Authentication-Results, so
//   the receiver can see what SPF, DKIM and DMARC gave before we forwarded (the signer of submitted mail,
//   sign/outbound.ts, with that domain's DKIM key).
//
// The SRS secret comes from the environment (EDGEMX_SRS_SECRET; EDGEMX_SRS_PREVIOUS_SECRET while a
// secret is rotated out): required when an alias forwards to another domain, and without any, SRS is off.
import type { EdgemxConfig } from "../../../core/config/schema.ts";
import { forwardSealInputs } from "../../../core/arc/seal.ts";
import { atOurDomain, forwardedSender, forwardingDomains } from "../../../core/srs/forwarding.ts";
import type { SrsSecrets } from "../../../core/srs/srs.ts";
import type { CheckRecord, Logger } from "../log/log.ts";
import { loadDkimKeys } from "../sign/keys.ts";
import { arcSet, type SigningIdentity } from "../sign/outbound.ts";

export const SRS_SECRET_ENV = "EDGEMX_SRS_SECRET";
export const SRS_PREVIOUS_SECRET_ENV = "EDGEMX_SRS_PREVIOUS_SECRET";
/** 16 characters of `openssl rand -base64 24` carry 96 bits: more than the 24 of a hash ever need guarding. */
const MIN_SECRET_LENGTH = 16;

/** One spool entry of an accepted message: the recipients of our domains, or those forwarded through one of them. */
export interface SpoolCopy {
  mailFrom: string;
  rcptTo: string[];
  /** The domain of ours that forwards this copy (the alias's); null for the copy our next hop takes. */
  forwarder: string | null;
}

/**
 * The spool entries of an accepted message: one for its recipients at our domains, with the sender as
 * given, then one per forwarding domain of ours for recipients elsewhere, with the sender rewritten
 * (SRS; as given when SRS is off). Each address once, in the order accepted.
 */
export function spoolCopies(
  mailFrom: string,
  recipients: readonly { address: string; deliverTo: string }[],
  config: EdgemxConfig,
  srsSecrets: SrsSecrets | null,
  now: Date,
): SpoolCopy[] {
  const local: string[] = [];
  const forwarded = new Map<string, string[]>();
  const seen = new Set<string>();
  for (const { address, deliverTo } of recipients) {
    if (seen.has(deliverTo.toLowerCase())) continue;
    seen.add(deliverTo.toLowerCase());
    if (atOurDomain(deliverTo, config)) {
      local.push(deliverTo);
      continue;
    }
    const forwarder = address.slice(address.lastIndexOf("@") + 1).toLowerCase();
    forwarded.set(forwarder, [...(forwarded.get(forwarder) ?? []), deliverTo]);
  }
  const copies: SpoolCopy[] = local.length > 0 ? [{ mailFrom, rcptTo: local, forwarder: null }] : [];
  for (const [forwarder, rcptTo] of forwarded) {
    const sender = srsSecrets === null ? mailFrom : forwardedSender(mailFrom, forwarder, config, srsSecrets, now);
    copies.push({ mailFrom: sender, rcptTo, forwarder });
  }
  return copies;
}

export interface Forwarding {
  /** The secrets SRS addresses are made and checked with; null: SRS is off (no secret in the environment). */
  srsSecrets: SrsSecrets | null;
  /**
   * The copy `forwarder` sends on: the accepted message with that domain's ARC set on top, or as it is
   * when there is nothing to seal (the judge sealed it), no key, or sealing failed (said in `sealed`).
   */
  seal(
    message: Buffer,
    forwarder: string,
    verdict: { headers: readonly string[]; checks: readonly CheckRecord[] },
  ): Promise<{ message: Buffer; sealed: string }>;
}

/** The SRS secrets from the environment; throws when one is too short, or none is there while an alias forwards elsewhere. */
export function srsSecretsFrom(env: NodeJS.ProcessEnv, forwarding: ReadonlyMap<string, string[]>): SrsSecrets | null {
  const current = env[SRS_SECRET_ENV];
  const previous = env[SRS_PREVIOUS_SECRET_ENV];
  for (const [name, secret] of [
    [SRS_SECRET_ENV, current],
    [SRS_PREVIOUS_SECRET_ENV, previous],
  ] as const) {
    if (secret !== undefined && secret.length < MIN_SECRET_LENGTH)
      throw new Error(`${name} has ${secret.length} characters; SRS needs a secret of at least ${MIN_SECRET_LENGTH} (e.g. openssl rand -base64 24)`);
  }
  if (current === undefined || current === "") {
    if (forwarding.size === 0) return null;
    const aliases = [...forwarding].map(([domain, locals]) => locals.map((local) => `${local}@${domain}`).join(", ")).join(", ");
    throw new Error(
      `${aliases} forward to another domain, but ${SRS_SECRET_ENV} (the secret of their SRS addresses, docs/forwarding.md) is not in the environment`,
    );
  }
  return previous === undefined || previous === "" ? [current] : [current, previous];
}

export function startForwarding(config: EdgemxConfig, env: NodeJS.ProcessEnv, logger: Logger): Forwarding {
  const forwarding = forwardingDomains(config);
  const srsSecrets = srsSecretsFrom(env, forwarding);
  const keys: ReadonlyMap<string, Pick<SigningIdentity, "key" | "pem">> = forwarding.size > 0 ? loadDkimKeys(config, env) : new Map();
  for (const domain of forwarding.keys()) {
    if (!keys.has(domain))
      logger.warn({ event: "forward", domain }, `${domain} forwards to other domains but has no DKIM key: its forwards leave without an ARC seal`);
  }
  return {
    srsSecrets,
    async seal(message, forwarder, verdict) {
      const inputs = forwardSealInputs(verdict);
      if (inputs === null) return { message, sealed: "no: sealed by the judge (judge.arcSeal) or no Authentication-Results" };
      const identity = keys.get(forwarder);
      if (identity === undefined) return { message, sealed: `no: ${forwarder} has no DKIM key` };
      try {
        const set = await arcSet(message, identity, inputs.authResults, new Date(), { cv: inputs.cv });
        return { message: Buffer.concat([set, message]), sealed: `${forwarder} s=${identity.key.selector} cv=${inputs.cv}` };
      } catch (err) {
        return { message, sealed: `no: ${(err as Error).message}` };
      }
    },
  };
}
