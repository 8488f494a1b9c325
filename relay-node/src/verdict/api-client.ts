// The client of the Worker's verdict API (docs/verdict-api.md): POST /v1/verdict with the raw message
// as the body, the envelope as JSON in the Edgemx-Envelope header (a multipart body when the envelope
// is too large for a header), the token as a bearer token (RFC 6750 §2.1). Connections are kept
// alive between messages. Anything but a 200 with a well-formed verdict — a refused token, a 5xx, a
// timeout, a reset — is an outage, which the session answers with a 451 (fail closed, never accept).
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from "node:http";
import { Agent as HttpsAgent, request as httpsRequest } from "node:https";
import { randomBytes } from "node:crypto";
import type { VerdictEnvelope, Verdict } from "../../../core/verdict/types.ts";
import { dmarcEvaluationOf } from "../../../core/dmarcrpt/evaluation.ts";
import { allowHitsOf } from "../../../core/verdict/envelope.ts";

/** `cpuSeconds`: the judge's own CPU time for the verdict, where it can be told apart (the judge pool's threads). */
export type VerdictOutcome = { ok: true; verdict: Verdict; cpuSeconds?: number } | { ok: false; detail: string };

export interface VerdictClientSettings {
  url: string;
  timeoutMs: number;
  token: string;
}

export interface VerdictClient {
  ask(raw: Uint8Array, envelope: VerdictEnvelope): Promise<VerdictOutcome>;
  close(): void;
}

/**
 * The largest envelope sent as a header. The API takes 64 KiB there (workers/src/http/verdict.ts), but
 * what stands in front of it may not (Cloudflare bounds all request headers together at 32 KB, nginx
 * a header line at 8 KB): larger envelopes — many recipients — go as a multipart body.
 */
const MAX_ENVELOPE_HEADER = 8 * 1024;
/** A verdict is a few kilobytes of JSON (headers, checks); a much longer answer is not one. */
const MAX_RESPONSE_BYTES = 1024 * 1024;
/** Whether a parsed JSON body has the shape of a Verdict (core/verdict/types.ts). */
export function isVerdict(value: unknown): value is Verdict {
  if (typeof value !== "object" || value === null) return false;
  const v = value as Record<string, unknown>;
  const reply = v.reply as Record<string, unknown> | undefined;
  return (
    (v.action === "accept" || v.action === "reject" || v.action === "tempfail") &&
    typeof reply === "object" &&
    reply !== null &&
    typeof reply.code === "number" &&
    typeof reply.enhanced === "string" &&
    typeof reply.text === "string" &&
    typeof v.id === "string" &&
    Array.isArray(v.headers) &&
    v.headers.every((h) => typeof h === "string") &&
    Array.isArray(v.marks) &&
    Array.isArray(v.checks)
  );
}

/**
 * The verdict with its DMARC evaluation only when that has the evaluation's shape: the relay stores it
 * for its reports, and an API of another version must not put anything else there. A verdict without
 * one is still a verdict (no report counts the message).
 */
function withCheckedDmarc(verdict: Verdict): Verdict {
  const { dmarc, allowlisted, ...rest } = verdict;
  const checked = dmarc === undefined ? undefined : dmarcEvaluationOf(dmarc);
  // The sender entries the judge matched spare rspamd's reject too: only well-formed ones count.
  const hits = allowlisted === undefined ? undefined : allowHitsOf(allowlisted);
  return { ...rest, ...(checked === undefined ? {} : { dmarc: checked }), ...(hits === undefined ? {} : { allowlisted: hits }) };
}

interface Body {
  headers: Record<string, string>;
  chunks: Buffer[];
}

/** Raw body with the envelope header, or RFC 7578 multipart/form-data when the envelope is large. */
function requestBody(raw: Uint8Array, envelope: VerdictEnvelope): Body {
  const json = JSON.stringify(envelope);
  const message = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
  if (Buffer.byteLength(json) <= MAX_ENVELOPE_HEADER) {
    return { headers: { "content-type": "message/rfc822", "edgemx-envelope": json }, chunks: [message] };
  }
  const boundary = `edgemx-${randomBytes(12).toString("hex")}`;
  const head = `--${boundary}\r\ncontent-disposition: form-data; name="envelope"\r\ncontent-type: application/json\r\n\r\n${json}\r\n--${boundary}\r\ncontent-disposition: form-data; name="message"; filename="message.eml"\r\ncontent-type: message/rfc822\r\n\r\n`;
  return {
    headers: { "content-type": `multipart/form-data; boundary=${boundary}` },
    chunks: [Buffer.from(head), message, Buffer.from(`\r\n--${boundary}--\r\n`)],
  };
}

async function readResponse(response: IncomingMessage): Promise<string | null> {
  const chunks: Buffer[] = [];
  let length = 0;
  for await (const chunk of response as AsyncIterable<Buffer>) {
    length += chunk.length;
    if (length > MAX_RESPONSE_BYTES) {
      response.destroy();
      return null;
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString("utf8");
}

export function createVerdictClient(settings: VerdictClientSettings): VerdictClient {
  const url = new URL(settings.url);
  const secure = url.protocol === "https:";
  const agent = secure ? new HttpsAgent({ keepAlive: true }) : new HttpAgent({ keepAlive: true });
  const request = secure ? httpsRequest : httpRequest;
  const where = `verdict API ${url.origin}`;

  const ask = (raw: Uint8Array, envelope: VerdictEnvelope): Promise<VerdictOutcome> =>
    new Promise((resolve) => {
      const body = requestBody(raw, envelope);
      const length = body.chunks.reduce((sum, chunk) => sum + chunk.length, 0);
      const req = request(url, {
        method: "POST",
        agent,
        signal: AbortSignal.timeout(settings.timeoutMs),
        headers: { ...body.headers, "content-length": String(length), authorization: `Bearer ${settings.token}` },
      });
      req.on("error", (err) =>
        resolve({ ok: false, detail: `${where}: ${err.name === "AbortError" ? `no answer within ${settings.timeoutMs} ms` : err.message}` }),
      );
      req.on("response", (response) => {
        readResponse(response).then(
          (text) => {
            if (response.statusCode !== 200) return resolve({ ok: false, detail: `${where} answered ${response.statusCode}: ${(text ?? "").slice(0, 200)}` });
            if (text === null) return resolve({ ok: false, detail: `${where}: answer longer than ${MAX_RESPONSE_BYTES} bytes` });
            let parsed: unknown;
            try {
              parsed = JSON.parse(text);
            } catch {
              return resolve({ ok: false, detail: `${where}: the answer is not JSON` });
            }
            resolve(isVerdict(parsed) ? { ok: true, verdict: withCheckedDmarc(parsed) } : { ok: false, detail: `${where}: the answer is not a verdict` });
          },
          (err: unknown) => resolve({ ok: false, detail: `${where}: ${err instanceof Error ? err.message : String(err)}` }),
        );
      });
      for (const chunk of body.chunks) req.write(chunk);
      req.end();
    });

  return { ask, close: () => agent.destroy() };
}
