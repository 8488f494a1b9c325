// Reading a byte stream whole, with a bound: every body edgemx reads (HTTP requests, DoH replies,
// routed e-mail) goes through here, so none can exhaust memory.

/** Reads a stream up to `limit` bytes; null (and the stream cancelled) when it is larger. */
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
  if (chunks.length === 1) return chunks[0]!;
  const out = new Uint8Array(total);
  let offset = 0;
  for (const c of chunks) {
    out.set(c, offset);
    offset += c.byteLength;
  }
  return out;
}

/** Reads a body whose Content-Length may already say it is too large; null when it is. */
export async function readBodyBounded(headers: Headers, body: ReadableStream<Uint8Array> | null, limit: number): Promise<Uint8Array | null> {
  const declared = Number(headers.get("content-length") ?? "NaN");
  if (Number.isFinite(declared) && declared > limit) {
    // Refused unread: cancel the body so the runtime does not wait for the rest of it.
    await body?.cancel();
    return null;
  }
  return body ? readStreamBounded(body, limit) : new Uint8Array();
}
