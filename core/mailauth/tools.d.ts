// Types for the one member of mailauth's lib/tools.js (shipped without declarations) that internals.ts
// re-exports: the header section parsed as createSeal() takes it when it is given the headers and the
// body hash instead of the message (relay-node/src/sign/outbound.ts). test/unit/mailauth-adapter.test.ts
// checks that it is still there.
declare module "mailauth/lib/tools.js" {
  import type { Buffer } from "node:buffer";

  /** The header section (without the empty line that ends it), as mailauth's signers and verifiers parse it. */
  export function parseHeaders(header: Buffer): { parsed: { key: string; casedKey: string; line: Buffer }[]; original: Buffer };
}
