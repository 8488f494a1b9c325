// Cloudflare Email Routing: email(message, env, ctx) runs the same judge as the verdict API and either
// refuses the message with the judge's reply (setReject) or forwards it to the domain's mailbox.
//
// This path has no SMTP session of ours: no temporary reply exists here but throwing (Cloudflare then
// answers the sender with a temporary failure, so it retries), and forward() only adds X- fields.
// See docs/email-routing.md for which checks run here and which cannot.
import type { WorkerConfig } from "../../../core/config/worker.ts";
import type { Resolver } from "../../../core/dns/resolver.ts";
import { readStreamBounded } from "../../../core/bytes/bounded-read.ts";
import { formatReply } from "../../../core/smtp/replies.ts";
import type { VerdictEnvelope, Verdict } from "../../../core/verdict/types.ts";
import { verdict, type VerdictOptions } from "../../../core/verdict/verdict.ts";
import { clientTrace } from "./trace.ts";

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
export function forwardHeaders(result: Verdict): Headers {
  const headers = new Headers();
  for (const field of result.headers) {
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

export function envelopeOf(message: RoutedMessage): VerdictEnvelope {
  return { ...clientTrace(message.headers), mailFrom: message.from, rcptTo: [message.to], direction: "inbound" };
}

export async function handleRoutedEmail(
  message: RoutedMessage,
  config: WorkerConfig,
  resolver: Resolver,
  options: VerdictOptions = {},
): Promise<Verdict | null> {
  const limit = config.judge.maxMessageBytes;
  // RFC 1870 §4 / RFC 3463 §3.4: 552 5.3.4 for a message over the size limit.
  const tooBig = `552 5.3.4 Message size exceeds fixed maximum message size (${limit} bytes)`;
  if (message.rawSize > limit) {
    message.setReject(tooBig);
    return null;
  }
  const raw = await readStreamBounded(message.raw, limit, message.rawSize);
  if (raw === null) {
    message.setReject(tooBig);
    return null;
  }
  const envelope = envelopeOf(message);
  const domain = config.domains.find((d) => d.name === domainOf(message.to));
  if (!domain?.forwardTo) {
    // A configuration gap, not the sender's fault: fail temporarily so the mail is not lost meanwhile.
    throw new TemporaryFailure(`no forwardTo is configured for the domain of ${message.to}`);
  }
  // No ARC set of ours on this path: forward() takes X- fields only, where a seal validates nothing
  // (Cloudflare seals the forwarded message itself).
  const { arcSealKey: _noSealing, ...judging } = options;
  const result = await verdict(raw, envelope, config, resolver, judging);
  console.log(
    JSON.stringify({
      msg: "email routed",
      id: result.id,
      from: message.from,
      to: message.to,
      client: envelope.clientIp ?? null,
      action: result.action,
      reply: formatReply(result.reply),
      checks: result.checks,
    }),
  );
  if (result.action === "reject") message.setReject(formatReply(result.reply));
  else if (result.action === "tempfail") throw new TemporaryFailure(formatReply(result.reply));
  else await message.forward(domain.forwardTo, forwardHeaders(result));
  return result;
}
