// Inflating a gzip member (RFC 1952) with a bound, through the platform's DecompressionStream (workerd
// and Node alike): a gzip bomb stops after `limit` bytes, whatever size the member's trailer claims.
import { readStreamBounded } from "./bounded-read.ts";

/** The inflated bytes; null when they would exceed `limit`; an Error when the input is not gzip or is truncated. */
export async function gunzipBounded(bytes: Uint8Array, limit: number): Promise<Uint8Array | null | Error> {
  const inflated = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream().pipeThrough(new DecompressionStream("gzip"));
  try {
    return await readStreamBounded(inflated, limit);
  } catch (err) {
    return err instanceof Error ? err : new Error(String(err));
  }
}

/** RFC 1952 §2.3.1: ID1 ID2 = 0x1f 0x8b. */
export function looksGzipped(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}
