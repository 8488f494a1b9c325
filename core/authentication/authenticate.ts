// Message authentication for the judge: SPF, DKIM, ARC and DMARC (mailauth-checks.ts), then our
// decision on them (dmarc/policy.ts, arc/override.ts) and the Authentication-Results field
// (RFC 8601) for the Verdict's header block.
import { Buffer } from "node:buffer";
import type { WorkerConfig } from "../config/worker.ts";
import { mailauthResolver } from "../dns/mailauth.ts";
import type { Resolver } from "../dns/resolver.ts";
import { trustedArcOverride } from "../arc/override.ts";
import type { ArcCheck, AuthEnvelope, DkimCheck, DmarcPolicyRecord, MailauthResults, SpfCheck, SpfMemo } from "./mailauth-checks.ts";
import { arcFacts, dkimChecks, dmarcFacts, dmarcPolicyRecord, optional, runChecks, spfCheck } from "./mailauth-checks.ts";
import { authenticationResultsHeader, headerComment } from "./results-field.ts";
import type { AuthDecision, DmarcDisposition, DmarcFacts } from "../dmarc/policy.ts";
import { decideAuthentication } from "../dmarc/policy.ts";

export type { ArcCheck, AuthEnvelope, DkimCheck, DmarcPolicyRecord, SpfCheck } from "./mailauth-checks.ts";
export { SpfMemo } from "./mailauth-checks.ts";

export interface DmarcCheck extends DmarcFacts {
  /** The domain of the From header (RFC 7489 §3.2 Author Domain). */
  authorDomain?: string;
  /** What was done about DMARC, and why when it is not what the domain asked for. */
  disposition: DmarcDisposition;
  /** The record the policy came from, for the aggregate reports we send (core/dmarcrpt/evaluation.ts). */
  policyRecord?: DmarcPolicyRecord;
}

export interface AuthOutcome {
  /** The MAIL FROM identity (the HELO identity for a null sender, RFC 7208 §2.4) and the HELO identity (§2.3). */
  spf: { mailFrom?: SpfCheck; helo?: SpfCheck };
  /** One entry per DKIM-Signature, in header order. */
  dkim: DkimCheck[];
  dmarc: DmarcCheck;
  arc: ArcCheck;
  /**
   * pass: accept; quarantine: accept and mark (the DMARC policy asks for it); reject-dmarc: refuse
   * (REPLIES.dmarcReject); tempfail: a DNS lookup failed temporarily and the decision depends on it.
   */
  decision: AuthDecision;
  /** The trusted ARC sealer whose chain overrode a DMARC failure (RFC 8617 §7.2). */
  arcOverride?: string;
  /** The names whose lookups failed temporarily (SERVFAIL, timeout), for logs and the 451 reply. */
  temporaryFailures: string[];
  /** The Authentication-Results field for the Verdict's header block, folded, without the final CRLF. */
  authenticationResults: string;
}

/** The same Resolver, noting every name whose lookup failed temporarily. */
function watchTemporaryFailures(resolver: Resolver): { resolver: Resolver; failures: Set<string> } {
  const failures = new Set<string>();
  return {
    failures,
    resolver: {
      query: async (name, type) => {
        const lookup = await resolver.query(name, type);
        if (lookup.status === "servfail" || lookup.status === "timeout") failures.add(name);
        return lookup;
      },
    },
  };
}

/** A comment on the dmarc resinfo saying what was done with the failing message, and why. */
function dispositionComment(disposition: DmarcDisposition, arcOverride: string | undefined): string {
  const reason = disposition.reason === "trusted_forwarder" && arcOverride !== undefined ? `trusted_forwarder ${arcOverride}` : disposition.reason;
  return headerComment(`disposition=${disposition.applied}${reason ? ` reason=${reason}` : ""}`);
}

/** The resinfos of the Authentication-Results field, in the order the checks build on each other. */
function resinfos(results: MailauthResults, dmarcComment: string | undefined): string[] {
  const { dkim, spf, heloSpf, arc, dmarc } = results;
  return [
    ...dkim.results.map((row) => row.info),
    ...(spf ? [spf.info] : []),
    ...(heloSpf ? [heloSpf.info] : []),
    // arc=none too, with smtp.remote-ip (RFC 8617 §5.2 step 1, §6)
    ...(arc.info ? [arc.info] : []),
    ...(dmarc ? [dmarcComment ? `${dmarc.info} ${dmarcComment}` : dmarc.info] : []),
  ];
}

/**
 * Authenticates a message as it arrives: SPF for the client IP with MAIL FROM and HELO, every DKIM
 * signature, the ARC chain, DMARC for the From domain; then the decision by the configured policy
 * (config.judge.auth) and the Authentication-Results field with our authserv-id (RFC 8601 §2.5).
 */
export async function authenticate(raw: Uint8Array, envelope: AuthEnvelope, config: WorkerConfig, resolver: Resolver, spfMemo?: SpfMemo): Promise<AuthOutcome> {
  const policy = config.judge.auth;
  const authservId = policy.authservId ?? config.hostname;
  const watched = watchTemporaryFailures(resolver);
  const message = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
  const results = await runChecks(message, envelope, authservId, mailauthResolver(watched.resolver), spfMemo);

  const dmarc = dmarcFacts(results.dmarc);
  const policyRecord = dmarcPolicyRecord(results.dmarc);
  const arc = arcFacts(results.arc);
  const arcOverride = dmarc.result === "fail" ? trustedArcOverride(arc, dmarc.authorDomain, policy.trustedArcSealers) : undefined;
  const { decision, disposition } = decideAuthentication({
    dmarc,
    enforce: policy.dmarcEnforce,
    sample: Math.random() * 100,
    arcOverride,
    dnsFailedTemporarily: watched.failures.size > 0,
  });
  const dmarcComment = dmarc.result === "fail" ? dispositionComment(disposition, arcOverride) : undefined;

  return {
    spf: {
      ...(results.spf ? { mailFrom: spfCheck(results.spf) } : {}),
      ...(results.heloSpf ? { helo: spfCheck(results.heloSpf) } : {}),
    },
    dkim: dkimChecks(results.dkim.results, results.dkimAligned),
    dmarc: { ...dmarc, disposition, ...(policyRecord ? { policyRecord } : {}) },
    arc: { result: arc.result, instance: arc.instance, ...optional("sealer", arc.sealer), ...optional("comment", arc.comment) },
    decision,
    ...optional("arcOverride", arcOverride),
    temporaryFailures: [...watched.failures],
    authenticationResults: authenticationResultsHeader(authservId, resinfos(results, dmarcComment)),
  };
}
