// The scan endpoint's contract (docs/relay.md, "The scan endpoint"): Email Routing's email() POSTs the raw
// message to the relay's /v1/scan with a bearer token, the envelope as JSON in the Edgemx-Envelope header
// (the verdict API's envelope, core/verdict/envelope.ts) and the tracking id in Edgemx-Id; the relay runs
// clamd and rspamd on it side by side and answers a ScanAnswer as JSON. Both halves use these types: the
// relay writes an answer, the Worker reads one back validated (parseScanAnswer), so a relay of another
// version or a proxy's error page is an error, never a pass.
import { z } from "zod";

export const SCAN_PATH = "/v1/scan";
/** The envelope as JSON (core/verdict/envelope.ts's schema), as the verdict API takes it. */
export const SCAN_ENVELOPE_HEADER = "edgemx-envelope";
/** The tracking id of the message (XXXXX-XX), rspamd's Queue-Id and the relay's log line name it. */
export const SCAN_ID_HEADER = "edgemx-id";

/** rspamd's actions (https://rspamd.com/doc/faq.html#what-are-rspamd-actions). */
export const RSPAMD_ACTIONS = ["no action", "greylist", "add header", "rewrite subject", "soft reject", "reject"] as const;
export type RspamdActionName = (typeof RSPAMD_ACTIONS)[number];

/** Bounds of what an answer carries: rspamd's symbols, a symbol's name, a virus's name. */
const MAX_SYMBOLS = 200;
const MAX_NAME = 128;

const scanAnswerSchema = z
  .object({
    virus: z.discriminatedUnion("status", [
      z.object({ status: z.literal("clean") }).strict(),
      z.object({ status: z.literal("infected"), signature: z.string().min(1).max(MAX_NAME) }).strict(),
    ]),
    spam: z
      .object({
        action: z.enum(RSPAMD_ACTIONS),
        score: z.number().finite(),
        requiredScore: z.number().finite(),
        /** Highest absolute score first, symbols with a score only. */
        symbols: z.array(z.object({ name: z.string().min(1).max(MAX_NAME), score: z.number().finite() }).strict()).max(MAX_SYMBOLS),
      })
      .strict(),
  })
  .strict();

/** What the scan endpoint answers with 200: clamd's result and rspamd's. */
export type ScanAnswer = z.output<typeof scanAnswerSchema>;

/** What it answers otherwise (400, 401, 413, 503 …): why. */
export interface ScanRefusal {
  error: string;
}

/** The answer read from JSON text, or why it is not one ("spam.score: expected number …"). */
export function parseScanAnswer(text: string): ScanAnswer | string {
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch {
    return "the answer is not JSON";
  }
  const result = scanAnswerSchema.safeParse(document);
  if (result.success) return result.data;
  const first = result.error.issues[0];
  return `${first?.path.join(".") || "answer"}: ${first?.message ?? "invalid"}`;
}

/** At most this many symbols go into an answer (the rest are the lowest scores). */
export function boundedSymbols(symbols: readonly { name: string; score: number }[]): ScanAnswer["spam"]["symbols"] {
  return symbols
    .filter((symbol) => symbol.score !== 0)
    .slice(0, MAX_SYMBOLS)
    .map((symbol) => ({ name: symbol.name.slice(0, MAX_NAME), score: symbol.score }));
}
