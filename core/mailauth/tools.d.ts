// Types for the members of mailauth's lib/tools.js (shipped without declarations) that internals.ts
// uses: the header section parsed as createSeal() takes it when it is given the headers and the body
// hash instead of the message (relay-node/src/sign/outbound.ts), and the alignment and the
// Authentication-Results resinfo mailauth's verifier reports a passing signature with.
// test/unit/mailauth-adapter.test.ts checks that they are still there.
declare module "mailauth/lib/tools.js" {
  import type { Buffer } from "node:buffer";

  /** The header section (without the empty line that ends it), as mailauth's signers and verifiers parse it. */
  export function parseHeaders(header: Buffer): { parsed: { key: string; casedKey: string; line: Buffer }[]; original: Buffer };

  /** The first of `domains` that aligns with `fromDomain`: the same Organizational Domain, or with `strict` the same domain (RFC 7489 §3.1). */
  export function getAlignment(fromDomain: string, domains: (string | { domain: string })[], strict?: boolean): { domain: string } | false;

  /** A resinfo of Authentication-Results (RFC 8601 §2.2) for `method` from a result's status: "dkim=pass header.d=…". */
  export function formatAuthHeaderRow(method: string, status: object, options?: { strict?: boolean }): string;
}
