// The one configuration schema of edgemx, shared by the Worker and the relay. Each default and each
// field's meaning is written here once: `npm run docs` (scripts/config-docs.ts) turns the descriptions
// into docs/configuration.md. Every rule that depends only on the document is here too, so that
// `npm run config:check` refuses exactly what the relay and the Worker refuse at start.
import { isIP } from "node:net";
import { z } from "zod";
import { authPolicySchema } from "./auth-policy.ts";
import { rfcRulesSchema } from "./rfc-rules.ts";

// What the reference (docs/configuration.md) reads from a field's metadata besides its description.
declare module "zod" {
  interface GlobalMeta {
    /** What the value is, in words, where the schema's own type says too little (e.g. "host name"). */
    kind?: string;
    /** The default of an optional field whose absence means a value derived elsewhere. */
    defaultText?: string;
    /** What the relay or the Worker checks at start beyond the document: files, environment variables. */
    checkedAtStart?: string;
  }
}

// RFC 1035 §2.3.1 / RFC 1123 §2.1: labels of letters, digits and hyphens, 1–63 octets, 253 in all.
// Mail host and domain names are fully qualified: at least two labels.
const HOSTNAME_RE = /^(?=.{1,253}$)(?!-)[a-z0-9-]{1,63}(?<!-)(\.(?!-)[a-z0-9-]{1,63}(?<!-))+$/i;
const hostname = z
  .string()
  .regex(HOSTNAME_RE, { message: "expected a host name such as mx.example.org" })
  .transform((h) => h.toLowerCase())
  .meta({ kind: "host name" });

// RFC 8461 §4.1: an mx pattern is a host name, optionally with a leading "*." wildcard label.
const mxPattern = z
  .string()
  .regex(/^(\*\.)?[a-z0-9.-]+$/i, { message: "expected a host name or a *.wildcard pattern" })
  .refine((p) => HOSTNAME_RE.test(p.replace(/^\*\./, "")), { message: "expected a host name or a *.wildcard pattern" })
  .transform((p) => p.toLowerCase())
  .meta({ kind: "host name pattern" });

const port = z.number().int().min(1).max(65535).meta({ kind: "port" });
const mailtoOrHttps = z
  .string()
  .regex(/^(mailto:[^\s,;!]+@[^\s,;!]+|https:\/\/[^\s,;]+)$/, { message: "expected a mailto: or https: URI" })
  .meta({ kind: "`mailto:` or `https:` URI" });
const localPart = z
  .string()
  .regex(/^[a-z0-9!#$%&'*+/=?^_`{|}~.-]+$/i, { message: "expected the local part of an address" })
  .meta({ kind: "local part" });
const path = z.string().min(1).meta({ kind: "path" });
const address = z.string().email({ message: "expected an e-mail address" }).meta({ kind: "address" });
const milliseconds = (min: number, max?: number) => (max === undefined ? z.number().int().min(min) : z.number().int().min(min).max(max)).meta({ kind: "ms" });
const seconds = (min: number) => z.number().int().min(min).meta({ kind: "seconds" });
const bytes = z
  .number()
  .int()
  .min(1024)
  .max(1024 * 1024 * 1024)
  .meta({ kind: "bytes" });

const server = (ports: { ssl: number; starttls: number }) =>
  z
    .object({
      host: hostname.optional().meta({ description: "the host clients connect to", defaultText: "the first `mx` host" }),
      sslPort: port.nullable().default(ports.ssl).describe("the port with implicit TLS (RFC 8314); `null`: not offered"),
      starttlsPort: port.nullable().default(ports.starttls).describe("the port with STARTTLS; `null`: not offered"),
    })
    .strict()
    .prefault({});

/** Checks whose failure a role mailbox may be spared (RFC 2142 mailboxes must stay reachable). */
export const RELAXABLE_CHECKS = ["dnsbl", "fcrdns", "helo", "sender", "spf", "dkim", "dmarc", "banned", "rfc", "greylist", "spam"] as const;
export type RelaxableCheck = (typeof RELAXABLE_CHECKS)[number];

// relay.allow: a client or sender spared named checks (core/allow/). The virus scan is never among them.
/** What an allowlist entry matches on; each entry names exactly one. */
export const ALLOW_MATCHES = ["ip", "name", "helo", "sender"] as const;
/** The checks answered at RCPT TO or earlier: a sender domain, known to be genuine only after DATA, cannot spare them. */
export const SESSION_STAGE_CHECKS: readonly RelaxableCheck[] = ["dnsbl", "fcrdns", "helo", "sender", "greylist"];

// A check by name; the virus scan is refused with its own reason rather than as one more unknown name.
const sparedCheck = z
  .string()
  .transform((check, ctx): RelaxableCheck => {
    const known = RELAXABLE_CHECKS.find((name) => name === check);
    if (known !== undefined) return known;
    ctx.addIssue({
      code: "custom",
      message:
        check === "virus"
          ? "the virus scan is never spared: an allowlisted client's mail is scanned like any other"
          : `expected one of ${RELAXABLE_CHECKS.join(", ")}`,
    });
    return z.NEVER;
  })
  .meta({ kind: "check" });

// An address, or a network as address/prefix (IPv4 /0–32, IPv6 /0–128).
const ipOrNetwork = z
  .string()
  .refine(
    (text) => {
      const [address = "", prefix, ...rest] = text.split("/");
      const family = isIP(address);
      if (family === 0 || rest.length > 0) return false;
      return prefix === undefined || (/^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128));
    },
    { message: "expected an IP address or a network such as 192.0.2.0/24 or 2001:db8::/32" },
  )
  .meta({ kind: "address or network" });

const allowEntry = z
  .object({
    ip: ipOrNetwork.optional().meta({ description: "the client's address, or its network (`192.0.2.0/24`, `2001:db8::/32`)" }),
    name: mxPattern.optional().meta({
      description: "the client's forward-confirmed name (FCrDNS, RFC 8601 §3 iprev): `mail.partner.example`, or `*.partner.example` for every name under it",
    }),
    helo: mxPattern.optional().meta({
      description:
        "the HELO/EHLO name, or `*.partner.example` for every name under it; anyone can claim a HELO name, so spare with it only what a claimed name may be spared",
    }),
    sender: mxPattern.optional().meta({
      description:
        "the sender's domain (`*.partner.example` for every domain under it): the From domain, and only when SPF (MAIL FROM) or DKIM authenticates a domain aligned with it (RFC 7489 §3.1), since anyone can write any From; so it is decided after DATA and spares only the message's checks",
    }),
    spare: z
      .array(sparedCheck)
      .refine((checks) => checks.length > 0, { message: "expected at least one check to spare" })
      .describe(`the checks this client or sender is spared: ${RELAXABLE_CHECKS.join(", ")}; never the virus scan`),
  })
  .strict()
  .superRefine((entry, ctx) => {
    const given = ALLOW_MATCHES.filter((match) => entry[match] !== undefined);
    if (given.length !== 1)
      ctx.addIssue({
        code: "custom",
        message: `expected exactly one of ${ALLOW_MATCHES.join(", ")}: what the entry matches (${given.length === 0 ? "none is given" : `${given.join(" and ")} are given`})`,
      });
    if (entry.sender === undefined) return;
    entry.spare.forEach((check, i) => {
      if (SESSION_STAGE_CHECKS.includes(check))
        ctx.addIssue({
          code: "custom",
          path: ["spare", i],
          message: `a sender entry cannot spare ${check}: the sender domain is genuine only once SPF or DKIM aligns it after DATA, and ${check} answers at RCPT TO; name the client by ip or name instead`,
        });
    });
  });

const rolePolicy = z
  .object({
    relax: z.array(z.enum(RELAXABLE_CHECKS)).default([]).describe("the checks whose failure this mailbox is spared; never the virus scan"),
  })
  .strict();

// The spec's selectors are timestamps (e.g. 1546251274); any RFC 6376 §3.1 selector is allowed.
const dkimSelector = z
  .string()
  .regex(/^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/i, {
    message: "expected a DKIM selector (RFC 6376 §3.1), e.g. 1546251274",
  })
  .meta({ kind: "selector" });

const dkim = z
  .object({
    selector: dkimSelector.describe("the selector (RFC 6376 §3.1); the specification uses timestamps, e.g. `1546251274`"),
    algorithm: z.enum(["rsa", "ed25519"]).default("rsa").describe("the key's algorithm"),
    publicKey: z
      .string()
      .transform((k) => k.replace(/\s+/g, ""))
      .pipe(z.string().regex(/^[A-Za-z0-9+/]+=*$/, { message: "expected the base64 public key (the p= value)" }))
      .meta({
        kind: "base64",
        description:
          "the public key for the published record, the `p=` value: the SubjectPublicKeyInfo (rsa) or the raw 32-byte key (ed25519); white space is ignored",
      }),
    privateKeyFile: path.optional().meta({
      description:
        "the PEM key the relay signs submitted mail with (RSA ≥ 2048 bits); without it, the PEM in the environment variable `EDGEMX_DKIM_KEY_<DOMAIN>` (the domain in capitals, other characters `_`; see [submission.md](submission.md))",
      checkedAtStart:
        "the key (this file, else `EDGEMX_DKIM_KEY_<DOMAIN>`) is a PEM private key of `algorithm`, an RSA key of at least 2048 bits; the submission listeners do not start otherwise",
    }),
    ed25519: z
      .object({
        selector: dkimSelector.describe("its selector, beside the first one's"),
        publicKey: z
          .string()
          .transform((k) => k.replace(/\s+/g, ""))
          .pipe(z.string().regex(/^[A-Za-z0-9+/]{43}=$/, { message: "expected the base64 of the 32-byte Ed25519 public key" }))
          .meta({ kind: "base64", description: "the raw 32-byte public key (RFC 8463 §4.2), the `p=` value" }),
        privateKeyFile: path.optional().meta({
          description: "its PEM key; without it, the PEM in `EDGEMX_DKIM_ED25519_KEY_<DOMAIN>`",
          checkedAtStart: "the key (this file, else `EDGEMX_DKIM_ED25519_KEY_<DOMAIN>`) is a PEM Ed25519 private key",
        }),
      })
      .strict()
      .optional()
      .describe("a second, Ed25519 signature (RFC 8463) beside the first, with its own selector and record"),
  })
  .strict();

const dmarcPolicy = z.enum(["none", "quarantine", "reject"]);
const dmarc = z
  .object({
    p: dmarcPolicy.default("reject").describe("the policy for the domain (RFC 7489 §6.3)"),
    sp: dmarcPolicy.optional().meta({ description: "the policy for its subdomains", defaultText: "none: `p` applies" }),
    adkim: z.enum(["r", "s"]).default("s").describe("DKIM alignment: `r` relaxed, `s` strict"),
    aspf: z.enum(["r", "s"]).default("s").describe("SPF alignment: `r` relaxed, `s` strict"),
    rua: z.array(mailtoOrHttps).default([]).describe("where aggregate reports go"),
    ruf: z.array(mailtoOrHttps).default([]).describe("where failure reports go"),
    rf: z.enum(["afrf"]).default("afrf").describe("the failure report format"),
    pct: z.number().int().min(0).max(100).default(100).describe("the percentage of failing mail the policy applies to"),
  })
  .strict();

// RFC 8461 §3.2: max_age is at most 31557600 seconds; we also refuse under a day as a practical floor.
export const MTA_STS_MAX_AGE_MAX = 31557600;
export const MTA_STS_MAX_AGE_MIN = 86400;
const mtaSts = z
  .object({
    mode: z.enum(["enforce", "testing", "none"]).default("testing").describe("the policy's mode (RFC 8461 §5)"),
    mx: z.array(mxPattern).optional().meta({
      description: "the MX hosts senders may deliver to; a pattern may start with `*.`",
      defaultText: "the `mx` hosts",
    }),
    maxAge: seconds(MTA_STS_MAX_AGE_MIN)
      .max(MTA_STS_MAX_AGE_MAX)
      .default(604800)
      .describe("how long senders keep the policy (RFC 8461 §3.2 allows at most 31557600; under a day is refused as a practical floor)"),
  })
  .strict();

const domain = z
  .object({
    name: hostname.describe("the domain, e.g. `example.org`; each domain once"),
    displayName: z
      .string()
      .min(1)
      .max(200)
      .optional()
      .meta({ description: "the name mail clients (autoconfig) and the postmaster page show", defaultText: "the domain name" }),
    displayShortName: z.string().min(1).max(60).optional().meta({ description: "the short name mail clients show", defaultText: "the domain name" }),
    mx: z
      .array(hostname)
      .min(1, { message: "expected at least one MX host" })
      .describe("the MX hosts in order of preference (MX 10, 20, …); the first one is the default host of the services below and the postmaster page's"),
    imap: server({ ssl: 993, starttls: 143 }).describe("IMAP for mail clients"),
    smtp: server({ ssl: 465, starttls: 587 }).describe("mail submission for mail clients"),
    sieve: z
      .object({
        host: hostname.optional().meta({ description: "the host clients connect to", defaultText: "the first `mx` host" }),
        port: port.nullable().default(4190).describe("its port; `null`: not offered"),
      })
      .strict()
      .prefault({})
      .describe("ManageSieve (RFC 5804) for mail filters"),
    dkim: dkim.optional().describe("the domain's DKIM key (RFC 6376): the published record, and the relay's signature on submitted mail"),
    spf: z
      .object({
        mechanisms: z
          .array(
            z.string().regex(/^[+?~-]?(a|mx|ptr|ip4|ip6|include|exists)([:/].*)?$|^(redirect|exp)=.+$/i, {
              message: "expected an SPF mechanism such as mx, a:host, ip4:192.0.2.0/24 or include:domain",
            }),
          )
          .default(["mx"])
          .meta({ kind: "list of SPF mechanisms", description: "the mechanisms between `v=spf1` and the final `all` (RFC 7208 §5)" }),
        all: z.enum(["-all", "~all", "?all"]).default("-all").describe("the final `all`: fail, softfail or neutral"),
      })
      .strict()
      .prefault({})
      .describe("the published SPF record (RFC 7208)"),
    dmarc: dmarc.prefault({}).describe("the published DMARC record (RFC 7489 §6.3)"),
    mtaSts: mtaSts.prefault({}).describe("the published MTA-STS policy (RFC 8461)"),
    tlsRpt: z
      .object({
        rua: z.array(mailtoOrHttps).min(1).describe("where reports go; an `https:` address can be the Worker's own endpoint ([tlsrpt.md](tlsrpt.md))"),
      })
      .strict()
      .optional()
      .describe("the published TLS reporting record (RFC 8460)"),
    forwardTo: address.optional().describe("where Cloudflare Email Routing forwards accepted mail of this domain (a verified destination address)"),
    mailboxes: z.array(localPart).default([]).describe("the local parts that receive mail here (the relay's RCPT TO check, RFC 5321 §3.3)"),
    aliases: z
      .record(localPart, z.string().min(1).meta({ kind: "local part or address" }))
      .default({})
      .describe(
        "recipients delivered to another mailbox: a local part of this domain or a full address; one at another domain is forwarded with an SRS sender and an ARC seal ([forwarding.md](forwarding.md))",
      ),
    catchAll: z.boolean().default(false).describe("every local part exists"),
  })
  .strict();

const listenerFields = (defaultPort: number) => ({
  host: z.string().default("::").meta({ kind: "address", description: "the address to listen on; `::` is every address" }),
  port: port.default(defaultPort).describe("the port to listen on"),
  enabled: z.boolean().default(true).describe("`false` turns the listener off"),
});

const listener = (defaultPort: number) => z.object(listenerFields(defaultPort)).strict().prefault({});

const checkAction = z.enum(["reject", "tempfail", "log"]);

// The verdict API's URL is https:, or http: on loopback only (a Worker under `wrangler dev`): the
// message and the relay's token never cross a network in clear text.
const LOOPBACK_HOSTS = new Set(["localhost", "127.0.0.1", "[::1]"]);
const verdictUrl = z
  .string()
  .url({ message: "expected the https:// URL of the Worker's /v1/verdict" })
  .superRefine((url, ctx) => {
    if (!URL.canParse(url)) return; // refused as no URL above
    const { protocol, hostname, host } = new URL(url);
    if (protocol === "https:" || (protocol === "http:" && LOOPBACK_HOSTS.has(hostname))) return;
    ctx.addIssue({ code: "custom", message: `expected an https:// URL (http:// only on loopback), not ${protocol}//${host}` });
  })
  .meta({ kind: "URL" });

// A smarthost (relay.outbound.relayHost): submission with TLS required and verified (RFC 8314), then
// AUTH (RFC 4954) with the password from the environment. Ports 465 and 587 are RFC 8314's implicit
// TLS and STARTTLS ports: a `tls` that contradicts them is a mistake, refused here.
const relayHost = z
  .object({
    host: hostname.describe("its name: resolved through `relay.resolver`, and the name its certificate must carry"),
    port: port.default(587).describe("its submission port: 587 (STARTTLS) or 465 (implicit TLS)"),
    tls: z
      .enum(["starttls", "implicit"])
      .default("starttls")
      .describe("STARTTLS (RFC 3207) or implicit TLS (RFC 8314 §3.3); either way required, at TLS 1.2 or above, and the certificate verified"),
    username: z.string().min(1).meta({ kind: "user name", description: "the AUTH user; the password comes from `EDGEMX_RELAY_HOST_PASSWORD`" }),
    authMethod: z.enum(["plain", "login"]).default("plain").describe("AUTH PLAIN (RFC 4616) or LOGIN"),
    domains: z.array(hostname).default([]).describe("the destination domains sent through it; empty: every domain that is not ours (`domains`)"),
  })
  .strict()
  .superRefine((hop, ctx) => {
    if (hop.port === 465 && hop.tls === "starttls")
      ctx.addIssue({ code: "custom", path: ["tls"], message: "port 465 is implicit TLS (RFC 8314 §3.3): expected tls: implicit" });
    if (hop.port === 587 && hop.tls === "implicit")
      ctx.addIssue({ code: "custom", path: ["tls"], message: "port 587 is STARTTLS (RFC 6409): expected tls: starttls" });
  });

// A dynamic-name pattern is compiled here, once: an invalid one refuses the document, never a session.
const dynamicPattern = z
  .string()
  .transform((pattern, ctx) => {
    try {
      return new RegExp(pattern, "i");
    } catch (err) {
      ctx.addIssue({ code: "custom", message: `expected a regular expression (${(err as Error).message})` });
      return z.NEVER;
    }
  })
  .meta({ kind: "regular expression" });

const rspamd = z
  .object({
    url: z.string().url({ message: "expected the http:// URL of rspamd's normal worker, e.g. http://127.0.0.1:11333" }).optional().meta({
      kind: "URL",
      description: "rspamd's normal worker, e.g. `http://127.0.0.1:11333`; every inbound message goes to its `/checkv2` inside the SMTP session",
      defaultText: "none: no scoring",
    }),
    controllerUrl: z.string().url({ message: "expected the http:// URL of rspamd's controller, e.g. http://127.0.0.1:11334" }).optional().meta({
      kind: "URL",
      description:
        "rspamd's controller, e.g. `http://127.0.0.1:11334`: learning (`/learnspam`, `/learnham`, `/fuzzyadd`) for the spamtrap, the learn listener and `npm run learn`",
    }),
    timeoutMs: milliseconds(100, 120_000).default(20_000).describe("the whole exchange with rspamd, connect to last byte (rspamd's own task timeout is 8 s)"),
    onError: z
      .enum(["tempfail", "accept"])
      .default("tempfail")
      .describe(
        "rspamd unreachable, timing out, answering an error or nonsense: `451 4.3.0` (never an unscanned accept), or accept the message marked `X-Edgemx-Spam: not scanned; rspamd unavailable`",
      ),
    greylistScoreGate: z
      .number()
      .nullable()
      .default(null)
      .describe(
        "with `url` set and greylisting on: greylist only mail scoring at least this, decided after the final dot (`451 4.7.1 … Greylisted …`); `null` greylists every new triplet at RCPT TO",
      ),
    spamtrap: z
      .object({
        // Spamtrap addresses must be at our domains: mail for any other is refused as relaying (the rule
        // spans fields, so it is in configSchema's refinement below).
        addresses: z
          .array(
            z
              .string()
              .email({ message: "expected an e-mail address at one of our domains" })
              .transform((a) => a.toLowerCase()),
          )
          .default([])
          .meta({
            kind: "list of addresses at our domains",
            description:
              "trap addresses: mail to them is accepted and never delivered, learned as spam, and its client blocklisted; each is at one of `domains[].name`",
          }),
        blocklistTtlSeconds: seconds(60)
          .default(86400)
          .describe("how long a client that wrote to a trap is refused (`554 5.7.1 Service unavailable; Client host [ip] blocked using spamtrap.<hostname>`)"),
        learnRatePerMinute: z
          .number()
          .int()
          .min(1)
          .max(6000)
          .default(10)
          .describe("trap messages learned per minute (a burst of as many at once); past it they are only blocklisted"),
        fuzzy: z
          .object({
            flag: z.number().int().min(1).describe("the flag of a writable `fuzzy_check` rule"),
            weight: z.number().positive().default(10).describe("the weight the hashes are stored with"),
          })
          .strict()
          .optional()
          .describe("also store each trap message's fuzzy hashes (`/fuzzyadd`) — `{ flag: 11 }` with the shipped configuration's local fuzzy storage"),
      })
      .strict()
      .prefault({})
      .describe("the spamtrap"),
    learnListener: z
      .object({
        host: z.string().min(1).default("127.0.0.1").meta({ kind: "address", description: "the address to listen on" }),
        port: port.default(11380).describe("the port to listen on"),
      })
      .strict()
      .optional()
      .meta({
        description:
          "the HTTP listener for learning from people (Dovecot imapsieve on the mailbox host): `POST /learn/spam`, `POST /learn/ham`; it needs `controllerUrl`",
        checkedAtStart: "`EDGEMX_LEARN_TOKEN` (its bearer token) is in the environment, and the address can be listened on",
      }),
  })
  .strict()
  .superRefine((rspamd, ctx) => {
    if (rspamd.learnListener !== undefined && rspamd.controllerUrl === undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["learnListener"],
        message: "expected relay.rspamd.controllerUrl beside it: the learn listener hands what it learns to rspamd's controller",
      });
    }
  });

// The checks of the sending server and its envelope. Both inbound paths run them with the same code and
// replies: the relay in its SMTP session, the Worker's email() with the client Cloudflare's trace names.
const connection = z
  .object({
    dnsbl: z
      .object({
        action: checkAction.default("reject").describe("what a listed client gets"),
        zones: z
          .array(
            z
              .object({
                zone: hostname.describe("the zone, e.g. `zen.spamhaus.org`"),
                codes: z
                  .array(z.string().regex(/^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/, { message: "expected a 127.x.y.z answer" }))
                  .default([])
                  .meta({ kind: "list of 127.x.y.z", description: "the answers that count as listed (RFC 5782 §2.1: 127.0.0.0/8); empty: any" }),
                keySecret: z
                  .string()
                  .regex(/^[A-Z][A-Z0-9_]*$/, { message: "expected the name of a secret, e.g. SPAMHAUS_DQS_KEY" })
                  .optional()
                  .meta({
                    kind: "secret name",
                    description:
                      "for a list that wants an access key in the name (Spamhaus DQS: `zone: zen.dq.spamhaus.net` asks `<ip>.<key>.zen.dq.spamhaus.net`): the name of the secret holding the key, the Worker's secret (`wrangler secret put`) or the relay's environment variable of that name; never the key itself",
                    defaultText: "none: the zone is asked as it is",
                    checkedAtStart: "the relay's environment has the variable, a single DNS label; the Worker defers mail while its secret is missing",
                  }),
              })
              .strict(),
          )
          .default([])
          .describe("the zones asked"),
      })
      .strict()
      .prefault({})
      .describe("DNS blocklists (RFC 5782) asked for each client ([relay-checks.md](relay-checks.md))"),
    fcrdns: z
      .object({
        action: checkAction.default("reject").describe("what a client without a confirmed name, or with a dynamic-looking one, gets"),
        dynamicPatterns: z.array(dynamicPattern).default([]).describe("dynamic-looking PTR names, matched case-insensitively"),
      })
      .strict()
      .prefault({})
      .describe("forward-confirmed reverse DNS of the client (RFC 8601 §3 iprev)"),
    helo: z
      .object({ action: checkAction.default("reject").describe("what an implausible HELO/EHLO name gets") })
      .strict()
      .prefault({})
      .describe("the HELO/EHLO plausibility check"),
    sender: z
      .object({ action: checkAction.default("reject").describe("what a MAIL FROM domain failing the check gets") })
      .strict()
      .prefault({})
      .describe("the MAIL FROM domain check"),
    mandatoryTls: z
      .object({
        domains: z
          .array(hostname)
          .default([])
          .describe(
            "sender domains whose mail is accepted only over TLS (on Email Routing: where Cloudflare's trace shows the TLS state), and destinations the relay delivers to only over verified TLS",
          ),
      })
      .strict()
      .prefault({})
      .describe("TLS that is not optional"),
    greylist: z
      .object({
        enabled: z
          .boolean()
          .default(true)
          .describe('`false`: every check passes ("greylisting disabled"); the relay opens no store, the Worker asks no Durable Object'),
        delaySeconds: seconds(0).default(300).describe("how long a new triplet is deferred; `0`: the first attempt passes (greylisting only records)"),
        retryWindowSeconds: seconds(60)
          .default(2 * 86400)
          .describe("a new triplet's retry must come within this time of the first attempt, else it starts over"),
        passLifetimeSeconds: seconds(60)
          .default(36 * 86400)
          .describe("a passed triplet, and a network's delivery count, are kept this long after last use"),
        autoAllowAfter: z.number().int().min(1).default(5).describe("delivered messages after which a client network is no longer greylisted"),
        ipv4Prefix: z.number().int().min(8).max(32).default(24).describe("the IPv4 network of a triplet, as a prefix length"),
        ipv6Prefix: z.number().int().min(16).max(128).default(64).describe("the IPv6 network of a triplet, as a prefix length"),
      })
      .strict()
      .prefault({})
      .describe(
        "greylisting of (client network, sender, recipient) triplets ([greylisting.md](greylisting.md)); the relay keeps the state in `relay.store`, the Worker in its Durable Object",
      ),
  })
  .strict();

// RFC 8555: the ACME client inside the relay (relay-node/src/acme/). The decisions on these values
// (which names, when to renew, the key rollover of RFC 7671 §8.1) are core/acme/.
export const ACME_KEY_TYPES = ["ecdsa-p256", "ecdsa-p384", "rsa-2048", "rsa-3072", "rsa-4096"] as const;
const acme = z
  .object({
    directoryUrl: z
      .string()
      .regex(/^https:\/\/[^\s]+$/, { message: "expected the https:// URL of an ACME directory (RFC 8555 §7.1.1)" })
      .default("https://acme-v02.api.letsencrypt.org/directory")
      .meta({
        kind: "URL",
        description: "the CA's ACME directory (RFC 8555 §7.1.1); Let's Encrypt's staging directory is `https://acme-staging-v02.api.letsencrypt.org/directory`",
      }),
    contact: address.optional().meta({ description: "the account's contact address (RFC 8555 §7.3), for the CA's notices", defaultText: "none" }),
    names: z.array(hostname).min(1, { message: "expected at least one host name" }).optional().meta({
      description: "the host names of the certificate (subjectAltName); each must resolve to this relay, where the CA asks for the HTTP-01 challenge",
      defaultText: "`hostname` (the MX host that is the relay, the one the TLSA record is published for)",
    }),
    challengeListener: z
      .object({
        host: z.string().default("::").meta({ kind: "address", description: "the address to listen on; `::` is every address" }),
        port: port.default(80).describe("the port; the CA connects to port 80 (RFC 8555 §8.3), so another port only behind a redirect or a port forward"),
      })
      .strict()
      .prefault({})
      .describe("where the relay answers HTTP-01 challenges (`/.well-known/acme-challenge/`, RFC 8555 §8.3); it listens while the relay runs"),
    renewBeforeDays: z
      .number()
      .int()
      .min(1)
      .max(365)
      .default(30)
      .describe("renew when the certificate has this many days left, or a third of its lifetime for shorter-lived ones"),
    dir: path.optional().meta({
      description: "where the account key, the certificate (`cert.pem`), its key (`key.pem`) and the key rollover's state live; keys mode 0600",
      defaultText: "`acme/` beside the spool",
    }),
    keyType: z
      .enum(ACME_KEY_TYPES)
      .default("ecdsa-p256")
      .describe("the type of a new certificate key; the key is kept across renewals, so another type applies from the next rollover"),
    rolloverDelaySeconds: seconds(0)
      .default(2 * 86400)
      .describe(
        "how long after `npm run tls -- rollover` the relay switches to the new key: time to publish the new TLSA record beside the old one and for caches to forget the old set, at least twice the TLSA record's TTL (RFC 7671 §8.1)",
      ),
    caFile: path.optional().meta({
      description: "PEM CA certificates to trust for the ACME server's HTTPS instead of the system's (a private ACME CA)",
      defaultText: "the system's",
    }),
  })
  .strict();

const relay = z
  .object({
    listeners: z
      .object({
        mx: z
          .object({
            ...listenerFields(25),
            reusePort: z
              .boolean()
              .default(false)
              .describe(
                "`true`: share the port with other relay processes on this host (`SO_REUSEPORT`, Linux), each with its own `relay.spool`; the kernel spreads the connections among them ([relay.md](relay.md#the-judge-on-every-core))",
              ),
          })
          .strict()
          .prefault({})
          .describe("the MX: mail from other servers (RFC 5321)"),
        submission: listener(587).describe("mail submission with STARTTLS (RFC 6409)"),
        submissions: listener(465).describe("mail submission over implicit TLS (RFC 8314)"),
      })
      .strict()
      .prefault({})
      .meta({ description: "where the relay listens", checkedAtStart: "each enabled listener's address can be listened on" }),
    tls: z
      .object({ cert: path.describe("the PEM certificate (chain)"), key: path.describe("its PEM private key") })
      .strict()
      .optional()
      .meta({
        description: "the certificate of STARTTLS and implicit TLS; without it the relay makes a self-signed certificate on first start and warns",
        checkedAtStart: "both files are readable and make a pair",
      }),
    acme: acme.optional().meta({
      description:
        "certificates by ACME (RFC 8555), e.g. from Let's Encrypt: the relay answers HTTP-01 on `challengeListener`, renews by itself and keeps the key, so the TLSA `3 1 1` record stays valid; `npm run tls -- rollover` changes the key ([relay.md](relay.md#certificates-by-acme)). Instead of `relay.tls`",
      defaultText: "none: `relay.tls` or the self-signed certificate",
      checkedAtStart: "the folder `dir` can be written; `caFile` is readable",
    }),
    nextHop: z
      .discriminatedUnion("type", [
        z
          .object({
            type: z.literal("maildir"),
            path: path.default("./data/Maildir").describe("the Maildir"),
            deliverBeforeReply: z
              .boolean()
              .default(true)
              .describe(
                "the MX writes a message whose recipients all have a Maildir here into their Maildirs, fsynced, before its 250, instead of into the spool; what a Maildir does not take then is spooled and retried ([queue.md](queue.md#delivery-before-the-reply)). `false`: every message through the spool",
              ),
          })
          .strict(),
        z
          .object({
            type: z.literal("lmtp"),
            host: z.string().min(1).meta({ kind: "host", description: "the LMTP host" }),
            port: port.default(24).describe("its port"),
          })
          .strict(),
        z
          .object({
            type: z.literal("smtp"),
            host: z.string().min(1).meta({ kind: "host", description: "the SMTP host" }),
            port: port.default(25).describe("its port"),
          })
          .strict(),
      ])
      .prefault({ type: "maildir" })
      .describe("where accepted mail for our domains goes"),
    spool: path.default("./data/spool").meta({
      description: "the durable queue directory",
      checkedAtStart:
        "no other relay holds it (its lease, `owner.json`) or serves it (its control socket does not answer); a dead relay's spool is taken over with `npm run queue -- adopt` ([queue.md](queue.md))",
    }),
    deliveryConcurrency: z
      .number()
      .int()
      .min(1)
      .max(500)
      .default(40)
      .describe(
        "deliveries from the spool in flight at once, next hop and remote domains together; below the MX's sessions at full load, delivery falls behind acceptance and the spool grows ([queue.md](queue.md))",
      ),
    threads: z.number().int().min(0).max(256).optional().meta({
      description:
        "the worker threads that judge inbound and submitted mail (MIME, DKIM/ARC verification, banned content) beside the main thread, which keeps the listeners and the spool; `0`: the judge runs on the main thread. Not used with `relay.verdict.url` ([relay.md](relay.md#the-judge-on-every-core))",
      defaultText: "the number of cores (`os.availableParallelism()`)",
    }),
    threadsFromBytes: z
      .number()
      .int()
      .min(0)
      .max(1024 * 1024 * 1024)
      .default(64 * 1024)
      .meta({
        kind: "bytes",
        description:
          "messages of at least this many bytes are judged in the `relay.threads` pool; smaller ones on the main thread, where their verdict (about a millisecond) costs less CPU than the hand-off to a thread, while a large one's would hold up every session's I/O. `0`: every message in the pool ([relay.md](relay.md#the-judge-on-every-core))",
      }),
    resolver: z
      .object({
        host: z.string().min(1).default("127.0.0.1").meta({ kind: "address", description: "the resolver's address" }),
        port: port.default(53).describe("its port"),
        timeoutMs: milliseconds(100, 30_000).default(3000).describe("how long a query may take"),
      })
      .strict()
      .prefault({})
      .describe("the relay's DNS: a validating resolver (unbound) over UDP, TCP when truncated; DANE relies on its AD bit"),
    store: z
      .discriminatedUnion("type", [
        z.object({ type: z.literal("sqlite"), path: path.default("./data/greylist.sqlite").describe("the database file") }).strict(),
        z
          .object({
            type: z.literal("redis"),
            url: z
              .string()
              .regex(/^rediss?:\/\//, { message: "expected a redis:// URL" })
              .meta({ kind: "URL", description: "`redis://host:6379` (`rediss://` with TLS)" }),
          })
          .strict(),
      ])
      .prefault({ type: "sqlite" })
      .describe(
        "the state relays share: a SQLite file (one relay, or several on one host) holds greylisting's triplets and the spamtrap blocklist; one Redis (relays on several hosts) holds those and also the DMARC evaluation counts, the TLS-RPT counts and claims, the submission limits (login throttle, hourly quota) and the recipient callout's answers ([scaling.md](scaling.md#what-the-relays-share))",
      ),
    clamd: z
      .object({
        enabled: z.boolean().default(true).describe("`false`: messages are not scanned for viruses, and the relay says so at start"),
        host: z.string().min(1).default("127.0.0.1").meta({ kind: "address", description: "clamd's address" }),
        port: port.default(3310).describe("its TCP port"),
        timeoutMs: milliseconds(100).default(30_000).describe("how long a scan may take"),
      })
      .strict()
      .prefault({})
      .describe("virus scanning with clamd's INSTREAM over TCP; an unreachable clamd is a 451, never an unscanned accept ([scanning.md](scanning.md))"),
    verdict: z
      .object({
        url: verdictUrl.optional().meta({
          description:
            "the Worker's `https://…/v1/verdict` (`http://` only on loopback); without it the judge runs in-process. The token comes from the environment variable `EDGEMX_VERDICT_TOKEN`, never from this file",
          defaultText: "none: the judge runs in-process",
          checkedAtStart: "`EDGEMX_VERDICT_TOKEN` is in the environment",
        }),
        timeoutMs: milliseconds(100).default(30_000).describe("how long a verdict may take"),
      })
      .strict()
      .prefault({})
      .describe("the Worker's verdict API ([verdict-api.md](verdict-api.md))"),
    rspamd: rspamd.prefault({}).describe("spam scoring and learning with rspamd"),
    scanListener: z
      .object({
        host: z
          .string()
          .min(1)
          .default("::")
          .meta({ kind: "address", description: "the address to listen on; `::` is every address (the Worker calls from Cloudflare's network)" }),
        port: port.default(11443).describe("the port to listen on"),
        clientCaFile: path.optional().meta({
          description:
            "PEM CA certificates: with it the listener requires a client certificate they issued (mutual TLS), as the Worker presents through an `[[mtls_certificates]]` binding named `SCAN_MTLS`",
          defaultText: "none: the bearer token alone",
        }),
      })
      .strict()
      .optional()
      .meta({
        description:
          "the scan endpoint for Email Routing ([relay.md](relay.md#the-scan-endpoint)): `POST /v1/scan` over HTTPS with the relay's certificate and a bearer token runs clamd and rspamd on a message and answers JSON; the Worker's `scan.url` points here. It needs `relay.clamd` enabled and `relay.rspamd.url`",
        defaultText: "none: no scan endpoint",
        checkedAtStart: "`EDGEMX_SCAN_TOKEN` (its bearer token) is in the environment, `clientCaFile` is readable, and the address can be listened on",
      }),
    recipientCheck: z
      .boolean()
      .default(false)
      .describe(
        "ask the LMTP/SMTP mailbox host during RCPT whether a recipient exists (`MAIL FROM:<>`, `RCPT TO`, never `DATA`), for domains that list no mailboxes and never for role mailboxes: 5yz → 550 5.1.1, unreachable or 4yz → 451; answers cached 600 s (unknown ones 300 s); ignored, with a warning, for a `maildir` next hop ([relay-checks.md](relay-checks.md))",
      ),
    recipientDelimiter: z
      .string()
      .max(8)
      .regex(/^[!#$%&'*+/=?^_`{|}~.-]*$/, { message: "expected characters such as + or - that may stand in a local part but are no letter or digit" })
      .default("+")
      .meta({
        kind: "characters",
        description:
          "what separates a subaddress from its mailbox (RFC 5233's detail): `alice+news@` is delivered to the mailbox or alias `alice`, the whole address kept in `Delivered-To`; each character is a delimiter, as in Postfix's `recipient_delimiter`; an exact mailbox or alias name wins; `\"\"`: no subaddresses ([relay-checks.md](relay-checks.md))",
      }),
    allow: z
      .array(allowEntry)
      .default([])
      .describe(
        "the allowlist: clients (by address or network, forward-confirmed name, HELO name) and sender domains spared the named checks, e.g. `{ ip: 192.0.2.0/24, spare: [dnsbl, greylist] }`; never the virus scan. Each spared check is logged on the message's or refusal's line and counted ([relay-checks.md](relay-checks.md#allowlist))",
      ),
    srs: z
      .object({
        maxAgeDays: z
          .number()
          .int()
          .min(1)
          .max(365)
          .default(21)
          .describe("how many days after the forward a bounce to its SRS address is accepted; older ones are refused (`550 5.1.1 … (SRS)`)"),
      })
      .strict()
      .prefault({})
      .meta({
        description:
          "the Sender Rewriting Scheme: mail an alias forwards to another domain leaves with `SRS0=…@<the alias's domain>` as its envelope sender, and bounces to such addresses are accepted only when their hash holds ([forwarding.md](forwarding.md))",
        checkedAtStart:
          "`EDGEMX_SRS_SECRET` (the hash's secret, at least 16 characters) is in the environment when an alias forwards to another domain; `EDGEMX_SRS_PREVIOUS_SECRET` is accepted beside it while a secret is rotated out",
      }),
    users: z
      .union([
        z
          .object({
            type: z.literal("sqlite").optional(),
            path: path
              .default("./data/users.sqlite")
              .describe("the submission users (scrypt hashes, addresses, aliases), managed with `npm run user` ([submission.md](submission.md))"),
          })
          .strict(),
        z
          .object({
            type: z.literal("imap"),
            host: z.string().min(1).meta({ kind: "host" }).describe("the IMAP host that checks submission passwords over TLS (AUTHENTICATE PLAIN or LOGIN)"),
            port: port.default(993).describe("its port"),
            tls: z.enum(["implicit", "starttls"]).default("implicit").describe("implicit TLS or STARTTLS"),
            timeoutMs: milliseconds(100, 120_000).default(10_000).describe("how long a login check may take"),
            caFile: path.optional().meta({
              description: "PEM CA certificates to trust for the IMAP host instead of the system's (a private CA)",
              checkedAtStart: "the file is readable",
            }),
          })
          .strict(),
      ])
      .prefault({})
      .describe(
        "who may submit mail: a user database, or the IMAP host, where the user sends as the login address and the `domains[].aliases` pointing to it ([submission.md](submission.md))",
      ),
    submission: z
      .object({
        hideClientAddress: z.boolean().default(true).describe("the Received field of submitted mail leaves out the client's HELO name and address"),
        maxRecipientsPerMessage: z.number().int().min(1).max(10000).default(50).describe("per user: recipients of one message (`452 4.5.3`)"),
        maxMessagesPerHour: z.number().int().min(1).default(200).describe("per user: accepted messages in a sliding hour (`450 4.7.1`)"),
        maxAuthFailures: z
          .number()
          .int()
          .min(1)
          .default(5)
          .describe("failed logins per client IP and per user within `authFailureWindowSeconds` before `454 4.7.0` (RFC 4954 §6)"),
        authFailureWindowSeconds: seconds(1).default(900).describe("how long a failed login counts"),
      })
      .strict()
      .prefault({})
      .describe("the submission listeners' policy ([submission.md](submission.md)): trace privacy, M3AAWG outbound bounds, login throttling"),
    outbound: z
      .object({
        dnssecProbeName: hostname
          .default("ietf.org")
          .describe(
            "the signed name asked at start to see whether the resolver validates DNSSEC (DANE needs its AD bit), and by the health probe (`relay.metrics`) to see that it answers",
          ),
        tlsRptPath: path.optional().meta({ description: "where TLS-RPT (RFC 8460) counts are kept", defaultText: "`tlsrpt.sqlite` beside the spool" }),
        mtaStsCachePath: path.optional().meta({
          description: "where MTA-STS policies are cached for their `max_age` (RFC 8461 §5.1), kept across restarts",
          defaultText: "`mta-sts.sqlite` beside the spool",
        }),
        maxSessionsPerDomain: z
          .number()
          .int()
          .min(1)
          .max(100)
          .default(5)
          .describe("SMTP sessions open to one destination domain at most; further deliveries wait for a slot"),
        relayHost: relayHost.optional().meta({
          description:
            "a smarthost: mail for other domains (all of them, or those in `domains`) goes to it with TLS and AUTH instead of to their MX hosts ([outbound.md](outbound.md#smarthost))",
          checkedAtStart: "`EDGEMX_RELAY_HOST_PASSWORD` (its password) is in the environment",
        }),
      })
      .strict()
      .prefault({})
      .describe("delivery to other domains ([outbound.md](outbound.md))"),
    dmarcReports: z
      .object({
        enabled: z
          .boolean()
          .default(true)
          .describe(
            "count each inbound DMARC evaluation and send each sender domain's `rua` a daily aggregate report (RFC 9990); `false`: nothing is counted and no store is opened",
          ),
        path: path.optional().meta({
          description: "where the evaluations wait for their report when `relay.store` is SQLite; with Redis they are kept in that Redis",
          defaultText: "`dmarc-reports.sqlite` beside the spool",
        }),
      })
      .strict()
      .prefault({})
      .describe("DMARC aggregate reports we send ([reports.md](reports.md#aggregate-reports-we-send))"),
    arcSealKeyFile: path.optional().meta({
      description: "the PEM key of the in-process judge for ARC sealing (`judge.arcSeal`)",
      checkedAtStart: "the file is readable",
    }),
    logLevel: z.enum(["fatal", "error", "warn", "info", "debug", "trace"]).default("info").describe("the pino level of the relay's structured log lines"),
    metrics: z
      .object({
        enabled: z.boolean().default(true).describe("`false`: no metrics or health listener, and nothing is counted"),
        host: z
          .string()
          .min(1)
          .default("127.0.0.1")
          .meta({ kind: "address", description: "the address to listen on; loopback by default, as the listener asks for no credentials" }),
        port: port.default(9025).describe("the port to listen on"),
      })
      .strict()
      .prefault({})
      .meta({
        description:
          "Prometheus metrics (`/metrics`) and health (`/healthz`, `/readyz`) on a listener of their own ([operations.md](operations.md)); when its address cannot be listened on, the relay warns and runs on without it",
      }),
    limits: z
      .object({
        maxMessageBytes: bytes.default(50 * 1024 * 1024).describe("the SIZE advertised and enforced (RFC 1870)"),
        maxRecipients: z.number().int().min(1).max(10000).default(100).describe("recipients per message"),
        maxConnections: z.number().int().min(1).default(500).describe("concurrent sessions"),
        maxConnectionsPerIp: z.number().int().min(1).default(20).describe("concurrent sessions of one client address"),
        maxErrors: z.number().int().min(1).default(10).describe("errors before the session is closed"),
        commandTimeoutSeconds: seconds(1).default(300).describe("how long a command may take (RFC 5321 §4.5.3.2 asks for at least 5 minutes)"),
      })
      .strict()
      .prefault({})
      .describe("the bounds of an SMTP session"),
  })
  .strict();

// The "banned content" rules of the judge (spec: rejected MIME types and file types → BANNED).
// Every Office extension is written out, so the postmaster page can list exactly what is refused.
export const BANNED_MIME_TYPES_DEFAULT: readonly string[] = ["application/x-msdownload", "application/x-msdos-program", "application/hta"];
/** The default banned extensions by where they come from: the specification's list, then every Office application's. */
export const BANNED_EXTENSION_GROUPS = {
  specification: ["exe", "vbs", "pif", "scr", "bat", "cmd", "com", "cpl", "dll", "zip", "js"],
  // binary, OOXML, macro-enabled, templates, backup, add-in
  Word: ["doc", "dot", "wbk", "docx", "docm", "dotx", "dotm", "docb", "wll"],
  // binary, macro sheet, workspace, OOXML, macro-enabled, templates, binary workbook, add-ins
  Excel: ["xls", "xlt", "xlm", "xlw", "xla", "xll", "xlsx", "xlsm", "xltx", "xltm", "xlsb", "xlam"],
  // binary, OOXML, macro-enabled, templates, shows, add-ins, slides
  PowerPoint: ["ppt", "pot", "pps", "ppa", "pptx", "pptm", "potx", "potm", "ppsx", "ppsm", "ppam", "sldx", "sldm"],
  // Jet and ACE databases, compiled, templates, runtime, add-ins, projects
  Access: ["mdb", "mde", "mda", "accdb", "accde", "accdt", "accdr", "accda", "adp", "ade"],
  // binary, XML 2003, OOXML, macro-enabled, stencils, templates, workspace
  Visio: ["vsd", "vss", "vst", "vsw", "vdx", "vsx", "vtx", "vsdx", "vsdm", "vssx", "vssm", "vstx", "vstm"],
  Publisher: ["pub"],
  // sections, tables of contents, packages, temporary sections
  OneNote: ["one", "onetoc", "onetoc2", "onepkg", "onetmp"],
} as const satisfies Record<string, readonly string[]>;
export const BANNED_EXTENSIONS_DEFAULT: readonly string[] = Object.values(BANNED_EXTENSION_GROUPS).flat();

// RFC 2045 §5.1: type "/" subtype, each a token; compared in lower case.
const mimeType = z
  .string()
  .regex(/^[a-z0-9!#$&^_.+-]+\/[a-z0-9!#$&^_.+-]+$/i, { message: "expected a MIME type such as application/x-msdownload" })
  .transform((t) => t.toLowerCase())
  .meta({ kind: "MIME type" });
const fileExtension = z
  .string()
  .regex(/^\.?[a-z0-9_-]+$/i, { message: "expected a file extension such as exe or .exe" })
  .transform((e) => e.replace(/^\./, "").toLowerCase())
  .meta({ kind: "extension" });

const archiveLimits = z
  .object({
    maxDepth: z
      .number()
      .int()
      .min(1)
      .max(10)
      .default(3)
      .describe("archives opened inside each other (a `.tar.gz` counts two); a deeper one cannot be inspected"),
    maxTotalBytes: bytes
      .default(100 * 1024 * 1024)
      .describe("bytes unpacked from all archives of one message together; inflating stops there, whatever sizes the archive declares"),
    maxEntries: z.number().int().min(1).max(100_000).default(1000).describe("entries listed in all archives of one message together"),
    maxRatio: z
      .number()
      .int()
      .min(1)
      .default(1000)
      .describe(
        "bytes a 7z, RAR or xz archive may unpack per byte of itself (LZMA, PPMd and RAR reach millions to one; zip and gzip, being deflate, stay below about 1032 and are bounded by `maxTotalBytes`)",
      ),
    uninspectable: z
      .enum(["reject", "accept"])
      .default("reject")
      .describe(
        "what an archive or container that cannot be inspected gets (encrypted, truncated, over a bound, or of a format not opened); with `accept` its name, declared type and own bytes are still judged",
      ),
  })
  .strict();

const banned = z
  .object({
    mimeTypes: z
      .array(mimeType)
      .default(() => [...BANNED_MIME_TYPES_DEFAULT])
      .describe("declared or detected types that are refused; compared in lower case"),
    extensions: z
      .array(fileExtension)
      .default(() => [...BANNED_EXTENSIONS_DEFAULT])
      .meta({
        description:
          "extensions that are refused, by name and by content; a leading dot is allowed, case does not matter. The list replaces the default: to add `msi`, `hta`, `wsf`, `lnk` or `iso`, write the whole list",
        defaultText: Object.entries(BANNED_EXTENSION_GROUPS)
          .map(([source, extensions]) => `${source === "specification" ? "the specification's" : source} \`${extensions.join(" ")}\``)
          .join(", "),
      }),
    archives: archiveLimits.prefault({}).describe("the bounds of opening archives"),
  })
  .strict();

// Submitted mail (587, 465): the spec bans these types for incoming mail; outgoing mail gets the virus
// scan, and a banned list only where the postmaster configures one (executables, say).
const outboundBanned = z
  .object({
    mimeTypes: z.array(mimeType).default([]).describe("declared or detected types that are refused in submitted mail; compared in lower case"),
    extensions: z
      .array(fileExtension)
      .default([])
      .describe("extensions that are refused in submitted mail, by name and by content, e.g. `[exe, scr, bat, com, pif, vbs, js, msi, hta]`"),
    uninspectable: z
      .enum(["reject", "accept"])
      .default("accept")
      .describe(
        "what a submitted archive that cannot be inspected gets (a user's password-protected zip, say); only asked when a list above is not empty. Archives are opened within `judge.banned.archives`' bounds",
      ),
  })
  .strict();

const arcSeal = z
  .object({
    enabled: z.boolean().default(false).describe("seal accepted mail that is forwarded to the mailbox host"),
    domain: hostname.optional().meta({ description: "the sealing domain (`d=`)", defaultText: "the first domain" }),
    selector: z
      .string()
      .regex(/^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/i, { message: "expected a selector (RFC 6376 §3.1)" })
      .optional()
      .meta({ kind: "selector", description: "the selector (`s=`)", defaultText: "the sealing domain's DKIM selector" }),
  })
  .strict();

const judgeDns = z
  .object({
    dohUrl: z
      .string()
      .url({ message: "expected an https:// URL of a DNS-over-HTTPS service" })
      .default("https://cloudflare-dns.com/dns-query")
      .meta({ kind: "URL", description: "the DNS-over-HTTPS service (the Worker var `DOH_URL` overrides it)" }),
    timeoutMs: milliseconds(100, 30_000).default(3000).describe("how long a query may take"),
  })
  .strict();

const judge = z
  .object({
    banned: banned
      .prefault({})
      .describe("refused MIME types and file types of incoming mail (MX, Email Routing, the verdict API's inbound), and the bounds of opening archives"),
    outboundBanned: outboundBanned
      .prefault({})
      .describe("refused MIME types and file types of submitted mail (587, 465): none by default, the virus scan applies all the same"),
    rfc: rfcRulesSchema.prefault({}).describe("each RFC 5322 / MIME rule: `reject`, `mark` or `log` ([rfc-conformance.md](rfc-conformance.md))"),
    auth: authPolicySchema.prefault({}).describe("how the judge acts on message authentication ([authentication.md](authentication.md))"),
    spfFail: z
      .enum(["reject", "mark", "log"])
      .default("reject")
      .describe("what an SPF `fail` of MAIL FROM gets when DMARC did not pass (RFC 7208 §8.4): `reject` is 550 5.7.23"),
    maxMessageBytes: bytes
      .default(50 * 1024 * 1024)
      .describe("the largest message the verdict API and Email Routing judge (the relay's SIZE is `relay.limits.maxMessageBytes`)"),
    arcSeal: arcSeal
      .prefault({})
      .describe(
        "ARC-seal accepted mail that is forwarded to the mailbox host (RFC 8617 §5.1); the key is a secret: the Worker's `ARC_PRIVATE_KEY`, the relay's `relay.arcSealKeyFile`",
      ),
    dns: judgeDns.prefault({}).describe("DNS for the Worker's judge: an RFC 8484 DoH service (the relay asks its own resolver)"),
  })
  .strict();

// An https:// URL, or http:// on loopback only (a test's or a developer's local server).
const secureUrl = (expected: string) =>
  z
    .string()
    .url({ message: `expected ${expected}` })
    .superRefine((url, ctx) => {
      if (!URL.canParse(url)) return;
      const { protocol, hostname, host } = new URL(url);
      if (protocol === "https:" || (protocol === "http:" && LOOPBACK_HOSTS.has(hostname))) return;
      ctx.addIssue({ code: "custom", message: `expected an https:// URL (http:// only on loopback), not ${protocol}//${host}` });
    })
    .meta({ kind: "URL" });

const reportsDashboardAccess = z
  .object({
    teamDomain: hostname.describe("the Cloudflare Access team domain, e.g. `example.cloudflareaccess.com`: the issuer of the tokens"),
    aud: z.string().min(1).describe("the Application Audience (AUD) tag of the Access application that protects `/admin`"),
    certsUrl: secureUrl("the URL of the team's signing keys (JWKS)")
      .optional()
      .meta({ description: "where the team's signing keys (a JWKS) are fetched", defaultText: "`https://<teamDomain>/cdn-cgi/access/certs`" }),
  })
  .strict();

const reports = z
  .object({
    retentionDays: z
      .number()
      .int()
      .min(1)
      .max(3650)
      .default(400)
      .describe(
        "received reports (DMARC aggregate and failure, TLS-RPT, refused ones) are deleted this many days after they arrived, by the Worker's daily Cron Trigger",
      ),
    dashboard: z
      .object({
        access: reportsDashboardAccess
          .optional()
          .describe(
            "Cloudflare Access in front of `/admin`: each request's `Cf-Access-Jwt-Assertion` is verified (RS256, issuer, audience); without it only the `DASHBOARD_TOKEN` bearer token opens the dashboard",
          ),
      })
      .strict()
      .prefault({})
      .describe("who may read the postmaster dashboard (`/admin`): Cloudflare Access, or the Worker secret `DASHBOARD_TOKEN` as a bearer token"),
    intakeUrl: secureUrl("the https:// URL of the Worker's /v1/reports")
      .optional()
      .describe(
        "the relay hands mail for the report addresses (the `mailto:` of `dmarc.rua`, `dmarc.ruf`, `tlsRpt.rua` at our domains) to the Worker's intake here, with the token in `EDGEMX_REPORTS_TOKEN`; unset: they go to the next hop like other mail",
      ),
  })
  .strict();

/** The ARC sealing domain and selector (judge.arcSeal): configured, else the first domain and its DKIM selector. */
export function arcSealIdentity(config: {
  domains: readonly { name: string; dkim?: { selector: string } | undefined }[];
  judge: { arcSeal: { domain?: string | undefined; selector?: string | undefined } };
}): { domain: string; selector: string } | null {
  const domain = config.judge.arcSeal.domain ?? config.domains[0]?.name;
  const selector = config.judge.arcSeal.selector ?? config.domains.find((d) => d.name === domain)?.dkim?.selector;
  return domain && selector ? { domain, selector } : null;
}

/** Whether relay.recipientCheck asks the mailbox host: on, with a next hop that can be asked (a Maildir cannot). */
export function recipientCalloutAsks(relay: { recipientCheck: boolean; nextHop: { type: string } }): boolean {
  return relay.recipientCheck && relay.nextHop.type !== "maildir";
}

// Where Email Routing's email() has its messages scanned (docs/email-routing.md): the relay's scan endpoint,
// or explicitly none. Unset, the Worker defers every routed message rather than forward it unscanned.
const scan = z
  .union([
    z.literal("none"),
    z
      .object({
        url: z
          .string()
          .url({ message: "expected the https:// URL of the relay's scan endpoint, e.g. https://mx.example.org:11443/v1/scan" })
          .regex(/^https:\/\//i, { message: "expected an https:// URL: the message and the token travel over TLS" })
          .meta({
            kind: "URL",
            description:
              "the relay's scan endpoint, e.g. `https://mx.example.org:11443/v1/scan` (`relay.scanListener`); its bearer token is the Worker secret `SCAN_TOKEN`",
          }),
        timeoutMs: milliseconds(100, 120_000)
          .default(30_000)
          .describe("how long the Worker waits for the scan's answer, connect to last byte; past it the message is deferred (a temporary failure)"),
      })
      .strict(),
  ])
  .optional()
  .meta({
    description:
      "virus scanning and spam scoring of the mail Email Routing hands to the Worker: the relay's scan endpoint, or `none` (the postmaster page then says such mail is not scanned for viruses)",
    defaultText: "unset: every routed message is deferred until this names the endpoint or says `none`",
  });

/** The document's fields without the rules that span them: the Worker's part (worker.ts) is cut from these. */
export const configFields = z
  .object({
    hostname: hostname.describe("our own SMTP host name: the banner, HELO when sending, the authserv-id of `Authentication-Results`"),
    postmasterHost: hostname.optional().describe("a host whose `/` serves the postmaster page of the first domain"),
    domains: z.array(domain).min(1).describe("the mail domains served"),
    roles: z
      .record(localPart, rolePolicy)
      .default({
        postmaster: { relax: ["dnsbl", "fcrdns", "helo", "sender", "spf", "dmarc", "banned", "greylist"] },
        abuse: { relax: ["dnsbl", "fcrdns", "helo", "sender", "spf", "dmarc", "banned", "greylist"] },
      })
      .describe("RFC 2142 role mailboxes (local parts) and the checks each is spared; they always exist (RFC 5321 §4.5.1)"),
    connection: connection
      .prefault({})
      .describe(
        "the checks of the sending server and its envelope, on both inbound paths: the relay's SMTP session and Email Routing's `email()` ([email-routing.md](email-routing.md))",
      ),
    relay: relay.prefault({}).describe("the Node relay's settings"),
    judge: judge.prefault({}).describe("what the message judge checks and refuses"),
    reports: reports.prefault({}).describe("received DMARC and TLS reports: their retention, the dashboard, the relay's hand-over ([reports.md](reports.md))"),
    scan,
  })
  .strict();

// The rules that span sections; each issue names the field to change. The first and the last hold
// for the Worker's part too (worker.ts).

/** Each domain once. */
export function checkDomainsOnce(cfg: { domains: readonly { name: string }[] }, ctx: z.RefinementCtx): void {
  const ours = new Set<string>();
  cfg.domains.forEach((d, i) => {
    if (ours.has(d.name)) ctx.addIssue({ code: "custom", path: ["domains", i, "name"], message: `expected each domain once; ${d.name} is listed twice` });
    ours.add(d.name);
  });
}

/** ARC sealing has a domain and a selector to seal with. */
export function checkArcSealIdentity(cfg: Parameters<typeof arcSealIdentity>[0] & { judge: { arcSeal: { enabled: boolean } } }, ctx: z.RefinementCtx): void {
  if (cfg.judge.arcSeal.enabled && arcSealIdentity(cfg) === null) {
    const domain = cfg.judge.arcSeal.domain ?? cfg.domains[0]?.name;
    ctx.addIssue({
      code: "custom",
      path: ["judge", "arcSeal", "selector"],
      message: `expected the sealing selector: ${domain} has no DKIM selector to default to`,
    });
  }
}

export const configSchema = configFields.superRefine((cfg, ctx) => {
  checkDomainsOnce(cfg, ctx);
  const ours = new Set(cfg.domains.map((d) => d.name));
  cfg.relay.rspamd.spamtrap.addresses.forEach((trap, i) => {
    if (!ours.has(trap.slice(trap.lastIndexOf("@") + 1)))
      ctx.addIssue({
        code: "custom",
        path: ["relay", "rspamd", "spamtrap", "addresses", i],
        message: `expected an address at one of our domains (${[...ours].join(", ")}), not ${trap}`,
      });
  });
  if (cfg.relay.acme !== undefined && cfg.relay.tls !== undefined) {
    ctx.addIssue({
      code: "custom",
      path: ["relay", "acme"],
      message: "expected relay.acme or relay.tls, not both: with ACME the relay serves the certificate it gets itself",
    });
  }
  // No backscatter: unknown recipients are refused at RCPT, so a domain must say who receives mail.
  const callout = recipientCalloutAsks(cfg.relay);
  cfg.domains.forEach((d, i) => {
    if (callout || d.catchAll || d.mailboxes.length > 0 || Object.keys(d.aliases).length > 0) return;
    ctx.addIssue({
      code: "custom",
      path: ["domains", i, "mailboxes"],
      message: `expected the mailboxes (or aliases) of ${d.name}, catchAll: true, or relay.recipientCheck with an lmtp or smtp nextHop to ask the mailbox host: unknown recipients are refused at RCPT, and ${d.name} names none that are known`,
    });
  });
  // The scan endpoint answers with both scanners' results (core/scan/answer.ts).
  if (cfg.relay.scanListener !== undefined && !cfg.relay.clamd.enabled)
    ctx.addIssue({
      code: "custom",
      path: ["relay", "clamd", "enabled"],
      message: "expected true beside relay.scanListener: the scan endpoint runs clamd on every message",
    });
  if (cfg.relay.scanListener !== undefined && cfg.relay.rspamd.url === undefined)
    ctx.addIssue({
      code: "custom",
      path: ["relay", "rspamd", "url"],
      message: "expected rspamd's URL beside relay.scanListener: the scan endpoint runs rspamd on every message",
    });
  checkArcSealIdentity(cfg, ctx);
});

/** Fields an earlier layout had elsewhere: a document that still uses one is told where it went (load.ts). */
export const MOVED_FIELDS: Readonly<Partial<Record<string, string>>> = {
  // The connection checks became one section for both inbound paths (the relay and Email Routing).
  "relay.dnsbl": "connection.dnsbl",
  "relay.fcrdns": "connection.fcrdns",
  "relay.helo": "connection.helo",
  "relay.sender": "connection.sender",
  "relay.mandatoryTls": "connection.mandatoryTls",
  // The relays' shared state was greylisting's store first; it holds much more (the blocklist, the DMARC and TLS-RPT counts, the limits).
  "relay.greylist.store": "relay.store",
  ...Object.fromEntries(
    ["enabled", "delaySeconds", "retryWindowSeconds", "passLifetimeSeconds", "autoAllowAfter", "ipv4Prefix", "ipv6Prefix"].map((field) => [
      `relay.greylist.${field}`,
      `connection.greylist.${field}`,
    ]),
  ),
};

export type EdgemxConfig = z.output<typeof configSchema>;
export type DomainConfig = EdgemxConfig["domains"][number];
export type ConfigInput = z.input<typeof configSchema>;
export type BannedConfig = EdgemxConfig["judge"]["banned"];
export type OutboundBannedConfig = EdgemxConfig["judge"]["outboundBanned"];
export type AllowEntry = EdgemxConfig["relay"]["allow"][number];
/** Where the relay keeps the state relays share (relay.store): a SQLite file, or one Redis. */
export type SharedStoreConfig = EdgemxConfig["relay"]["store"];
