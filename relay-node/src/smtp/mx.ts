// The MX listener (relay.listeners.mx): inbound SMTP from the world, on npm smtp-server. It never
// relays, authenticated or not: AUTH is not even offered. The session, stage by stage:
//
// - connect: the connection bounds (421 4.7.0), then DNSBL and FCrDNS started side by side; the
//   greeting does not wait for them, their findings are awaited at RCPT TO. smtp-server's 100 ms wait
//   before the greeting stays (early talkers get 421).
// - HELO/EHLO: smtp-server has no hook for it, so the HELO check starts at the first MAIL FROM after a
//   HELO/EHLO (again after a new one), from session.hostNameAppearsAs, side by side with the sender
//   check; its finding, like the connect findings, is answered at RCPT TO.
// - MAIL FROM: the sender checks; "tls" (a mandatory-TLS sender domain without STARTTLS, 530) answers
//   here, the "sender" finding waits for RCPT TO.
// - RCPT TO: the recipient count (452 4.5.3); relay and mailbox (554 5.7.1 / 550 5.1.1); the delayed
//   findings of the earlier stages, per recipient, relaxed for role mailboxes (pipeline.ts); with
//   relay.recipientCheck, the mailbox host asked about a recipient the configuration leaves to it (550
//   5.1.1, or 451 when it cannot be asked), after the cheaper checks so a refused client causes no
//   callout; greylisting (451 4.7.1), skipped for roles that relax it, and left until after the final
//   dot when rspamd's score gates it. Spamtrap addresses are accepted as mailboxes, never called out
//   or greylisted; the spamtrap's blocklist is a connect-stage finding beside the DNSBL's.
// - DATA: read whole within the size bound, bare CR/LF and NUL refused (data.ts); then Received,
//   judge, virus scan and rspamd side by side, spool, 250 (message.ts).
import type { Socket } from "node:net";
import type { TLSSocket } from "node:tls";
import type { SMTPServerAddress, SMTPServerDataStream, SMTPServerSession } from "smtp-server";
import type { EdgemxConfig } from "../../../core/config/schema.ts";
import type { Resolver } from "../../../core/dns/resolver.ts";
import { SpfMemo } from "../../../core/authentication/authenticate.ts";
import { buildReply, formatReply, type SmtpReply } from "../../../core/smtp/replies.ts";
import { newTrackingId } from "../../../core/smtp/tracking-id.ts";
import type { BlocklistStore } from "../spam/blocklist-store.ts";
import { checkDnsbl } from "../../../core/dnsbl/dnsbl.ts";
import { checkFcrdns } from "../../../core/iprev/fcrdns.ts";
import { checkHelo } from "../../../core/smtp/helo.ts";
import { checkRecipient, mailboxHostDecides, resolveAlias, withPostmasterDomain } from "../../../core/smtp/recipient.ts";
import type { RecipientCallout } from "./recipient-callout.ts";
import { checkSender } from "../../../core/smtp/sender.ts";
import { checkSpamtrapBlocklist, isSpamtrap } from "../spam/spamtrap.ts";
import type { ClientFacts, Finding, RelayCheck } from "../../../core/smtp/finding.ts";
import { logSession, type CheckRecord, type TlsFacts } from "../log.ts";
import { ConnectionCounter } from "./connections.ts";
import { readData } from "./data.ts";
import { receiveMessage, type AcceptedRecipient, type MessageDeps } from "./message.ts";
import { decideRecipient, effectOf, greylistAfterScoring, greylistApplies, isDelayed } from "./pipeline.ts";
import { BODY_FAULT_REPLIES, MESSAGE_TOO_BIG, TOO_MANY_RECIPIENTS, replyError, replyLine, tooManyConnections } from "./replies.ts";
import { BoundedSmtpServer, boundServer, commonServerOptions } from "./server.ts";
import type { CertificatePair } from "../tls/certificate.ts";

export interface MxDeps extends MessageDeps {
  resolver: Resolver;
  /** The spamtrap's blocklist, consulted at connect; null when no spamtrap is configured. */
  blocklist: BlocklistStore | null;
  /** Null when relay.recipientCheck is off or the next hop is a Maildir. */
  recipientCallout: RecipientCallout | null;
  certificate: CertificatePair;
}

/** RFC 5321 §4.1.4: RCPT before a successful MAIL is a bad sequence. */
const NEED_MAIL: SmtpReply = { code: 503, enhanced: "5.5.1", text: "Error: need MAIL command" };

interface Transaction {
  mailFrom: string;
  /** The findings of MAIL FROM that wait for RCPT TO. */
  delayed: Finding[];
  recipients: AcceptedRecipient[];
  checks: CheckRecord[];
}

interface SessionState {
  startedAt: number;
  ip: string;
  /** Counted in by the connection bounds (and so to be counted out). */
  admitted: boolean;
  connect: Promise<{ findings: Finding[]; client: ClientFacts }> | null;
  helo: { name: string; finding: Promise<Finding> } | null;
  tls: TlsFacts | null;
  transaction: Transaction | null;
  messages: number;
  lastRefusal: string | null;
  /** SPF results of this session's messages, for the in-process judge (core/authentication/mailauth-checks.ts). */
  spfMemo: SpfMemo;
}

function record(finding: Finding): CheckRecord {
  return { check: finding.check, outcome: finding.outcome, detail: finding.detail };
}

export function createMxServer(config: EdgemxConfig, deps: MxDeps): BoundedSmtpServer {
  const { logger, resolver, greylist, recipientCallout, blocklist } = deps;
  const limits = config.relay.limits;
  const sessions = new WeakMap<SMTPServerSession, SessionState>();
  const counter = new ConnectionCounter(limits);

  /** A check that threw (a bug, never a DNS outcome: those are findings) is a temporary failure: fail closed. */
  const failedCheck = (check: RelayCheck, err: unknown): Finding => {
    const id = newTrackingId();
    logger.error({ event: "check-error", check, id, err }, `the ${check} check failed`);
    return { check, outcome: "temporary", reply: buildReply("tempfail", { id }), detail: `error (id ${id})` };
  };
  const settled = (check: RelayCheck, work: () => Promise<Finding>): Promise<Finding> => work().catch((err: unknown) => failedCheck(check, err));

  /** A refusal for smtp-server's callback, remembered for the session's log line. */
  const refuse = (state: SessionState, reply: SmtpReply): Error => {
    state.lastRefusal = formatReply(reply);
    return replyError(reply);
  };

  const stateOf = (session: SMTPServerSession): SessionState => {
    const state = sessions.get(session);
    if (!state) throw new Error(`no state for session ${session.id}`);
    return state;
  };

  const connectChecks = (ip: string): Promise<{ findings: Finding[]; client: ClientFacts }> => {
    const fcrdns = checkFcrdns(ip, config.relay.fcrdns, resolver).catch((err: unknown) => ({
      finding: failedCheck("fcrdns", err),
      client: { ip, verifiedName: null },
    }));
    // The spamtrap's blocklist is a DNSBL of our own: a "dnsbl" finding, after the configured zones'.
    const trapped = blocklist === null ? null : settled("dnsbl", () => checkSpamtrapBlocklist(ip, blocklist, config.hostname));
    return Promise.all([settled("dnsbl", () => checkDnsbl(ip, config.relay.dnsbl, resolver)), trapped, fcrdns]).then(
      ([dnsbl, spamtrap, { finding, client }]) => ({
        findings: [dnsbl, ...(spamtrap === null ? [] : [spamtrap]), finding],
        client,
      }),
    );
  };

  const onConnect = (session: SMTPServerSession, callback: (err?: Error | null) => void): void => {
    const ip = session.remoteAddress;
    const admission = counter.admit(ip);
    const state: SessionState = {
      startedAt: performance.now(),
      ip,
      admitted: admission === "admitted",
      connect: null,
      helo: null,
      tls: null,
      transaction: null,
      messages: 0,
      lastRefusal: null,
      spfMemo: new SpfMemo(),
    };
    sessions.set(session, state);
    if (!state.admitted) {
      logger.warn({ event: "bound", session: session.id, clientIp: ip, bound: admission }, "connection refused");
      return callback(refuse(state, tooManyConnections(config.hostname)));
    }
    state.connect = connectChecks(ip);
    callback();
  };

  const onSecure = (socket: Socket | TLSSocket, session: SMTPServerSession, callback: (err?: Error | null) => void): void => {
    const tls = socket as TLSSocket;
    stateOf(session).tls = { version: tls.getProtocol() ?? "unknown", cipher: tls.getCipher().name };
    callback();
  };

  const onMailFrom = (address: SMTPServerAddress, session: SMTPServerSession, callback: (err?: Error | null) => void): void => {
    const state = stateOf(session);
    const helo = session.hostNameAppearsAs;
    if (state.helo?.name !== helo) {
      state.helo = { name: helo, finding: settled("helo", () => checkHelo(helo, state.ip, config, resolver, [session.localAddress])) };
    }
    checkSender(address.address, session.secure, config, resolver)
      .catch((err: unknown) => [failedCheck("sender", err)])
      .then((findings) => {
        const transaction: Transaction = { mailFrom: address.address, delayed: [], recipients: [], checks: findings.map(record) };
        state.transaction = transaction;
        for (const finding of findings) {
          if (isDelayed(finding.check)) {
            transaction.delayed.push(finding);
            continue;
          }
          const effect = effectOf(finding, config);
          if (effect.effect === "refuse") {
            state.transaction = null;
            return callback(refuse(state, effect.reply));
          }
        }
        callback();
      }, callback);
  };

  const decideRcpt = async (rcpt: string, session: SMTPServerSession, state: SessionState, transaction: Transaction): Promise<SmtpReply | null> => {
    const alreadyAccepted = transaction.recipients.some((r) => r.address.toLowerCase() === rcpt.toLowerCase());
    // RFC 5321 §4.5.3.1.8: the recipients buffer is bounded; the client may go on with those accepted.
    if (!alreadyAccepted && transaction.recipients.length >= limits.maxRecipients) return TOO_MANY_RECIPIENTS;

    const spamtrap = isSpamtrap(rcpt, config.relay.rspamd.spamtrap);
    const recipient: Finding = spamtrap ? { check: "recipient", outcome: "pass", detail: "spamtrap" } : checkRecipient(rcpt, config);
    transaction.checks.push(record(recipient));
    const recipientEffect = effectOf(recipient, config);
    if (recipientEffect.effect === "refuse") return recipientEffect.reply;

    const [connect, helo] = await Promise.all([state.connect, state.helo?.finding]);
    const delayed = [...(connect?.findings ?? []), ...(helo ? [helo] : []), ...transaction.delayed];
    const decision = decideRecipient(delayed, rcpt, config);
    if (!decision.accept) return decision.reply;
    for (const check of decision.relaxed) transaction.checks.push({ check, outcome: "relaxed", detail: `for ${rcpt}` });

    if (recipientCallout !== null && !spamtrap && mailboxHostDecides(rcpt, config)) {
      const finding = await settled("recipient", () => recipientCallout.verify(resolveAlias(rcpt, config), session.id));
      transaction.checks.push(record(finding));
      const effect = effectOf(finding, config);
      if (effect.effect === "refuse") return effect.reply;
    }

    // A spamtrap is never greylisted: what reaches it is to be learned, not sent away.
    const greylisting: AcceptedRecipient["greylist"] =
      greylist === null || spamtrap || !greylistApplies(rcpt, config) ? "skipped" : greylistAfterScoring(config) ? "after-scoring" : "passed";
    if (greylist !== null && greylisting === "passed") {
      const finding = await settled("greylist", () => greylist.check({ clientIp: state.ip, sender: transaction.mailFrom, recipient: rcpt, id: session.id }));
      transaction.checks.push(record(finding));
      const effect = effectOf(finding, config);
      if (effect.effect === "refuse") return effect.reply;
    }
    if (!alreadyAccepted) transaction.recipients.push({ address: rcpt, deliverTo: resolveAlias(rcpt, config), spamtrap, greylist: greylisting });
    logger.debug({ event: "rcpt", session: session.id, rcpt }, "recipient accepted");
    return null;
  };

  const onRcptTo = (address: SMTPServerAddress, session: SMTPServerSession, callback: (err?: Error | null) => void): void => {
    const state = stateOf(session);
    const transaction = state.transaction;
    if (!transaction) return callback(refuse(state, NEED_MAIL));
    decideRcpt(withPostmasterDomain(address.address, config), session, state, transaction).then(
      (reply) => callback(reply ? refuse(state, reply) : null),
      callback,
    );
  };

  const onData = (stream: SMTPServerDataStream, session: SMTPServerSession, callback: (err?: Error | null, message?: string) => void): void => {
    const state = stateOf(session);
    const transaction = state.transaction;
    const startedAt = performance.now();
    const answer = async (): Promise<SmtpReply> => {
      const data = await readData(stream, limits.maxMessageBytes);
      // A client gone mid-message hears nothing; the reply only keeps smtp-server from saying 250.
      if (data.status === "aborted" || !transaction) return buildReply("tempfail", { id: session.id });
      if (data.status === "too-big") return MESSAGE_TOO_BIG;
      if (data.status === "fault") {
        logger.warn({ event: "smuggling", session: session.id, clientIp: state.ip, fault: data.fault }, "DATA refused");
        return BODY_FAULT_REPLIES[data.fault];
      }
      const connect = await state.connect;
      const result = await receiveMessage(
        data.message,
        {
          session: session.id,
          clientIp: state.ip,
          verifiedName: connect?.client.verifiedName ?? null,
          helo: session.hostNameAppearsAs || null,
          ehlo: session.openingCommand === "EHLO",
          tls: state.tls,
          smtputf8: session.envelope.smtpUtf8 === true,
          mailFrom: transaction.mailFrom,
          recipients: transaction.recipients,
          checks: transaction.checks,
          startedAt,
          spfMemo: state.spfMemo,
        },
        deps,
      );
      if (result.queued) {
        state.messages++;
        // One delivered message towards the client network's auto-allow, if greylisting saw it: counted
        // in memory and written in the background (a failed write is logged where the greylist is created).
        const greylisted = transaction.recipients.find((r) => r.greylist !== "skipped");
        if (greylist !== null && greylisted !== undefined)
          greylist.delivered({ clientIp: state.ip, sender: transaction.mailFrom, recipient: greylisted.address });
      }
      return result.reply;
    };
    answer().then(
      (reply) => {
        state.transaction = null;
        if (reply.code >= 400) return callback(refuse(state, reply));
        callback(null, replyLine(reply));
      },
      (err: unknown) => {
        const id = newTrackingId();
        logger.error({ event: "data-error", session: session.id, id, err }, "DATA failed");
        callback(refuse(state, buildReply("tempfail", { id })));
      },
    );
  };

  const onClose = (session: SMTPServerSession): void => {
    const state = sessions.get(session);
    if (!state) return;
    if (state.admitted) counter.release(state.ip);
    void Promise.all([state.connect, state.helo?.finding]).then(([connect, helo]) => {
      logSession(logger, {
        session: session.id,
        clientIp: state.ip,
        verifiedName: connect?.client.verifiedName ?? null,
        helo: session.hostNameAppearsAs || null,
        tls: state.tls,
        checks: [...(connect?.findings ?? []), ...(helo ? [helo] : [])].map(record),
        messages: state.messages,
        lastRefusal: state.lastRefusal,
        durationMs: Math.round(performance.now() - state.startedAt),
      });
    });
  };

  const server = new BoundedSmtpServer(
    {
      ...commonServerOptions(config, deps.certificate),
      // This listener never relays, authenticated or not: AUTH is not offered at all.
      disabledCommands: ["AUTH"],
      authOptional: true,
      onConnect,
      onSecure,
      onMailFrom,
      onRcptTo,
      onData,
      onClose,
    },
    { maxErrors: limits.maxErrors },
  );
  return boundServer(server, config, logger);
}
