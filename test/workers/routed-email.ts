// Messages as Cloudflare Email Routing hands them to the Worker's email(), for the tests inside workerd:
// the event's message object recording what the handler does with it, and the configuration variants.
import { env } from "cloudflare:workers";
import type { Env } from "../../workers/src/runtime/env.ts";
import { DKIM_PRIVATE_KEY_PEM } from "../harness/dkim-key.ts";
import { TEST_DNS } from "../harness/zones.ts";
import { dkimSign } from "../../core/mailauth/internals.ts";

export const testEnv = env as Cloudflare.Env & Env;
const { sender } = TEST_DNS;
const utf8 = new TextEncoder();
/** A tracking id of the specification's shape, as a regular expression. */
export const ID = String.raw`\d{5}-\d{2}`;

/** The example configuration with sections changed (each merged into the example's), as the EDGEMX_CONFIG var. */
export function configWith(sections: Record<string, Record<string, unknown>>): string {
  const document = JSON.parse(testEnv.EDGEMX_CONFIG!) as Record<string, Record<string, unknown> | undefined>;
  const merged = Object.fromEntries(Object.entries(sections).map(([name, fields]) => [name, { ...document[name], ...fields }]));
  return JSON.stringify({ ...document, ...merged });
}

/**
 * The connection checks against the test zones: the example's Spamhaus zone is unreachable offline (the
 * harness's resolver refuses every name outside the test zones), the test DNSBL stands in for it.
 * Greylisting is off here, or every first message of a client would be deferred; email-greylist.test.ts
 * turns it on.
 */
export const TEST_CONNECTION = { dnsbl: { action: "reject", zones: [{ zone: TEST_DNS.dnsbl.zone }] }, greylist: { enabled: false } };

/** The example configuration with some of its judge settings changed, as the EDGEMX_CONFIG var. */
export function configVar(judge: Record<string, unknown>): string {
  return configWith({ judge });
}

export function compose(from: string, options: { to?: string; extraHeaders?: string[] } = {}): string {
  return [
    ...(options.extraHeaders ?? []),
    `From: <${from}>`,
    `To: <${options.to ?? "bob@example.org"}>`,
    "Subject: Hello",
    "Date: Mon, 01 Jun 2026 10:00:00 +0000",
    `Message-ID: <${crypto.randomUUID()}@${from.slice(from.indexOf("@") + 1)}>`,
    "",
    "Hello Bob",
    "",
  ].join("\r\n");
}

export async function signed(text: string): Promise<string> {
  const signature = { signingDomain: sender.domain, selector: sender.dkimSelector, privateKey: DKIM_PRIVATE_KEY_PEM };
  return (await dkimSign(text, { ...signature, signatureData: [signature] })).signatures + text;
}

/** The header section as Email Routing hands it over: unfolded fields, repeated ones appended. */
function headersOf(raw: string): Headers {
  const headers = new Headers();
  const section = raw.slice(0, raw.indexOf("\r\n\r\n")).replace(/\r\n[ \t]+/g, " ");
  for (const line of section.split("\r\n")) {
    const colon = line.indexOf(":");
    headers.append(line.slice(0, colon), line.slice(colon + 1).trim());
  }
  return headers;
}

export interface Calls {
  rejected: string[];
  forwarded: { rcptTo: string; headers: Headers | undefined }[];
}

/** A ForwardableEmailMessage as workerd hands it to email(), recording what the handler does with it. */
export function routed(raw: string, options: { from?: string; to?: string; rawSize?: number } = {}): { message: ForwardableEmailMessage; calls: Calls } {
  const bytes = utf8.encode(raw);
  const calls: Calls = { rejected: [], forwarded: [] };
  const message: ForwardableEmailMessage = {
    from: options.from ?? `alice@${sender.domain}`,
    to: options.to ?? "bob@example.org",
    headers: headersOf(raw),
    raw: new Blob([bytes]).stream() as ReadableStream<Uint8Array>,
    rawSize: options.rawSize ?? bytes.byteLength,
    canBeForwarded: true,
    setReject(reason: string) {
      calls.rejected.push(reason);
    },
    forward(rcptTo: string, headers?: Headers) {
      calls.forwarded.push({ rcptTo, headers });
      return Promise.resolve({ messageId: "<forwarded@example.net>" });
    },
    reply() {
      return Promise.reject(new Error("the handler never replies"));
    },
  };
  return { message, calls };
}

/** The topmost Received field as Cloudflare writes it (docs/email-routing.md, "What the trace field carries"). */
export const cloudflareReceived = (helo: string, ip: string) =>
  `Received: from ${helo} (${ip}) by cloudflare-email.net (cloudflare) id Xy7aB2cD9eF1 for <bob@example.org>; Mon, 01 Jun 2026 10:00:01 +0000`;

/** A DKIM-signed message of sender.test from `ip` greeting with `helo`, as Email Routing hands it over. */
export async function fromClient(ip: string, helo: string = sender.mailHost, options: { from?: string; to?: string } = {}) {
  const from = options.from ?? `alice@${sender.domain}`;
  const to = options.to ?? "bob@example.org";
  return routed(await signed(compose(from, { to, extraHeaders: [cloudflareReceived(helo, ip)] })), { from, to });
}
