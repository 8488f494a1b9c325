// A message read whole (data.ts), inside the session, before the reply to its final dot: trace it,
// judge it, and either refuse it in the session or write it to the spool — never accept-then-bounce
// (design.md, flow 1). A 250 is only given once the spool has the message on disk, fsynced.
import type { EdgemxConfig } from "../../../workers/src/config/schema.ts";
import { buildReply, formatReply, type SmtpReply } from "../../../workers/src/judge/replies.ts";
import { newTrackingId } from "../../../workers/src/judge/tracking-id.ts";
import type { Envelope } from "../../../workers/src/judge/types.ts";
import type { Judge, JudgeOutcome } from "../judge/judge.ts";
import { logMessage, type CheckRecord, type Logger, type TlsFacts } from "../log.ts";
import { prependFields, removeOwnAuthenticationResults } from "./headers.ts";
import { decideMessage, describeScan, type ScanOutcome } from "./judgement.ts";
import { newQueueId, type EnqueueRequest } from "../queue/spool.ts";
import { receivedHeader, withProtocol } from "./received.ts";
import { queued } from "./replies.ts";

export interface MessageDeps {
  config: EdgemxConfig;
  logger: Logger;
  judge: Judge;
  scan(message: Uint8Array): Promise<ScanOutcome>;
  /** Resolves with the queue id once the message is durably on disk (Spool.enqueue). */
  enqueue(request: EnqueueRequest): Promise<string>;
}

export interface AcceptedRecipient {
  /** As given in RCPT TO: the judge and the role policy see this one. */
  address: string;
  /** Where it is delivered (an alias resolved). */
  deliverTo: string;
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
  /** When DATA began, for the duration on the log line. */
  startedAt: number;
}

export interface MessageResult {
  reply: SmtpReply;
  queued: boolean;
}

/** The envelope schema's bound on the HELO name (workers/src/judge/envelope.ts). */
const MAX_ENVELOPE_HELO = 255;

function envelopeOf(context: MessageContext): Envelope {
  return {
    clientIp: context.clientIp,
    ...(context.helo !== null && context.helo.length <= MAX_ENVELOPE_HELO ? { helo: context.helo } : {}),
    mailFrom: context.mailFrom,
    rcptTo: context.recipients.map((r) => r.address),
    tls: context.tls !== null,
    smtputf8: context.smtputf8,
    direction: "inbound",
  };
}

function verdictChecks(judged: JudgeOutcome): CheckRecord[] {
  return judged.ok ? judged.verdict.checks : [{ check: "judge", outcome: "temporary", detail: judged.detail }];
}

export async function receiveMessage(raw: Buffer, context: MessageContext, deps: MessageDeps): Promise<MessageResult> {
  const { config } = deps;
  const ownId = newTrackingId();
  // Made now, so the Received header names the id the 250 reply and the delivery logs will carry.
  const queueId = newQueueId();
  const received = receivedHeader({
    helo: context.helo,
    clientIp: context.clientIp,
    verifiedName: context.verifiedName,
    hostname: config.hostname,
    protocol: withProtocol({ ehlo: context.ehlo, tls: context.tls !== null, authenticated: false, smtputf8: context.smtputf8 }),
    id: queueId,
    recipients: context.recipients.map((r) => r.address),
    tls: context.tls,
    date: new Date(),
  });
  const authservId = config.judge.auth.authservId ?? config.hostname;
  const message = prependFields(removeOwnAuthenticationResults(raw, authservId), [received]);

  const [judged, scan] = await Promise.all([deps.judge.judge(message, envelopeOf(context), ownId), deps.scan(message)]);
  const decision = decideMessage(judged, scan, ownId);

  let reply: SmtpReply;
  let spooled = false;
  if (decision.action === "accept") {
    try {
      const rcptTo = [...new Set(context.recipients.map((r) => r.deliverTo))];
      await deps.enqueue({ id: queueId, envelope: { mailFrom: context.mailFrom, rcptTo }, message: prependFields(message, decision.headers) });
      spooled = true;
      reply = queued(queueId);
    } catch (err) {
      deps.logger.error({ event: "spool", id: decision.id, err }, "the spool could not take the message");
      reply = buildReply("tempfail", { id: decision.id });
    }
  } else {
    reply = decision.reply;
  }

  if (!judged.ok) deps.logger.warn({ event: "outage", id: decision.id, detail: judged.detail }, "the judge could not judge a message");
  if (scan.status === "error") deps.logger.warn({ event: "outage", id: decision.id, detail: scan.detail }, "the virus scanner could not scan a message");
  logMessage(deps.logger, {
    id: decision.id,
    queueId: spooled ? queueId : null,
    session: context.session,
    clientIp: context.clientIp,
    verifiedName: context.verifiedName,
    helo: context.helo,
    mailFrom: context.mailFrom,
    rcptTo: context.recipients.map((r) => r.address),
    sizeBytes: raw.length,
    tls: context.tls,
    checks: [...context.checks, ...verdictChecks(judged)],
    verdict: judged.ok ? { action: judged.verdict.action, reason: judged.verdict.reason } : null,
    scan: describeScan(scan),
    reply: formatReply(reply),
    durationMs: Math.round(performance.now() - context.startedAt),
  });
  return { reply, queued: spooled };
}
