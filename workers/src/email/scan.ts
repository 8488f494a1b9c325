// Virus scanning and spam scoring on the Email Routing path: the relay's scan endpoint (relay.scanListener,
// core/scan/answer.ts) asked over HTTPS for every message, with the SCAN_TOKEN secret as bearer token and,
// where the Worker has an [[mtls_certificates]] binding SCAN_MTLS, its client certificate. Anything but a
// valid answer within scan.timeoutMs — refused, a timeout, a 401 or 503, a proxy's page — is an error,
// which the handler turns into a thrown (temporary) failure: never a message forwarded unscanned.
import { readBodyBounded } from "../../../core/bytes/bounded-read.ts";
import { parseScanAnswer, SCAN_ENVELOPE_HEADER, SCAN_ID_HEADER } from "../../../core/scan/answer.ts";
import type { ScanOutcome } from "../../../core/scan/decision.ts";
import type { VerdictEnvelope } from "../../../core/verdict/types.ts";

/** The scan endpoint as the handler asks it. */
export type EdgeScanner = (raw: Uint8Array, envelope: VerdictEnvelope, id: string) => Promise<ScanOutcome>;

/** How much of an error answer goes into the reason (the log line). */
const MAX_REASON = 300;
/** An answer is a few kilobytes (the symbols are bounded); much more is not the relay talking. */
const MAX_ANSWER_BYTES = 256 * 1024;

/** Who makes the request: an mTLS certificate binding (it presents the client certificate), or the global fetch. */
export interface ScanFetcher {
  fetch(url: string, init: RequestInit): Promise<Response>;
}

export function edgeScanner(settings: { url: string; timeoutMs: number }, token: string | undefined, fetcher: ScanFetcher): EdgeScanner {
  const where = `scan endpoint ${new URL(settings.url).origin}`;
  return async (raw, envelope, id) => {
    const error = (detail: string): ScanOutcome => ({ status: "error", detail: `${where}: ${detail}` });
    if (!token) return error("the Worker secret SCAN_TOKEN (the endpoint's bearer token) is not set");
    let response: Response;
    let text: string;
    try {
      response = await fetcher.fetch(settings.url, {
        method: "POST",
        headers: {
          authorization: `Bearer ${token}`,
          "content-type": "message/rfc822",
          [SCAN_ENVELOPE_HEADER]: JSON.stringify(envelope),
          [SCAN_ID_HEADER]: id,
        },
        body: raw,
        signal: AbortSignal.timeout(settings.timeoutMs),
      });
      const body = await readBodyBounded(response.headers, response.body, MAX_ANSWER_BYTES);
      if (body === null) return error(`answer longer than ${MAX_ANSWER_BYTES} bytes`);
      text = new TextDecoder().decode(body);
    } catch (err) {
      const { name, message } = err as Error;
      return error(name === "TimeoutError" || name === "AbortError" ? `no answer within ${settings.timeoutMs} ms` : message);
    }
    if (response.status !== 200) return error(`answered ${response.status}: ${text.trim().slice(0, MAX_REASON)}`);
    const answer = parseScanAnswer(text);
    return typeof answer === "string" ? error(answer) : { status: "answered", answer };
  };
}
