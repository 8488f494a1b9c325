// One inbound DMARC evaluation as an aggregate report records it (RFC 9990 "record": row, identifiers,
// auth_results), made by the judge from what authentication found and carried on the Verdict to the
// relay, which counts it towards the policy domain's daily report (relay-node/src/dmarcrpt/). Pure.
import { z } from "zod";
import type { AuthOutcome } from "../authentication/authenticate.ts";
import { policyPublished } from "./policy-record.ts";

/** RFC 9990 PolicyOverrideType. */
export const OVERRIDE_TYPES = ["local_policy", "mailing_list", "other", "policy_test_mode", "trusted_forwarder"] as const;
/** RFC 9990 DKIMResultType (RFC 8601 §2.7.1). */
const DKIM_RESULTS = ["none", "pass", "fail", "policy", "neutral", "temperror", "permerror"] as const;
/** RFC 9990 SPFResultType (RFC 8601 §2.7.2). */
const SPF_RESULTS = ["none", "pass", "fail", "softfail", "policy", "neutral", "temperror", "permerror"] as const;
/** RFC 9990 "DKIM Signatures in Aggregate Reports": no more than 100 signatures for a row. */
export const MAX_DKIM_RESULTS = 100;

const domainName = z.string().min(1).max(255);

/**
 * The evaluation's shape, checked where it crosses a process boundary (the verdict API's answer,
 * relay-node/src/verdict/api-client.ts) before the relay stores it.
 */
export const dmarcEvaluationSchema = z
  .object({
    /** The DMARC Policy Domain (RFC 9989 §3.2.5): one report per policy domain. */
    policyDomain: domainName,
    /** Its record as published when the message was judged. */
    record: z.string().min(1).max(8192),
    sourceIp: z.union([z.ipv4(), z.ipv6()]),
    /** The RFC5322.From domain. */
    headerFrom: domainName,
    /** The RFC5321.MailFrom domain, "" for the null reverse-path (RFC 9990 "identifiers"). */
    envelopeFrom: z.string().max(255),
    /** RFC 9990 ActionDispositionType. */
    disposition: z.enum(["none", "pass", "quarantine", "reject"]),
    /** Aligned DKIM and SPF (RFC 9989 §4.4). */
    dkim: z.enum(["pass", "fail"]),
    spf: z.enum(["pass", "fail"]),
    reasons: z.array(z.object({ type: z.enum(OVERRIDE_TYPES), comment: z.string().max(512).optional() }).strict()).max(OVERRIDE_TYPES.length),
    dkimResults: z.array(z.object({ domain: z.string().max(255), selector: z.string().max(255), result: z.enum(DKIM_RESULTS) }).strict()).max(MAX_DKIM_RESULTS),
    /** The MAIL FROM identity's SPF result (scope mfrom); null when SPF was not evaluated. */
    spfResult: z
      .object({ domain: z.string().max(255), result: z.enum(SPF_RESULTS) })
      .strict()
      .nullable(),
  })
  .strict();

export type DmarcEvaluation = z.infer<typeof dmarcEvaluationSchema>;
export type OverrideReason = DmarcEvaluation["reasons"][number];

/** The evaluation when `value` has its shape, else undefined. */
export function dmarcEvaluationOf(value: unknown): DmarcEvaluation | undefined {
  const parsed = dmarcEvaluationSchema.safeParse(value);
  return parsed.success ? parsed.data : undefined;
}

export interface EvaluationInput {
  auth: Pick<AuthOutcome, "dmarc" | "dkim" | "spf" | "arcOverride">;
  envelope: { clientIp?: string; mailFrom: string };
  /** The DMARC refusal was passed over for a role mailbox (`roles: { …: { relax: [dmarc] } }`). */
  relaxed: boolean;
}

function oneOf<T extends string>(value: string, allowed: readonly T[]): T {
  return (allowed as readonly string[]).includes(value) ? (value as T) : ("permerror" as T);
}

/** Why what was done differs from what the domain published (RFC 9990 "Policy Override Reason"). */
function overrideReasons(input: EvaluationInput, policyDomain: string, record: string): OverrideReason[] {
  const { dmarc, arcOverride } = input.auth;
  const reasons: OverrideReason[] = [];
  if (input.relaxed) reasons.push({ type: "local_policy", comment: "delivered to a role mailbox that is spared the DMARC check" });
  switch (dmarc.disposition.reason) {
    case "trusted_forwarder":
      reasons.push({ type: "trusted_forwarder", ...(arcOverride ? { comment: `ARC chain sealed by ${arcOverride}` } : {}) });
      break;
    case "local_policy":
      reasons.push({ type: "local_policy", comment: "this receiver does not enforce DMARC policies" });
      break;
    case "sampled_out":
      // RFC 7489 §6.6.4's pct sample; RFC 9990 has no override type for it any more.
      reasons.push({ type: "other", comment: `sampled out by pct=${dmarc.pct}` });
      break;
    case undefined:
  }
  // t=y lowered the policy one step (RFC 9989 §4.7): a reason where it lowered an enforcing one.
  const published = policyPublished(policyDomain, record);
  const asked = dmarc.authorDomain === policyDomain ? published.p : published.sp;
  if (dmarc.policyRecord?.testing && asked !== "none") reasons.push({ type: "policy_test_mode" });
  return reasons;
}

/** Signatures in the order RFC 9990 prefers: aligned ones passing (exact domain first), other passes, the rest. */
function dkimResults(auth: EvaluationInput["auth"], authorDomain: string): DmarcEvaluation["dkimResults"] {
  const rank = (check: (typeof auth.dkim)[number]): number =>
    check.result !== "pass" ? 3 : !check.aligned ? 2 : check.domain.toLowerCase() === authorDomain ? 0 : 1;
  return [...auth.dkim]
    .sort((a, b) => rank(a) - rank(b))
    .slice(0, MAX_DKIM_RESULTS)
    .map((check) => ({ domain: check.domain.toLowerCase(), selector: check.selector, result: oneOf(check.result, DKIM_RESULTS) }));
}

/**
 * The evaluation of a message whose DMARC result is pass or fail under a policy record, received from
 * a client whose address we know; undefined otherwise (no policy, a temporary or permanent error: there
 * is nothing to report, RFC 9990 "Report Request Discovery"). The disposition is what was done: "pass"
 * for passing mail under an enforcing policy, "none" for passing mail under p=none, else the policy
 * applied after sampling, a trusted ARC sealer, our enforcement setting or a role mailbox.
 */
export function dmarcEvaluation(input: EvaluationInput): DmarcEvaluation | undefined {
  const { auth, envelope } = input;
  const { dmarc } = auth;
  const policyRecord = dmarc.policyRecord;
  if ((dmarc.result !== "pass" && dmarc.result !== "fail") || policyRecord === undefined || !dmarc.authorDomain || !envelope.clientIp) return undefined;
  const authorDomain = dmarc.authorDomain.toLowerCase();
  const failed = dmarc.result === "fail";
  const disposition = !failed ? (dmarc.policy !== undefined && dmarc.policy !== "none" ? "pass" : "none") : input.relaxed ? "none" : dmarc.disposition.applied;
  const spf = auth.spf.mailFrom;
  const at = envelope.mailFrom.lastIndexOf("@");
  return {
    policyDomain: policyRecord.domain,
    record: policyRecord.record,
    sourceIp: envelope.clientIp.toLowerCase(),
    headerFrom: authorDomain,
    envelopeFrom: at === -1 ? "" : envelope.mailFrom.slice(at + 1).toLowerCase(),
    disposition,
    dkim: auth.dkim.some((check) => check.aligned) ? "pass" : "fail",
    spf: policyRecord.spfAligned ? "pass" : "fail",
    reasons: failed ? overrideReasons(input, policyRecord.domain, policyRecord.record) : [],
    dkimResults: dkimResults(auth, authorDomain),
    spfResult: spf === undefined ? null : { domain: spf.domain.toLowerCase(), result: oneOf(spf.result, SPF_RESULTS) },
  };
}
