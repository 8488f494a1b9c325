// Types for the internal of mailauth that internals.ts drives, which mailauth ships without
// declarations: its DKIM verifier below the Writable stream that dkimVerify() writes a message into.
// Only the members internals.ts uses are declared; they are those of the mailauth version
// package-lock.json pins (lib/dkim/dkim-verifier.js and lib/dkim/message-parser.js), and
// test/unit/mailauth-adapter.test.ts checks that they are still there.
declare module "mailauth/lib/dkim/dkim-verifier.js" {
  import type { Buffer } from "node:buffer";
  import type { ARCSealOptions, ARCSigningData, DKIMResult, DKIMVerifyOptions, DKIMVerifyResult } from "mailauth";

  export class DkimVerifier {
    constructor(options?: DKIMVerifyOptions);

    /** The message's bytes so far, after its bare LFs became CRLF. */
    byteLength: number;
    /** The header section read so far, while no empty line has ended it. */
    headerChunks: Buffer[];

    /** Set by emitHeaders(). */
    headers: DKIMVerifyResult["headers"] | false;
    headerFrom: string[];
    fromFields: number;
    envelopeFrom: string | false;
    results: DKIMResult[];
    arc: ARCSigningData;
    seal: ARCSealOptions | undefined;

    /** Parses `headerChunks`, with `chunk` appended, as the header section; registers the signatures' body hashes. */
    emitHeaders(chunk?: Buffer): Promise<void>;
    /** The body hashes the signatures need, one per canonicalization, hash and length (lib/dkim/body/). */
    bodyHashes: Map<string, { update(chunk: Buffer | null, final?: boolean): void }>;
    /** Feeds body bytes to the body hashes (what internals.ts hashBody() does in its place). */
    nextChunk(chunk: Buffer): Promise<void>;
    /** Emits the headers when emitHeaders() has not run, then verifies the signatures. */
    finish(): Promise<void>;
  }
}
