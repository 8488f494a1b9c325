// A sink that keeps what is written to it up to a limit and fails the stream past it, so that a
// decompression bomb is stopped after `limit` bytes however small its input or however it lies about
// its size: the producer is cancelled, nothing more is inflated.
import { concatenated } from "../bytes/bounded-read.ts";

export interface BoundedSink {
  writable: WritableStream<Uint8Array>;
  /** True once more than the limit was offered. */
  overflowed(): boolean;
  /** Everything written, in one array. */
  bytes(): Uint8Array;
}

export function boundedSink(limit: number): BoundedSink {
  const chunks: Uint8Array[] = [];
  let size = 0;
  let overflowed = false;
  const writable = new WritableStream<Uint8Array>({
    write(chunk) {
      size += chunk.byteLength;
      if (size > limit) {
        overflowed = true;
        throw new RangeError(`more than ${limit} bytes`);
      }
      chunks.push(chunk);
    },
  });
  return {
    writable,
    overflowed: () => overflowed,
    bytes: () => concatenated(chunks, size),
  };
}
