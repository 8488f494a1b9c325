// Cloudflare Email Routing: email(message, env, ctx) runs the relay's connection checks on the client
// the trace names and the envelope sender, greylisting (a Durable Object per client network,
// workers/src/greylist/), then the same judge as the verdict API beside the relay's scan endpoint (clamd
// and rspamd, ./scan.ts), and either refuses the message with the reply the relay would give
// (setReject), forwards it to the domain's mailbox, or throws.
//
// This path has no SMTP session of ours: no temporary reply exists here but throwing (Cloudflare then
// answers the sender with a temporary failure, so it retries), and forward() only adds X- fields.
// See docs/email-routing.md for which checks run here and which cannot.
import type { WorkerConfig } from "../../../core/config/worker.ts";
import type { Resolver } from "../../../core/dns/resolver.ts";
import { readStreamBounded } from "../../../core/bytes/bounded-read.ts";
import { dnsblKeys, type DnsblKeys } from "../../../core/dnsbl/dnsbl.ts";
import type { Finding } from "../../../core/smtp/finding.ts";
import { buildReply, formatReply, type SmtpReply } from "../../../core/smtp/replies.ts";
import { newTrackingId } from "../../../core/smtp/tracking-id.ts";
import type { CheckResult, VerdictEnvelope, Verdict } from "../../../core/verdict/types.ts";
import { verdict, type VerdictOptions } from "../../../core/verdict/verdict.ts";
import type { GreylistTriplet } from "../../../core/greylist/greylist.ts";
import { greylistApplies } from "../../../core/smtp/pipeline.ts";
import type { EdgeGreylist } from "../greylist/edge-greylist.ts";
import { decideScanned, type ScanOutcome } from "../../../core/scan/decision.ts";
import { relaxedChecks } from "../../../core/smtp/roles.ts";
import { connectionFindings, decideConnection } from "./connection.ts";
import type { EdgeScanner } from "./scan.ts";
import { clientTrace, connectionTrace } from "./trace.ts";

/** The part of ForwardableEmailMessage the handler uses (workers-types names it so). */
export interface RoutedMessage {
  readonly from: string;
  readonly to: string;
  readonly headers: Headers;
  readonly raw: ReadableStream<Uint8Array>;
  readonly rawSize: number;
  setReject(reason: string): void;
  forward(rcptTo: string, headers?: Headers): Promise<unknown>;
}

/** Thrown to make Cloudflare answer the sender with a temporary failure. */
export class TemporaryFailure extends Error {
  override name = "TemporaryFailure";
}

function domainOf(address: string): string {
  return address.slice(address.lastIndexOf("@") + 1).toLowerCase();
}

/** Our results as X- fields: forward() refuses other names. */
export function forwardHeaders(fields: readonly string[]): Headers {
  const headers = new Headers();
  for (const field of fields) {
    const colon = field.indexOf(":");
    const name = field.slice(0, colon);
    // RFC 5322 §2.2.3: unfold before putting the value in a single header.
    const value = field
      .slice(colon + 1)
      .replace(/\r?\n[ \t]+/g, " ")
      .trim();
    headers.append(name.toLowerCase().startsWith("x-") ? name : `X-Edgemx-${name}`, value);
  }
  return headers;
}

/** What the handler needs of the Worker beyond the configuration. */
export interface EdgeServices {
  /** The judge's DNS: DoH behind the isolate's cache. */
  resolver: Resolver;
  /** A secret of the Worker by name (the access keys of connection.dnsbl.zones[].keySecret). */
  secret: (name: string) => string | undefined;
  /** Greylisting's Durable Objects; null when the Worker has no GREYLIST binding. */
  greylist: EdgeGreylist | null;
  /** The relay's scan endpoint (`scan.url`); null with `scan: none` or no `scan` at all. */
  scanner: EdgeScanner | null;
}

/** MAIL FROM as the event gives it; the null reverse-path (RFC 5321 §4.5.5) as "", however written. */
function mailFromOf(message: RoutedMessage): string {
  return message.from === "<>" ? "" : message.from;
}

export function envelopeOf(message: RoutedMessage): VerdictEnvelope {
  return { ...clientTrace(message.headers), mailFrom: mailFromOf(message), rcptTo: [message.to], direction: "inbound" };
}

/** A refusal as Email Routing can give it: a permanent reply through setReject, a temporary one by throwing. */
function answer(message: RoutedMessage, reply: SmtpReply): void {
  if (reply.code >= 500) message.setReject(formatReply(reply));
  else throw new TemporaryFailure(formatReply(reply));
}

function record(finding: Finding): CheckResult {
  return { check: finding.check, outcome: finding.outcome, detail: finding.detail };
}

/** The access keys of the DNSBL zones that want one; a missing secret defers the mail until it is set. */
function blocklistKeys(config: WorkerConfig, services: EdgeServices): DnsblKeys {
  try {
    return dnsblKeys(config.connection.dnsbl, services.secret);
  } catch (err) {
    throw new TemporaryFailure((err as Error).message);
  }
}

export async function handleRoutedEmail(
  message: RoutedMessage,
  config: WorkerConfig,
  services: EdgeServices,
  options: VerdictOptions = {},
): Promise<Verdict | null> {
  // Virus scanning is not left out by accident: without a scan endpoint the path runs only where the
  // configuration says `scan: none` (the postmaster page then says mail is not scanned for viruses).
  if (config.scan === undefined || (config.scan !== "none" && services.scanner === null))
    throw new TemporaryFailure("scan is not configured: set scan.url to the relay's scan endpoint, or scan: none to forward mail without a virus scan");
  const limit = config.judge.maxMessageBytes;
  // RFC 1870 §4 / RFC 3463 §3.4: 552 5.3.4 for a message over the size limit.
  const tooBig = `552 5.3.4 Message size exceeds fixed maximum message size (${limit} bytes)`;
  if (message.rawSize > limit) {
    message.setReject(tooBig);
    return null;
  }
  const domain = config.domains.find((d) => d.name === domainOf(message.to));
  if (!domain?.forwardTo) {
    // A configuration gap, not the sender's fault: fail temporarily so the mail is not lost meanwhile.
    throw new TemporaryFailure(`no forwardTo is configured for the domain of ${message.to}`);
  }
  const id = options.id ?? newTrackingId();
  const trace = connectionTrace(message.headers);
  const log = (action: string, reply: SmtpReply | null, checks: CheckResult[]): void =>
    console.log(
      JSON.stringify({
        msg: "email routed",
        id,
        from: message.from,
        to: message.to,
        client: trace.clientIp ?? null,
        action,
        reply: reply === null ? null : formatReply(reply),
        checks,
      }),
    );

  // The connection checks, answered as the relay answers them at RCPT TO (a role mailbox spared those it relaxes).
  const findings = await connectionFindings({ trace, mailFrom: mailFromOf(message) }, config, services.resolver, blocklistKeys(config, services));
  const connection = decideConnection(findings, message.to, config);
  const checks = findings.map(record);
  if (connection.refuse) {
    log(connection.reply.code >= 500 ? "reject" : "tempfail", connection.reply, checks);
    answer(message, connection.reply);
    return null;
  }
  for (const check of connection.relaxed) checks.push({ check, outcome: "relaxed", detail: `for ${message.to}` });
  const skipped = findings.filter((finding) => finding.outcome === "skipped").map((finding) => finding.check);

  // Greylisting where the relay does it, at RCPT TO: after the connection checks, for recipients whose
  // role does not relax it. A deferral throws (the sender retries); so does an object that cannot be asked.
  let greylisted: GreylistTriplet | null = null;
  if (greylistApplies(message.to, config)) {
    if (trace.clientIp === undefined) {
      skipped.push("greylist");
      checks.push({ check: "greylist", outcome: "skipped", detail: "no client address in the topmost Received field" });
    } else {
      greylisted = { clientIp: trace.clientIp, sender: mailFromOf(message), recipient: message.to };
      const finding = await greylistFinding(services.greylist, greylisted, id);
      checks.push(record(finding));
      if (finding.outcome === "fail" || finding.outcome === "temporary") {
        log("tempfail", finding.reply, checks);
        answer(message, finding.reply);
      }
    }
  }

  const raw = await readStreamBounded(message.raw, limit, message.rawSize);
  if (raw === null) {
    message.setReject(tooBig);
    return null;
  }
  // No ARC set of ours on this path: forward() takes X- fields only, where a seal validates nothing
  // (Cloudflare seals the forwarded message itself).
  const { arcSealKey: _noSealing, ...judging } = options;
  // The judge and the scan side by side, decided in the relay's order (core/scan/decision.ts).
  const envelope = envelopeOf(message);
  const scanStarted = Date.now();
  const [result, scan] = await Promise.all([
    verdict(raw, envelope, config, services.resolver, { ...judging, id, skipped }),
    services.scanner === null ? Promise.resolve<ScanOutcome>({ status: "not configured" }) : services.scanner(raw, envelope, id),
  ]);
  const scanMs = Date.now() - scanStarted;
  const decision = decideScanned(result, scan, relaxedChecks([message.to], config).has("spam"));
  log(decision.action, decision.action === "accept" ? result.reply : decision.reply, [...checks, ...result.checks, scanCheck(scan, scanMs)]);
  if (decision.action === "reject") message.setReject(formatReply(decision.reply));
  else if (decision.action === "tempfail") throw new TemporaryFailure(formatReply(decision.reply));
  else {
    await message.forward(domain.forwardTo, forwardHeaders(decision.headers));
    // Counted towards the network's auto-allow once forwarded. A failure here must not throw: the message
    // is delivered, and a throw would have Cloudflare ask the sender to send it again.
    if (greylisted !== null)
      await services.greylist
        ?.delivered(greylisted)
        .catch((err: unknown) => console.error(JSON.stringify({ msg: "greylist count not recorded", id, error: String(err) })));
  }
  return result;
}

/**
 * The scan as the log line records it: clamd's and rspamd's results, or why there are none, and the
 * time the scan took (Worker wall time, beside the judge).
 */
function scanCheck(scan: ScanOutcome, ms: number): CheckResult {
  if (scan.status === "not configured") return { check: "scan", outcome: "skipped", detail: "scan: none" };
  if (scan.status === "error") return { check: "scan", outcome: "temporary", detail: `${scan.detail} (${ms} ms)` };
  const { virus, spam } = scan.answer;
  const found = virus.status === "infected" ? `infected ${virus.signature}` : "clean";
  return { check: "scan", outcome: virus.status === "infected" ? "fail" : "pass", detail: `${found}; rspamd ${spam.action} ${spam.score} (${ms} ms)` };
}

/**
 * The greylisting finding of a triplet. A missing binding, or an object that cannot be asked, is
 * temporary with the relay's reply for its store failing (docs/greylisting.md, "When the store fails"):
 * never a pass because greylisting could not run.
 */
async function greylistFinding(greylist: EdgeGreylist | null, triplet: GreylistTriplet, id: string): Promise<Finding> {
  const temporary = (detail: string): Finding => ({ check: "greylist", outcome: "temporary", reply: buildReply("tempfail", { id }), detail });
  if (greylist === null) return temporary("connection.greylist.enabled is true, but the Worker has no GREYLIST Durable Object binding (wrangler.toml)");
  try {
    return await greylist.check(triplet);
  } catch (err) {
    return temporary(`greylist Durable Object: ${(err as Error).message}`);
  }
}
