// Which way a spooled message goes, per recipient domain: our own domains (config.domains) to the next
// hop (the mailbox host), every other domain to remote delivery (MX lookup, DANE, MTA-STS). One
// spooled message with recipients of both kinds is split in two deliveries, their results joined.
import type { Deliverer, RecipientResult } from "../queue/deliverer.ts";

/** The domain of an address, lower case (RFC 5321 §2.4: domains are case-insensitive). */
function domainOf(address: string): string {
  return address.slice(address.lastIndexOf("@") + 1).toLowerCase();
}

/** Splits recipients into those of `localDomains` and the rest. */
export function splitByDomain(rcptTo: readonly string[], localDomains: ReadonlySet<string>): { local: string[]; remote: string[] } {
  const local: string[] = [];
  const remote: string[] = [];
  for (const rcpt of rcptTo) (localDomains.has(domainOf(rcpt)) ? local : remote).push(rcpt);
  return { local, remote };
}

export function routeByDomain(localDomains: readonly string[], nextHop: Deliverer, remote: Deliverer): Deliverer {
  const ours = new Set(localDomains.map((d) => d.toLowerCase()));
  return async (message) => {
    const { local, remote: foreign } = splitByDomain(message.envelope.rcptTo, ours);
    const send = (deliverer: Deliverer, rcptTo: string[]): Promise<RecipientResult[]> =>
      rcptTo.length === 0 ? Promise.resolve([]) : deliverer({ ...message, envelope: { ...message.envelope, rcptTo } });
    const [toLocal, toRemote] = await Promise.all([send(nextHop, local), send(remote, foreign)]);
    return [...toLocal, ...toRemote];
  };
}
