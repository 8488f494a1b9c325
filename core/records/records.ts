// The DNS records a domain must publish for edgemx, as zone-file records with a comment each.
// Names are absolute (trailing dot) so the text needs no $ORIGIN and can be pasted into any zone.
import type { WorkerConfig, WorkerDomainConfig } from "../config/worker.ts";
import { mtaStsTxt } from "../mtasts/published.ts";

/** Facts the configuration alone cannot give, computed where the files are (build step, relay CLI). */
export interface RecordFacts {
  /** SHA-256 (hex) of the SubjectPublicKeyInfo of the relay's certificate, for TLSA 3 1 1 (RFC 7672 §3.1.1). */
  tlsaSpkiSha256?: string;
  /** The same for the next key of a key rollover (RFC 7671 §8.1), published beside the current one until the relay switches. */
  tlsaNextSpkiSha256?: string;
}

export interface ZoneRecord {
  /** Owner name, fully qualified with the trailing dot. */
  name: string;
  type: string;
  /** The RDATA as written in a zone file. */
  value: string;
  /** Seconds; DEFAULT_TTL when absent. */
  ttl?: number;
  /** What the record is for, shown as a comment before it. */
  comment?: string;
  /**
   * True for the Worker's own hosts: as Worker custom domains (docs/deploy.md) Cloudflare creates their
   * records itself, and a hand-made record there would conflict; toZoneText writes them commented out.
   */
  createdByCloudflare?: boolean;
}

/** One hour: short enough to correct a mistake the same day, long enough not to burden resolvers. */
export const DEFAULT_TTL = 3600;

/** RFC 1035 §3.3.14: a TXT record holds character-strings of at most 255 octets each. */
const MAX_CHARACTER_STRING_OCTETS = 255;

const fqdn = (host: string): string => `${host}.`;

/**
 * RFC 1035 §5.1 and §3.3.14: the text as one or more quoted character-strings of at most 255 octets;
 * `"` and `\` are escaped with a backslash, octets outside printable ASCII as \DDD. A reader joins the
 * strings without separators (RFC 6376 §3.6.2.2, RFC 7208 §3.3), so a split may fall anywhere.
 */
export function txtValue(text: string): string {
  const octets = new TextEncoder().encode(text);
  const strings: string[] = [];
  for (let start = 0; start < octets.length; start += MAX_CHARACTER_STRING_OCTETS) {
    const chunk = octets.subarray(start, start + MAX_CHARACTER_STRING_OCTETS);
    strings.push(`"${Array.from(chunk, escapeOctet).join("")}"`);
  }
  return strings.length > 0 ? strings.join(" ") : '""';
}

function escapeOctet(octet: number): string {
  if (octet === 0x22 || octet === 0x5c) return `\\${String.fromCharCode(octet)}`;
  if (octet >= 0x20 && octet <= 0x7e) return String.fromCharCode(octet);
  return `\\${octet.toString().padStart(3, "0")}`;
}

/** RFC 5321 §5.1: lower preference first; 10, 20, … leaves room to insert a host between two. */
function mxRecords(domain: WorkerDomainConfig): ZoneRecord[] {
  return domain.mx.map((host, i) => ({
    name: fqdn(domain.name),
    type: "MX",
    value: `${(i + 1) * 10} ${fqdn(host)}`,
    comment: `MX (RFC 5321 §5.1): ${i === 0 ? "the host" : "a host of lower preference"} that receives mail for ${domain.name}`,
  }));
}

/** RFC 7208 §4.5/§5: "v=spf1", the configured mechanisms, then the final "all". */
function spfRecord(domain: WorkerDomainConfig): ZoneRecord {
  return {
    name: fqdn(domain.name),
    type: "TXT",
    value: txtValue(["v=spf1", ...domain.spf.mechanisms, domain.spf.all].join(" ")),
    comment: `SPF (RFC 7208): the hosts allowed to send mail from @${domain.name}`,
  };
}

/**
 * RFC 7208 §2.3: receivers check the HELO name too, and it is the only identity of a bounce (empty
 * MAIL FROM, RFC 7208 §2.4). Published under the domain whose zone holds our host name, unless that
 * name is a mail domain itself: its own SPF record covers it, and a second one would be a permerror
 * (RFC 7208 §4.5).
 */
function heloSpfRecord(domain: WorkerDomainConfig, config: WorkerConfig): ZoneRecord | null {
  const host = config.hostname;
  if (!host.endsWith(`.${domain.name}`) || config.domains.some((d) => d.name === host)) return null;
  return {
    name: fqdn(host),
    type: "TXT",
    value: txtValue("v=spf1 a -all"),
    comment: `SPF for the HELO name ${host} (RFC 7208 §2.3): only the relay itself may use it`,
  };
}

/** RFC 6376 §3.6.1 (RSA) and RFC 8463 §4.2 (Ed25519): the key record at <selector>._domainkey. */
function dkimRecords(domain: WorkerDomainConfig): ZoneRecord[] {
  if (!domain.dkim) return [];
  const { selector, algorithm, publicKey, ed25519 } = domain.dkim;
  return [
    {
      name: fqdn(`${selector}._domainkey.${domain.name}`),
      type: "TXT",
      value: txtValue(`v=DKIM1; k=${algorithm}; p=${publicKey}`),
      comment: `DKIM (RFC 6376 §3.6.2.1): the ${algorithm} public key that verifies our signatures (selector ${selector})`,
    },
    ...(ed25519
      ? [
          {
            name: fqdn(`${ed25519.selector}._domainkey.${domain.name}`),
            type: "TXT" as const,
            value: txtValue(`v=DKIM1; k=ed25519; p=${ed25519.publicKey}`),
            comment: `DKIM (RFC 8463 §4.2): the Ed25519 public key of our second signature (selector ${ed25519.selector})`,
          },
        ]
      : []),
  ];
}

/** RFC 7489 §6.3: v first, then p; several report URIs are separated by commas (§6.4). */
function dmarcRecord(domain: WorkerDomainConfig): ZoneRecord {
  const { p, sp, adkim, aspf, rua, ruf, rf, pct } = domain.dmarc;
  const tags = [
    "v=DMARC1",
    `p=${p}`,
    ...(sp ? [`sp=${sp}`] : []),
    `adkim=${adkim}`,
    `aspf=${aspf}`,
    ...(rua.length > 0 ? [`rua=${rua.join(",")}`] : []),
    ...(ruf.length > 0 ? [`ruf=${ruf.join(",")}`] : []),
    `rf=${rf}`,
    `pct=${pct}`,
  ];
  return {
    name: fqdn(`_dmarc.${domain.name}`),
    type: "TXT",
    value: txtValue(tags.join("; ")),
    comment: `DMARC (RFC 7489 §6.3): what receivers do with mail that fails SPF and DKIM alignment, and where they report`,
  };
}

/** RFC 8461 §3.1: announces the policy at https://mta-sts.<domain>/.well-known/mta-sts.txt. */
async function mtaStsRecord(domain: WorkerDomainConfig): Promise<ZoneRecord> {
  return {
    name: fqdn(`_mta-sts.${domain.name}`),
    type: "TXT",
    value: txtValue(await mtaStsTxt(domain)),
    comment: "MTA-STS (RFC 8461 §3.1): a policy exists; the id changes whenever the policy does",
  };
}

/** RFC 8460 §3: where senders report TLS failures; several URIs are separated by commas. */
function tlsRptRecord(domain: WorkerDomainConfig): ZoneRecord | null {
  if (!domain.tlsRpt) return null;
  return {
    name: fqdn(`_smtp._tls.${domain.name}`),
    type: "TXT",
    value: txtValue(`v=TLSRPTv1; rua=${domain.tlsRpt.rua.join(",")}`),
    comment: "TLS-RPT (RFC 8460 §3): where sending servers report TLS failures",
  };
}

/**
 * RFC 7672 §3.1.1 and RFC 7671 §5.1: DANE-EE(3) SPKI(1) SHA-256(1) pins the relay's key and not its
 * certificate, so a renewal with the same key keeps the record valid. Only for MX hosts that are the
 * relay itself (config.hostname): pinning our key on someone else's MX would break delivery to it.
 */
function tlsaRecords(domain: WorkerDomainConfig, config: WorkerConfig, facts: RecordFacts): ZoneRecord[] {
  const digest = facts.tlsaSpkiSha256;
  if (!digest) return [];
  const next = facts.tlsaNextSpkiSha256;
  return domain.mx
    .filter((host) => host === config.hostname)
    .flatMap((host) => [
      {
        name: fqdn(`_25._tcp.${host}`),
        type: "TLSA",
        value: `3 1 1 ${digest}`,
        comment: `DANE (RFC 7672): the key of ${host}'s certificate; the zone of ${host} must be DNSSEC-signed`,
      },
      ...(next
        ? [
            {
              name: fqdn(`_25._tcp.${host}`),
              type: "TLSA",
              value: `3 1 1 ${next}`,
              comment: `DANE key rollover (RFC 7671 §8.1): the next key of ${host}, published beside the current one before the relay switches to it`,
            },
          ]
        : []),
    ]);
}

interface SrvService {
  label: string;
  host: string;
  port: number | null;
  /** RFC 6186 §3.4 / RFC 8314 §5.1: lower is preferred; implicit TLS goes before STARTTLS. */
  priority: number;
  what: string;
  rfc: string;
}

/** RFC 2782: "priority weight port target"; a target of "." says the service is not offered (RFC 6186 §4). */
function srvRecord(domain: WorkerDomainConfig, service: SrvService): ZoneRecord {
  const offered = service.port !== null;
  return {
    name: fqdn(`${service.label}.${domain.name}`),
    type: "SRV",
    value: offered ? `${service.priority} 1 ${service.port} ${fqdn(service.host)}` : "0 0 0 .",
    comment: offered ? `${service.what} (${service.rfc})` : `${service.what} is not offered (${service.rfc}, RFC 6186 §4)`,
  };
}

/** The client services of RFC 6186, RFC 8314 and RFC 5804, and Outlook's Autodiscover SRV lookup. */
function srvRecords(domain: WorkerDomainConfig): ZoneRecord[] {
  // docs/configuration.md: every client service defaults to the first MX host.
  const firstMx = domain.mx[0]!;
  const smtpHost = domain.smtp.host ?? firstMx;
  const imapHost = domain.imap.host ?? firstMx;
  const sieveHost = domain.sieve.host ?? firstMx;
  const services: SrvService[] = [
    { label: "_submissions._tcp", host: smtpHost, port: domain.smtp.sslPort, priority: 0, what: "mail submission with implicit TLS", rfc: "RFC 8314 §5.1" },
    { label: "_submission._tcp", host: smtpHost, port: domain.smtp.starttlsPort, priority: 10, what: "mail submission with STARTTLS", rfc: "RFC 6186 §3.1" },
    { label: "_imaps._tcp", host: imapHost, port: domain.imap.sslPort, priority: 0, what: "IMAP with implicit TLS", rfc: "RFC 6186 §3.2" },
    { label: "_imap._tcp", host: imapHost, port: domain.imap.starttlsPort, priority: 10, what: "IMAP with STARTTLS", rfc: "RFC 6186 §3.2" },
    { label: "_sieve._tcp", host: sieveHost, port: domain.sieve.port, priority: 0, what: "ManageSieve for mail filters", rfc: "RFC 5804 §1.8" },
    { label: "_autodiscover._tcp", host: `autodiscover.${domain.name}`, port: 443, priority: 0, what: "Outlook Autodiscover over HTTPS", rfc: "[MS-OXDISCO]" },
  ];
  return services.map((s) => srvRecord(domain, s));
}

/**
 * The hosts the Worker serves as custom domains, for which Cloudflare creates the records. Shown so the
 * list is complete; a deployment with routes instead publishes them, proxied, as CNAMEs to the domain,
 * whose own paths the Worker already serves through routes (docs/dns.md).
 */
function workerHostRecords(domain: WorkerDomainConfig): ZoneRecord[] {
  const hosts: [string, string][] = [
    ["autoconfig", "Thunderbird autoconfig"],
    ["autodiscover", "Outlook Autodiscover"],
    ["mta-sts", "the MTA-STS policy (RFC 8461 §3.3)"],
  ];
  return hosts.map(([label, what]) => ({
    name: fqdn(`${label}.${domain.name}`),
    type: "CNAME",
    value: fqdn(domain.name),
    comment: `${what}, served by the edgemx Worker: Cloudflare creates this record for the Worker custom domain`,
    createdByCloudflare: true,
  }));
}

/** Everything `domain` must publish, in the order a postmaster reads it: mail flow, authentication, policy, clients. */
export async function domainRecords(domain: WorkerDomainConfig, config: WorkerConfig, facts: RecordFacts): Promise<ZoneRecord[]> {
  const optional = (r: ZoneRecord | null): ZoneRecord[] => (r ? [r] : []);
  return [
    ...mxRecords(domain),
    spfRecord(domain),
    ...optional(heloSpfRecord(domain, config)),
    ...dkimRecords(domain),
    dmarcRecord(domain),
    await mtaStsRecord(domain),
    ...optional(tlsRptRecord(domain)),
    ...tlsaRecords(domain, config, facts),
    ...srvRecords(domain),
    ...workerHostRecords(domain),
  ];
}

/**
 * Zone-file text (RFC 1035 §5.1): each record on one line after its comment, records separated by a
 * blank line; records Cloudflare creates are commented out, so the text can be imported as it is.
 */
export function toZoneText(records: readonly ZoneRecord[], heading?: string): string {
  const blocks = records.map((r) => {
    const line = `${r.createdByCloudflare ? "; " : ""}${r.name}\t${r.ttl ?? DEFAULT_TTL}\tIN\t${r.type}\t${r.value}`;
    return r.comment ? `; ${r.comment}\n${line}\n` : `${line}\n`;
  });
  if (heading)
    blocks.unshift(
      `${heading
        .split("\n")
        .map((l) => `; ${l}`.trimEnd())
        .join("\n")}\n`,
    );
  return blocks.join("\n");
}
