// The relay's connection checks on Email Routing's path, by the same code (core/) with the same replies:
// DNSBL, FCrDNS and HELO on the client that the topmost Received field names, the MAIL FROM checks on the
// event's envelope sender. The relay runs them stage by stage in its SMTP session; here every stage has
// passed at Cloudflare already, so they run at once and are answered as the relay answers at RCPT TO
// (core/smtp/pipeline.ts). Where the trace names no client, the client's checks are skipped, and said so.
import type { WorkerConfig } from "../../../core/config/worker.ts";
import type { Resolver } from "../../../core/dns/resolver.ts";
import { checkDnsbl, type DnsblKeys } from "../../../core/dnsbl/dnsbl.ts";
import { checkFcrdns } from "../../../core/iprev/fcrdns.ts";
import type { Finding, RelayCheck } from "../../../core/smtp/finding.ts";
import { checkHelo } from "../../../core/smtp/helo.ts";
import { decideRecipient, effectOf, isDelayed } from "../../../core/smtp/pipeline.ts";
import type { SmtpReply } from "../../../core/smtp/replies.ts";
import { checkSender } from "../../../core/smtp/sender.ts";
import type { RelaxableCheck } from "../../../core/config/schema.ts";
import type { ConnectionTrace } from "./trace.ts";

/** The connection as Email Routing shows it: the trace's client and TLS, the event's envelope sender. */
export interface RoutedConnection {
  trace: ConnectionTrace;
  /** MAIL FROM; "" is the null reverse-path (RFC 5321 §4.5.5). */
  mailFrom: string;
}

const noClient = (check: RelayCheck): Finding => ({ check, outcome: "skipped", detail: "no client address in the topmost Received field" });

/** The findings in the relay's order: dnsbl, fcrdns (connect), helo (HELO), sender, tls (MAIL FROM). */
export async function connectionFindings(connection: RoutedConnection, config: WorkerConfig, resolver: Resolver, keys: DnsblKeys): Promise<Finding[]> {
  const { trace, mailFrom } = connection;
  const client = trace.clientIp;
  const [dnsbl, fcrdns, helo, [sender, tls]] = await Promise.all([
    client === undefined ? noClient("dnsbl") : checkDnsbl(client, config.connection.dnsbl, resolver, keys),
    client === undefined ? noClient("fcrdns") : checkFcrdns(client, config.connection.fcrdns, resolver).then(({ finding }) => finding),
    client === undefined || trace.heloArgument === undefined ? noClient("helo") : checkHelo(trace.heloArgument, client, config, resolver),
    // The trace shows TLS only where the MX wrote RFC 3848's with type; Cloudflare's field does not.
    checkSender(mailFrom, trace.tls ?? null, config, resolver),
  ]);
  return [dnsbl, fcrdns, helo, sender!, tls!];
}

export type ConnectionDecision = { refuse: false; relaxed: RelaxableCheck[] } | { refuse: true; reply: SmtpReply; check: RelayCheck };

/**
 * What the findings do to the message for its recipient, as the relay's session would answer: the
 * checks answered at their own stage (mandatory TLS, at MAIL FROM) first, then the ones delayed to RCPT
 * TO, each spared for a role mailbox that relaxes it.
 */
export function decideConnection(findings: readonly Finding[], rcpt: string, config: WorkerConfig): ConnectionDecision {
  for (const finding of findings) {
    if (isDelayed(finding.check)) continue;
    const effect = effectOf(finding, config);
    if (effect.effect === "refuse") return { refuse: true, reply: effect.reply, check: finding.check };
  }
  const decision = decideRecipient(
    findings.filter((finding) => isDelayed(finding.check)),
    rcpt,
    config,
  );
  return decision.accept ? { refuse: false, relaxed: decision.relaxed } : { refuse: true, reply: decision.reply, check: decision.check };
}
