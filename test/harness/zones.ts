// The test zones, declared as data: Knot serves them (signed where asked), unbound validates them.
// To serve a new record, add it to a zone below; to add a zone, add an entry to TEST_ZONES.
// Everything lives under the test TLD (RFC 2606 §2), which no real resolver will ever send anywhere.
import { DKIM_PUBLIC_KEY_BASE64, DKIM_SELECTOR } from "./dkim-key.ts";

/**
 * - `signed`: Knot signs the zone and unbound gets its DS as trust anchor: answers carry AD.
 * - `unsigned`: no signatures and no anchor: answers are insecure, valid but without AD.
 * - `bogus`: served unsigned, yet anchored with a DS that matches no key: every answer fails
 *   validation and unbound says SERVFAIL (RFC 4035 §5.5).
 */
export type ZoneSecurity = "signed" | "unsigned" | "bogus";

export interface ZoneRecord {
  /** Relative to the zone's origin; "@" is the apex. */
  owner: string;
  type: string;
  /** Presentation format (RFC 1035 §5.1); a name with a trailing dot is absolute. */
  data: string;
  ttl?: number;
}

export interface TestZone {
  origin: string;
  security: ZoneSecurity;
  records: readonly ZoneRecord[];
}

/** Names and addresses the tests ask about, so that tests and zones cannot drift apart. */
export const TEST_DNS = {
  sender: {
    domain: "sender.test",
    /** Its MX host, 127.0.0.10. */
    mx: "mx.sender.test",
    mxAddress: "127.0.0.10",
    /** The host it sends from, with matching A and PTR (FCrDNS). */
    mailHost: "mail.sender.test",
    /** Authorized by SPF (ip4:) */
    authorizedIp: "127.0.0.11",
    /** Not authorized by SPF ("-all") */
    unauthorizedIp: "127.0.0.99",
    /** A CNAME to the mail host. */
    alias: "alias.sender.test",
    dkimSelector: DKIM_SELECTOR,
    /** A name in a signed zone that does not exist: an authenticated NXDOMAIN. */
    nxdomain: "no-such-host.sender.test",
  },
  /** A domain that accepts no mail: Null MX (RFC 7505 §3). */
  nullMx: "nullmx.test",
  /** A DNSBL (RFC 5782) with its mandatory test entry 127.0.0.2 listed and 127.0.0.1 not listed (§5). */
  dnsbl: { zone: "dnsbl.test", listedIp: "127.0.0.2", listedAnswer: "127.0.0.2", unlistedIp: "127.0.0.1" },
  /** Valid but unsigned: answers without AD. */
  insecure: { domain: "insecure.test", mx: "mx.insecure.test", mxAddress: "127.0.0.14" },
  /** Validation fails: SERVFAIL for every name. */
  bogus: "bogus.test",
  /** Clients of the relay's FCrDNS check, with their PTR records in 0.0.127.in-addr.arpa. */
  clients: {
    /** PTR and A agree, but the name looks like a dynamic address. */
    dynamicIp: "127.0.0.12",
    dynamicName: "dyn-127-0-0-12.pool.sender.test",
    /** The PTR name resolves to another address (127.0.0.16): not forward-confirmed. */
    unconfirmedIp: "127.0.0.15",
    unconfirmedName: "unconfirmed.sender.test",
    /** No PTR record at all. */
    noPtrIp: "127.0.0.99",
  },
  /** A host with an AAAA record and no A record. */
  ipv6Host: { name: "v6only.sender.test", address: "::1" },
  /** TXT records beyond the 1232-octet EDNS payload: the UDP reply is truncated, TCP answers (RFC 7766 §5). */
  largeTxt: { name: "large-txt.sender.test", records: 12 },
} as const;

/** The text of the large TXT name's record number i. */
export function largeTxtRecord(i: number): string {
  return `record ${String(i).padStart(2, "0")} of a reply too large for UDP: ${"x".repeat(120)}`;
}

/** A TXT record's data: the text split into quoted character-strings of at most 255 octets (RFC 1035 §3.3.14). */
export function txt(text: string): string {
  const strings: string[] = [];
  for (let start = 0; start < text.length || strings.length === 0; start += 255) {
    strings.push(`"${text.slice(start, start + 255).replace(/[\\"]/g, "\\$&")}"`);
  }
  return strings.join(" ");
}

const { sender, dnsbl, insecure, clients, ipv6Host, largeTxt } = TEST_DNS;

/** A name of sender.test relative to its origin. */
function inSender(name: string): string {
  return name.slice(0, -`.${sender.domain}`.length);
}

export const TEST_ZONES: readonly TestZone[] = [
  {
    origin: sender.domain,
    security: "signed",
    records: [
      { owner: "@", type: "A", data: sender.authorizedIp },
      { owner: "@", type: "MX", data: `10 ${sender.mx}.` },
      { owner: "@", type: "TXT", data: txt(`v=spf1 ip4:${sender.authorizedIp} mx -all`) },
      { owner: "mx", type: "A", data: sender.mxAddress },
      { owner: "mail", type: "A", data: sender.authorizedIp },
      { owner: "alias", type: "CNAME", data: `${sender.mailHost}.` },
      { owner: "_dmarc", type: "TXT", data: txt(`v=DMARC1; p=reject; rua=mailto:dmarc-reports@${sender.domain}`) },
      { owner: `${sender.dkimSelector}._domainkey`, type: "TXT", data: txt(`v=DKIM1; k=rsa; p=${DKIM_PUBLIC_KEY_BASE64}`) },
      { owner: inSender(clients.dynamicName), type: "A", data: clients.dynamicIp },
      { owner: inSender(clients.unconfirmedName), type: "A", data: "127.0.0.16" },
      { owner: inSender(ipv6Host.name), type: "AAAA", data: ipv6Host.address },
      ...Array.from({ length: largeTxt.records }, (_, i) => ({ owner: inSender(largeTxt.name), type: "TXT", data: txt(largeTxtRecord(i)) })),
    ],
  },
  {
    origin: "0.0.127.in-addr.arpa",
    security: "signed",
    records: [
      { owner: sender.mxAddress.split(".")[3]!, type: "PTR", data: `${sender.mx}.` },
      { owner: sender.authorizedIp.split(".")[3]!, type: "PTR", data: `${sender.mailHost}.` },
      { owner: clients.dynamicIp.split(".")[3]!, type: "PTR", data: `${clients.dynamicName}.` },
      { owner: clients.unconfirmedIp.split(".")[3]!, type: "PTR", data: `${clients.unconfirmedName}.` },
    ],
  },
  {
    origin: TEST_DNS.nullMx,
    security: "signed",
    records: [
      { owner: "@", type: "MX", data: "0 ." },
      { owner: "@", type: "TXT", data: txt("v=spf1 -all") },
    ],
  },
  {
    origin: dnsbl.zone,
    security: "signed",
    records: [
      { owner: "2.0.0.127", type: "A", data: dnsbl.listedAnswer },
      { owner: "2.0.0.127", type: "TXT", data: txt("Listed in dnsbl.test: the RFC 5782 test entry") },
    ],
  },
  {
    origin: insecure.domain,
    security: "unsigned",
    records: [
      { owner: "@", type: "A", data: "127.0.0.13" },
      { owner: "@", type: "MX", data: `10 ${insecure.mx}.` },
      { owner: "@", type: "TXT", data: txt("v=spf1 a -all") },
      { owner: "mx", type: "A", data: insecure.mxAddress },
    ],
  },
  {
    origin: TEST_DNS.bogus,
    security: "bogus",
    records: [
      { owner: "@", type: "A", data: "127.0.0.66" },
      { owner: "@", type: "MX", data: `10 mx.${TEST_DNS.bogus}.` },
      { owner: "@", type: "TXT", data: txt("v=spf1 +all") },
      { owner: "mx", type: "A", data: "127.0.0.67" },
    ],
  },
];
