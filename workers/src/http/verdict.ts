// POST /v1/verdict: the judge behind a bearer token. The raw message is the body (or the "message"
// part of a multipart/form-data body); the envelope is JSON in the Edgemx-Envelope header (or the
// "envelope" part). The answer is the Verdict as JSON.
import type { WorkerConfig } from "../../../core/config/worker.ts";
import type { Env } from "../runtime/env.ts";
import type { Resolver } from "../../../core/dns/resolver.ts";
import { parseEnvelope } from "../../../core/verdict/envelope.ts";
import type { VerdictEnvelope } from "../../../core/verdict/types.ts";
import { verdict, type VerdictOptions } from "../../../core/verdict/verdict.ts";
import { secretsEqual } from "../runtime/secrets.ts";
import { plain, readBounded } from "./respond.ts";

export const ENVELOPE_HEADER = "edgemx-envelope";
/** The envelope header is JSON of at most this many bytes; larger envelopes go in a multipart part. */
const MAX_ENVELOPE_HEADER = 64 * 1024;

/**
 * RFC 6750 §2.1: "Authorization: Bearer <token>"; checked against the VERDICT_TOKEN secret. The
 * scheme name is case-insensitive (RFC 9110 §11.1), the token is not.
 */
async function authorized(request: Request, env: Env): Promise<Response | null> {
  if (!env.VERDICT_TOKEN) return plain(503, "The verdict API is not configured: set the VERDICT_TOKEN secret");
  const match = /^Bearer +([\x21-\x7e]+)$/i.exec(request.headers.get("authorization") ?? "");
  if (!match || !(await secretsEqual(match[1]!, env.VERDICT_TOKEN))) {
    return plain(401, "A valid bearer token is required", { "www-authenticate": 'Bearer realm="edgemx verdict"' });
  }
  return null;
}

interface VerdictInput {
  raw: Uint8Array;
  envelope: VerdictEnvelope;
}

async function readMultipart(request: Request, body: Uint8Array): Promise<VerdictInput | string> {
  let form: FormData;
  try {
    form = await new Response(body, { headers: { "content-type": request.headers.get("content-type") ?? "" } }).formData();
  } catch {
    return "the multipart body cannot be parsed";
  }
  const message = form.get("message");
  const envelopeText = form.get("envelope");
  if (message === null || typeof message === "string") return 'the multipart body needs a "message" file part';
  const envelopeString = typeof envelopeText === "string" ? envelopeText : envelopeText ? await envelopeText.text() : null;
  if (envelopeString === null) return 'the multipart body needs an "envelope" part';
  const envelope = parseEnvelopeJson(envelopeString);
  if (typeof envelope === "string") return envelope;
  return { raw: new Uint8Array(await message.arrayBuffer()), envelope };
}

function parseEnvelopeJson(text: string): VerdictEnvelope | string {
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch {
    return "the envelope is not JSON";
  }
  return parseEnvelope(document);
}

async function readInput(request: Request, limit: number): Promise<VerdictInput | Response> {
  const isMultipart = /^multipart\/form-data\b/i.test(request.headers.get("content-type") ?? "");
  const headerEnvelope = request.headers.get(ENVELOPE_HEADER);
  if (!isMultipart && headerEnvelope === null)
    return plain(400, `The envelope is missing: send it as JSON in the ${ENVELOPE_HEADER} header or as a multipart "envelope" part`);
  if (headerEnvelope !== null && headerEnvelope.length > MAX_ENVELOPE_HEADER) return plain(431, "The envelope header is too large");
  // Multipart adds a little framing around the message; allow it on top of the message bound.
  const body = await readBounded(request, isMultipart ? limit + MAX_ENVELOPE_HEADER : limit);
  if (body === null) return plain(413, `The message is larger than ${limit} bytes`);
  const input = isMultipart
    ? await readMultipart(request, body)
    : (() => {
        const envelope = parseEnvelopeJson(headerEnvelope ?? "");
        return typeof envelope === "string" ? envelope : { raw: body, envelope };
      })();
  if (typeof input === "string") return plain(400, `Bad verdict request: ${input}`);
  if (input.raw.byteLength > limit) return plain(413, `The message is larger than ${limit} bytes`);
  return input;
}

export async function serveVerdict(request: Request, config: WorkerConfig, env: Env, resolver: Resolver, options: VerdictOptions = {}): Promise<Response> {
  const refusal = await authorized(request, env);
  if (refusal) return refusal;
  const input = await readInput(request, config.judge.maxMessageBytes);
  if (input instanceof Response) return input;
  const result = await verdict(input.raw, input.envelope, config, resolver, options);
  return new Response(JSON.stringify(result), { status: 200, headers: { "content-type": "application/json", "cache-control": "no-store" } });
}
