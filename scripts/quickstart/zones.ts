// The quickstart's DNS world, declared as data as the test harness's zones are (test/harness/zones.ts):
// a sending site whose every record agrees, so that the printed swaks line passes the relay's real
// checks; our own domains, so that the relay's names resolve; and each configured DNSBL's RFC 5782 §5
// test entries. Nothing else resolves: the resolver refuses every other name at once (offline, a real
// recursive resolver would answer nothing, and the checks would then answer 451).
import type { EdgemxConfig } from "../../core/config/schema.ts";
import type { TestZone } from "../../test/harness/zones.ts";
import { txt } from "../../test/harness/zones.ts";

/**
 * The sending site of the printed swaks line: the client 127.0.0.1 is mail.sender.test by its PTR, by
 * the A of that name (FCrDNS), by its HELO and by sender.test's SPF; sender.test publishes DMARC
 * p=reject, which the SPF pass aligns with. Under .test (RFC 6761 §6.2), so it shadows no real name.
 */
export const SANDBOX_SENDER = {
  domain: "sender.test",
  host: "mail.sender.test",
  address: "127.0.0.1",
  from: "alice@sender.test",
} as const;

/** The RFC 5782 §5 test entries every IPv4 DNSBL must publish: 127.0.0.2 listed, 127.0.0.1 never. */
export const DNSBL_TEST_ENTRY = { listed: "127.0.0.2", answer: "127.0.0.2" } as const;

/** Is `name` the zone `origin` or below it? */
function isUnder(name: string, origin: string): boolean {
  const lower = name.toLowerCase();
  return lower === origin || lower.endsWith(`.${origin}`);
}

/** The owner of `name` relative to `origin` ("@" for the apex). */
function relative(name: string, origin: string): string {
  return name.toLowerCase() === origin ? "@" : name.slice(0, -(origin.length + 1));
}

/** The zones of the quickstart's DNS for `config`: signed where we speak for the data, unsigned for the DNSBLs' stand-ins. */
export function sandboxZones(config: EdgemxConfig): TestZone[] {
  const listenAddress = config.relay.listeners.mx.host;
  const ourDomains: TestZone[] = config.domains.map((domain) => {
    const origin = domain.name.toLowerCase();
    const mxHosts = domain.mx;
    const hosts = [...new Set([...mxHosts, config.hostname].map((host) => host.toLowerCase()))].filter((host) => isUnder(host, origin));
    return {
      origin,
      security: "signed",
      records: [
        ...mxHosts.map((host, i) => ({ owner: "@", type: "MX", data: `${10 * (i + 1)} ${host}.` })),
        ...hosts.map((host) => ({ owner: relative(host, origin), type: "A", data: listenAddress })),
      ],
    };
  });
  const sender: TestZone = {
    origin: SANDBOX_SENDER.domain,
    security: "signed",
    records: [
      { owner: "@", type: "MX", data: `10 ${SANDBOX_SENDER.host}.` },
      { owner: relative(SANDBOX_SENDER.host, SANDBOX_SENDER.domain), type: "A", data: SANDBOX_SENDER.address },
      { owner: "@", type: "TXT", data: txt(`v=spf1 ip4:${SANDBOX_SENDER.address} -all`) },
      // The HELO identity's own SPF record (RFC 7208 §2.3), as a well-run sending host publishes.
      { owner: relative(SANDBOX_SENDER.host, SANDBOX_SENDER.domain), type: "TXT", data: txt("v=spf1 a -all") },
      { owner: "_dmarc", type: "TXT", data: txt("v=DMARC1; p=reject") },
    ],
  };
  const octets = SANDBOX_SENDER.address.split(".");
  const reverse: TestZone = {
    origin: `${octets[2]}.${octets[1]}.${octets[0]}.in-addr.arpa`,
    security: "signed",
    records: [{ owner: octets[3]!, type: "PTR", data: `${SANDBOX_SENDER.host}.` }],
  };
  // Only the test entries: what the real list answers for them, whatever else it lists (RFC 5782 §5).
  const listedOwner = DNSBL_TEST_ENTRY.listed.split(".").reverse().join(".");
  const dnsbls: TestZone[] = config.connection.dnsbl.zones.map(({ zone }) => ({
    origin: zone.toLowerCase(),
    security: "unsigned",
    records: [
      { owner: listedOwner, type: "A", data: DNSBL_TEST_ENTRY.answer },
      { owner: listedOwner, type: "TXT", data: txt("RFC 5782 test entry (the edgemx quickstart's stand-in for this list)") },
    ],
  }));
  return [...ourDomains, sender, reverse, ...dnsbls];
}
