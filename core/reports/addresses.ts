// The addresses where our own DNS records ask for reports: the mailto: URIs of each domain's DMARC rua
// and ruf (RFC 7489 §6.3) and TLS-RPT rua (RFC 8460 §3) that are at one of our domains. Mail to them is
// read as reports, not forwarded (docs/reports.md).
import type { WorkerConfig } from "../config/worker.ts";

/** Per configuration (its domains, never changed once parsed; a reload makes new ones): asked for every recipient and message. */
const addressesOf = new WeakMap<WorkerConfig["domains"], ReadonlySet<string>>();

/** Lower-cased report addresses at our domains; reports sent elsewhere are someone else's to read. */
export function reportAddresses(config: Pick<WorkerConfig, "domains">): ReadonlySet<string> {
  let addresses = addressesOf.get(config.domains);
  if (addresses === undefined) addressesOf.set(config.domains, (addresses = addressesIn(config.domains)));
  return addresses;
}

function addressesIn(domains: WorkerConfig["domains"]): ReadonlySet<string> {
  const ours = new Set(domains.map((d) => d.name.toLowerCase()));
  const uris = domains.flatMap((d) => [...d.dmarc.rua, ...d.dmarc.ruf, ...(d.tlsRpt?.rua ?? [])]);
  const addresses = uris.filter((uri) => uri.startsWith("mailto:")).map((uri) => decodeURIComponent(uri.slice("mailto:".length)).toLowerCase());
  return new Set(addresses.filter((a) => ours.has(a.slice(a.lastIndexOf("@") + 1))));
}

/** Whether a report is about one of our domains or a subdomain of one (RFC 7489 §6.6.3: sp covers subdomains). */
export function isOurDomain(domain: string, config: Pick<WorkerConfig, "domains">): boolean {
  const name = domain.toLowerCase().replace(/\.$/, "");
  return config.domains.some((d) => name === d.name || name.endsWith(`.${d.name}`));
}
