// Types for the internal of mailauth that internals.ts drives, which mailauth ships without
// declarations: the body hash of the "relaxed" canonicalization (lib/dkim/body/relaxed.js, RFC 6376
// §3.4.4). Only the members internals.ts uses are declared, those of the mailauth version
// package-lock.json pins; test/unit/mailauth-adapter.test.ts checks that they are still there.
declare module "mailauth/lib/dkim/body/relaxed.js" {
  import type { Buffer } from "node:buffer";

  export class RelaxedHash {
    constructor(algorithm?: string, maxBodyLength?: number | false);

    /** The body's bytes so far, before canonicalization. */
    byteLength: number;
    /** The bytes after the last line end seen, held until more arrive or the body ends; false when none. */
    remainder: Buffer | false;

    /** Canonicalizes a chunk of the body (the remainder first) and hashes its complete lines. */
    update(chunk: Buffer | null, final?: boolean): void;
    /** Hashes canonical lines, holding back the line ends at their end (RFC 6376 §3.4.4 b: no empty lines at the end). */
    _pushBodyHash(chunk: Buffer): void;
    /** Ends the body (its remainder as the last line) and gives the hash. */
    digest(encoding: "base64"): string;
  }
}
