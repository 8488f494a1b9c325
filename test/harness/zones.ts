// The test zones, declared as data: Knot serves them (signed where asked), unbound validates them.
// To serve a new record, add it to a zone below; to add a zone, add an entry to TEST_ZONES.
// Everything lives under the test TLD (RFC 2606 §2), which no real resolver will ever send anywhere.
import { DANE_MX_SPKI_SHA256, DANE_TA_SPKI_SHA256 } from "./dane-key.ts";
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
    /** A mailing list's domain that ARC-seals with the same key and selector (the trusted sealer of the tests). */
    arcSealer: "lists.sender.test",
    /** A name in a signed zone that does not exist: an authenticated NXDOMAIN. */
    nxdomain: "no-such-host.sender.test",
  },
  /** A domain that accepts no mail: Null MX (RFC 7505 §3). */
  nullMx: "nullmx.test",
  /**
   * A DNSBL (RFC 5782) with its mandatory test entry 127.0.0.2 listed and 127.0.0.1 not listed (§5);
   * `keyed`, a list that wants an access key in the name as Spamhaus DQS does (127.0.0.2 listed under
   * `<ip>.<key>.<zone>` only); `refusing`, a list that answers every query with Spamhaus's error code
   * for queries through a public resolver.
   */
  dnsbl: {
    zone: "dnsbl.test",
    listedIp: "127.0.0.2",
    listedAnswer: "127.0.0.2",
    unlistedIp: "127.0.0.1",
    keyed: { zone: "dq.dnsbl.test", key: "edgemxtestkey0" },
    refusing: { zone: "refusing.dnsbl.test", answer: "127.255.255.254" },
  },
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
  /**
   * Outbound DANE (RFC 7672), signed: each domain's MX host has TLSA records at _25._tcp.<mx>; test MX
   * servers listen on the addresses, with certificates for the key of dane-key.ts.
   */
  dane: {
    /** TLSA 3 1 1 of the dane-key.ts key: the server's certificate matches. */
    match: { domain: "dane.test", mx: "mx.dane.test", mxAddress: "127.0.0.20" },
    /** The rua of dane.test's `_smtp._tls` record (TLS-RPT, RFC 8460 §3). */
    tlsRptMailbox: "tlsrpt@sender.test",
    /** TLSA 3 1 1 of no key at all: the certificate does not match. */
    mismatch: { domain: "mismatch.dane.test", mx: "mx.mismatch.dane.test", mxAddress: "127.0.0.22" },
    /** TLSA like `match`, for a server that offers no STARTTLS. */
    noStarttls: { domain: "nostarttls.dane.test", mx: "mx.nostarttls.dane.test", mxAddress: "127.0.0.23" },
    /** MX and A authenticated, but _25._tcp.<mx> is a bogus zone of its own: the TLSA lookup fails. */
    bogusTlsa: { domain: "bogus-tlsa.dane.test", mx: "mx.bogus-tlsa.dane.test", mxAddress: "127.0.0.24" },
    /** TLSA 2 1 1 of the trust anchor key of dane-key.ts (DANE-TA): its CA issues the server's certificate. */
    ta: { domain: "ta.dane.test", mx: "mx.ta.dane.test", mxAddress: "127.0.0.27" },
    /** TLSA like `ta`, for a server whose certificate from that CA names another host. */
    taWrongName: { domain: "ta-name.dane.test", mx: "mx.ta-name.dane.test", mxAddress: "127.0.0.28" },
  },
  /**
   * Outbound MTA-STS (RFC 8461): every domain has `_mta-sts` TXT and `mta-sts.<domain>` A policyAddress,
   * where the test's HTTPS server answers per host name.
   */
  sts: {
    zone: "sts.test",
    policyAddress: "127.0.0.21",
    /** An MX host with a certificate from the test CA for its name. */
    mx: "mx.sts.test",
    mxAddress: "127.0.0.25",
    /** An MX host with a self-signed certificate. */
    untrustedMx: "mx-untrusted.sts.test",
    untrustedMxAddress: "127.0.0.26",
    /** enforce, mx: mx.sts.test; MX mx.sts.test. */
    enforce: "enforce.sts.test",
    /** enforce, mx: mx-untrusted.sts.test; MX mx-untrusted.sts.test. */
    enforceUntrusted: "enforce-untrusted.sts.test",
    /** testing, mx: elsewhere.sts.test; MX mx.sts.test (not in the policy). */
    testing: "testing.sts.test",
    /** mode none; MX mx.sts.test. */
    none: "none.sts.test",
    /** A TXT record, but the policy host answers 404; MX mx.sts.test. */
    fetchFailure: "fetch-failure.sts.test",
    /** No MTA-STS; MX mx-untrusted.sts.test. Listed in connection.mandatoryTls by the tests. */
    mandatoryTls: "mandatory-tls.sts.test",
    /** TLS-RPT (RFC 8460 §3) with an https: rua only, at tlsRptHost, whose address is policyAddress. */
    httpsRua: "https-rua.sts.test",
    tlsRptHost: "tlsrpt.sts.test",
  },
  /**
   * Our own domain for ACME (RFC 8555) against pebble: its MX hosts resolve to 127.0.0.1, where the
   * relay's HTTP-01 responder listens, so pebble's validation (through unbound) reaches the relay.
   */
  acme: { domain: "acme.test", mx: "mx.acme.test", mail: "mail.acme.test", address: "127.0.0.1" },
  /**
   * Outbound TLS against real Postfix peers (test/integration/outbound-postfix.test.ts): each domain's MX
   * host is a private Postfix on its own address. The zone is signed and has no MTA-STS, TLS-RPT or, but
   * for `dane`, TLSA record: delivery to the others is opportunistic. `dane`'s MX host has TLSA 3 1 1 of
   * dane-key.ts's key; `mandatoryTls` shares the TLS 1.0 host and is listed in connection.mandatoryTls by the test.
   */
  outbound: {
    zone: "outbound.test",
    /** TLS 1.0 only. */
    tls10: { domain: "tls10.outbound.test", mx: "mx.tls10.outbound.test", mxAddress: "127.0.0.40" },
    /** TLS 1.2 without ECDHE: RSA and DHE key exchange only. */
    noEcdhe: { domain: "no-ecdhe.outbound.test", mx: "mx.no-ecdhe.outbound.test", mxAddress: "127.0.0.41" },
    /**
     * No STARTTLS. Not named "no-starttls": nodemailer looks for STARTTLS in the whole EHLO reply, case
     * ignored, so a server whose name has "-starttls" in it seems to offer it.
     */
    noStarttls: { domain: "plaintext.outbound.test", mx: "mx.plaintext.outbound.test", mxAddress: "127.0.0.42" },
    /** STARTTLS advertised, refused with 454 (its certificate file is missing). */
    starttlsRefused: { domain: "starttls-refused.outbound.test", mx: "mx.starttls-refused.outbound.test", mxAddress: "127.0.0.43" },
    /** STARTTLS advertised and accepted, every handshake failing (SSLv3 only, which OpenSSL 3 lacks). */
    handshakeFails: { domain: "handshake-fails.outbound.test", mx: "mx.handshake-fails.outbound.test", mxAddress: "127.0.0.44" },
    /** TLS 1.3 only: the good peer. */
    tls13: { domain: "tls13.outbound.test", mx: "mx.tls13.outbound.test", mxAddress: "127.0.0.45" },
    /** TLSA 3 1 1 of dane-key.ts's key, which its certificate carries. */
    dane: { domain: "dane.outbound.test", mx: "mx.dane.outbound.test", mxAddress: "127.0.0.46" },
    /** MX: the TLS 1.0 host; listed in connection.mandatoryTls by the test. */
    mandatoryTls: { domain: "mandatory-tls.outbound.test", mx: "mx.tls10.outbound.test", mxAddress: "127.0.0.40" },
    /** A smarthost (test/integration/smarthost.test.ts): a second relay's submission listener. */
    smarthost: { host: "smarthost.outbound.test", address: "127.0.0.47" },
  },
  /**
   * DMARC aggregate reports we send (test/integration/dmarc-report-send.test.ts): sender domains with an
   * A record and SPF for sender.authorizedIp, and a `_dmarc` rua at a mailbox of reports.test, another
   * Organizational Domain, whose MX host is the test's SMTP sink. reports.test agreed to take reports for
   * `authorized` and `tooSmall` (`<domain>._report._dmarc.reports.test`, RFC 7489 §7.1), not for `unauthorized`.
   */
  dmarcReports: {
    zone: "dmarcrpt.test",
    /** p=reject; rua=mailto:dmarc@reports.test. */
    authorized: "authorized.dmarcrpt.test",
    /** p=none; rua=mailto:dmarc@reports.test, which did not agree. */
    unauthorized: "unauthorized.dmarcrpt.test",
    /** p=none; rua=mailto:dmarc@reports.test!1k: smaller than any report. */
    tooSmall: "small.dmarcrpt.test",
    ruaZone: "reports.test",
    mailbox: "dmarc@reports.test",
    mx: "mx.reports.test",
    mxAddress: "127.0.0.50",
  },
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

const { sender, dnsbl, insecure, clients, ipv6Host, largeTxt, dane, sts, acme, outbound, dmarcReports } = TEST_DNS;

/** A name of `origin` relative to it. */
function relativeTo(origin: string, name: string): string {
  return name.slice(0, -`.${origin}`.length);
}

/** The dane.test records of one test domain: MX, the MX host's address and, unless absent, its TLSA. */
function daneDomain(entry: { domain: string; mx: string; mxAddress: string }, tlsa: string | undefined): ZoneRecord[] {
  const owner = entry.domain === dane.match.domain ? "@" : relativeTo(dane.match.domain, entry.domain);
  const mx = relativeTo(dane.match.domain, entry.mx);
  return [
    { owner, type: "MX", data: `10 ${entry.mx}.` },
    { owner: mx, type: "A", data: entry.mxAddress },
    ...(tlsa === undefined ? [] : [{ owner: `_25._tcp.${mx}`, type: "TLSA", data: tlsa }]),
  ];
}

/** The sts.test records of one test domain: MX, the `_mta-sts` record and the policy host. */
function stsDomain(domain: string, mx: string): ZoneRecord[] {
  const owner = relativeTo(sts.zone, domain);
  return [
    { owner, type: "MX", data: `10 ${mx}.` },
    { owner: `_mta-sts.${owner}`, type: "TXT", data: txt("v=STSv1; id=20260101T000000;") },
    { owner: `mta-sts.${owner}`, type: "A", data: sts.policyAddress },
  ];
}

/** The outbound.test records of one test domain: MX, the MX host's address and, when given, its TLSA. */
function outboundDomain(entry: { domain: string; mx: string; mxAddress: string }, tlsa?: string): ZoneRecord[] {
  const mx = relativeTo(outbound.zone, entry.mx);
  return [
    { owner: relativeTo(outbound.zone, entry.domain), type: "MX", data: `10 ${entry.mx}.` },
    { owner: mx, type: "A", data: entry.mxAddress },
    ...(tlsa === undefined ? [] : [{ owner: `_25._tcp.${mx}`, type: "TLSA", data: tlsa }]),
  ];
}

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
      { owner: `${sender.dkimSelector}._domainkey.${inSender(sender.arcSealer)}`, type: "TXT", data: txt(`v=DKIM1; k=rsa; p=${DKIM_PUBLIC_KEY_BASE64}`) },
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
      { owner: `2.0.0.127.${dnsbl.keyed.key}.${relativeTo(dnsbl.zone, dnsbl.keyed.zone)}`, type: "A", data: dnsbl.listedAnswer },
      { owner: `*.${relativeTo(dnsbl.zone, dnsbl.refusing.zone)}`, type: "A", data: dnsbl.refusing.answer },
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
  {
    origin: dane.match.domain,
    security: "signed",
    records: [
      ...daneDomain(dane.match, `3 1 1 ${DANE_MX_SPKI_SHA256}`),
      // TLS-RPT (RFC 8460 §3): reports for dane.test go to a mailbox of sender.test.
      { owner: "_smtp._tls", type: "TXT", data: txt(`v=TLSRPTv1; rua=mailto:${dane.tlsRptMailbox}`) },
      ...daneDomain(dane.mismatch, `3 1 1 ${"00".repeat(32)}`),
      ...daneDomain(dane.noStarttls, `3 1 1 ${DANE_MX_SPKI_SHA256}`),
      ...daneDomain(dane.bogusTlsa, undefined),
      ...daneDomain(dane.ta, `2 1 1 ${DANE_TA_SPKI_SHA256}`),
      ...daneDomain(dane.taWrongName, `2 1 1 ${DANE_TA_SPKI_SHA256}`),
    ],
  },
  {
    origin: `_tcp.${dane.bogusTlsa.mx}`,
    security: "bogus",
    records: [{ owner: "_25", type: "TLSA", data: `3 1 1 ${DANE_MX_SPKI_SHA256}` }],
  },
  {
    origin: sts.zone,
    security: "signed",
    records: [
      { owner: relativeTo(sts.zone, sts.mx), type: "A", data: sts.mxAddress },
      { owner: relativeTo(sts.zone, sts.untrustedMx), type: "A", data: sts.untrustedMxAddress },
      ...stsDomain(sts.enforce, sts.mx),
      ...stsDomain(sts.enforceUntrusted, sts.untrustedMx),
      ...stsDomain(sts.testing, sts.mx),
      ...stsDomain(sts.none, sts.mx),
      ...stsDomain(sts.fetchFailure, sts.mx),
      { owner: relativeTo(sts.zone, sts.mandatoryTls), type: "MX", data: `10 ${sts.untrustedMx}.` },
      { owner: `_smtp._tls.${relativeTo(sts.zone, sts.httpsRua)}`, type: "TXT", data: txt(`v=TLSRPTv1; rua=https://${sts.tlsRptHost}/v1/tls-report`) },
      { owner: relativeTo(sts.zone, sts.tlsRptHost), type: "A", data: sts.policyAddress },
    ],
  },
  {
    origin: acme.domain,
    security: "signed",
    records: [
      { owner: "@", type: "MX", data: `10 ${acme.mx}.` },
      { owner: relativeTo(acme.domain, acme.mx), type: "A", data: acme.address },
      { owner: relativeTo(acme.domain, acme.mail), type: "A", data: acme.address },
    ],
  },
  {
    origin: outbound.zone,
    security: "signed",
    records: [
      ...[outbound.tls10, outbound.noEcdhe, outbound.noStarttls, outbound.starttlsRefused, outbound.handshakeFails, outbound.tls13].flatMap((entry) =>
        outboundDomain(entry),
      ),
      ...outboundDomain(outbound.dane, `3 1 1 ${DANE_MX_SPKI_SHA256}`),
      { owner: relativeTo(outbound.zone, outbound.mandatoryTls.domain), type: "MX", data: `10 ${outbound.mandatoryTls.mx}.` },
      { owner: relativeTo(outbound.zone, outbound.smarthost.host), type: "A", data: outbound.smarthost.address },
    ],
  },
  {
    origin: dmarcReports.zone,
    security: "signed",
    records: (
      [
        [dmarcReports.authorized, `v=DMARC1; p=reject; rua=mailto:${dmarcReports.mailbox}`],
        [dmarcReports.unauthorized, `v=DMARC1; p=none; rua=mailto:${dmarcReports.mailbox}`],
        [dmarcReports.tooSmall, `v=DMARC1; p=none; rua=mailto:${dmarcReports.mailbox}!1k`],
      ] as const
    ).flatMap(([domain, record]) => [
      // An address, so that the relay's sender check finds the domain (RFC 5321 §5.1: A without MX).
      { owner: relativeTo(dmarcReports.zone, domain), type: "A", data: sender.authorizedIp },
      { owner: relativeTo(dmarcReports.zone, domain), type: "TXT", data: txt(`v=spf1 ip4:${sender.authorizedIp} -all`) },
      { owner: `_dmarc.${relativeTo(dmarcReports.zone, domain)}`, type: "TXT", data: txt(record) },
    ]),
  },
  {
    origin: dmarcReports.ruaZone,
    security: "signed",
    records: [
      { owner: "@", type: "MX", data: `10 ${dmarcReports.mx}.` },
      { owner: relativeTo(dmarcReports.ruaZone, dmarcReports.mx), type: "A", data: dmarcReports.mxAddress },
      { owner: `${dmarcReports.authorized}._report._dmarc`, type: "TXT", data: txt("v=DMARC1") },
      { owner: `${dmarcReports.tooSmall}._report._dmarc`, type: "TXT", data: txt("v=DMARC1") },
    ],
  },
];
