// Where a policy domain's aggregate report may go: each rua destination at another Organizational
// Domain must have agreed to take reports for it (RFC 7489 §7.1; RFC 9990 "Verifying External
// Destinations"), else anyone could publish a record that floods a victim with reports. The DNS
// questions go through the injected Resolver and Organizational Domain finder; the rules are here.
import type { Resolver } from "../dns/resolver.ts";
import type { OrganizationalDomainOf } from "../dmarc/organizational-domain.ts";
import { dmarcTags, parseReportUri, type ReportUri } from "./policy-record.ts";

export interface DestinationCheck {
  /** Where to send, in the record's order, each address once. */
  destinations: ReportUri[];
  /** Destinations that must not get the report, and why. */
  refused: { uri: string; reason: string }[];
  /** Destinations not decided because DNS failed temporarily: the report waits for the next run. */
  unresolved: { uri: string; reason: string }[];
}

/** RFC 1035 §2.3.4: a name of more than 253 octets (without the root) cannot be asked for. */
const MAX_NAME = 253;

/** A-labels (RFC 5890), as the verification name needs them (RFC 7489 §7.1 step 3). */
function aLabels(domain: string): string {
  try {
    return new URL(`http://${domain}/`).hostname;
  } catch {
    return domain;
  }
}

type Verdict = { accept: ReportUri[] } | { refuse: string } | { unresolved: string };

/** Steps 1–9 of RFC 7489 §7.1 for one destination of `policyDomain`. */
async function verify(policyDomain: string, uri: ReportUri, resolver: Resolver, orgDomainOf: OrganizationalDomainOf): Promise<Verdict> {
  let ours: string, theirs: string;
  try {
    [ours, theirs] = await Promise.all([orgDomainOf(policyDomain), orgDomainOf(uri.host)]);
  } catch (error) {
    return { unresolved: `the Organizational Domain could not be found: ${(error as Error).message}` };
  }
  if (ours === theirs) return { accept: [uri] };
  const name = `${aLabels(policyDomain)}._report._dmarc.${aLabels(uri.host)}`;
  if (name.length > MAX_NAME) return { refuse: `${name.slice(0, 40)}…: the verification name is longer than DNS allows` };
  const lookup = await resolver.query(name, "TXT");
  if (lookup.status === "servfail" || lookup.status === "timeout") return { unresolved: `${name}: the lookup failed (${lookup.status})` };
  // Step 6: each record a tag-list starting with v=DMARC1; others are discarded.
  const records = lookup.status === "ok" ? lookup.answers.map((strings) => dmarcTags(strings.join(""))).filter((tags) => tags !== null) : [];
  if (records.length === 0) return { refuse: `${uri.host} has not agreed to take reports for ${policyDomain} (no v=DMARC1 record at ${name})` };
  // Step 9: the consumer may name other addresses, but only at the same destination host; one at another
  // host forbids both the original and the override.
  const overrides = records.flatMap((tags) => (tags.get("rua") ?? "").split(",").filter((text) => text.trim() !== ""));
  const parsed = overrides.map(parseReportUri).filter((override) => override !== null);
  const elsewhere = parsed.find((override) => override.host !== uri.host);
  if (elsewhere !== undefined) return { refuse: `${name} redirects reports to ${elsewhere.host}, another host` };
  return { accept: parsed.length > 0 ? parsed : [uri] };
}

/** The destinations of `uris` (the record's rua) that may get `policyDomain`'s report. */
export async function verifyDestinations(
  policyDomain: string,
  uris: readonly ReportUri[],
  resolver: Resolver,
  orgDomainOf: OrganizationalDomainOf,
): Promise<DestinationCheck> {
  const check: DestinationCheck = { destinations: [], refused: [], unresolved: [] };
  const verdicts = await Promise.all(uris.map((uri) => verify(policyDomain, uri, resolver, orgDomainOf)));
  for (const [i, verdict] of verdicts.entries()) {
    const uri = uris[i]!.uri;
    if ("refuse" in verdict) check.refused.push({ uri, reason: verdict.refuse });
    else if ("unresolved" in verdict) check.unresolved.push({ uri, reason: verdict.unresolved });
    else for (const accepted of verdict.accept) if (!check.destinations.some((d) => d.address === accepted.address)) check.destinations.push(accepted);
  }
  return check;
}
