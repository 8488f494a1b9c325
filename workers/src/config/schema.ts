// The one configuration schema of edgemx, shared by the Worker and the relay.
// Every field has a documented default where a safe one exists; see docs/configuration.md.
import { z } from "zod";

// RFC 1035 §2.3.1 / RFC 1123 §2.1: labels of letters, digits and hyphens, 1–63 octets, 253 in all.
const HOSTNAME_RE = /^(?=.{1,253}$)(?!-)[a-z0-9-]{1,63}(?<!-)(\.(?!-)[a-z0-9-]{1,63}(?<!-))*$/i;
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
const mailtoOrHttps = z
  .string()
  .regex(/^(mailto:[^\s,;!]+@[^\s,;!]+|https:\/\/[^\s,;]+)$/, { message: "expected a mailto: or https: URI" });
const mailtoUri = z.string().regex(/^mailto:[^\s,;!]+@[^\s,;!]+$/, { message: "expected a mailto: URI" });
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

const dkim = z
  .object({
    // The spec's selectors are timestamps (e.g. 1546251274); any RFC 6376 §3.1 selector is allowed.
    selector: z.string().regex(/^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/i, {
      message: "expected a DKIM selector (RFC 6376 §3.1), e.g. 1546251274",
    }),
    algorithm: z.enum(["rsa", "ed25519"]).default("rsa"),
    // Base64 of the SubjectPublicKeyInfo (rsa) or the raw 32-byte key (ed25519), as in the p= tag.
    publicKey: z
      .string()
      .transform((k) => k.replace(/\s+/g, ""))
      .pipe(z.string().regex(/^[A-Za-z0-9+/]+=*$/, { message: "expected the base64 public key (the p= value)" })),
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
          .array(z.string().regex(/^[+?~-]?(a|mx|ptr|ip4|ip6|include|exists)([:/].*)?$|^(redirect|exp)=.+$/i, {
            message: "expected an SPF mechanism such as mx, a:host, ip4:192.0.2.0/24 or include:domain",
          }))
          .default(["mx"]),
        all: z.enum(["-all", "~all", "?all"]).default("-all"),
      })
      .strict()
      .default({ mechanisms: ["mx"], all: "-all" }),
    dmarc: dmarc.default({ p: "reject", adkim: "s", aspf: "s", rua: [], ruf: [], rf: "afrf", pct: 100 }),
    mtaSts: mtaSts.default({ mode: "testing", maxAge: 604800 }),
    tlsRpt: z.object({ rua: z.array(mailtoOrHttps).min(1) }).strict().optional(),
    // Where Email Routing forwards accepted mail for this domain (a verified destination address).
    forwardTo: z.string().email({ message: "expected an e-mail address" }).optional(),
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
    tls: z.object({ cert: z.string().min(1), key: z.string().min(1) }).strict().optional(),
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
    mandatoryTls: z.object({ domains: z.array(hostname).default([]) }).strict().default({ domains: [] }),
    nextHop: z
      .discriminatedUnion("type", [
        z.object({ type: z.literal("maildir"), path: z.string().min(1).default("./data/Maildir") }).strict(),
        z.object({ type: z.literal("lmtp"), host: z.string().min(1), port: port.default(24) }).strict(),
        z.object({ type: z.literal("smtp"), host: z.string().min(1), port: port.default(25) }).strict(),
      ])
      .default({ type: "maildir", path: "./data/Maildir" }),
    spool: z.string().min(1).default("./data/spool"),
    limits: z
      .object({
        maxMessageBytes: z.number().int().min(1024).max(1024 * 1024 * 1024).default(50 * 1024 * 1024),
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

export const configSchema = z
  .object({
    // Our own SMTP host name: banner, HELO when sending, authserv-id of Authentication-Results.
    hostname: hostname,
    // Optional host whose "/" serves the postmaster page of the first domain.
    postmasterHost: hostname.optional(),
    domains: z.array(domain).min(1),
    // RFC 2142 role mailboxes (local parts) and the checks each is spared; never the virus scan.
    roles: z
      .record(localPart, rolePolicy)
      .default({
        postmaster: { relax: ["dnsbl", "fcrdns", "helo", "sender", "spf", "dmarc", "banned", "greylist"] },
        abuse: { relax: ["dnsbl", "fcrdns", "helo", "sender", "spf", "dmarc", "banned", "greylist"] },
      }),
    relay: relay.default(() => relay.parse({})),
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
