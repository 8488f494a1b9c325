// Reading a byte stream whole, with a bound: every body edgemx reads (HTTP requests, DoH replies,
// routed e-mail) goes through here, so none can exhaust memory.

/** The chunks as one array of `total` bytes (the one chunk itself when there is only one). */
export function concatenated(chunks: readonly Uint8Array[], total: number): Uint8Array {
  if (chunks.length === 1) return chunks[0]!;
  const out = new Uint8Array(total);
  let offset = 0;
  for (const c of chunks) {
    out.set(c, offset);
    offset += c.byteLength;
  }
  return out;
}

/**
 * Reads a stream up to `limit` bytes; null (and the stream cancelled) when it is larger. With the
 * `expected` length (a Content-Length, an e-mail's rawSize) the chunks are copied into one array of
 * that size as they arrive, so a large body is held once, not twice (every chunk, then their
 * concatenation); a stream that sends more than expected is still read whole, up to the limit.
 */
export async function readStreamBounded(stream: ReadableStream<Uint8Array>, limit: number, expected?: number): Promise<Uint8Array | null> {
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let into: Uint8Array | undefined;
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (total + value.byteLength > limit) {
      await reader.cancel();
      return null;
    }
    // A first chunk short of the expected length: the rest goes into one array of that length.
    if (total === 0 && expected !== undefined && value.byteLength < expected && expected <= limit) into = new Uint8Array(expected);
    if (into !== undefined && total + value.byteLength <= into.length) {
      into.set(value, total);
    } else {
      if (into !== undefined) chunks.push(into.subarray(0, total));
      into = undefined;
      chunks.push(value);
    }
    total += value.byteLength;
  }
  if (into !== undefined) return total === into.length ? into : into.subarray(0, total);
  return concatenated(chunks, total);
}

/** RFC 9110 §8.4: a body is the octets sent only without a content coding (a runtime may decode one, growing it unseen). */
function uncoded(headers: Headers): boolean {
  const coding = headers.get("content-encoding");
  return coding === null || coding.trim() === "" || coding.trim().toLowerCase() === "identity";
}

/** Reads a body whose Content-Length may already say it is too large; null when it is. */
export async function readBodyBounded(headers: Headers, body: ReadableStream<Uint8Array> | null, limit: number): Promise<Uint8Array | null> {
  const declared = Number(headers.get("content-length") ?? "NaN");
  if (Number.isFinite(declared) && declared > limit) {
    // Refused unread: cancel the body so the runtime does not wait for the rest of it.
    await body?.cancel();
    return null;
  }
  if (!body) return new Uint8Array();
  if (Number.isSafeInteger(declared) && declared >= 0 && uncoded(headers)) {
    // The length is declared within the bound and the protocol frames the body by it (RFC 9112 §6.3):
    // the runtime reads it natively, in one piece. A JavaScript loop over its 4 KiB chunks costs
    // workerd about a millisecond more per 256 KB (an await per chunk) and copies it once more.
    const bytes = new Uint8Array(await new Response(body).arrayBuffer());
    return bytes.byteLength > limit ? null : bytes;
  }
  return readStreamBounded(body, limit);
}
