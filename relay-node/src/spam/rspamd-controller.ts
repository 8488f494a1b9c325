// rspamd's controller (https://rspamd.com/doc/workers/controller.html): POST /learnspam and /learnham
// teach the Bayes classifier, POST /fuzzyadd stores a message's fuzzy hashes under a flag. It answers
// 200 when learned, 208 when the message was already learned as that class, 204 when the classifier
// declined it (too few tokens, or Bayes already puts it in that class), and asks for the `Password:`
// header unless the client is one of its `secure_ip`s. The password comes from EDGEMX_RSPAMD_PASSWORD
// and never reaches a log.
import { Agent as HttpAgent, request as httpRequest, type OutgoingHttpHeaders } from "node:http";
import { Agent as HttpsAgent, request as httpsRequest } from "node:https";
import { readBoundedBody } from "./rspamd.ts";

/** The environment variable holding the controller's password (rspamd's `password`/`enable_password`). */
export const RSPAMD_PASSWORD_ENV = "EDGEMX_RSPAMD_PASSWORD";

export type LearnClass = "spam" | "ham";

export type LearnOutcome =
  | { status: "learned" }
  /** 208: learned as this class before (rspamd keeps the message digests it learned). */
  | { status: "already-learned"; detail: string }
  /** 204: rspamd would not learn it: too few tokens, or its Bayes already puts it in that class (learn condition). */
  | { status: "declined"; detail: string }
  | { status: "error"; detail: string };

export interface ControllerSettings {
  url: string;
  password: string | undefined;
  timeoutMs: number;
}

export interface RspamdController {
  /** `headers`: the envelope as rspamd's protocol headers (rspamdHeaders), when known. */
  learn(kind: LearnClass, message: Uint8Array, headers?: OutgoingHttpHeaders): Promise<LearnOutcome>;
  /** Stores the message's fuzzy hashes with `flag` (a fuzzy_check rule's fuzzy_map) and `weight`. */
  fuzzyAdd(message: Uint8Array, flag: number, weight: number): Promise<LearnOutcome>;
  close(): void;
}

/** A controller reply: a short JSON object; anything much longer is not one. */
const MAX_REPLY_BYTES = 64 * 1024;

/** The status line's reason or the JSON body's "error", whichever says more. */
function reasonOf(statusMessage: string | undefined, body: string | null): string {
  try {
    const parsed = JSON.parse(body ?? "") as { error?: unknown };
    if (typeof parsed.error === "string") return parsed.error;
  } catch {
    // not JSON: the status line says it
  }
  return statusMessage ?? "";
}

export function createRspamdController(settings: ControllerSettings): RspamdController {
  const base = new URL(settings.url.endsWith("/") ? settings.url : `${settings.url}/`);
  const secure = base.protocol === "https:";
  const agent = secure ? new HttpsAgent({ keepAlive: true }) : new HttpAgent({ keepAlive: true });
  const request = secure ? httpsRequest : httpRequest;
  const where = `rspamd controller ${base.origin}`;

  const post = (path: string, message: Uint8Array, headers: OutgoingHttpHeaders): Promise<LearnOutcome> =>
    new Promise((resolve) => {
      const req = request(new URL(path, base), {
        method: "POST",
        agent,
        signal: AbortSignal.timeout(settings.timeoutMs),
        headers: { ...headers, ...(settings.password ? { Password: settings.password } : {}), "content-length": String(message.byteLength) },
      });
      const fail = (detail: string): void => resolve({ status: "error", detail: `${where}: ${detail}` });
      req.on("error", (err) => fail(err.name === "AbortError" ? `no answer within ${settings.timeoutMs} ms` : err.message));
      req.on("response", (response) => {
        // rspamd 3.4 sends a body with its 204 (RFC 9110 §15.3.5: a 204 has none), which node's parser
        // then reports as an error: the status line says it all, so answer at once.
        if (response.statusCode === 204) {
          resolve({ status: "declined", detail: response.statusMessage ?? "" });
          response.resume();
          return;
        }
        readBoundedBody(response, MAX_REPLY_BYTES).then(
          (body) => {
            const reason = reasonOf(response.statusMessage, body);
            switch (response.statusCode) {
              case 200:
                return resolve({ status: "learned" });
              case 208:
                return resolve({ status: "already-learned", detail: reason });
              default:
                return fail(`${path} answered ${response.statusCode}: ${reason.slice(0, 200)}`);
            }
          },
          (err: unknown) => fail(err instanceof Error ? err.message : String(err)),
        );
      });
      req.end(message);
    });

  return {
    learn: (kind, message, headers = {}) => post(kind === "spam" ? "learnspam" : "learnham", message, headers),
    fuzzyAdd: (message, flag, weight) => post("fuzzyadd", message, { Flag: String(flag), Weight: String(weight) }),
    close: () => agent.destroy(),
  };
}
