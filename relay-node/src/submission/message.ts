// A submitted message read whole (smtp/data.ts), inside the session, before the reply to its final
// dot (docs/architecture.md, "The flows", 3): author fields owned by the user (553), then Received, the judge's outbound
// path (RFC conformance, banned content) and the virus scan side by side, DKIM signature and ARC set,
// the spool — and only then 250. A refusal or an outage is answered in the session, never bounced.
import type { EdgemxConfig } from "../../../core/config/schema.ts";
import { formatReply, type SmtpReply } from "../../../core/smtp/replies.ts";
import { newTrackingId } from "../../../core/smtp/tracking-id.ts";
import type { VerdictSource } from "../verdict/source.ts";
import type { Logger, TlsFacts } from "../log/log.ts";
import { newQueueId, type EnqueueRequest } from "../queue/spool.ts";
import { signOutbound, submissionAuthResults, type SigningIdentity } from "../sign/outbound.ts";
import { prependFields } from "../smtp/headers.ts";
import { decideMessage, describeScan, type ScanOutcome } from "../smtp/decision.ts";
import { queued, spoolFailureReply } from "../smtp/replies.ts";
import { submissionReceived } from "./received.ts";
import { decideAuthorFields, authorAddresses } from "./sender-ownership.ts";

export interface SubmitDeps {
  config: EdgemxConfig;
  logger: Logger;
  verdicts: VerdictSource;
  scan(message: Uint8Array): Promise<ScanOutcome>;
  /** Signing keys by domain (lower case); a From domain without one is sent unsigned, with a warning. */
  signing: ReadonlyMap<string, SigningIdentity>;
  enqueue(request: EnqueueRequest): Promise<string>;
}

export interface Submission {
  session: string;
  user: string;
  owned: ReadonlySet<string>;
  clientIp: string;
  helo: string | null;
  tls: TlsFacts | null;
  smtputf8: boolean;
  mailFrom: string;
  rcptTo: readonly string[];
}

/** The signing identity for the domain of the (first) From address, if we hold its key. */
export function signingIdentityFor(raw: Uint8Array, signing: ReadonlyMap<string, SigningIdentity>): SigningIdentity | undefined {
  const from = authorAddresses(raw)[0] ?? "";
  return signing.get(from.slice(from.lastIndexOf("@") + 1).toLowerCase());
}

export interface SubmitResult {
  reply: SmtpReply;
  queued: boolean;
  /** The message's tracking id (on its log line). */
  id: string;
  /** Why a refusal refused: author (From not owned), the verdict's reason class, or spool; null when accepted. */
  check: string | null;
}

export async function submitMessage(raw: Buffer, submission: Submission, deps: SubmitDeps): Promise<SubmitResult> {
  const { config, logger } = deps;
  const startedAt = performance.now();
  const notOwned = decideAuthorFields(raw, submission.owned);
  const ownId = newTrackingId();
  const log = (reply: SmtpReply, extra: Record<string, unknown>): void =>
    logger.info(
      {
        event: "submission",
        session: submission.session,
        user: submission.user,
        mailFrom: submission.mailFrom,
        rcptTo: submission.rcptTo,
        sizeBytes: raw.length,
        reply: formatReply(reply),
        durationMs: Math.round(performance.now() - startedAt),
        ...extra,
      },
      "message submitted",
    );
  if (notOwned !== null) {
    log(notOwned, { id: ownId });
    return { reply: notOwned, queued: false, id: ownId, check: "author" };
  }

  const queueId = newQueueId();
  const now = new Date();
  const received = submissionReceived({
    hideClientAddress: config.relay.submission.hideClientAddress,
    helo: submission.helo,
    clientIp: submission.clientIp,
    hostname: config.hostname,
    queueId,
    tls: submission.tls,
    smtputf8: submission.smtputf8,
    date: now,
  });
  const message = prependFields(raw, [received]);
  const envelope = {
    clientIp: submission.clientIp,
    mailFrom: submission.mailFrom,
    rcptTo: [...submission.rcptTo],
    tls: true,
    smtputf8: submission.smtputf8,
    authenticatedUser: submission.user,
    direction: "outbound" as const,
  };
  const [judged, scan] = await Promise.all([deps.verdicts.ask(message, envelope, { id: ownId, config }), deps.scan(message)]);
  const decision = decideMessage(judged, scan, ownId);
  const facts = {
    id: decision.id,
    verdict: judged.ok ? { action: judged.verdict.action, reason: judged.verdict.reason } : { error: judged.detail },
    scan: describeScan(scan),
  };
  if (decision.action !== "accept") {
    log(decision.reply, facts);
    return { reply: decision.reply, queued: false, id: decision.id, check: decision.reason };
  }

  try {
    const identity = signingIdentityFor(raw, deps.signing);
    if (identity === undefined) logger.warn({ event: "dkim", id: decision.id }, "no DKIM key for the From domain: the message is sent unsigned");
    const authservId = config.judge.auth.authservId ?? config.hostname;
    // The judge's own header fields describe inbound checks; outbound mail leaves without them.
    const signed = identity === undefined ? message : await signOutbound(message, identity, submissionAuthResults(authservId, submission.user), now);
    await deps.enqueue({ id: queueId, envelope: { mailFrom: submission.mailFrom, rcptTo: [...submission.rcptTo] }, message: signed });
    const reply = queued(queueId);
    log(reply, { ...facts, queueId, signed: identity !== undefined });
    return { reply, queued: true, id: decision.id, check: null };
  } catch (err) {
    logger.error({ event: "submission-error", id: decision.id, err }, "a submitted message could not be signed or spooled");
    const reply = spoolFailureReply(err, decision.id);
    log(reply, facts);
    return { reply, queued: false, id: decision.id, check: "spool" };
  }
}
