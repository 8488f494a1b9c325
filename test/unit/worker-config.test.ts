// The Worker's part of the configuration (core/config/worker.ts) and its bundle (scripts/worker-config.ts):
// Cloudflare stores the bundle, so it holds what the Worker reads and nothing of the relay's — no URL
// with a password, no file path, no mailbox list — and the build refuses a secret-like value outright.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { ConfigError, parseConfig, parseWorkerConfig } from "../../core/config/load.ts";
import type { ConfigInput } from "../../core/config/schema.ts";
import { secretLikeValues, workerConfigSchema, workerPart } from "../../core/config/worker.ts";
import { loadConfigFile } from "../../relay-node/src/config/file.ts";
import { DKIM_PUBLIC_KEY_BASE64 } from "../harness/dkim-key.ts";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const NODE = join(ROOT, "node_modules/.bin/node");
const dir = mkdtempSync(join(tmpdir(), "edgemx-worker-config-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Every relay setting that must stay home, each with a value the bundle's text must not contain. */
const RELAY_SECRETS = {
  redis: "redis://edgemx:greylist-password@redis.internal:6379",
  rspamd: "http://rspamd:rspamd-password@127.0.0.1:11333",
  controller: "http://rspamd:controller-password@127.0.0.1:11334",
  verdict: "https://relay:verdict-password@edge.example.org/v1/verdict",
  intake: "https://relay:intake-password@edge.example.org/v1/reports",
} as const;

/** A file that sets the relay's secrets and paths, the domain's key files, mailboxes and aliases. */
function everything(): ConfigInput {
  return {
    hostname: "mx.example.org",
    postmasterHost: "postmaster.example.org",
    domains: [
      {
        name: "example.org",
        mx: ["mx.example.org"],
        mailboxes: ["secret-mailbox"],
        aliases: { "hidden-alias": "secret-mailbox" },
        dkim: { selector: "s1", publicKey: DKIM_PUBLIC_KEY_BASE64, privateKeyFile: "/etc/edgemx/keys/dkim-rsa.pem" },
        tlsRpt: { rua: ["mailto:tls@example.org"] },
      },
    ],
    connection: {
      dnsbl: { action: "tempfail", zones: [{ zone: "zen.spamhaus.org", codes: ["127.0.0.2"] }] },
      mandatoryTls: { domains: ["bank.example"] },
    },
    relay: {
      tls: { cert: "/etc/edgemx/tls/cert.pem", key: "/etc/edgemx/tls/key.pem" },
      spool: "/var/lib/edgemx/spool",
      nextHop: { type: "lmtp", host: "mailbox.internal", port: 24 },
      store: { type: "redis", url: RELAY_SECRETS.redis },
      rspamd: { url: RELAY_SECRETS.rspamd, controllerUrl: RELAY_SECRETS.controller, spamtrap: { addresses: ["trap-7f3a@example.org"] } },
      verdict: { url: RELAY_SECRETS.verdict },
      users: { path: "/var/lib/edgemx/users.sqlite" },
      arcSealKeyFile: "/etc/edgemx/keys/arc.pem",
      limits: { maxMessageBytes: 20 * 1024 * 1024, maxRecipients: 50, maxConnections: 321 },
    },
    reports: { retentionDays: 90, intakeUrl: RELAY_SECRETS.intake },
  };
}

/** Runs the build step on `document` into a bundle of this test's own (never the Worker's real one). */
function build(document: unknown, name: string): { status: number | null; stderr: string; out: string } {
  const file = join(dir, `${name}.yaml`);
  const out = join(dir, `${name}.bundle.json`);
  writeFileSync(file, JSON.stringify(document));
  const run = spawnSync(NODE, ["scripts/worker-config.ts", "--config", file, "--out", out], { cwd: ROOT, encoding: "utf8", timeout: 30_000 });
  return { status: run.status, stderr: run.stderr, out };
}

/** Every field of a JSON schema as a path (`domains[].dkim.selector`); a record's values as `.<key>`. */
function fieldPaths(schema: z.ZodType): string[] {
  type Node = { properties?: Record<string, Node>; items?: Node; additionalProperties?: Node | boolean; anyOf?: Node[]; oneOf?: Node[] };
  const found: string[] = [];
  const walk = (node: Node, at: string): void => {
    for (const [key, child] of Object.entries(node.properties ?? {})) {
      const path = at === "" ? key : `${at}.${key}`;
      found.push(path);
      walk(child, path);
    }
    if (node.items) walk(node.items, `${at}[]`);
    if (typeof node.additionalProperties === "object") walk(node.additionalProperties, `${at}.<key>`);
    for (const option of [...(node.anyOf ?? []), ...(node.oneOf ?? [])]) walk(option, at);
  };
  walk(z.toJSONSchema(schema, { io: "input", unrepresentable: "any" }) as Node, "");
  return [...new Set(found)].sort();
}

describe("the Worker's part of the schema", () => {
  it("holds of the relay's settings only the public facts the postmaster page states", () => {
    expect(fieldPaths(workerConfigSchema).filter((path) => path.startsWith("relay"))).toEqual([
      "relay",
      "relay.forwardingDomains",
      "relay.inProcessJudge",
      "relay.limits",
      "relay.limits.maxMessageBytes",
      "relay.limits.maxRecipients",
      "relay.srs",
      "relay.srs.maxAgeDays",
    ]);
  });

  it("has no field that names a file or is named like a secret", () => {
    const paths = fieldPaths(workerConfigSchema);
    expect(paths).toContain("domains[].dkim.publicKey"); // the walk reaches the nested fields
    // keySecret names the Worker's secret binding that holds a DNSBL's access key, never the key itself;
    // passLifetimeSeconds is how long greylisting remembers a passed triplet.
    expect(paths.filter((path) => /pass|secret|token|credential|private|key ?file/i.test(path))).toEqual([
      "connection.dnsbl.zones[].keySecret",
      "connection.greylist.passLifetimeSeconds",
    ]);
    // A URL may carry a user name and password: the Worker's URL fields are the public DoH service's,
    // the Access team's signing keys' and the relay's scan endpoint's (whose token is the SCAN_TOKEN secret).
    expect(paths.filter((path) => /url$/i.test(path))).toEqual(["judge.dns.dohUrl", "reports.dashboard.access.certsUrl", "scan.url"]);
    const json = JSON.stringify(z.toJSONSchema(workerConfigSchema, { io: "input", unrepresentable: "any" }));
    expect(json).not.toContain('"kind":"path"');
  });

  it("refuses the relay's settings and the domains' key files and recipients as unknown fields", () => {
    const problems = (document: unknown): readonly string[] => {
      try {
        parseWorkerConfig(document, "the test");
        return [];
      } catch (err) {
        if (err instanceof ConfigError) return err.problems;
        throw err;
      }
    };
    expect(problems(everything())).toEqual([
      'domains[0].dkim: unknown field "privateKeyFile"',
      'domains[0]: unknown fields "mailboxes", "aliases"',
      'relay.limits: unknown field "maxConnections"',
      'relay: unknown fields "tls", "spool", "nextHop", "store", "rspamd", "verdict", "users", "arcSealKeyFile"',
      'reports: unknown field "intakeUrl"',
    ]);
  });

  it("is read back by the Worker as the whole file's values, defaults and all", () => {
    for (const full of [parseConfig(everything()), loadConfigFile("config/example.yaml")]) {
      const part = workerPart(full);
      const read = parseWorkerConfig(part);
      // The connection checks' dynamic-name patterns travel as written and are compiled again.
      const { connection: readConnection, ...readRest } = read;
      const { connection: _written, ...partRest } = part;
      expect(readRest).toEqual(partRest);
      expect(readConnection).toEqual(full.connection);
      expect(read.domains[0]!.dkim?.publicKey).toBe(full.domains[0]!.dkim?.publicKey);
      expect(read.judge).toEqual(full.judge);
      expect(read.relay.limits.maxMessageBytes).toBe(full.relay.limits.maxMessageBytes);
    }
  });
});

describe("the Worker's bundle", () => {
  it("holds none of the relay's secrets, paths or recipients from a file that sets them all", () => {
    const built = build(everything(), "everything");
    expect(built.stderr).toBe("edgemx: no TLSA record: cannot read relay.tls.cert /etc/edgemx/tls/cert.pem (ENOENT)\n");
    expect(built.status).toBe(0);
    const text = readFileSync(built.out, "utf8");
    for (const value of [
      ...Object.values(RELAY_SECRETS),
      "password",
      "/etc/edgemx",
      "/var/lib/edgemx",
      "secret-mailbox",
      "hidden-alias",
      "trap-7f3a",
      "everything.yaml",
    ]) {
      expect(text, value).not.toContain(value);
    }
    const bundle = JSON.parse(text) as { config: Record<string, unknown>; facts: unknown };
    expect(Object.keys(bundle)).toEqual(["config", "facts"]);
    expect(Object.keys(bundle.config.relay as object)).toEqual(["limits", "srs", "forwardingDomains", "inProcessJudge"]);
    // The relay asks a verdict URL: the Worker learns that it does, not the URL.
    expect((bundle.config.relay as { inProcessJudge: unknown }).inProcessJudge).toBe(false);
    expect(bundle.config.reports).toEqual({ retentionDays: 90, dashboard: {} });
    expect(secretLikeValues(bundle)).toEqual([]);
    expect(parseWorkerConfig(bundle.config).connection.mandatoryTls.domains).toEqual(["bank.example"]);
  });

  it("is refused, naming the field, when the Worker's part holds a secret-like value", () => {
    const document = everything();
    document.domains[0]!.tlsRpt = { rua: ["mailto:tls@example.org", "https://reports:hunter2@tlsrpt.example.net/v1/report"] };
    const built = build(document, "secret-rua");
    expect(built.status).toBe(1);
    expect(built.stderr).toContain(
      `invalid configuration in ${join(dir, "secret-rua.yaml")}:\n  - domains[0].tlsRpt.rua[1]: a URL with a user name or password: the Worker's bundle is stored by Cloudflare and holds no secrets\n`,
    );
    expect(existsSync(built.out)).toBe(false);
  });

  it("finds secret-like values wherever they are: URLs with a user name or password, private keys", () => {
    expect(
      secretLikeValues({
        a: ["https://example.org/x", "mailto:a@example.org", "redis://:pw@host:6379"],
        b: { c: "-----BEGIN PRIVATE KEY-----\nMIIE…\n-----END PRIVATE KEY-----" },
        d: "https://user@example.org/",
      }),
    ).toEqual(["a[2]: a URL with a user name or password", "b.c: a private key", "d: a URL with a user name or password"]);
  });
});
