// A TestZone as a master file (RFC 1035 §5) for Knot: SOA, NS and its address come with every zone.
import type { TestZone } from "./zones.ts";

export const DEFAULT_TTL = 300;
/** The SOA MINIMUM, which with the SOA TTL bounds the negative-caching TTL (RFC 2308 §5): min(300, 60). */
export const NEGATIVE_TTL = 60;

export function renderZoneFile(zone: TestZone): string {
  const lines = [
    `$ORIGIN ${zone.origin}.`,
    `$TTL ${DEFAULT_TTL}`,
    `@ SOA ns hostmaster 1 3600 600 86400 ${NEGATIVE_TTL}`,
    "@ NS ns",
    "ns A 127.0.0.1",
    ...zone.records.map((record) => [record.owner, record.ttl, record.type, record.data].filter((field) => field !== undefined).join(" ")),
  ];
  return `${lines.join("\n")}\n`;
}
