// A message read whole (data.ts), inside the session, before the reply to its final dot: trace it,
// judge it, and either refuse it in the session or write it to the spool — never accept-then-bounce
// (docs/architecture.md, "The flows", 1). A 250 is only given once the spool, or the recipients' Maildirs
// (deps.enqueue: deliver/direct.ts), have the message on disk, fsynced — except for spamtrap
// recipients, whose mail is learned as spam and dropped on purpose (docs/spam.md).
import type { EdgemxConfig } from "../../../core/config/schema.ts";
import type { SpfMemo } from "../../../core/authentication/authenticate.ts";
import { formatReply, type SmtpReply } from "../../../core/smtp/replies.ts";
import { relaxedChecks } from "../../../core/smtp/roles.ts";
import { newTrackingId } from "../../../core/smtp/tracking-id.ts";
import type { CheckResult, VerdictEnvelope } from "../../../core/verdict/types.ts";
import type { DmarcRecorder } from "../dmarcrpt/recorder.ts";
import type { Greylist } from "../greylist/greylist.ts";
import type { Spamtrap, SpamtrapReport } from "../spam/spamtrap.ts";
import type { Finding } from "../../../core/smtp/finding.ts";
import type { VerdictSource, VerdictOutcome } from "../verdict/source.ts";
import { logMessage, type CheckRecord, type Logger, type MessageRecord, type TlsFacts } from "../log/log.ts";
import {
  describeSpam,
  rspamdAction,
  rspamdHeaders,
  SPAM_FIELDS,
  type RspamdEnvelope,
  type RspamdOutcome,
  type SpamCheck,
  type SpamDecision,
} from "../spam/rspamd.ts";
import { prependFields, removeFields, removeOwnAuthenticationResults, replaceSubject } from "./headers.ts";
import { decideMessage, describeScan, greylistDeferral, isDoubtful, type MessageDecision, type ScanOutcome } from "./decision.ts";
import { newQueueId, type EnqueueRequest } from "../queue/spool.ts";
import type { Origin } from "../deliver/direct.ts";
import { receivedHeader, withProtocol } from "./received.ts";
import { queued, spoolFailureReply } from "./replies.ts";
import { spoolCopies, type Forwarding } from "../forward/forwarding.ts";
import { describeHit, senderAllowances, sparedChecks, type AllowHit } from "../../../core/allow/allow.ts";
import type { RelayMetrics } from "../metrics/metrics.ts";

export interface MessageDeps {
  config: EdgemxConfig;
  logger: Logger;
  verdicts: VerdictSource;
  scan(message: Uint8Array): Promise<ScanOutcome>;
  /** rspamd's /checkv2; null when relay.rspamd.url is unset. */
  spamCheck: SpamCheck | null;
  /** Null when greylisting is disabled. */
  greylist: Greylist | null;
  /** Null when no spamtrap addresses are configured. */
  spamtrap: Spamtrap | null;
  /**
   * Resolves with the queue id once the message is durably on disk: in the spool (Spool.enqueue) or,
   * delivered before the reply, in its recipients' Maildirs (deliver/direct.ts).
   */
  enqueue(request: EnqueueRequest, origin?: Origin): Promise<string>;
  /** SRS and the ARC seal of copies forwarded to other domains (forward/forwarding.ts). */
  forwarding: Forwarding;
  /** Counts the judge's DMARC evaluation for the aggregate reports (dmarcrpt/); absent when relay.dmarcReports is off. */
  recordDmarc?: DmarcRecorder;
  /** What counts the allowlist's sparings; null or absent: nothing is counted. */
  metrics?: RelayMetrics | null;
}

export interface AcceptedRecipient {
  /** As given in RCPT TO: the judge and the role policy see this one. */
  address: string;
  /** Where it is delivered (an alias resolved, an SRS address of ours reversed). */
  deliverTo: string;
  /** One of relay.rspamd.spamtrap.addresses: learned as spam, never delivered. */
  spamtrap: boolean;
  /** Greylisting for this recipient: not applied, passed at RCPT TO, or waiting for rspamd's score. */
  greylist: "skipped" | "passed" | "after-scoring";
}

/** The session around one message. */
export interface MessageContext {
  session: string;
  clientIp: string;
  verifiedName: string | null;
  helo: string | null;
  ehlo: boolean;
  tls: TlsFacts | null;
  smtputf8: boolean;
  mailFrom: string;
  recipients: readonly AcceptedRecipient[];
  /** The findings of the MAIL FROM and RCPT TO stages of this transaction. */
  checks: readonly CheckRecord[];
  /** The relay.allow entries the client matched (core/allow/): the judge spares their checks too, and is given the sender entries. */
  allow: readonly AllowHit[];
  /** When DATA began, for the duration on the log line. */
  startedAt: number;
  /** The session's SPF results, reused by the in-process judge for its later messages. */
  spfMemo: SpfMemo;
}

export interface MessageResult {
  reply: SmtpReply;
  queued: boolean;
  /** The message's tracking id (on its log line). */
  id: string;
  /** Why a refusal refused: the verdict's reason class (INFECTED, BANNED, spam, dmarc …), greylist or spool; null when accepted. */
  check: string | null;
  /** The relay.allow entries the client or the sender matched, for the refusal's log line. */
  allowlist: string[];
}

/** The envelope schema's bound on the HELO name (core/verdict/envelope.ts). */
const MAX_ENVELOPE_HELO = 255;

function envelopeOf(context: MessageContext, recipients: readonly AcceptedRecipient[], config: EdgemxConfig): VerdictEnvelope {
  const senders = senderAllowances(config.relay.allow);
  return {
    ...(context.allow.length > 0 || senders.length > 0 ? { allow: { client: context.allow, senders } } : {}),
    clientIp: context.clientIp,
    ...(context.helo !== null && context.helo.length <= MAX_ENVELOPE_HELO ? { helo: context.helo } : {}),
    mailFrom: context.mailFrom,
    rcptTo: recipients.map((r) => r.address),
    tls: context.tls !== null,
    smtputf8: context.smtputf8,
    direction: "inbound",
  };
}

function verdictChecks(judged: VerdictOutcome): CheckRecord[] {
  return judged.ok ? judged.verdict.checks : [{ check: "judge", outcome: "temporary", detail: judged.detail }];
}

function record(finding: Finding): CheckRecord {
  return { check: finding.check, outcome: finding.outcome, detail: finding.detail };
}

/** rspamd's view of the session (spam/rspamd.ts). */
function spamEnvelopeOf(context: MessageContext, recipients: readonly AcceptedRecipient[], queueId: string, hostname: string): RspamdEnvelope {
  return {
    clientIp: context.clientIp,
    helo: context.helo,
    hostname: context.verifiedName,
    mailFrom: context.mailFrom,
    rcptTo: recipients.map((r) => r.address),
    queueId,
    user: null,
    tls: context.tls,
    mtaName: hostname,
  };
}

/**
 * Greylisting that waited for the score (relay.rspamd.greylistScoreGate): an accepted message whose
 * score reached the gate (or that has none) checks the triplets of its gated recipients now, and is
 * deferred with the first refusal (451 4.7.1 … Greylisted) — the new triplets are then on record, so
 * the retry passes. Below the gate nothing is checked or recorded.
 */
async function greylistIfDoubtful(
  decision: MessageDecision,
  spam: RspamdOutcome | null,
  context: MessageContext,
  recipients: readonly AcceptedRecipient[],
  deps: MessageDeps,
): Promise<{ decision: MessageDecision; findings: Finding[] }> {
  const gate = deps.config.relay.rspamd.greylistScoreGate;
  const gated = recipients.filter((r) => r.greylist === "after-scoring");
  if (decision.action !== "accept" || deps.greylist === null || gate === null || spam === null || gated.length === 0 || !isDoubtful(spam, gate)) {
    return { decision, findings: [] };
  }
  const greylist = deps.greylist;
  const findings = await Promise.all(
    gated.map((r) => greylist.check({ clientIp: context.clientIp, sender: context.mailFrom, recipient: r.address, id: decision.id })),
  );
  const deferral = greylistDeferral(findings);
  return { decision: deferral === null ? decision : { action: "tempfail", id: decision.id, reply: deferral, reason: "greylist" }, findings };
}

export async function receiveMessage(raw: Buffer, context: MessageContext, deps: MessageDeps): Promise<MessageResult> {
  const { config } = deps;
  const ownId = newTrackingId();
  // Made now, so the Received header names the id the 250 reply and the delivery logs will carry.
  const queueId = newQueueId();
  const traps = context.recipients.filter((r) => r.spamtrap);
  const recipients = context.recipients.filter((r) => !r.spamtrap);
  const received = receivedHeader({
    helo: context.helo,
    clientIp: context.clientIp,
    verifiedName: context.verifiedName,
    hostname: config.hostname,
    protocol: withProtocol({ ehlo: context.ehlo, tls: context.tls !== null, authenticated: false, smtputf8: context.smtputf8 }),
    id: queueId,
    // The trace of delivered mail does not name a trap that was also among the recipients.
    recipients: (recipients.length > 0 ? recipients : traps).map((r) => r.address),
    tls: context.tls,
    date: new Date(),
  });
  const authservId = config.judge.auth.authservId ?? config.hostname;
  const ownFieldsRemoved = removeOwnAuthenticationResults(raw, authservId);
  const message = prependFields(deps.spamCheck === null ? ownFieldsRemoved : removeFields(ownFieldsRemoved, SPAM_FIELDS), [received]);

  const trapped: Promise<SpamtrapReport | null> =
    traps.length > 0 && deps.spamtrap !== null
      ? deps.spamtrap.caught(message, context.clientIp, rspamdHeaders(spamEnvelopeOf(context, traps, queueId, config.hostname)))
      : Promise.resolve(null);
  if (recipients.length === 0)
    return { reply: answerTrapOnly(await trapped, ownId, queueId, raw, context, deps), queued: false, id: ownId, check: null, allowlist: [] };

  const spamEnvelope = spamEnvelopeOf(context, recipients, queueId, config.hostname);
  const [judged, scan, spamOutcome, spamtrap] = await Promise.all([
    deps.verdicts.ask(message, envelopeOf(context, recipients, config), { id: ownId, config, spfMemo: context.spfMemo }),
    deps.scan(message),
    deps.spamCheck === null ? null : deps.spamCheck(message, spamEnvelope),
    trapped,
  ]);
  const rcptTo = recipients.map((r) => r.address);
  const allow = [...context.allow, ...(judged.ok ? (judged.verdict.allowlisted ?? []) : [])];
  if (judged.ok) countAllowed(judged.verdict.checks, deps.metrics);
  const allowChecks: CheckRecord[] = [];
  const relaxedSpam = relaxedChecks(rcptTo, config).has("spam");
  const spamSpared = sparedChecks(allow).get("spam");
  const spam: SpamDecision | null =
    spamOutcome === null ? null : rspamdAction(spamOutcome, { onError: config.relay.rspamd.onError, relaxed: relaxedSpam || spamSpared !== undefined });
  if (spamOutcome?.status === "scanned" && spamSpared !== undefined && !relaxedSpam) {
    const unspared = rspamdAction(spamOutcome, { onError: config.relay.rspamd.onError, relaxed: false });
    if (unspared.action === "reject" || unspared.action === "soft-reject") {
      allowChecks.push({
        check: "spam",
        outcome: "relaxed",
        detail: `rspamd ${spamOutcome.action} (${spamOutcome.score}); allowlisted by ${describeHit(spamSpared)}`,
      });
      deps.metrics?.allowlisted("spam", spamSpared.match);
    }
  }
  const greylisted = await greylistIfDoubtful(decideMessage(judged, scan, ownId, spam), spamOutcome, context, recipients, deps);
  const decision = greylisted.decision;

  let reply: SmtpReply;
  let spooled = false;
  const forwards: NonNullable<MessageRecord["forwards"]> = [];
  let check: string | null = null;
  if (decision.action === "accept") {
    try {
      const marked = decision.subject === undefined ? message : replaceSubject(message, decision.subject);
      const accepted = prependFields(marked, decision.headers);
      // The recipients of our domains in one entry (the queue id of Received and the reply), each
      // forwarding domain's in its own (docs/forwarding.md); all on disk before the 250.
      const copies = spoolCopies(context.mailFrom, recipients, config, deps.forwarding.srsSecrets, new Date());
      for (const [i, copy] of copies.entries()) {
        const id = i === 0 ? queueId : newQueueId();
        const envelope = { mailFrom: copy.mailFrom, rcptTo: copy.rcptTo };
        if (copy.forwarder === null) {
          await deps.enqueue({ id, envelope, message: accepted }, { session: context.session });
          continue;
        }
        const forwarded = await deps.forwarding.seal(accepted, copy.forwarder, { headers: decision.headers, checks: verdictChecks(judged) });
        await deps.enqueue({ id, envelope, message: forwarded.message });
        forwards.push({ queueId: id, forwarder: copy.forwarder, ...envelope, sealed: forwarded.sealed });
      }
      spooled = true;
      reply = queued(queueId);
    } catch (err) {
      deps.logger.error({ event: "spool", id: decision.id, err }, "the spool could not take the message");
      reply = spoolFailureReply(err, decision.id);
      check = "spool";
    }
  } else {
    reply = decision.reply;
    check = decision.reason;
  }

  if (judged.ok && judged.verdict.dmarc !== undefined) deps.recordDmarc?.(judged.verdict.dmarc, rcptTo, reply);
  if (!judged.ok) deps.logger.warn({ event: "outage", id: decision.id, detail: judged.detail }, "the judge could not judge a message");
  if (scan.status === "error") deps.logger.warn({ event: "outage", id: decision.id, detail: scan.detail }, "the virus scanner could not scan a message");
  if (spamOutcome?.status === "error")
    deps.logger.warn(
      { event: "outage", id: decision.id, detail: spamOutcome.detail },
      `rspamd could not score a message (onError: ${config.relay.rspamd.onError})`,
    );
  logMessage(deps.logger, {
    id: decision.id,
    queueId: spooled ? queueId : null,
    ...sessionFacts(context, raw),
    checks: [...context.checks, ...verdictChecks(judged), ...allowChecks, ...greylisted.findings.map(record)],
    ...(allow.length > 0 ? { allowlist: allow.map(describeHit) } : {}),
    verdict: judged.ok ? { action: judged.verdict.action, reason: judged.verdict.reason } : null,
    scan: describeScan(scan),
    spam: describeSpam(spamOutcome, spam),
    ...(spamtrap !== null ? { spamtrap: { recipients: traps.map((r) => r.address), ...spamtrap } } : {}),
    ...(forwards.length > 0 ? { forwards } : {}),
    reply: formatReply(reply),
    durationMs: Math.round(performance.now() - context.startedAt),
  });
  return { reply, queued: spooled, id: decision.id, check, allowlist: allow.map(describeHit) };
}

/** Counts the judge's checks its allowlist passed over (the judge records them, the relay counts them). */
function countAllowed(checks: readonly CheckResult[], metrics: RelayMetrics | null | undefined): void {
  for (const c of checks) if (c.allowedBy !== undefined) metrics?.allowlisted(c.check, c.allowedBy);
}

/** What the message log line tells of the session and transaction the message came in. */
function sessionFacts(context: MessageContext, raw: Buffer) {
  return {
    session: context.session,
    clientIp: context.clientIp,
    verifiedName: context.verifiedName,
    helo: context.helo,
    mailFrom: context.mailFrom,
    rcptTo: context.recipients.map((r) => r.address),
    sizeBytes: raw.length,
    tls: context.tls,
  };
}

/**
 * Mail for spamtraps only: learned and the client listed (spamtrap.ts), then answered like any accepted
 * message — a trap that refused or deferred would tell the sender which addresses to avoid.
 */
function answerTrapOnly(report: SpamtrapReport | null, id: string, queueId: string, raw: Buffer, context: MessageContext, deps: MessageDeps): SmtpReply {
  const reply = queued(queueId);
  logMessage(deps.logger, {
    id,
    queueId: null,
    ...sessionFacts(context, raw),
    checks: [...context.checks],
    verdict: null,
    scan: "skipped",
    spam: "skipped",
    ...(report !== null ? { spamtrap: { recipients: context.recipients.map((r) => r.address), ...report } } : {}),
    reply: formatReply(reply),
    durationMs: Math.round(performance.now() - context.startedAt),
  });
  return reply;
}
