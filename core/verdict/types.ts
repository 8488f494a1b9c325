// The verdict's contract (docs/architecture.md): verdict(raw, envelope, config, resolver) → Verdict.
import type { SmtpReply } from "../smtp/replies.ts";
import type { DmarcEvaluation } from "../dmarcrpt/evaluation.ts";
import type { AllowHit, Allowance } from "../allow/allow.ts";

/** What the transport knows about a message: the SMTP envelope and the session around it. */
export interface VerdictEnvelope {
  /** The connecting client's address; absent on the Email Routing path (Cloudflare is the MX). */
  clientIp?: string;
  /** The HELO/EHLO name the client gave; absent on the Email Routing path. */
  helo?: string;
  /** MAIL FROM; "" is the null reverse-path (RFC 5321 §4.5.5). */
  mailFrom: string;
  /** RCPT TO, one or more. */
  rcptTo: string[];
  /** Whether the session was protected by TLS (STARTTLS or implicit). */
  tls?: boolean;
  /** The SMTPUTF8 parameter was given on MAIL FROM (RFC 6531 §3.4). */
  smtputf8?: boolean;
  /** The authenticated submission user, if any. */
  authenticatedUser?: string;
  direction: "inbound" | "outbound";
  /**
   * Inbound: the relay's allowlist (relay.allow, core/allow/) — the entries the client matched, whose
   * checks the judge spares, and the sender entries the judge matches once SPF or DKIM aligns the From domain.
   */
  allow?: Allowance;
}

export type VerdictAction = "accept" | "reject" | "tempfail";

/** Why a message was refused or marked: the spec's classes first, then ours. */
export type ReasonClass = "INFECTED" | "BANNED" | "spam" | "policy" | "dmarc" | "rfc" | "temporary";

export type CheckOutcome = "pass" | "fail" | "relaxed" | "marked" | "skipped" | "temporary";

export interface CheckResult {
  check: string;
  outcome: CheckOutcome;
  detail: string;
  /** A failure passed over because a relay.allow entry spares the check: what the entry matched. */
  allowedBy?: AllowHit["match"];
}

export interface Verdict {
  action: VerdictAction;
  /** The reply the transport gives: 250 for accepted mail, the refusal otherwise. */
  reply: SmtpReply;
  reason?: ReasonClass;
  /** The tracking id of the spec's shape, e.g. 54321-07; it is in the reply and the log line. */
  id: string;
  /** Header fields to prepend, each a complete "Name: value" without the final CRLF. */
  headers: string[];
  /** Marks for accepted mail (quarantine by DMARC, RFC findings set to mark …). */
  marks: string[];
  checks: CheckResult[];
  /**
   * Inbound mail whose DMARC result is pass or fail under a policy: the evaluation as an aggregate
   * report records it (core/dmarcrpt/evaluation.ts), for the reports the relay sends.
   */
  dmarc?: DmarcEvaluation;
  /** The sender entries of `envelope.allow` the message matched (its From domain aligned by SPF or DKIM). */
  allowlisted?: AllowHit[];
}
