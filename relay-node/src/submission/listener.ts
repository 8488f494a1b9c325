// The submission listeners (RFC 6409): relay.listeners.submission (587, STARTTLS, RFC 3207) and
// relay.listeners.submissions (465, implicit TLS, RFC 8314 §3.3), on the MX's exact-reply server
// (smtp/server.ts) and its session base (smtp/session.ts). The session, stage by stage:
//
// - EHLO: AUTH PLAIN and LOGIN listed only inside TLS; AUTH outside it → 538 5.7.11.
// - AUTH (RFC 4954): the user name is the full address; the login throttle first (454 4.7.0 when
//   locked), then the password (535 5.7.8 after a delay that grows with the failures). Passwords
//   reach neither a log nor an error.
// - MAIL before AUTH → 530 5.7.0 (smtp-server, with the spec's text); MAIL FROM not the user's own
//   → 553 5.7.1; the user's messages per hour used up → 450 4.7.1.
// - RCPT TO: any domain (the user is authenticated), up to maxRecipientsPerMessage → 452 4.5.3;
//   "postmaster" without a domain is our postmaster (RFC 5321 §4.1.1.3; RFC 6409 §6.2: the MSA makes
//   every envelope domain fully qualified).
// - DATA: read within the size bound, bare CR/LF and NUL refused, then message.ts.
//
// Each stage reads the configuration the session started with (state.config, smtp/session.ts).
import type { SMTPServerAddress, SMTPServerAuthentication, SMTPServerAuthenticationResponse, SMTPServerSession } from "smtp-server";
import type { EdgemxConfig } from "../../../core/config/schema.ts";
import { buildReply, type SmtpReply } from "../../../core/smtp/replies.ts";
import { replyLine } from "../smtp/replies.ts";
import { BoundedSmtpServer, boundServer, commonServerOptions } from "../smtp/server.ts";
import { Sessions, type Recipient, type Refusal, type SessionState } from "../smtp/session.ts";
import type { ListenerName, RelayMetrics } from "../metrics/metrics.ts";
import type { CertificatePair } from "../tls/certificate.ts";
import type { Authenticator } from "../users/checker.ts";
import { submitMessage, type SubmitDeps } from "./message.ts";
import { AUTH_INVALID, AUTH_TEMPORARY_FAILURE, SEND_RATE_LIMITED, TOO_MANY_RECIPIENTS_PER_MESSAGE } from "./replies.ts";
import type { LoginLimiter, SendLimiter } from "./shared-limits.ts";
import { decideEnvelopeSender } from "./sender-ownership.ts";

export interface SubmissionDeps extends Omit<SubmitDeps, "config"> {
  users: Authenticator;
  /** Failed logins and messages per hour: this relay's own, or shared by the relays through Redis (shared-limits.ts). */
  throttle: LoginLimiter;
  quota: SendLimiter;
  certificate: CertificatePair;
  /** What counts the sessions and logins; null or absent: nothing is counted. */
  metrics?: RelayMetrics | null;
}

interface Transaction {
  mailFrom: string;
  rcptTo: string[];
}

interface SubmissionSession extends SessionState<Transaction> {
  /** The logged-in user's addresses: the login and its aliases (empty before AUTH). */
  owned: ReadonlySet<string>;
}

/** A submission listener; `configs.current` is what each new session starts with (config/reload.ts's holder). */
export function createSubmissionServer(
  configs: { readonly current: EdgemxConfig },
  deps: SubmissionDeps,
  options: { implicitTls: boolean },
): BoundedSmtpServer {
  const { logger, users, throttle, quota } = deps;
  /** What the listener itself is built with (its options; a reload updates the limits, relay.ts). */
  const atStart = configs.current;
  const listener: ListenerName = options.implicitTls ? "submissions" : "submission";
  const metrics = deps.metrics ?? null;
  const sessions = new Sessions<Transaction, SubmissionSession>(
    configs,
    logger,
    { open: (_session, common) => ({ ...common, owned: new Set() }) },
    { listener, metrics },
  );
  /** A refused login: its log line counts under the AUTH stage, whichever line of the exchange it answers. */
  const refuseLogin = (session: SMTPServerSession, reply: SmtpReply): Error => sessions.refuse(sessions.of(session), reply, { check: "auth", stage: "auth" });
  const userOf = (session: SMTPServerSession): string => String(session.user);

  const onAuth = (
    auth: SMTPServerAuthentication,
    session: SMTPServerSession,
    callback: (err: Error | null | undefined, response?: SMTPServerAuthenticationResponse) => void,
  ): void => {
    const ip = session.remoteAddress;
    const username = auth.username ?? "";
    const startedAt = performance.now();
    const outcome = (result: "pass" | "failed" | "locked" | "temporary"): void => {
      sessions.observeStage("auth", startedAt);
      metrics?.auth(result);
      logger.info({ event: "auth", session: session.id, clientIp: ip, user: username, method: auth.method, result }, `AUTH ${result}`);
    };
    const answer = async (): Promise<void> => {
      if ((await throttle.check(ip, username)).status === "locked") {
        outcome("locked");
        return callback(refuseLogin(session, AUTH_TEMPORARY_FAILURE));
      }
      const result = await users.authenticate(username, auth.password ?? "");
      if (result.status === "temporary") {
        // The checker (user store or IMAP host) could not decide: 454 4.7.0, no failure counted.
        logger.error({ event: "auth-error", session: session.id, err: result.reason }, "the user check failed");
        outcome("temporary");
        return callback(refuseLogin(session, AUTH_TEMPORARY_FAILURE));
      }
      if (result.status === "invalid") {
        const delay = await throttle.failed(ip, username);
        outcome("failed");
        setTimeout(() => callback(refuseLogin(session, AUTH_INVALID)), delay);
        return;
      }
      const user = result.user;
      await throttle.succeeded(user.address);
      sessions.of(session).owned = new Set([user.address, ...user.aliases]);
      outcome("pass");
      callback(null, { user: user.address });
    };
    answer().catch((err: unknown) => {
      logger.error({ event: "auth-error", session: session.id, err: err instanceof Error ? err.message : String(err) }, "the user check failed");
      callback(refuseLogin(session, AUTH_TEMPORARY_FAILURE));
    });
  };

  const onMailFrom = (address: SMTPServerAddress, session: SMTPServerSession, callback: (err?: Error | null) => void): void => {
    const state = sessions.of(session);
    const notOwned = decideEnvelopeSender(address.address, state.owned);
    if (notOwned !== null) return callback(sessions.refuse(state, notOwned, { check: "sender-ownership", mailFrom: address.address }));
    quota.allows(userOf(session)).then(
      (allowed) => {
        if (!allowed) return callback(sessions.refuse(state, SEND_RATE_LIMITED, { check: "send-quota", mailFrom: address.address }));
        state.transaction = { mailFrom: address.address, rcptTo: [] };
        callback();
      },
      (err: unknown) => callback(err instanceof Error ? err : new Error(String(err))),
    );
  };

  const decideRcpt = ({ rcpt, state, transaction }: Recipient<Transaction, SubmissionSession>): Refusal | null => {
    const { relay } = state.config;
    const known = transaction.rcptTo.some((r) => r.toLowerCase() === rcpt.toLowerCase());
    // RFC 5321 §4.5.3.1.8; M3AAWG: a bound per message keeps a stolen account from mailing a list.
    if (!known && transaction.rcptTo.length >= Math.min(relay.submission.maxRecipientsPerMessage, relay.limits.maxRecipients))
      return { reply: TOO_MANY_RECIPIENTS_PER_MESSAGE, cause: { check: "recipients" } };
    if (!known) transaction.rcptTo.push(rcpt);
    return null;
  };

  const onData = sessions.onData(async ({ message, session, state, transaction }) => {
    const result = await submitMessage(
      message,
      {
        session: session.id,
        user: userOf(session),
        owned: state.owned,
        clientIp: session.remoteAddress,
        helo: session.hostNameAppearsAs || null,
        tls: state.tls,
        smtputf8: session.envelope.smtpUtf8 === true,
        mailFrom: transaction.mailFrom,
        rcptTo: transaction.rcptTo,
      },
      { ...deps, config: state.config },
    );
    if (result.queued) await quota.record(userOf(session));
    return { reply: result.reply, cause: { check: result.check ?? "message", id: result.id } };
  });

  const server = new BoundedSmtpServer(
    {
      ...commonServerOptions(atStart, deps.certificate),
      secure: options.implicitTls,
      // RFC 4954 §4: the mechanisms; the user name is the full address.
      authMethods: ["PLAIN", "LOGIN"],
      authOptional: false,
      allowInsecureAuth: false,
      authRequiredMessage: replyLine(buildReply("authRequired", {})),
      onConnect: sessions.onConnect,
      onSecure: sessions.onSecure,
      onAuth,
      onMailFrom,
      onRcptTo: sessions.onRcptTo(decideRcpt),
      onData,
      onClose: sessions.onClose,
    },
    { maxErrors: atStart.relay.limits.maxErrors, maxConnections: atStart.relay.limits.maxConnections, onRefusal: sessions.onRefusal },
  );
  return boundServer(server, atStart, logger);
}
