// The verdict: verdict(raw, envelope, config, resolver) → Verdict (docs/architecture.md, "The verdict's contract").
// Stateless and runtime-agnostic: the Worker runs it behind the verdict API and for Email Routing, the
// relay runs it in-process. Cheap checks first, and the first refusal ends the judging.
import type { RelaxableCheck } from "../config/schema.ts";
import type { WorkerConfig } from "../config/worker.ts";
import type { Resolver } from "../dns/resolver.ts";
import type { ArchiveOpener } from "../banned/archive.ts";
import { findBannedContent } from "../banned/banned.ts";
import { bannedRulesFor } from "../banned/direction.ts";
import { sealForwarded, type ArcSealKey } from "../arc/seal.ts";
import { authenticate, type AuthOutcome, type SpfMemo } from "../authentication/authenticate.ts";
import { buildReply, type SmtpReply } from "../smtp/replies.ts";
import { checkConformance, messageStructure, type MessageStructure } from "../conformance/check.ts";
import { relaxedChecks } from "../smtp/roles.ts";
import { dmarcEvaluation, type DmarcEvaluation } from "../dmarcrpt/evaluation.ts";
import { newTrackingId } from "../smtp/tracking-id.ts";
import { describeHit, senderAllowHits, sparedChecks, type AllowHit, type SenderAllowance } from "../allow/allow.ts";
import type { CheckResult, VerdictEnvelope, ReasonClass, Verdict } from "./types.ts";

export interface VerdictOptions {
  /** The tracking id to use (the relay passes its own queue id's); a fresh one otherwise. */
  id?: string;
  /** The key to ARC-seal accepted mail with, when config.judge.arcSeal is enabled. */
  arcSealKey?: ArcSealKey;
  /** The SPF results of earlier messages of the same SMTP session (the relay's in-process judge). */
  spfMemo?: SpfMemo;
  /**
   * The transport's checks that could not run for want of a fact (Email Routing without a client in the
   * trace): named in X-Edgemx-Verdict as `skipped=…`, so the mailbox can tell.
   */
  skipped?: readonly string[];
  /** Reads the archive formats core has no reader for (7z, RAR, xz); without one they cannot be inspected. */
  archiveOpener?: ArchiveOpener;
}

/** What one check concluded: go on (with results to record), or stop with this verdict. */
type Step = { stop: false } | { stop: true; action: "reject" | "tempfail"; reply: SmtpReply; reason: ReasonClass };

const GO_ON: Step = { stop: false };

class Judging {
  readonly checks: CheckResult[] = [];
  readonly marks: string[] = [];
  readonly headers: string[] = [];
  readonly relaxed: Set<RelaxableCheck>;
  /** The checks the relay's allowlist spares (core/allow/), each with the entry that spares it. */
  readonly allowed: Map<RelaxableCheck, AllowHit>;
  /** The sender entries the message matched. */
  readonly senderHits: AllowHit[] = [];
  readonly id: string;
  /** What authentication found, kept for the ARC seal of accepted mail. */
  auth: AuthOutcome | undefined;
  /** The DMARC evaluation for the aggregate reports the relay sends. */
  dmarc: DmarcEvaluation | undefined;

  constructor(id: string, relaxed: Set<RelaxableCheck>, allowed: readonly AllowHit[]) {
    this.id = id;
    this.relaxed = relaxed;
    this.allowed = sparedChecks(allowed);
  }

  /** The sender entries an authenticated message matched: their checks are spared from here on. */
  allowSenders(hits: readonly AllowHit[]): void {
    this.senderHits.push(...hits);
    for (const [check, hit] of sparedChecks(hits)) if (!this.allowed.has(check)) this.allowed.set(check, hit);
  }

  /** Records a failed check; a relaxed one (role mailbox) or one the allowlist spares is recorded and passed over. */
  refuse(check: RelaxableCheck, detail: string, step: Exclude<Step, { stop: false }>): Step {
    if (this.relaxed.has(check)) {
      this.checks.push({ check, outcome: "relaxed", detail });
      return GO_ON;
    }
    const allowedBy = this.allowed.get(check);
    if (allowedBy !== undefined) {
      this.checks.push({ check, outcome: "relaxed", detail: `${detail}; allowlisted by ${describeHit(allowedBy)}`, allowedBy: allowedBy.match });
      return GO_ON;
    }
    this.checks.push({ check, outcome: step.action === "tempfail" ? "temporary" : "fail", detail });
    return step;
  }
}

// RFC 5322 §2.1: a message is octets; RFC 2045–2049 structure; each rule reject / mark / log.
function judgeConformance(raw: Uint8Array, structure: MessageStructure, envelope: VerdictEnvelope, config: WorkerConfig, j: Judging): Step {
  const result = checkConformance(raw, { smtputf8: envelope.smtputf8 === true }, config.judge.rfc, structure);
  const rejected = result.findings.find((f) => f.action === "reject");
  if (rejected) {
    return j.refuse("rfc", `${rejected.rule}: ${rejected.detail}`, {
      stop: true,
      action: "reject",
      reason: "rfc",
      reply: buildReply("rfcViolation", { id: j.id, rule: rejected.rule }),
    });
  }
  const marked = result.findings.filter((f) => f.action === "mark");
  for (const f of marked) j.marks.push(`rfc:${f.rule}`);
  j.checks.push({ check: "rfc", outcome: marked.length > 0 ? "marked" : "pass", detail: result.findings.map((f) => `${f.rule}(${f.action})`).join(" ") });
  return GO_ON;
}

// Inbound: the spec's banned types (judge.banned). Outbound: judge.outboundBanned, none by default.
async function judgeBannedContent(
  raw: Uint8Array,
  structure: MessageStructure,
  envelope: VerdictEnvelope,
  config: WorkerConfig,
  opener: ArchiveOpener | undefined,
  j: Judging,
): Promise<Step> {
  const rules = bannedRulesFor(envelope.direction, config.judge);
  if (rules === null) {
    j.checks.push({ check: "banned", outcome: "skipped", detail: "no banned list for submitted mail (judge.outboundBanned)" });
    return GO_ON;
  }
  const result = await findBannedContent(raw, rules, structure, opener);
  if (!result.banned) {
    j.checks.push({ check: "banned", outcome: "pass", detail: "" });
    return GO_ON;
  }
  return j.refuse("banned", result.reason, { stop: true, action: "reject", reason: "BANNED", reply: buildReply("banned", { id: j.id }) });
}

function authChecks(auth: AuthOutcome, j: Judging): void {
  const spf = auth.spf.mailFrom;
  if (spf) j.checks.push({ check: "spf", outcome: spf.result === "pass" ? "pass" : "fail", detail: `${spf.result} ${spf.domain}` });
  for (const d of auth.dkim) j.checks.push({ check: "dkim", outcome: d.result === "pass" ? "pass" : "fail", detail: `${d.result} ${d.domain}` });
  if (auth.arc.result !== "none")
    j.checks.push({
      check: "arc",
      outcome: auth.arc.result === "pass" ? "pass" : "fail",
      detail: `${auth.arc.result}${auth.arcOverride ? ` override ${auth.arcOverride}` : ""}`,
    });
}

// SPF (RFC 7208), DKIM (RFC 6376), ARC (RFC 8617), DMARC (RFC 7489) through mailauth; inbound only.
async function judgeAuthentication(envelope: VerdictEnvelope, config: WorkerConfig, j: Judging, senders: SenderMatch): Promise<Step> {
  const auth = await senders.authenticated();
  await senders.match();
  j.auth = auth;
  j.dmarc = dmarcEvaluation({ auth, envelope, relaxed: false });
  j.headers.push(auth.authenticationResults);
  authChecks(auth, j);
  const dmarcDetail = `${auth.dmarc.result}${auth.dmarc.policy ? ` p=${auth.dmarc.policy}` : ""}`;
  switch (auth.decision) {
    case "tempfail": {
      const name = auth.temporaryFailures[0] ?? "dmarc";
      return j.refuse("dmarc", `DNS failed temporarily for ${auth.temporaryFailures.join(", ") || "the DMARC record"}`, {
        stop: true,
        action: "tempfail",
        reason: "temporary",
        reply: buildReply("dnsTempfail", { name }),
      });
    }
    case "reject-dmarc":
      j.dmarc = dmarcEvaluation({ auth, envelope, relaxed: j.relaxed.has("dmarc") });
      return j.refuse("dmarc", dmarcDetail, {
        stop: true,
        action: "reject",
        reason: "dmarc",
        reply: buildReply("dmarcReject", { id: j.id, domain: auth.dmarc.authorDomain ?? "" }),
      });
    case "quarantine":
      j.marks.push("dmarc:quarantine");
      j.checks.push({ check: "dmarc", outcome: "marked", detail: dmarcDetail });
      break;
    case "pass":
      j.checks.push({ check: "dmarc", outcome: auth.dmarc.result === "pass" ? "pass" : "skipped", detail: dmarcDetail });
  }
  return judgeSpfFail(auth, config, j);
}

/**
 * RFC 7208 §8.4: an SPF "fail" may be refused in the session. We do so (judge.spfFail: reject) unless
 * DMARC passed — then an aligned DKIM signature vouches for mail that a forwarder re-sent.
 */
function judgeSpfFail(auth: AuthOutcome, config: WorkerConfig, j: Judging): Step {
  const spf = auth.spf.mailFrom;
  if (spf?.result !== "fail" || auth.dmarc.result === "pass" || config.judge.spfFail === "log") return GO_ON;
  if (config.judge.spfFail === "mark") {
    j.marks.push("spf:fail");
    return GO_ON;
  }
  return j.refuse("spf", `fail ${spf.domain}`, {
    stop: true,
    action: "reject",
    reason: "policy",
    reply: buildReply("spfFail", { id: j.id, domain: spf.domain }),
  });
}

/** The header that carries our marks, and the checks that could not run, to the mailbox host (filters can act on it). */
function verdictHeader(j: Judging, skipped: readonly string[]): string {
  const marks = j.marks.length > 0 ? `; marks=${j.marks.join(",")}` : "";
  return `X-Edgemx-Verdict: accept; id=${j.id}${marks}${skipped.length > 0 ? `; skipped=${skipped.join(",")}` : ""}`;
}

/**
 * The sender entries of the relay's allowlist, matched once per message against what authentication
 * found (core/allow/): the From domain counts only when SPF or DKIM aligns it.
 */
interface SenderMatch {
  authenticated(): Promise<AuthOutcome>;
  /** Matches the entries (once) and spares their checks from then on; an authentication that throws matches none. */
  match(): Promise<void>;
}

function senderMatch(authenticated: () => Promise<AuthOutcome>, senders: readonly SenderAllowance[], j: Judging): SenderMatch {
  let matched: Promise<void> | undefined;
  return {
    authenticated,
    match() {
      matched ??=
        senders.length === 0
          ? Promise.resolve()
          : authenticated().then(
              (auth) => j.allowSenders(senderAllowHits(senders, { authorDomain: auth.dmarc.authorDomain, spf: auth.spf.mailFrom, dkim: auth.dkim })),
              () => undefined, // the authentication step itself reports the failure
            );
      return matched;
    },
  };
}

function finish(j: Judging, step: Step, skipped: readonly string[] = []): Verdict {
  const extras = {
    ...(j.dmarc === undefined ? {} : { dmarc: j.dmarc }),
    ...(j.senderHits.length === 0 ? {} : { allowlisted: j.senderHits }),
  };
  if (step.stop)
    return { action: step.action, reply: step.reply, reason: step.reason, id: j.id, headers: j.headers, marks: j.marks, checks: j.checks, ...extras };
  return {
    action: "accept",
    reply: { code: 250, enhanced: "2.0.0", text: `Ok, id=${j.id}` },
    id: j.id,
    headers: [...j.headers, verdictHeader(j, skipped)],
    marks: j.marks,
    checks: j.checks,
    ...extras,
  };
}

export async function verdict(
  raw: Uint8Array,
  envelope: VerdictEnvelope,
  config: WorkerConfig,
  resolver: Resolver,
  options: VerdictOptions = {},
): Promise<Verdict> {
  const inbound = envelope.direction === "inbound";
  const allow = inbound ? envelope.allow : undefined;
  const j = new Judging(options.id ?? newTrackingId(), inbound ? relaxedChecks(envelope.rcptTo, config) : new Set(), allow?.client ?? []);
  let authentication: Promise<AuthOutcome> | undefined;
  const authenticated = (): Promise<AuthOutcome> =>
    (authentication ??= authenticate(
      raw,
      { mailFrom: envelope.mailFrom, ...(envelope.clientIp ? { clientIp: envelope.clientIp } : {}), ...(envelope.helo ? { helo: envelope.helo } : {}) },
      config,
      resolver,
      options.spfMemo,
    ));
  const senders = senderMatch(authenticated, allow?.senders ?? [], j);
  // A sender entry that spares the content checks needs the message authenticated before them, so
  // only then does authentication come first; otherwise cheap checks first, as always.
  if (allow?.senders.some((s) => s.spare.includes("rfc") || s.spare.includes("banned"))) await senders.match();
  // The message is parsed once (header, MIME tree) for both content checks, and never copied: every
  // stage reads `raw` itself or views into it.
  const structure = messageStructure(raw);
  const steps: (() => Step | Promise<Step>)[] = [
    () => judgeConformance(raw, structure, envelope, config, j),
    () => judgeBannedContent(raw, structure, envelope, config, options.archiveOpener, j),
    ...(inbound ? [() => judgeAuthentication(envelope, config, j, senders)] : []),
  ];
  for (const step of steps) {
    const outcome = await step();
    if (outcome.stop) return finish(j, outcome);
  }
  const accepted = finish(j, GO_ON, options.skipped);
  if (j.auth && config.judge.arcSeal.enabled && options.arcSealKey) {
    accepted.headers.unshift(...(await sealForwarded(raw, accepted.headers, j.auth, config, options.arcSealKey)));
  }
  return accepted;
}
