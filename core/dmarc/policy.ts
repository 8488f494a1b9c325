// What the judge does with a DMARC result: the sender domain's requested policy, sampled by pct,
// overridden by a trusted ARC sealer, or put off when DNS failed. Pure decisions over plain facts.

export type DmarcPolicy = "none" | "quarantine" | "reject";

/** The judge's verdict on authentication: accept, accept marked, refuse, or try again later. */
export type AuthDecision = "pass" | "quarantine" | "reject-dmarc" | "tempfail";

/** What DMARC evaluation found, reduced to what the decision needs. */
export interface DmarcFacts {
  /** RFC 8601 §2.7.1 result: pass, fail, none, temperror, permerror. */
  result: string;
  /**
   * The policy for the author domain: p, or sp when the record was found at the organizational
   * domain of a subdomain (RFC 7489 §6.6.3); already lowered one step by mailauth for t=y (RFC 9989).
   */
  policy?: DmarcPolicy;
  /** RFC 7489 §6.3 pct: the percentage of failing mail the policy applies to. */
  pct: number;
}

/** Why the policy the domain asked for was not applied as asked (the PolicyOverride names of RFC 7489 Appendix C). */
export type DispositionReason = "sampled_out" | "trusted_forwarder" | "local_policy";

export interface DmarcDisposition {
  /** What is done with the message, as far as DMARC goes (RFC 7489 §6.6.4). */
  applied: DmarcPolicy;
  reason?: DispositionReason;
}

/** RFC 7489 §6.6.4: outside the pct sample, reject becomes quarantine and quarantine becomes none. */
const NEXT_LOWER: Record<DmarcPolicy, DmarcPolicy> = { reject: "quarantine", quarantine: "none", none: "none" };

/**
 * The pct of a DMARC record (RFC 7489 §6.3), 100 when absent or not a number from 0 to 100. A record
 * with the t tag of RFC 9989 replaced pct by t, which mailauth has applied already: pct counts as 100.
 */
export function dmarcPct(record: string): number {
  const tags = new Map(
    record.split(";").flatMap((part) => {
      const at = part.indexOf("=");
      return at > 0 ? [[part.slice(0, at).trim().toLowerCase(), part.slice(at + 1).trim()] as const] : [];
    }),
  );
  const pct = tags.get("pct");
  if (tags.has("t") || pct === undefined || !/^\d{1,3}$/.test(pct)) return 100;
  return Number(pct) <= 100 ? Number(pct) : 100;
}

/**
 * RFC 7489 §6.6.4: the policy applied to a failing message. `sample` is uniform in [0, 100): the
 * message is in the pct sample when sample < pct, so pct=100 always applies and pct=0 never does.
 */
export function sampledPolicy(facts: DmarcFacts, sample: number): DmarcDisposition {
  const asked = facts.result === "fail" ? (facts.policy ?? "none") : "none";
  if (asked === "none" || sample < facts.pct) return { applied: asked };
  return { applied: NEXT_LOWER[asked], reason: "sampled_out" };
}

export interface AuthDecisionInput {
  dmarc: DmarcFacts;
  /** Whether the judge acts on DMARC at all (config judge.auth.dmarcEnforce). */
  enforce: boolean;
  /** Uniform in [0, 100), for the pct sample. */
  sample: number;
  /** The trusted ARC sealer whose chain vouches for the message (RFC 8617 §7.2), if any. */
  arcOverride: string | undefined;
  /** Whether a DNS lookup of the evaluation failed temporarily (SERVFAIL, timeout). */
  dnsFailedTemporarily: boolean;
}

export interface AuthDecisionResult {
  decision: AuthDecision;
  disposition: DmarcDisposition;
}

/**
 * The decision on a message's authentication. A DMARC temperror, or a failing message under an
 * enforced policy while some lookup failed temporarily (it might pass once DNS answers), is a
 * temporary failure and never a permanent reject (RFC 7489 §6.6.2, design: outages fail closed and
 * temporary).
 */
export function decideAuthentication(input: AuthDecisionInput): AuthDecisionResult {
  const sampled = sampledPolicy(input.dmarc, input.sample);
  if (!input.enforce) {
    return { decision: "pass", disposition: sampled.applied === "none" ? sampled : { applied: "none", reason: "local_policy" } };
  }
  if (input.dmarc.result === "temperror") return { decision: "tempfail", disposition: { applied: "none" } };
  if (sampled.applied === "none") return { decision: "pass", disposition: sampled };
  if (input.arcOverride !== undefined) return { decision: "pass", disposition: { applied: "none", reason: "trusted_forwarder" } };
  if (input.dnsFailedTemporarily) return { decision: "tempfail", disposition: sampled };
  return { decision: sampled.applied === "reject" ? "reject-dmarc" : "quarantine", disposition: sampled };
}
