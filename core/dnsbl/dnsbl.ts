// DNS blocklists (RFC 5782): is the client's address listed in any configured zone? All zones are
// asked at once; one listing is enough to refuse, and a zone that cannot answer only matters when
// no other zone listed the client.
import type { EdgemxConfig } from "../config/schema.ts";
import type { Lookup, Resolver } from "../dns/resolver.ts";
import { buildReply } from "../smtp/replies.ts";
import { canonicalIp, reversedLabels } from "../smtp/ip-address.ts";
import type { Finding } from "../smtp/finding.ts";

type DnsblSettings = EdgemxConfig["connection"]["dnsbl"];
type DnsblZone = DnsblSettings["zones"][number];

/** The access keys of the zones that want one in the name (`keySecret`), by secret name. */
export type DnsblKeys = ReadonlyMap<string, string>;

/** RFC 1035 §2.3.1: the key becomes one label of the query name, so it must be one. */
const LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/i;

/**
 * The keys of the zones that name a `keySecret`, read with `secret` (the Worker's env, the relay's
 * process environment). A missing or malformed key is an error naming the field: without its key
 * such a list answers every query "not listed", which would pass every client unseen.
 */
export function dnsblKeys(dnsbl: DnsblSettings, secret: (name: string) => string | undefined): DnsblKeys {
  const keys = new Map<string, string>();
  dnsbl.zones.forEach((zone, i) => {
    if (zone.keySecret === undefined) return;
    const key = secret(zone.keySecret);
    const field = `connection.dnsbl.zones[${i}].keySecret`;
    if (key === undefined || key === "") throw new Error(`${field}: the secret ${zone.keySecret} is not set`);
    if (!LABEL.test(key)) throw new Error(`${field}: the secret ${zone.keySecret} is not a single DNS label`);
    keys.set(zone.keySecret, key);
  });
  return keys;
}

/** What one zone said about the client; `shown` is the name asked, without any access key. */
type ZoneVerdict =
  { zone: string; shown: string; listed: true; detail: string } | { zone: string; shown: string; listed: false; failed: boolean; detail: string };

export async function checkDnsbl(ip: string, dnsbl: DnsblSettings, resolver: Resolver, keys: DnsblKeys = new Map()): Promise<Finding> {
  const address = canonicalIp(ip);
  const labels = reversedLabels(ip);
  if (address === null || labels === null) return { check: "dnsbl", outcome: "pass", detail: `${ip} is not an IP address: nothing to look up` };
  if (dnsbl.zones.length === 0) return { check: "dnsbl", outcome: "pass", detail: "no DNSBL zones configured" };
  const verdicts = await Promise.all(
    dnsbl.zones.map(async (zone) => {
      // RFC 5782 §2.1 (IPv4, octets reversed) and §2.4 (IPv6, nibbles reversed), under the zone — and
      // under the access key first where the list wants one (Spamhaus DQS: <ip>.<key>.zen.dq.spamhaus.net).
      const key = zone.keySecret === undefined ? undefined : keys.get(zone.keySecret);
      if (zone.keySecret !== undefined && key === undefined) throw new Error(`no key for the DNSBL zone ${zone.zone} (secret ${zone.keySecret})`);
      const shown = `${labels}.${zone.zone}`;
      const query = key === undefined ? shown : `${labels}.${key}.${zone.zone}`;
      const lookup = await resolver.query(query, "A");
      // The key is a secret: the resolver's own words (which name the query) never carry it into a log.
      return zoneVerdict(zone, shown, key === undefined ? lookup : { ...lookup, detail: lookup.detail.replaceAll(key, "<key>") });
    }),
  );
  const detail = verdicts.map((verdict) => verdict.detail).join("; ");
  const listing = verdicts.find((verdict) => verdict.listed);
  if (listing !== undefined) return { check: "dnsbl", outcome: "fail", reply: buildReply("dnsbl", { ip: address, zone: listing.zone }), detail };
  const failure = verdicts.find((verdict) => !verdict.listed && verdict.failed);
  if (failure !== undefined) return { check: "dnsbl", outcome: "temporary", reply: buildReply("dnsTempfail", { name: failure.shown }), detail };
  return { check: "dnsbl", outcome: "pass", detail };
}

/**
 * Answers in 127.255.255.0/24 are the list's errors about the query itself, never a listing: Spamhaus
 * answers 127.255.255.254 to a query through a public resolver (such as a public DoH service) and
 * 127.255.255.255 to too many queries ("Spamhaus DNSBL return codes: technical update",
 * https://www.spamhaus.org/news/article/788/). The zone then could not be asked.
 */
const QUERY_ERROR = /^127\.255\.255\.\d{1,3}$/;

/**
 * RFC 5782 §2.1: a listing is an A record in 127.0.0.0/8, and with configured return codes one of
 * them; NXDOMAIN (and a name without A records) is "not listed". An answer outside 127.0.0.0/8 is
 * not a listing — typically a wildcard or a hijacking resolver — and is only reported.
 */
function zoneVerdict(zone: DnsblZone, shown: string, lookup: Lookup<"A">): ZoneVerdict {
  const name = zone.zone;
  switch (lookup.status) {
    case "nxdomain":
    case "nodata":
      return { zone: name, shown, listed: false, failed: false, detail: `${name}: not listed` };
    case "servfail":
    case "timeout":
      return { zone: name, shown, listed: false, failed: true, detail: `${name}: ${lookup.status} (${lookup.detail})` };
    case "ok": {
      const refusals = lookup.answers.filter((answer) => QUERY_ERROR.test(answer));
      if (refusals.length > 0) return { zone: name, shown, listed: false, failed: true, detail: `${name}: refused the query (${refusals.join(", ")})` };
      const loopback = lookup.answers.filter((answer) => answer.startsWith("127."));
      const ignored = lookup.answers.filter((answer) => !answer.startsWith("127."));
      const codes = loopback.filter((answer) => zone.codes.length === 0 || zone.codes.includes(answer));
      const notes = [
        ignored.length > 0 ? `ignored ${ignored.join(", ")} outside 127.0.0.0/8 (RFC 5782 §2.1)` : "",
        loopback.length > codes.length ? `ignored ${loopback.filter((a) => !codes.includes(a)).join(", ")} (not a configured code)` : "",
      ].filter((note) => note !== "");
      if (codes.length > 0) return { zone: name, shown, listed: true, detail: [`${name}: listed as ${codes.join(", ")}`, ...notes].join(", ") };
      return { zone: name, shown, listed: false, failed: false, detail: [`${name}: not listed`, ...notes].join(", ") };
    }
  }
}
