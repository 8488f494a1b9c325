// The Worker's part of the configuration: what workers/src reads and what the core code it calls reads
// (the judge, the records, the client settings) — our host names, the domains as they are published
// (no key files, no mailbox lists), the roles, the judge, the connection checks (Email Routing runs
// them as the relay does: DNSBL zones with the names of their key secrets, never the keys), the scan
// endpoint it calls (its token is a secret), and what
// the postmaster page tells senders about the relay (the size and recipient bounds). It is cut
// from the one schema (schema.ts) with pick and omit, so each field keeps its one type, default and
// description. Nothing else of the file — the relay's URLs with their passwords, its files, its
// stores — goes into the Worker's bundle, which Cloudflare stores (scripts/worker-config.ts), and the
// Worker's schema refuses it as an unknown field. The relay's full configuration is a WorkerConfig
// too, so the core code both halves run takes this type.
import { z } from "zod";
import { checkArcSealIdentity, checkDomainsOnce, configFields, type EdgemxConfig } from "./schema.ts";

const fields = configFields.shape;
const domain = fields.domains.element;
const dkim = domain.shape.dkim.unwrap();
const relay = fields.relay.unwrap().shape;

/** A domain as the Worker serves and publishes it: its DKIM record without the relay's key files; no recipients. */
const publishedDomain = domain.omit({ mailboxes: true, aliases: true, catchAll: true }).extend({
  dkim: dkim
    .omit({ privateKeyFile: true })
    .extend({ ed25519: dkim.shape.ed25519.unwrap().omit({ privateKeyFile: true }).optional() })
    .optional(),
});

/** What the postmaster page states about the relay (workers/src/postmaster/page.ts). */
const relayFacts = z
  .object({
    limits: relay.limits.unwrap().pick({ maxMessageBytes: true, maxRecipients: true }).prefault({}),
    srs: relay.srs.unwrap().pick({ maxAgeDays: true }).prefault({}),
    // Not a field of the file but what the domains' aliases say to the page, so the aliases stay home.
    forwardingDomains: z
      .array(z.string())
      .optional()
      .describe("the domains with an alias to another domain, whose forwarded mail leaves with an SRS sender (the postmaster page says so)"),
    // Not a field of the file but what relay.verdict.url says to the page, so the URL stays home.
    inProcessJudge: z
      .boolean()
      .optional()
      .describe("whether the relay judges in-process (no `relay.verdict.url`): its judge opens 7z, RAR and xz archives as well"),
  })
  .strict();

/** The received reports' settings the Worker applies: retention and the dashboard's access; the relay's hand-over URL stays home. */
const workerReports = fields.reports.unwrap().omit({ intakeUrl: true });

export const workerConfigSchema = configFields
  .pick({ hostname: true, postmasterHost: true, roles: true, connection: true, judge: true, scan: true })
  .extend({ domains: z.array(publishedDomain).min(1), relay: relayFacts.prefault({}), reports: workerReports.prefault({}) })
  .strict()
  .superRefine((cfg, ctx) => {
    checkDomainsOnce(cfg, ctx);
    checkArcSealIdentity(cfg, ctx);
  });

export type WorkerConfig = z.output<typeof workerConfigSchema>;
export type WorkerDomainConfig = WorkerConfig["domains"][number];
export type WorkerConfigInput = z.input<typeof workerConfigSchema>;

/** The Worker's part of a validated configuration, as the document the Worker's schema reads back. */
export function workerPart(config: EdgemxConfig): WorkerConfigInput {
  const { hostname, postmasterHost, roles, connection, judge, relay: full, reports, scan } = config;
  return {
    hostname,
    ...(postmasterHost === undefined ? {} : { postmasterHost }),
    ...(scan === undefined ? {} : { scan }),
    domains: config.domains.map(({ mailboxes: _mailboxes, aliases: _aliases, catchAll: _catchAll, dkim, ...published }) => {
      if (dkim === undefined) return published;
      const { privateKeyFile: _key, ed25519, ...record } = dkim;
      if (ed25519 === undefined) return { ...published, dkim: record };
      const { privateKeyFile: _ed25519Key, ...ed25519Record } = ed25519;
      return { ...published, dkim: { ...record, ed25519: ed25519Record } };
    }),
    roles,
    // The dynamic-name patterns as written (the schema compiles them).
    connection: { ...connection, fcrdns: { ...connection.fcrdns, dynamicPatterns: connection.fcrdns.dynamicPatterns.map((pattern) => pattern.source) } },
    judge,
    relay: {
      limits: { maxMessageBytes: full.limits.maxMessageBytes, maxRecipients: full.limits.maxRecipients },
      srs: { maxAgeDays: full.srs.maxAgeDays },
      forwardingDomains: [...domainsForwarding({ domains: config.domains, relay: {} })],
      inProcessJudge: full.verdict.url === undefined,
    },
    reports: { retentionDays: reports.retentionDays, dashboard: reports.dashboard },
  };
}

/**
 * Whether the relay judges in-process, so its judge opens 7z, RAR and xz too: the Worker's part says
 * so in `inProcessJudge`, the full configuration (the relay's, the tests') by `relay.verdict.url`.
 */
export function relayJudgesInProcess(config: { relay: { inProcessJudge?: boolean | undefined; verdict?: { url?: string | undefined } } }): boolean {
  return config.relay.inProcessJudge ?? config.relay.verdict?.url === undefined;
}

/**
 * Our domains with an alias to another domain: the Worker's part says so in `forwardingDomains`, the
 * full configuration by its aliases (as core/srs/forwarding.ts reads them for the relay).
 */
export function domainsForwarding(config: {
  domains: readonly { name: string; aliases?: Readonly<Record<string, string>> }[];
  relay: { forwardingDomains?: readonly string[] | undefined };
}): readonly string[] {
  if (config.relay.forwardingDomains !== undefined) return config.relay.forwardingDomains;
  const ours = new Set(config.domains.map((d) => d.name));
  const elsewhere = (target: string): boolean => target.includes("@") && !ours.has(target.slice(target.lastIndexOf("@") + 1).toLowerCase());
  return config.domains.filter((d) => Object.values(d.aliases ?? {}).some(elsewhere)).map((d) => d.name);
}

/** A value that is a secret whatever field holds it: a URL with a user name or password, a private key. */
function secretLike(value: string): string | null {
  if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(value)) return "a private key";
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(value) || !URL.canParse(value)) return null;
  const url = new URL(value);
  return url.username !== "" || url.password !== "" ? "a URL with a user name or password" : null;
}

/**
 * The values of a document that look like secrets, each as `path: what it is`: the Worker's build
 * refuses to bundle them (a password in an https: report address would otherwise be stored by
 * Cloudflare). The Worker's fields are named so that none holds a secret (test/unit/worker-config.test.ts).
 */
export function secretLikeValues(document: unknown, path = ""): string[] {
  if (typeof document === "string") {
    const what = secretLike(document);
    return what === null ? [] : [`${path || "(document)"}: ${what}`];
  }
  if (Array.isArray(document)) return document.flatMap((item, i) => secretLikeValues(item, `${path}[${i}]`));
  if (document !== null && typeof document === "object") {
    return Object.entries(document).flatMap(([key, value]) => secretLikeValues(value, path === "" ? key : `${path}.${key}`));
  }
  return [];
}
