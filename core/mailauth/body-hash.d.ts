// Types for the internal of mailauth that internals.ts drives, which mailauth ships without
// declarations: the body hash of either canonicalization (lib/dkim/body/index.js, RFC 6376 §3.4.3,
// §3.4.4). Only what internals.ts uses is declared, of the mailauth version package-lock.json pins;
// test/unit/mailauth-adapter.test.ts checks that it is still there.
declare module "mailauth/lib/dkim/body/index.js" {
  import type { Buffer } from "node:buffer";

  interface BodyHash {
    update(chunk: Buffer | null, final?: boolean): void;
    digest(encoding: "base64"): string;
  }

  /** The body hash of `canonicalization` ("relaxed" or "simple"), SHA-256 for "sha256", the whole body without an l= limit (false). */
  export function dkimBody(canonicalization: "relaxed" | "simple", algorithm: string, maxBodyLength: number | false): BodyHash;
}
