// Types for the two functions of mailauth's lib/dmarc/get-dmarc-record.js that internals.ts takes and
// mailauth ships without declarations: the DNS Tree Walk's record lookup and the Organizational Domain
// it finds (RFC 9989 §4.10.2). Declared as the mailauth version package-lock.json pins has them;
// test/unit/mailauth-adapter.test.ts checks they still answer as declared.
declare module "mailauth/lib/dmarc/get-dmarc-record.js" {
  import type { DNSResolver } from "mailauth";

  /** A parsed DMARC Policy Record: its tags, lower-cased names. */
  export type DmarcRecordTags = Record<string, string | number | undefined>;

  /** `_dmarc.<name>`'s record (false when there is none), each name asked once; throws on a temporary DNS failure. */
  export type DmarcRecordLookup = (name: string) => Promise<DmarcRecordTags | false>;

  export function createRecordLookup(resolver: DNSResolver, options?: { strict?: boolean; warnings?: Set<string> }): DmarcRecordLookup;

  /** The Organizational Domain of a lower-case domain name by the Tree Walk; throws on a temporary DNS failure. */
  export function getOrgDomain(domain: string, lookup: DmarcRecordLookup): Promise<string>;
}
