// Which configuration file a program reads (--config, $EDGEMX_CONFIG, ./edgemx.yaml; the example only
// when asked), and its relative paths taken from the file's folder — every path field of the schema.
// The processes themselves, from different working folders: test/integration/config-file.test.ts.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { parseConfig } from "../../core/config/load.ts";
import { configSchema, type ConfigInput } from "../../core/config/schema.ts";
import { ConfigChoiceError, configFilePath, loadConfigFile, startConfigPath } from "../../relay-node/src/config/file.ts";
import { resolveConfigPaths } from "../../relay-node/src/config/paths.ts";

const dir = mkdtempSync(join(tmpdir(), "edgemx-config-paths-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const ED25519_PUBLIC_KEY = "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";
const RSA_PUBLIC_KEY = "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA";

/** The document's fields whose kind is "path", as `domains[].dkim.privateKeyFile`: read from the schema itself. */
function pathFields(): string[] {
  type Node = { kind?: string; properties?: Record<string, Node>; items?: Node; anyOf?: Node[]; oneOf?: Node[]; allOf?: Node[] };
  const found = new Set<string>();
  const walk = (node: Node, at: string): void => {
    if (node.kind === "path") found.add(at);
    for (const [key, child] of Object.entries(node.properties ?? {})) walk(child, at === "" ? key : `${at}.${key}`);
    if (node.items) walk(node.items, `${at}[]`);
    for (const option of [...(node.anyOf ?? []), ...(node.oneOf ?? []), ...(node.allOf ?? [])]) walk(option, at);
  };
  walk(z.toJSONSchema(configSchema, { io: "input", unrepresentable: "any" }) as Node, "");
  return [...found].sort();
}

/** Every value at a field path (`[]` walks a list); none where an option of a union leaves it out. */
function valuesAt(value: unknown, field: string): unknown[] {
  let current: unknown[] = [value];
  for (const segment of field.split(".")) {
    const list = segment.endsWith("[]");
    const key = list ? segment.slice(0, -2) : segment;
    current = current.flatMap((v) => {
      const next = v !== null && typeof v === "object" ? (v as Record<string, unknown>)[key] : undefined;
      if (next === undefined) return [];
      return list ? next : [next];
    });
  }
  return current;
}

/**
 * Two documents that set every path field between them (the union options: users by sqlite or by IMAP;
 * the certificate from files or by ACME, which exclude each other).
 */
function everyPathRelative(): ConfigInput[] {
  const dkim = {
    selector: "s1",
    publicKey: RSA_PUBLIC_KEY,
    privateKeyFile: "keys/rsa.pem",
    ed25519: { selector: "s2", publicKey: ED25519_PUBLIC_KEY, privateKeyFile: "keys/ed25519.pem" },
  };
  const relay = {
    tls: { cert: "tls/cert.pem", key: "tls/key.pem" },
    nextHop: { type: "maildir" as const, path: "state/Maildir" },
    spool: "state/spool",
    store: { type: "sqlite" as const, path: "state/greylist.sqlite" },
    outbound: { tlsRptPath: "state/tlsrpt.sqlite", mtaStsCachePath: "state/mta-sts.sqlite" },
    arcSealKeyFile: "keys/arc.pem",
    dmarcReports: { path: "state/dmarc-reports.sqlite" },
    // The scan endpoint runs rspamd beside clamd (on by default).
    rspamd: { url: "http://127.0.0.1:11333" },
    scanListener: { clientCaFile: "tls/scan-client-ca.pem" },
  };
  const { tls: _tls, ...withoutTls } = relay;
  const document = { hostname: "mx.example.org", domains: [{ name: "example.org", mx: ["mx.example.org"], catchAll: true, dkim }] };
  return [
    { ...document, relay: { ...relay, users: { path: "state/users.sqlite" } } },
    {
      ...document,
      relay: {
        ...withoutTls,
        acme: { dir: "state/acme", caFile: "tls/acme-ca.pem" },
        users: { type: "imap", host: "imap.example.org", caFile: "tls/imap-ca.pem" },
      },
    },
  ];
}

describe("relative paths in the configuration", () => {
  it("are each taken from the configuration file's folder: every path field of the schema", () => {
    const fields = pathFields();
    // The walk finds them (a schema change that hides them from it would make this test pass unseen).
    expect(fields).toContain("relay.spool");
    expect(fields).toContain("domains[].dkim.ed25519.privateKeyFile");
    const folder = "/etc/edgemx";
    const covered = new Set<string>();
    for (const document of everyPathRelative()) {
      const given = parseConfig(document);
      const resolved = resolveConfigPaths(given, folder);
      for (const field of fields) {
        const before = valuesAt(given, field);
        if (before.length === 0) continue;
        covered.add(field);
        expect(valuesAt(resolved, field), field).toEqual(before.map((p) => resolve(folder, p as string)));
      }
    }
    expect([...covered].sort()).toEqual(fields);
  });

  it("leaves absolute paths and absent optional paths as they are", () => {
    const given = parseConfig({
      hostname: "mx.example.org",
      domains: [{ name: "example.org", mx: ["mx.example.org"], catchAll: true }],
      relay: { spool: "/var/lib/edgemx/spool" },
    });
    const resolved = resolveConfigPaths(given, "/etc/edgemx");
    expect(resolved.relay.spool).toBe("/var/lib/edgemx/spool");
    expect("tls" in resolved.relay).toBe(false);
    expect("tlsRptPath" in resolved.relay.outbound).toBe(false);
    // The defaults are relative too: ./data beside the configuration file.
    expect(resolved.relay.users).toEqual({ path: "/etc/edgemx/data/users.sqlite" });
    expect(resolved.relay.nextHop).toEqual({ type: "maildir", path: "/etc/edgemx/data/Maildir", deliverBeforeReply: true });
  });

  it("are resolved by loadConfigFile, whatever the working folder", () => {
    const file = join(dir, "edgemx.yaml");
    writeFileSync(file, "hostname: mx.example.org\ndomains: [{ name: example.org, mx: [mx.example.org], catchAll: true }]\nrelay: { spool: state/spool }\n");
    expect(loadConfigFile(file).relay.spool).toBe(join(dir, "state/spool"));
    expect(loadConfigFile(file).relay.store).toEqual({ type: "sqlite", path: join(dir, "data/greylist.sqlite") });
  });
});

describe("the configuration file a program reads", () => {
  const none = () => false;
  const here = (path: string) => path === "edgemx.yaml";
  const choiceError = (run: () => unknown): string => {
    try {
      run();
    } catch (err) {
      if (err instanceof ConfigChoiceError) return err.message;
      throw err;
    }
    throw new Error("expected a ConfigChoiceError");
  };

  it("is --config, else $EDGEMX_CONFIG, else ./edgemx.yaml", () => {
    expect(configFilePath({ config: "/etc/edgemx/a.yaml" }, { EDGEMX_CONFIG: "/etc/edgemx/b.yaml" }, here)).toBe("/etc/edgemx/a.yaml");
    expect(configFilePath({}, { EDGEMX_CONFIG: "/etc/edgemx/b.yaml" }, here)).toBe("/etc/edgemx/b.yaml");
    expect(configFilePath({}, {}, here)).toBe("edgemx.yaml");
  });

  it("is refused when nothing names one, saying what to do", () => {
    expect(choiceError(() => configFilePath({}, {}, none))).toBe(
      "no configuration file: no --config <file>, $EDGEMX_CONFIG is not set, and there is no ./edgemx.yaml. " +
        "Copy config/example.yaml to edgemx.yaml and make it yours, or pass --example to run on the example as it is",
    );
  });

  it("is the example only when asked: --example or EDGEMX_EXAMPLE=1, never by naming it", () => {
    expect(configFilePath({ example: true }, { EDGEMX_CONFIG: "/etc/edgemx/b.yaml" }, here)).toBe("config/example.yaml");
    expect(configFilePath({}, { EDGEMX_EXAMPLE: "1" }, here)).toBe("config/example.yaml");
    const refusal =
      "config/example.yaml is the example configuration (example.org is nobody's domain): copy it to edgemx.yaml and make it yours, or pass --example to run on it as it is";
    expect(choiceError(() => configFilePath({ config: "config/example.yaml" }, {}, none))).toBe(refusal);
    expect(choiceError(() => configFilePath({}, { EDGEMX_CONFIG: "config/example.yaml" }, none))).toBe(refusal);
    expect(choiceError(() => configFilePath({ config: "a.yaml", example: true }, {}, none))).toBe("--config and --example name two files: give one of them");
    expect(choiceError(() => configFilePath({}, { EDGEMX_CONFIG: "a.yaml", EDGEMX_EXAMPLE: "1" }, none))).toBe(
      "$EDGEMX_CONFIG and EDGEMX_EXAMPLE=1 name two files: set one of them",
    );
  });

  it("is taken from the folder the command was typed in, which npm gives as INIT_CWD", () => {
    expect(configFilePath({ config: "edgemx.yaml" }, { INIT_CWD: "/etc/edgemx" }, none)).toBe("/etc/edgemx/edgemx.yaml");
    expect(configFilePath({}, { EDGEMX_CONFIG: "relay.yaml", INIT_CWD: "/etc/edgemx" }, none)).toBe("/etc/edgemx/relay.yaml");
    expect(configFilePath({ config: "edgemx.yaml" }, { INIT_CWD: process.cwd() }, none)).toBe("edgemx.yaml");
  });

  it("is, for npm start, the one named, else the example", () => {
    expect(startConfigPath({}, none)).toBe("config/example.yaml");
    expect(startConfigPath({}, here)).toBe("edgemx.yaml");
    expect(startConfigPath({ EDGEMX_CONFIG: "config/example.yaml" }, here)).toBe("config/example.yaml");
  });
});
