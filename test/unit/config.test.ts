import { describe, expect, it } from "vitest";
import { ConfigError, parseConfig } from "../../core/config/load.ts";
import { loadConfigFile, parseConfigText } from "../../relay-node/src/config/file.ts";

const minimal = { hostname: "mx.example.org", domains: [{ name: "example.org", mx: ["mx.example.org"], catchAll: true }] };

function problems(doc: unknown): readonly string[] {
  try {
    parseConfig(doc);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error("expected the configuration to be refused");
}

describe("configuration schema", () => {
  it("loads the example configuration the quickstart runs", () => {
    const cfg = loadConfigFile("config/example.yaml");
    expect(cfg.domains[0]?.name).toBe("example.org");
    expect(cfg.domains[0]?.mx).toEqual(["mx.example.org"]);
  });

  it("applies the documented defaults for client ports and policies", () => {
    const cfg = parseConfig(minimal);
    const d = cfg.domains[0]!;
    expect(d.imap).toEqual({ sslPort: 993, starttlsPort: 143 });
    expect(d.smtp).toEqual({ sslPort: 465, starttlsPort: 587 });
    expect(d.sieve).toEqual({ port: 4190 });
    expect(d.dmarc.p).toBe("reject");
    expect(d.mtaSts.mode).toBe("testing");
    expect(cfg.relay.limits.maxMessageBytes).toBe(50 * 1024 * 1024);
    expect(cfg.relay.nextHop).toEqual({ type: "maildir", path: "./data/Maildir", deliverBeforeReply: true });
    expect(cfg.roles.postmaster?.relax).toContain("dnsbl");
  });

  it("names the path of a bad field and what was expected", () => {
    expect(problems({ ...minimal, domains: [{ name: "example.org", mx: ["mx.example.org"], catchAll: true, mtaSts: { mode: "on" } }] })).toEqual([
      'domains[0].mtaSts.mode: expected one of "enforce", "testing", "none"',
    ]);
    expect(problems({ ...minimal, domains: [{ name: "example.org", mx: ["mx.example.org"], catchAll: true, imap: { sslPort: 70000 } }] })).toEqual([
      "domains[0].imap.sslPort: expected a value <= 65535",
    ]);
    expect(problems({ hostname: "mx.example.org" })).toEqual(["domains: expected array (missing)"]);
    expect(problems({ ...minimal, extra: 1 })).toEqual(['(document): unknown field "extra"']);
  });

  it("tells a document of the earlier layout where each moved field went", () => {
    expect(
      problems({
        ...minimal,
        relay: { greylist: { delaySeconds: 60, store: { type: "sqlite" } }, dnsbl: { zones: [] }, mandatoryTls: { domains: [] }, typo: 1 },
      }),
    ).toEqual([
      "relay.greylist.delaySeconds: moved to connection.greylist.delaySeconds",
      "relay.greylist.store: moved to relay.store",
      "relay.dnsbl: moved to connection.dnsbl",
      "relay.mandatoryTls: moved to connection.mandatoryTls",
      'relay: unknown field "typo"',
    ]);
    expect(problems({ ...minimal, domains: [{ name: "bad domain", mx: [], catchAll: true }] })).toEqual([
      "domains[0].name: expected a host name such as mx.example.org",
      "domains[0].mx: expected at least 1 item(s)",
    ]);
  });

  it("tells a document with the shared state's earlier name (relay.greylist.store) where it went, beside what is unknown there", () => {
    expect(problems({ ...minimal, relay: { greylist: { store: { type: "redis", url: "redis://127.0.0.1:6379" } } } })).toEqual([
      "relay.greylist.store: moved to relay.store",
    ]);
    expect(problems({ ...minimal, relay: { greylist: { store: { type: "sqlite" }, typo: 1 } } })).toEqual([
      "relay.greylist.store: moved to relay.store",
      'relay.greylist: unknown field "typo"',
    ]);
    expect(problems({ ...minimal, relay: { greylist: {} } })).toEqual(['relay: unknown field "greylist"']);
    expect(parseConfig(minimal).relay.store).toEqual({ type: "sqlite", path: "./data/greylist.sqlite" });
    expect(parseConfig({ ...minimal, relay: { store: { type: "redis", url: "redis://127.0.0.1:6379" } } }).relay.store).toEqual({
      type: "redis",
      url: "redis://127.0.0.1:6379",
    });
  });

  it("refuses MTA-STS max_age beyond RFC 8461's bound", () => {
    expect(problems({ ...minimal, domains: [{ name: "example.org", mx: ["mx.example.org"], catchAll: true, mtaSts: { maxAge: 31557601 } }] })).toEqual([
      "domains[0].mtaSts.maxAge: expected a value <= 31557600",
    ]);
  });

  it("refuses a domain listed twice", () => {
    const d = { name: "example.org", mx: ["mx.example.org"], catchAll: true };
    expect(problems({ ...minimal, domains: [d, d] })).toEqual(["domains[1].name: expected each domain once; example.org is listed twice"]);
  });

  it("reports YAML syntax errors with their line", () => {
    expect(() => parseConfigText("hostname: a\n  bad: [", "x.yaml")).toThrowError(/x\.yaml[\s\S]*line \d+/);
    expect(() => parseConfigText("a: 1\na: 2\n", "dup.yaml")).toThrowError(/line 2/);
  });

  it("refuses a missing file without a stack trace", () => {
    expect(() => loadConfigFile("/nonexistent/edgemx.yaml")).toThrowError(/cannot read it \(ENOENT\)/);
  });
});
