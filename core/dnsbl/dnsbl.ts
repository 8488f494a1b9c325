// DNS blocklists (RFC 5782): is the client's address listed in any configured zone? All zones are
// asked at once; one listing is enough to refuse, and a zone that cannot answer only matters when
// no other zone listed the client.
import type { EdgemxConfig } from "../config/schema.ts";
import type { Lookup, Resolver } from "../dns/resolver.ts";
import { buildReply } from "../smtp/replies.ts";
import { canonicalIp, reversedLabels } from "../smtp/ip-address.ts";
import type { Finding } from "../smtp/finding.ts";

type DnsblZone = EdgemxConfig["connection"]["dnsbl"]["zones"][number];

/** What one zone said about the client. */
type ZoneVerdict =
  { zone: string; query: string; listed: true; detail: string } | { zone: string; query: string; listed: false; failed: boolean; detail: string };

export async function checkDnsbl(ip: string, dnsbl: EdgemxConfig["connection"]["dnsbl"], resolver: Resolver): Promise<Finding> {
  const address = canonicalIp(ip);
  const labels = reversedLabels(ip);
  if (address === null || labels === null) return { check: "dnsbl", outcome: "pass", detail: `${ip} is not an IP address: nothing to look up` };
  if (dnsbl.zones.length === 0) return { check: "dnsbl", outcome: "pass", detail: "no DNSBL zones configured" };
  const verdicts = await Promise.all(
    dnsbl.zones.map(async (zone) => {
      // RFC 5782 §2.1 (IPv4, octets reversed) and §2.4 (IPv6, nibbles reversed), under the zone.
      const query = `${labels}.${zone.zone}`;
      return zoneVerdict(zone, query, await resolver.query(query, "A"));
    }),
  );
  const detail = verdicts.map((verdict) => verdict.detail).join("; ");
  const listing = verdicts.find((verdict) => verdict.listed);
  if (listing !== undefined) return { check: "dnsbl", outcome: "fail", reply: buildReply("dnsbl", { ip: address, zone: listing.zone }), detail };
  const failure = verdicts.find((verdict) => !verdict.listed && verdict.failed);
  if (failure !== undefined) return { check: "dnsbl", outcome: "temporary", reply: buildReply("dnsTempfail", { name: failure.query }), detail };
  return { check: "dnsbl", outcome: "pass", detail };
}

/**
 * RFC 5782 §2.1: a listing is an A record in 127.0.0.0/8, and with configured return codes one of
 * them; NXDOMAIN (and a name without A records) is "not listed". An answer outside 127.0.0.0/8 is
 * not a listing — typically a wildcard or a hijacking resolver — and is only reported.
 */
function zoneVerdict(zone: DnsblZone, query: string, lookup: Lookup<"A">): ZoneVerdict {
  const name = zone.zone;
  switch (lookup.status) {
    case "nxdomain":
    case "nodata":
      return { zone: name, query, listed: false, failed: false, detail: `${name}: not listed` };
    case "servfail":
    case "timeout":
      return { zone: name, query, listed: false, failed: true, detail: `${name}: ${lookup.status} (${lookup.detail})` };
    case "ok": {
      const loopback = lookup.answers.filter((answer) => answer.startsWith("127."));
      const ignored = lookup.answers.filter((answer) => !answer.startsWith("127."));
      const codes = loopback.filter((answer) => zone.codes.length === 0 || zone.codes.includes(answer));
      const notes = [
        ignored.length > 0 ? `ignored ${ignored.join(", ")} outside 127.0.0.0/8 (RFC 5782 §2.1)` : "",
        loopback.length > codes.length ? `ignored ${loopback.filter((a) => !codes.includes(a)).join(", ")} (not a configured code)` : "",
      ].filter((note) => note !== "");
      if (codes.length > 0) return { zone: name, query, listed: true, detail: [`${name}: listed as ${codes.join(", ")}`, ...notes].join(", ") };
      return { zone: name, query, listed: false, failed: false, detail: [`${name}: not listed`, ...notes].join(", ") };
    }
  }
}
