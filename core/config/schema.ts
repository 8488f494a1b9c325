// The one configuration schema of edgemx, shared by the Worker and the relay.
// Every field has a documented default where a safe one exists; see docs/configuration.md.
import { z } from "zod";
import { authPolicySchema } from "./auth-policy.ts";
import { rfcRulesSchema } from "./rfc-rules.ts";

// RFC 1035 §2.3.1 / RFC 1123 §2.1: labels of letters, digits and hyphens, 1–63 octets, 253 in all.
// Mail host and domain names are fully qualified: at least two labels.
const HOSTNAME_RE = /^(?=.{1,253}$)(?!-)[a-z0-9-]{1,63}(?<!-)(\.(?!-)[a-z0-9-]{1,63}(?<!-))+$/i;
const hostname = z
  .string()
  .regex(HOSTNAME_RE, { message: "expected a host name such as mx.example.org" })
  .transform((h) => h.toLowerCase());

// RFC 8461 §4.1: an mx pattern is a host name, optionally with a leading "*." wildcard label.
const mxPattern = z
  .string()
  .regex(/^(\*\.)?[a-z0-9.-]+$/i, { message: "expected a host name or a *.wildcard pattern" })
  .refine((p) => HOSTNAME_RE.test(p.replace(/^\*\./, "")), { message: "expected a host name or a *.wildcard pattern" })
  .transform((p) => p.toLowerCase());

const port = z.number().int().min(1).max(65535);
const mailtoOrHttps = z.string().regex(/^(mailto:[^\s,;!]+@[^\s,;!]+|https:\/\/[^\s,;]+)$/, { message: "expected a mailto: or https: URI" });
const localPart = z.string().regex(/^[a-z0-9!#$%&'*+/=?^_`{|}~.-]+$/i, { message: "expected the local part of an address" });

const server = (defaults: { ssl: number; starttls: number | null }) =>
  z
    .object({
      host: hostname.optional(),
      sslPort: port.nullable().default(defaults.ssl),
      starttlsPort: port.nullable().default(defaults.starttls),
    })
    .strict();

/** Checks whose failure a role mailbox may be spared (RFC 2142 mailboxes must stay reachable). */
export const RELAXABLE_CHECKS = ["dnsbl", "fcrdns", "helo", "sender", "spf", "dkim", "dmarc", "banned", "rfc", "greylist", "spam"] as const;
export type RelaxableCheck = (typeof RELAXABLE_CHECKS)[number];

const rolePolicy = z
  .object({
    relax: z.array(z.enum(RELAXABLE_CHECKS)).default([]),
  })
  .strict();

// The spec's selectors are timestamps (e.g. 1546251274); any RFC 6376 §3.1 selector is allowed.
const dkimSelector = z.string().regex(/^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/i, {
  message: "expected a DKIM selector (RFC 6376 §3.1), e.g. 1546251274",
});

const dkim = z
  .object({
    selector: dkimSelector,
    algorithm: z.enum(["rsa", "ed25519"]).default("rsa"),
    // Base64 of the SubjectPublicKeyInfo (rsa) or the raw 32-byte key (ed25519), as in the p= tag.
    publicKey: z
      .string()
      .transform((k) => k.replace(/\s+/g, ""))
      .pipe(z.string().regex(/^[A-Za-z0-9+/]+=*$/, { message: "expected the base64 public key (the p= value)" })),
    // The relay's signing key (PEM, RSA ≥ 2048 bits) for submitted mail; else EDGEMX_DKIM_KEY_<DOMAIN>.
    privateKeyFile: z.string().min(1).optional(),
    // An optional second signature with Ed25519 (RFC 8463) beside the RSA one, under its own selector;
    // its key from privateKeyFile, else EDGEMX_DKIM_ED25519_KEY_<DOMAIN>.
    ed25519: z
      .object({
        selector: dkimSelector,
        // Base64 of the raw 32-byte public key (RFC 8463 §4.2), the p= value.
        publicKey: z
          .string()
          .transform((k) => k.replace(/\s+/g, ""))
          .pipe(z.string().regex(/^[A-Za-z0-9+/]{43}=$/, { message: "expected the base64 of the 32-byte Ed25519 public key" })),
        privateKeyFile: z.string().min(1).optional(),
      })
      .strict()
      .optional(),
  })
  .strict();

const dmarc = z
  .object({
    p: z.enum(["none", "quarantine", "reject"]).default("reject"),
    sp: z.enum(["none", "quarantine", "reject"]).optional(),
    adkim: z.enum(["r", "s"]).default("s"),
    aspf: z.enum(["r", "s"]).default("s"),
    rua: z.array(mailtoOrHttps).default([]),
    ruf: z.array(mailtoOrHttps).default([]),
    rf: z.enum(["afrf"]).default("afrf"),
    pct: z.number().int().min(0).max(100).default(100),
  })
  .strict();

// RFC 8461 §3.2: max_age is at most 31557600 seconds; we also refuse under a day as a practical floor.
export const MTA_STS_MAX_AGE_MAX = 31557600;
export const MTA_STS_MAX_AGE_MIN = 86400;
const mtaSts = z
  .object({
    mode: z.enum(["enforce", "testing", "none"]).default("testing"),
    mx: z.array(mxPattern).optional(),
    maxAge: z.number().int().min(MTA_STS_MAX_AGE_MIN).max(MTA_STS_MAX_AGE_MAX).default(604800),
  })
  .strict();

const domain = z
  .object({
    name: hostname,
    displayName: z.string().min(1).max(200).optional(),
    displayShortName: z.string().min(1).max(60).optional(),
    // MX hosts in order of preference; the first one is "the" MX host of the postmaster page.
    mx: z.array(hostname).min(1, { message: "expected at least one MX host" }),
    imap: server({ ssl: 993, starttls: 143 }).default({ sslPort: 993, starttlsPort: 143 }),
    smtp: server({ ssl: 465, starttls: 587 }).default({ sslPort: 465, starttlsPort: 587 }),
    sieve: z
      .object({ host: hostname.optional(), port: port.nullable().default(4190) })
      .strict()
      .default({ port: 4190 }),
    dkim: dkim.optional(),
    // SPF mechanisms between "v=spf1" and the final "all" (RFC 7208 §5).
    spf: z
      .object({
        mechanisms: z
          .array(
            z.string().regex(/^[+?~-]?(a|mx|ptr|ip4|ip6|include|exists)([:/].*)?$|^(redirect|exp)=.+$/i, {
              message: "expected an SPF mechanism such as mx, a:host, ip4:192.0.2.0/24 or include:domain",
            }),
          )
          .default(["mx"]),
        all: z.enum(["-all", "~all", "?all"]).default("-all"),
      })
      .strict()
      .default({ mechanisms: ["mx"], all: "-all" }),
    dmarc: dmarc.default({ p: "reject", adkim: "s", aspf: "s", rua: [], ruf: [], rf: "afrf", pct: 100 }),
    mtaSts: mtaSts.default({ mode: "testing", maxAge: 604800 }),
    tlsRpt: z
      .object({ rua: z.array(mailtoOrHttps).min(1) })
      .strict()
      .optional(),
    // Where Email Routing forwards accepted mail for this domain (a verified destination address).
    forwardTo: z.string().email({ message: "expected an e-mail address" }).optional(),
    // Who receives mail here (the relay's RCPT TO check, RFC 5321 §3.3): local parts, aliases to other
    // local parts or addresses, or every local part (catchAll). With none of them, every local part is
    // accepted and the mailbox host decides (a recipient check against it, relay.recipientCheck).
    mailboxes: z.array(localPart).default([]),
    aliases: z.record(localPart, z.string().min(1)).default({}),
    catchAll: z.boolean().default(false),
  })
  .strict();

const listener = (defaultPort: number) =>
  z
    .object({
      host: z.string().default("::"),
      port: port.default(defaultPort),
      enabled: z.boolean().default(true),
    })
    .strict();

const checkAction = z.enum(["reject", "tempfail", "log"]);

const relay = z
  .object({
    listeners: z
      .object({
        mx: listener(25).default({ host: "::", port: 25, enabled: true }),
        submission: listener(587).default({ host: "::", port: 587, enabled: true }),
        submissions: listener(465).default({ host: "::", port: 465, enabled: true }),
      })
      .strict()
      .default({
        mx: { host: "::", port: 25, enabled: true },
        submission: { host: "::", port: 587, enabled: true },
        submissions: { host: "::", port: 465, enabled: true },
      }),
    // PEM files; when absent the relay makes a self-signed certificate on first start and warns.
    tls: z
      .object({ cert: z.string().min(1), key: z.string().min(1) })
      .strict()
      .optional(),
    dnsbl: z
      .object({
        action: checkAction.default("reject"),
        zones: z
          .array(
            z
              .object({
                zone: hostname,
                // Return codes that count as listed (RFC 5782 §2.1: 127.0.0.0/8); empty = any.
                codes: z.array(z.string().regex(/^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/, { message: "expected a 127.x.y.z answer" })).default([]),
              })
              .strict(),
          )
          .default([]),
      })
      .strict()
      .default({ action: "reject", zones: [] }),
    fcrdns: z
      .object({
        action: checkAction.default("reject"),
        dynamicPatterns: z.array(z.string()).default([]),
      })
      .strict()
      .default({ action: "reject", dynamicPatterns: [] }),
    // Sender domains whose mail we only take over TLS, and destinations we only deliver to over verified TLS.
    mandatoryTls: z
      .object({ domains: z.array(hostname).default([]) })
      .strict()
      .default({ domains: [] }),
    nextHop: z
      .discriminatedUnion("type", [
        z.object({ type: z.literal("maildir"), path: z.string().min(1).default("./data/Maildir") }).strict(),
        z.object({ type: z.literal("lmtp"), host: z.string().min(1), port: port.default(24) }).strict(),
        z.object({ type: z.literal("smtp"), host: z.string().min(1), port: port.default(25) }).strict(),
      ])
      .default({ type: "maildir", path: "./data/Maildir" }),
    spool: z.string().min(1).default("./data/spool"),
    // Deliveries from the spool in flight at once (next hop and remote together). As many as the MX
    // takes sessions at full load, so that delivery keeps pace with acceptance (docs/queue.md).
    deliveryConcurrency: z.number().int().min(1).max(500).default(40),
    // The relay's DNS: a validating resolver (unbound) over UDP/TCP, whose AD bit DANE relies on.
    resolver: z
      .object({
        host: z.string().min(1).default("127.0.0.1"),
        port: port.default(53),
        timeoutMs: z.number().int().min(100).max(30_000).default(3000),
      })
      .strict()
      .default({ host: "127.0.0.1", port: 53, timeoutMs: 3000 }),
    // HELO/EHLO plausibility and MAIL FROM domain checks: reject, tempfail or log only.
    helo: z
      .object({ action: checkAction.default("reject") })
      .strict()
      .default({ action: "reject" }),
    sender: z
      .object({ action: checkAction.default("reject") })
      .strict()
      .default({ action: "reject" }),
    greylist: z
      .object({
        enabled: z.boolean().default(true),
        delaySeconds: z.number().int().min(0).default(300),
        // A triplet that retried in time is remembered this long; one that never retried, expires.
        retryWindowSeconds: z
          .number()
          .int()
          .min(60)
          .default(2 * 86400),
        passLifetimeSeconds: z
          .number()
          .int()
          .min(60)
          .default(36 * 86400),
        // After this many delivered messages a client network skips greylisting (auto-allow).
        autoAllowAfter: z.number().int().min(1).default(5),
        ipv4Prefix: z.number().int().min(8).max(32).default(24),
        ipv6Prefix: z.number().int().min(16).max(128).default(64),
        store: z
          .discriminatedUnion("type", [
            z.object({ type: z.literal("sqlite"), path: z.string().min(1).default("./data/greylist.sqlite") }).strict(),
            z.object({ type: z.literal("redis"), url: z.string().regex(/^rediss?:\/\//, { message: "expected a redis:// URL" }) }).strict(),
          ])
          .default({ type: "sqlite", path: "./data/greylist.sqlite" }),
      })
      .strict()
      .default(() => ({
        enabled: true,
        delaySeconds: 300,
        retryWindowSeconds: 2 * 86400,
        passLifetimeSeconds: 36 * 86400,
        autoAllowAfter: 5,
        ipv4Prefix: 24,
        ipv6Prefix: 64,
        store: { type: "sqlite" as const, path: "./data/greylist.sqlite" },
      })),
    // clamd's INSTREAM over TCP; a scanner outage is a 451, never an unscanned accept.
    clamd: z
      .object({
        enabled: z.boolean().default(true),
        host: z.string().min(1).default("127.0.0.1"),
        port: port.default(3310),
        timeoutMs: z.number().int().min(100).default(30_000),
      })
      .strict()
      .default({ enabled: true, host: "127.0.0.1", port: 3310, timeoutMs: 30_000 }),
    // The Worker's verdict API; without a URL the judge runs in-process. The token comes from the
    // environment variable EDGEMX_VERDICT_TOKEN, never from this file.
    verdict: z
      .object({
        url: z.string().url({ message: "expected the https:// URL of the Worker's /v1/verdict" }).optional(),
        timeoutMs: z.number().int().min(100).default(30_000),
      })
      .strict()
      .default({ timeoutMs: 30_000 }),
    // Spam scoring and learning with rspamd (docs/spam.md). Scoring is on when `url` (the normal
    // worker) is set; the controller's password comes from EDGEMX_RSPAMD_PASSWORD, never from this file.
    rspamd: z
      .object({
        url: z.string().url({ message: "expected the http:// URL of rspamd's normal worker, e.g. http://127.0.0.1:11333" }).optional(),
        controllerUrl: z.string().url({ message: "expected the http:// URL of rspamd's controller, e.g. http://127.0.0.1:11334" }).optional(),
        timeoutMs: z.number().int().min(100).max(120_000).default(20_000),
        // rspamd unreachable, timing out or answering nonsense: 451 (tempfail), or accept marked unscanned.
        onError: z.enum(["tempfail", "accept"]).default("tempfail"),
        // Greylist only mail scoring at least this (decided after DATA); null: greylist at RCPT TO as usual.
        greylistScoreGate: z.number().nullable().default(null),
        spamtrap: z
          .object({
            // Addresses at our domains that accept mail, never deliver it, and learn it as spam.
            addresses: z
              .array(
                z
                  .string()
                  .email({ message: "expected an e-mail address at one of our domains" })
                  .transform((a) => a.toLowerCase()),
              )
              .default([]),
            // How long a client that wrote to a trap stays on the local blocklist.
            blocklistTtlSeconds: z.number().int().min(60).default(86400),
            learnRatePerMinute: z.number().int().min(1).max(6000).default(10),
            // Also store the message's fuzzy hashes (/fuzzyadd) under this flag of a writable fuzzy_check rule.
            fuzzy: z
              .object({ flag: z.number().int().min(1), weight: z.number().positive().default(10) })
              .strict()
              .optional(),
          })
          .strict()
          .default({ addresses: [], blocklistTtlSeconds: 86400, learnRatePerMinute: 10 }),
        // POST /learn/spam and /learn/ham for mailbox hosts (Dovecot imapsieve); bearer token EDGEMX_LEARN_TOKEN.
        learnListener: z
          .object({ host: z.string().min(1).default("127.0.0.1"), port: port.default(11380) })
          .strict()
          .optional(),
      })
      .strict()
      .default(() => ({
        timeoutMs: 20_000,
        onError: "tempfail" as const,
        greylistScoreGate: null,
        spamtrap: { addresses: [], blocklistTtlSeconds: 86400, learnRatePerMinute: 10 },
      })),
    // Ask the mailbox host (LMTP/SMTP next hop) whether a recipient exists, when the domain lists none.
    recipientCheck: z.boolean().default(false),
    // Submission users: node:sqlite with scrypt hashes, managed with `npm run user` ({ path }), or the
    // IMAP host checks the password (type "imap": LOGIN / AUTHENTICATE PLAIN over TLS only, users/imap.ts).
    users: z
      .union([
        z.object({ type: z.literal("sqlite").optional(), path: z.string().min(1).default("./data/users.sqlite") }).strict(),
        z
          .object({
            type: z.literal("imap"),
            host: z.string().min(1),
            port: port.default(993),
            tls: z.enum(["implicit", "starttls"]).default("implicit"),
            timeoutMs: z.number().int().min(100).max(120_000).default(10_000),
            // PEM CA certificates to trust for the IMAP host instead of the system's (a private CA).
            caFile: z.string().min(1).optional(),
          })
          .strict(),
      ])
      .default({ path: "./data/users.sqlite" }),
    // The submission listeners' policy (docs/submission.md): trace privacy, M3AAWG outbound bounds, login throttling.
    submission: z
      .object({
        hideClientAddress: z.boolean().default(true),
        maxRecipientsPerMessage: z.number().int().min(1).max(10000).default(50),
        maxMessagesPerHour: z.number().int().min(1).default(200),
        // Failed logins per client IP and per user within windowSeconds before 454 4.7.0 (RFC 4954 §6).
        maxAuthFailures: z.number().int().min(1).default(5),
        authFailureWindowSeconds: z.number().int().min(1).default(900),
      })
      .strict()
      .default({ hideClientAddress: true, maxRecipientsPerMessage: 50, maxMessagesPerHour: 200, maxAuthFailures: 5, authFailureWindowSeconds: 900 }),
    // Delivery to other domains (docs/outbound.md): the DNSSEC probe that tells whether the resolver
    // validates (DANE needs its AD bit), and where TLS-RPT (RFC 8460) counts are kept.
    outbound: z
      .object({
        dnssecProbeName: hostname.default("ietf.org"),
        // Default: tlsrpt.sqlite beside the spool directory.
        tlsRptPath: z.string().min(1).optional(),
        // Where MTA-STS policies are cached for their max_age (RFC 8461 §5.1), kept across restarts.
        // Default: mta-sts.sqlite beside the spool directory.
        mtaStsCachePath: z.string().min(1).optional(),
        // SMTP sessions open to one destination domain at most; further deliveries wait for a slot.
        maxSessionsPerDomain: z.number().int().min(1).max(100).default(5),
      })
      .strict()
      .default({ dnssecProbeName: "ietf.org", maxSessionsPerDomain: 5 }),
    // The ARC sealing key of the in-process judge (PEM file), when judge.arcSeal is enabled.
    arcSealKeyFile: z.string().min(1).optional(),
    logLevel: z.enum(["fatal", "error", "warn", "info", "debug", "trace"]).default("info"),
    limits: z
      .object({
        maxMessageBytes: z
          .number()
          .int()
          .min(1024)
          .max(1024 * 1024 * 1024)
          .default(50 * 1024 * 1024),
        maxRecipients: z.number().int().min(1).max(10000).default(100),
        maxConnections: z.number().int().min(1).default(500),
        maxConnectionsPerIp: z.number().int().min(1).default(20),
        maxErrors: z.number().int().min(1).default(10),
        // RFC 5321 §4.5.3.2: at least 5 minutes per command.
        commandTimeoutSeconds: z.number().int().min(1).default(300),
      })
      .strict()
      .default({
        maxMessageBytes: 50 * 1024 * 1024,
        maxRecipients: 100,
        maxConnections: 500,
        maxConnectionsPerIp: 20,
        maxErrors: 10,
        commandTimeoutSeconds: 300,
      }),
  })
  .strict();

// The "banned content" rules of the judge (spec: rejected MIME types and file types → BANNED).
// Every Office extension is written out, so the postmaster page can list exactly what is refused.
export const BANNED_MIME_TYPES_DEFAULT: readonly string[] = ["application/x-msdownload", "application/x-msdos-program", "application/hta"];
export const BANNED_EXTENSIONS_DEFAULT: readonly string[] = [
  // the specification's list
  "exe",
  "vbs",
  "pif",
  "scr",
  "bat",
  "cmd",
  "com",
  "cpl",
  "dll",
  "zip",
  "js",
  // Word: binary, OOXML, macro-enabled, templates, backup, add-in
  "doc",
  "dot",
  "wbk",
  "docx",
  "docm",
  "dotx",
  "dotm",
  "docb",
  "wll",
  // Excel: binary, macro sheet, workspace, OOXML, macro-enabled, templates, binary workbook, add-ins
  "xls",
  "xlt",
  "xlm",
  "xlw",
  "xla",
  "xll",
  "xlsx",
  "xlsm",
  "xltx",
  "xltm",
  "xlsb",
  "xlam",
  // PowerPoint: binary, OOXML, macro-enabled, templates, shows, add-ins, slides
  "ppt",
  "pot",
  "pps",
  "ppa",
  "pptx",
  "pptm",
  "potx",
  "potm",
  "ppsx",
  "ppsm",
  "ppam",
  "sldx",
  "sldm",
  // Access: Jet and ACE databases, compiled, templates, runtime, add-ins, projects
  "mdb",
  "mde",
  "mda",
  "accdb",
  "accde",
  "accdt",
  "accdr",
  "accda",
  "adp",
  "ade",
  // Visio: binary, XML 2003, OOXML, macro-enabled, stencils, templates, workspace
  "vsd",
  "vss",
  "vst",
  "vsw",
  "vdx",
  "vsx",
  "vtx",
  "vsdx",
  "vsdm",
  "vssx",
  "vssm",
  "vstx",
  "vstm",
  // Publisher
  "pub",
  // OneNote: sections, tables of contents, packages, temporary sections
  "one",
  "onetoc",
  "onetoc2",
  "onepkg",
  "onetmp",
];

// RFC 2045 §5.1: type "/" subtype, each a token; compared in lower case.
const mimeType = z
  .string()
  .regex(/^[a-z0-9!#$&^_.+-]+\/[a-z0-9!#$&^_.+-]+$/i, { message: "expected a MIME type such as application/x-msdownload" })
  .transform((t) => t.toLowerCase());
const fileExtension = z
  .string()
  .regex(/^\.?[a-z0-9_-]+$/i, { message: "expected a file extension such as exe or .exe" })
  .transform((e) => e.replace(/^\./, "").toLowerCase());

const archiveLimits = z
  .object({
    // Archives opened inside each other (a tar.gz counts two); deeper ones cannot be inspected.
    maxDepth: z.number().int().min(1).max(10).default(3),
    // Bytes unpacked from all archives of one message together.
    maxTotalBytes: z
      .number()
      .int()
      .min(1024)
      .max(1024 * 1024 * 1024)
      .default(100 * 1024 * 1024),
    // Entries listed in all archives of one message together.
    maxEntries: z.number().int().min(1).max(100_000).default(1000),
    // What an archive we cannot look into gets: encrypted, truncated, over a bound, or of a format we do not open.
    uninspectable: z.enum(["reject", "accept"]).default("reject"),
  })
  .strict();

const banned = z
  .object({
    mimeTypes: z.array(mimeType).default(() => [...BANNED_MIME_TYPES_DEFAULT]),
    extensions: z.array(fileExtension).default(() => [...BANNED_EXTENSIONS_DEFAULT]),
    archives: archiveLimits.default(() => archiveLimits.parse({})),
  })
  .strict();

const arcSeal = z
  .object({
    enabled: z.boolean().default(false),
    // The sealing domain (d=) and selector (s=); default: the first domain and its DKIM selector.
    domain: hostname.optional(),
    selector: z
      .string()
      .regex(/^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/i, { message: "expected a selector (RFC 6376 §3.1)" })
      .optional(),
  })
  .strict();

const judgeDns = z
  .object({
    dohUrl: z.string().url({ message: "expected an https:// URL of a DNS-over-HTTPS service" }).default("https://cloudflare-dns.com/dns-query"),
    timeoutMs: z.number().int().min(100).max(30_000).default(3000),
  })
  .strict();

const judge = z
  .object({
    banned: banned.default(() => banned.parse({})),
    rfc: rfcRulesSchema.default(() => rfcRulesSchema.parse({})),
    auth: authPolicySchema.default(() => authPolicySchema.parse({})),
    // RFC 7208 §8.4: what an SPF "fail" of MAIL FROM gets when DMARC did not pass.
    spfFail: z.enum(["reject", "mark", "log"]).default("reject"),
    // The largest message the verdict API and Email Routing judge (the relay's SIZE is relay.limits).
    maxMessageBytes: z
      .number()
      .int()
      .min(1024)
      .max(1024 * 1024 * 1024)
      .default(50 * 1024 * 1024),
    // ARC-seal accepted mail that is forwarded to the mailbox host (RFC 8617 §5.1); the key is a secret
    // (the Worker's ARC_PRIVATE_KEY, the relay's key file).
    arcSeal: arcSeal.default(() => arcSeal.parse({})),
    // DNS for the Worker's judge: an RFC 8484 DoH service (the relay asks its local resolver).
    dns: judgeDns.default(() => judgeDns.parse({})),
  })
  .strict();

export const configSchema = z
  .object({
    // Our own SMTP host name: banner, HELO when sending, authserv-id of Authentication-Results.
    hostname: hostname,
    // Optional host whose "/" serves the postmaster page of the first domain.
    postmasterHost: hostname.optional(),
    domains: z.array(domain).min(1),
    // RFC 2142 role mailboxes (local parts) and the checks each is spared; never the virus scan.
    roles: z.record(localPart, rolePolicy).default({
      postmaster: { relax: ["dnsbl", "fcrdns", "helo", "sender", "spf", "dmarc", "banned", "greylist"] },
      abuse: { relax: ["dnsbl", "fcrdns", "helo", "sender", "spf", "dmarc", "banned", "greylist"] },
    }),
    relay: relay.default(() => relay.parse({})),
    // What the message judge refuses; see docs/configuration.md.
    judge: judge.default(() => judge.parse({})),
  })
  .strict()
  .superRefine((cfg, ctx) => {
    const seen = new Set<string>();
    cfg.domains.forEach((d, i) => {
      if (seen.has(d.name)) ctx.addIssue({ code: "custom", path: ["domains", i, "name"], message: `expected each domain once; ${d.name} is listed twice` });
      seen.add(d.name);
    });
  });

export type EdgemxConfig = z.output<typeof configSchema>;
export type DomainConfig = EdgemxConfig["domains"][number];
export type ConfigInput = z.input<typeof configSchema>;
export type BannedConfig = EdgemxConfig["judge"]["banned"];
