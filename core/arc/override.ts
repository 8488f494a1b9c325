// RFC 8617 §7.2: a receiver may let the ARC chain of an intermediary it trusts vouch for forwarded
// mail whose DMARC failed on arrival here (a mailing list rewrote the subject, a forwarder broke SPF).
// Only what the most recent sealer itself recorded counts, and only when the whole chain validates.

/** What the sealer of the most recent ARC set recorded in its ARC-Authentication-Results (RFC 8617 §4.1.1). */
export interface SealedResults {
  /** dmarc=…, with the header.from it was evaluated for. */
  dmarc?: { result: string; from?: string };
  /** dkim=… entries, each with its signing domain (header.d, or the domain of header.i). */
  dkim: { result: string; domain?: string }[];
  /** spf=…, with the domain of smtp.mailfrom. */
  spf?: { result: string; domain?: string };
}

export interface ArcFacts {
  /** The chain validation status the validator found (RFC 8617 §5.2, §4.4): pass, fail or none. */
  result: string;
  /** d= of the ARC-Seal of the highest instance (RFC 8617 §4.1.3). */
  sealer?: string;
  /** The ARC-Authentication-Results of that highest instance. */
  sealed?: SealedResults;
}

const sameDomain = (a: string | undefined, b: string): boolean => a !== undefined && a.replace(/\.$/, "").toLowerCase() === b.replace(/\.$/, "").toLowerCase();

/**
 * Whether the sealer saw the message authenticated for the author domain. Its own DMARC result
 * decides when it recorded one; otherwise a DKIM or SPF pass for exactly the author domain (strict
 * alignment, RFC 7489 §3.1, which implies the relaxed alignment the sealer may have used).
 */
export function sealedAuthenticationPassed(sealed: SealedResults, authorDomain: string): boolean {
  if (sealed.dmarc !== undefined) return sealed.dmarc.result === "pass" && sameDomain(sealed.dmarc.from, authorDomain);
  return (
    sealed.dkim.some((entry) => entry.result === "pass" && sameDomain(entry.domain, authorDomain)) ||
    (sealed.spf?.result === "pass" && sameDomain(sealed.spf.domain, authorDomain))
  );
}

/**
 * The trusted sealer whose chain overrides a DMARC failure, or undefined: the chain validates
 * (cv=pass), the most recent ARC-Seal is signed by a listed domain, and its ARC-Authentication-Results
 * show the author domain authenticated when the message reached that sealer.
 */
export function trustedArcOverride(arc: ArcFacts, authorDomain: string | undefined, trustedSealers: readonly string[]): string | undefined {
  if (arc.result !== "pass" || arc.sealer === undefined || arc.sealed === undefined || authorDomain === undefined) return undefined;
  const sealer = arc.sealer;
  if (!trustedSealers.some((trusted) => sameDomain(sealer, trusted))) return undefined;
  return sealedAuthenticationPassed(arc.sealed, authorDomain) ? sealer.toLowerCase() : undefined;
}
