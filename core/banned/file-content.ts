// The content of a file the banned-content judge looks at: bytes it already has (an archive entry), or
// a MIME part's encoded body that is decoded only as far as it is read. Sniffing a type needs the
// first few KiB; only containers that are opened, and the rare detection that looks further, need the
// whole file decoded — so a large attachment of an allowed type is never decoded in full.
import { decodeContent, decodedSizeBound, type TransferMechanism } from "./decode.ts";

export interface FileHead {
  /** The first octets, at most as many as asked for. */
  bytes: Uint8Array;
  /** True when they are the whole file. */
  complete: boolean;
}

export interface FileContent {
  /** Its size in octets, or an upper bound of it while it is not decoded. */
  readonly sizeBound: number;
  /** The first `length` octets (the whole file when it is shorter). */
  head(length: number): FileHead;
  /** All of it, decoded once. */
  whole(): Uint8Array;
  /** Lets go of what was decoded (the judge is done with the file). */
  release(): void;
}

/** Content already in memory. */
export function bytesContent(bytes: Uint8Array): FileContent {
  return {
    sizeBound: bytes.length,
    head: (length) => ({ bytes: length >= bytes.length ? bytes : bytes.subarray(0, length), complete: length >= bytes.length }),
    whole: () => bytes,
    release: () => undefined,
  };
}

/** The content of a part's body `encoded` (a view into the message), decoded on demand. */
export function encodedContent(mechanism: TransferMechanism, encoded: Uint8Array): FileContent {
  if (mechanism === "identity") return bytesContent(encoded);
  let decoded: Uint8Array | undefined;
  let lastHead: { length: number; head: FileHead } | undefined;
  return {
    get sizeBound() {
      return decoded?.length ?? decodedSizeBound(mechanism, encoded.length);
    },
    head(length) {
      if (decoded !== undefined) return bytesContent(decoded).head(length);
      if (lastHead?.length === length) return lastHead.head;
      // One octet more than asked tells whether there is more.
      const bytes = decodeContent(mechanism, encoded, length + 1);
      if (bytes.length <= length) {
        decoded = bytes;
        return { bytes, complete: true };
      }
      lastHead = { length, head: { bytes: bytes.subarray(0, length), complete: false } };
      return lastHead.head;
    },
    whole() {
      lastHead = undefined;
      return (decoded ??= decodeContent(mechanism, encoded));
    },
    release() {
      decoded = undefined;
      lastHead = undefined;
    },
  };
}
