// The MX listener (relay.listeners.mx): inbound SMTP from the world, on npm smtp-server. It never
// relays, authenticated or not: AUTH is not even offered. The session, stage by stage:
//
// - connect: the connection bounds (421 4.7.0), then DNSBL and FCrDNS started side by side; the
//   greeting does not wait for them, their findings are awaited at RCPT TO. smtp-server's 100 ms wait
//   before the greeting stays (early talkers get 421).
// - HELO/EHLO: the HELO check starts at the command (server.ts's onHelo; again when a later HELO/EHLO
//   gives another name); its finding, like the connect findings, is answered at RCPT TO. smtp-server
//   itself refuses MAIL, RCPT and DATA before HELO/EHLO (503).
// - MAIL FROM: the sender checks; "tls" (a mandatory-TLS sender domain without STARTTLS, 530) answers
//   here, the "sender" finding waits for RCPT TO.
// - RCPT TO: "postmaster" without a domain is our postmaster (session.ts); the recipient count (452
//   4.5.3); relay and mailbox (554 5.7.1 / 550 5.1.1); the delayed findings of the earlier stages,
//   per recipient, relaxed for role mailboxes (pipeline.ts); with relay.recipientCheck, the mailbox
//   host asked about a recipient the configuration leaves to it (550 5.1.1, or 451 when it cannot be
//   asked), after the cheaper checks so a refused client causes no callout; greylisting (451 4.7.1),
//   skipped for roles that relax it, and left until after the final dot when rspamd's score gates it.
//   The client's relay.allow entries (core/allow/) spare the delayed findings and greylisting they name;
//   each spared check is recorded and counted. Spamtrap addresses are accepted as mailboxes, never
//   called out or greylisted; the spamtrap's blocklist is a connect-stage finding beside the DNSBL's. An SRS address of ours (a bounce of mail
//   we forwarded, core/srs/) is accepted for the address it stands for only when its hash and age hold
//   (550 5.1.1 … (SRS) otherwise), and never called out.
// - DATA: read whole within the size bound, bare CR/LF and NUL refused (session.ts, data.ts); then
//   Received, judge, virus scan and rspamd side by side, spool, 250 (message.ts).
//
// Every stage reads the configuration the session started with (state.config, session.ts); the
// listener itself is built from the one the relay started with.
import type { SMTPServerAddress, SMTPServerSession } from "smtp-server";
import type { EdgemxConfig } from "../../../core/config/schema.ts";
import type { Resolver } from "../../../core/dns/resolver.ts";
import { SpfMemo } from "../../../core/authentication/authenticate.ts";
import { buildReply, type SmtpReply } from "../../../core/smtp/replies.ts";
import { newTrackingId } from "../../../core/smtp/tracking-id.ts";
import type { BlocklistStore } from "../spam/blocklist-store.ts";
import { checkDnsbl, type DnsblKeys } from "../../../core/dnsbl/dnsbl.ts";
import { checkFcrdns } from "../../../core/iprev/fcrdns.ts";
import { checkHelo } from "../../../core/smtp/helo.ts";
import { checkRecipient, mailboxHostDecides, resolveAlias } from "../../../core/smtp/recipient.ts";
import type { RecipientCallout } from "./recipient-callout.ts";
import { checkSender } from "../../../core/smtp/sender.ts";
import { srsRecipient } from "../../../core/srs/forwarding.ts";
import { checkSpamtrapBlocklist, isSpamtrap } from "../spam/spamtrap.ts";
import type { ClientFacts, Finding, RelayCheck } from "../../../core/smtp/finding.ts";
import { logSession, type CheckRecord } from "../log/log.ts";
import { receiveMessage, type AcceptedRecipient, type MessageDeps } from "./message.ts";
import { decideRecipient, effectOf, greylistApplies, isDelayed } from "../../../core/smtp/pipeline.ts";
import { greylistAfterScoring } from "./pipeline.ts";
import { clientAllowHits, describeHit, sparedChecks, type AllowHit } from "../../../core/allow/allow.ts";
import { TOO_MANY_RECIPIENTS } from "./replies.ts";
import { BoundedSmtpServer, boundServer, commonServerOptions } from "./server.ts";
import { Sessions, type Recipient, type Refusal, type SessionState } from "./session.ts";
import type { CertificatePair } from "../tls/certificate.ts";
import type { RelayMetrics } from "../metrics/metrics.ts";

export interface MxDeps extends Omit<MessageDeps, "config" | "metrics"> {
  resolver: Resolver;
  /** The spamtrap's blocklist, consulted at connect; null when no spamtrap is configured. */
  blocklist: BlocklistStore | null;
  /** The access keys of the DNSBL zones that want one (connection.dnsbl.zones[].keySecret). */
  dnsblKeys: DnsblKeys;
  /** Null when relay.recipientCheck is off or the next hop is a Maildir. */
  recipientCallout: RecipientCallout | null;
  certificate: CertificatePair;
  /** What counts the sessions; null or absent: nothing is counted. */
  metrics?: RelayMetrics | null;
}

interface Transaction {
  mailFrom: string;
  /** The findings of MAIL FROM that wait for RCPT TO. */
  delayed: Finding[];
  recipients: AcceptedRecipient[];
  checks: CheckRecord[];
  /** The relay.allow entries the client matched, as of the last RCPT TO (the HELO name may change between transactions). */
  allow: AllowHit[];
}

interface MxSession extends SessionState<Transaction> {
  startedAt: number;
  connect: Promise<{ findings: Finding[]; client: ClientFacts }> | null;
  helo: { name: string; finding: Promise<Finding> } | null;
  messages: number;
  /** SPF results of this session's messages, for the in-process judge (core/authentication/mailauth-checks.ts). */
  spfMemo: SpfMemo;
}

function record(finding: Finding): CheckRecord {
  return { check: finding.check, outcome: finding.outcome, detail: finding.detail };
}

function refusal(reply: SmtpReply, check: string, allow: readonly AllowHit[] = [], detail?: string): Refusal {
  return {
    reply,
    cause: { check, ...(allow.length > 0 ? { allowlist: allow.map(describeHit) } : {}), ...(detail === undefined ? {} : { detail }) },
  };
}

/** The MX listener; `configs.current` is what each new session starts with (config/reload.ts's holder). */
export function createMxServer(configs: { readonly current: EdgemxConfig }, deps: MxDeps): BoundedSmtpServer {
  const { logger, resolver, greylist, recipientCallout, blocklist } = deps;
  /** What the listener itself is built with (its options; a reload updates the limits, relay.ts). */
  const atStart = configs.current;

  /** A check that threw (a bug, never a DNS outcome: those are findings) is a temporary failure: fail closed. */
  const failedCheck = (check: RelayCheck, err: unknown): Finding => {
    const id = newTrackingId();
    logger.error({ event: "check-error", check, id, err }, `the ${check} check failed`);
    return { check, outcome: "temporary", reply: buildReply("tempfail", { id }), detail: `error (id ${id})` };
  };
  const settled = (check: RelayCheck, work: () => Promise<Finding>): Promise<Finding> => work().catch((err: unknown) => failedCheck(check, err));

  const connectChecks = (ip: string, config: EdgemxConfig): Promise<{ findings: Finding[]; client: ClientFacts }> => {
    const fcrdns = checkFcrdns(ip, config.connection.fcrdns, resolver).catch((err: unknown) => ({
      finding: failedCheck("fcrdns", err),
      client: { ip, verifiedName: null },
    }));
    // The spamtrap's blocklist is a DNSBL of our own: a "dnsbl" finding, after the configured zones'.
    const trapped = blocklist === null ? null : settled("dnsbl", () => checkSpamtrapBlocklist(ip, blocklist, config.hostname));
    return Promise.all([settled("dnsbl", () => checkDnsbl(ip, config.connection.dnsbl, resolver, deps.dnsblKeys)), trapped, fcrdns]).then(
      ([dnsbl, spamtrap, { finding, client }]) => ({
        findings: [dnsbl, ...(spamtrap === null ? [] : [spamtrap]), finding],
        client,
      }),
    );
  };

  const sessions = new Sessions<Transaction, MxSession>(
    configs,
    logger,
    {
      open: (_session, common) => ({ ...common, startedAt: performance.now(), connect: null, helo: null, messages: 0, spfMemo: new SpfMemo() }),
      admitted: (_session, state) => {
        const startedAt = performance.now();
        state.connect = connectChecks(state.ip, state.config).then((connect) => {
          sessions.observeStage("connect", startedAt);
          state.verifiedName = connect.client.verifiedName;
          return connect;
        });
      },
      refused: (session, state, bound) => logger.warn({ event: "bound", session: session.id, clientIp: state.ip, bound }, "connection refused"),
      bodyFault: (session, state, fault) => logger.warn({ event: "smuggling", session: session.id, clientIp: state.ip, fault }, "DATA refused"),
      closed: logClosed,
    },
    { listener: "mx", metrics: deps.metrics ?? null },
  );

  /** A HELO/EHLO that gives another name starts the HELO check anew; its finding waits for RCPT TO. */
  const onHelo = (session: SMTPServerSession, name: string): void => {
    const state = sessions.of(session);
    if (state.helo?.name === name) return;
    const startedAt = performance.now();
    const finding = settled("helo", () => checkHelo(name, state.ip, state.config, resolver, [session.localAddress]));
    state.helo = { name, finding };
    void finding.then(() => sessions.observeStage("helo", startedAt));
  };

  const onMailFrom = (address: SMTPServerAddress, session: SMTPServerSession, callback: (err?: Error | null) => void): void => {
    const state = sessions.of(session);
    const { config } = state;
    const startedAt = performance.now();
    checkSender(address.address, session.secure, config, resolver)
      .catch((err: unknown) => [failedCheck("sender", err)])
      .then((findings) => {
        sessions.observeStage("mail", startedAt);
        const transaction: Transaction = { mailFrom: address.address, delayed: [], recipients: [], checks: findings.map(record), allow: [] };
        state.transaction = transaction;
        for (const finding of findings) {
          if (isDelayed(finding.check)) {
            transaction.delayed.push(finding);
            continue;
          }
          const effect = effectOf(finding, config);
          if (effect.effect === "refuse") {
            state.transaction = null;
            return callback(sessions.refuse(state, effect.reply, { check: finding.check, mailFrom: address.address, detail: finding.detail }));
          }
        }
        callback();
      }, callback);
  };

  const decideRcpt = async ({ rcpt, session, state, transaction }: Recipient<Transaction, MxSession>): Promise<Refusal | null> => {
    const { config } = state;
    const alreadyAccepted = transaction.recipients.some((r) => r.address.toLowerCase() === rcpt.toLowerCase());
    // RFC 5321 §4.5.3.1.8: the recipients buffer is bounded; the client may go on with those accepted.
    if (!alreadyAccepted && transaction.recipients.length >= config.relay.limits.maxRecipients) return refusal(TOO_MANY_RECIPIENTS, "recipients");

    const spamtrap = isSpamtrap(rcpt, config.relay.rspamd.spamtrap);
    const srsSecrets = deps.forwarding.srsSecrets;
    const bounce = spamtrap || srsSecrets === null ? null : srsRecipient(rcpt, config, srsSecrets, new Date());
    const recipient: Finding = spamtrap ? { check: "recipient", outcome: "pass", detail: "spamtrap" } : (bounce?.finding ?? checkRecipient(rcpt, config));
    transaction.checks.push(record(recipient));
    const recipientEffect = effectOf(recipient, config);
    if (recipientEffect.effect === "refuse") return refusal(recipientEffect.reply, recipient.check);

    const [connect, helo] = await Promise.all([state.connect, state.helo?.finding]);
    const delayed = [...(connect?.findings ?? []), ...(helo ? [helo] : []), ...transaction.delayed];
    const allow = clientAllowHits(config.relay.allow, { ip: state.ip, verifiedName: connect?.client.verifiedName ?? null, helo: state.helo?.name ?? null });
    transaction.allow = allow;
    const spared = sparedChecks(allow);
    const decision = decideRecipient(delayed, rcpt, config, new Set(spared.keys()));
    if (!decision.accept) return refusal(decision.reply, decision.check, allow);
    for (const check of decision.relaxed) transaction.checks.push({ check, outcome: "relaxed", detail: `for ${rcpt}` });
    /** A check the allowlist passed over: on the message's line once, counted once per transaction. */
    const allowed = (check: string, hit: AllowHit, seen: string): void => {
      const detail = `${seen}allowlisted by ${describeHit(hit)}`;
      if (transaction.checks.some((c) => c.check === check && c.outcome === "relaxed" && c.detail === detail)) return;
      transaction.checks.push({ check, outcome: "relaxed", detail });
      deps.metrics?.allowlisted(check, hit.match);
    };
    for (const check of decision.allowed ?? []) {
      const finding = delayed.find((f) => f.check === check && effectOf(f, config).effect === "refuse");
      allowed(check, spared.get(check)!, finding ? `${finding.detail}; ` : "");
    }

    if (recipientCallout !== null && !spamtrap && bounce === null && mailboxHostDecides(rcpt, config)) {
      const finding = await settled("recipient", () => recipientCallout.verify(resolveAlias(rcpt, config), session.id));
      transaction.checks.push(record(finding));
      const effect = effectOf(finding, config);
      if (effect.effect === "refuse") return refusal(effect.reply, finding.check, allow, finding.detail);
    }

    // A spamtrap is never greylisted: what reaches it is to be learned, not sent away.
    const greylistSpared = spared.get("greylist");
    if (greylist !== null && !spamtrap && greylistSpared !== undefined && greylistApplies(rcpt, config)) allowed("greylist", greylistSpared, "");
    const greylisting: AcceptedRecipient["greylist"] =
      greylist === null || spamtrap || !greylistApplies(rcpt, config, new Set(spared.keys()))
        ? "skipped"
        : greylistAfterScoring(config)
          ? "after-scoring"
          : "passed";
    if (greylist !== null && greylisting === "passed") {
      const finding = await settled("greylist", () => greylist.check({ clientIp: state.ip, sender: transaction.mailFrom, recipient: rcpt, id: session.id }));
      transaction.checks.push(record(finding));
      const effect = effectOf(finding, config);
      if (effect.effect === "refuse") return refusal(effect.reply, finding.check, allow, finding.detail);
    }
    const deliverTo = bounce?.deliverTo ?? resolveAlias(rcpt, config);
    if (!alreadyAccepted) transaction.recipients.push({ address: rcpt, deliverTo, spamtrap, greylist: greylisting });
    logger.debug({ event: "rcpt", session: session.id, rcpt }, "recipient accepted");
    return null;
  };

  const onData = sessions.onData(async ({ message, session, state, transaction, startedAt }) => {
    const connect = await state.connect;
    const result = await receiveMessage(
      message,
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
        allow: transaction.allow,
        startedAt,
        spfMemo: state.spfMemo,
      },
      { ...deps, config: state.config },
    );
    if (result.queued) {
      state.messages++;
      // One delivered message towards the client network's auto-allow, if greylisting saw it: counted
      // in memory and written in the background (a failed write is logged where the greylist is created).
      const greylisted = transaction.recipients.find((r) => r.greylist !== "skipped");
      if (greylist !== null && greylisted !== undefined)
        greylist.delivered({ clientIp: state.ip, sender: transaction.mailFrom, recipient: greylisted.address });
    }
    return {
      reply: result.reply,
      cause: { check: result.check ?? "message", id: result.id, ...(result.allowlist.length > 0 ? { allowlist: result.allowlist } : {}) },
    };
  });

  /** The session's log line, once its connect and HELO findings are in. */
  function logClosed(session: SMTPServerSession, state: MxSession): void {
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
        refusals: state.refusals,
        durationMs: Math.round(performance.now() - state.startedAt),
      });
    });
  }

  const server = new BoundedSmtpServer(
    {
      ...commonServerOptions(atStart, deps.certificate),
      // This listener never relays, authenticated or not: AUTH is not offered at all.
      disabledCommands: ["AUTH"],
      authOptional: true,
      onConnect: sessions.onConnect,
      onSecure: sessions.onSecure,
      onMailFrom,
      onRcptTo: sessions.onRcptTo(decideRcpt),
      onData,
      onClose: sessions.onClose,
    },
    { maxErrors: atStart.relay.limits.maxErrors, maxConnections: atStart.relay.limits.maxConnections, onHelo, onRefusal: sessions.onRefusal },
  );
  return boundServer(server, atStart, logger);
}
