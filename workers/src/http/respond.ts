// Small response helpers shared by the endpoint modules: plain reasons for every refusal.

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
export async function readBounded(request: Request, limit: number): Promise<Uint8Array | null> {
  const declared = Number(request.headers.get("content-length") ?? "NaN");
  if (Number.isFinite(declared) && declared > limit) {
    // Refused unread: cancel the body so the runtime does not wait for the rest of the upload.
    await request.body?.cancel();
    return null;
  }
  return request.body ? readStreamBounded(request.body, limit) : new Uint8Array();
}

/** Reads a byte stream up to `limit` bytes; null (and the stream cancelled) when it is larger. */
export async function readStreamBounded(stream: ReadableStream<Uint8Array>, limit: number): Promise<Uint8Array | null> {
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > limit) {
      await reader.cancel();
      return null;
    }
    chunks.push(value);
  }
  const out = new Uint8Array(total);
  let offset = 0;
  for (const c of chunks) {
    out.set(c, offset);
    offset += c.byteLength;
  }
  return out;
}

/** XML 1.0 §2.4 character data and attribute values: escape the five markup characters. */
export function xmlEscape(text: string): string {
  return text.replace(/[<>&'"]/g, (c) => ({ "<": "&lt;", ">": "&gt;", "&": "&amp;", "'": "&apos;", '"': "&quot;" })[c] ?? c);
}

/** HTML text and attribute values use the same escapes. */
export const htmlEscape = xmlEscape;
