// Small response helpers shared by the endpoint modules: plain reasons for every refusal.
import { readBodyBounded } from "../../../core/bytes/bounded-read.ts";

export function plain(status: number, body: string, headers: Record<string, string> = {}): Response {
  return new Response(body.endsWith("\n") ? body : `${body}\n`, {
    status,
    headers: { "content-type": "text/plain; charset=utf-8", "cache-control": "no-store", ...headers },
  });
}

export const notFound = (what: string): Response => plain(404, `Not found: ${what}`);

export const methodNotAllowed = (allowed: readonly string[]): Response =>
  plain(405, `Method not allowed; use ${allowed.join(" or ")}`, { allow: allowed.join(", ") });

/** Reads a request body up to `limit` bytes; null when it is larger (the caller answers 413). */
export function readBounded(request: Request, limit: number): Promise<Uint8Array | null> {
  return readBodyBounded(request.headers, request.body, limit);
}
