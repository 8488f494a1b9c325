// The Organizational Domain of a name (RFC 9989 §4.10.2), found by the DNS Tree Walk through our
// Resolver: the walk mailauth aligns identifiers with when it evaluates DMARC, so that what counts as
// one organization is the same when we judge mail and when we decide where its reports may go.
import { mailauthResolver } from "../dns/mailauth.ts";
import type { Resolver } from "../dns/resolver.ts";
import { createRecordLookup, getOrgDomain } from "../mailauth/internals.ts";

/** Finds Organizational Domains, asking each `_dmarc` name once; rejects when a lookup failed temporarily. */
export type OrganizationalDomainOf = (domain: string) => Promise<string>;

export function organizationalDomains(resolver: Resolver): OrganizationalDomainOf {
  const lookup = createRecordLookup(mailauthResolver(resolver));
  return (domain) => getOrgDomain(domain.toLowerCase().replace(/\.$/, ""), lookup);
}
