// What a reload applies and what it refuses (relay-node/src/config/reload.ts), that the docs name every
// setting that needs a restart, and the pieces a reload reaches without a restart. The relay reloading
// in-process and as a process: test/integration/relay-reload.test.ts.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../core/config/load.ts";
import type { ConfigInput, EdgemxConfig } from "../../core/config/schema.ts";
import { ConfigHolder, RESTART_SETTINGS, settingsNeedingRestart } from "../../relay-node/src/config/reload.ts";
import { parseControlRequest } from "../../relay-node/src/control/control.ts";
import { ImapAuthenticator } from "../../relay-node/src/users/imap.ts";

const base: ConfigInput = {
  hostname: "mx.example.org",
  domains: [{ name: "example.org", mx: ["mx.example.org"], mailboxes: ["alice"] }],
  relay: { spool: "/var/lib/edgemx/spool" },
};

function changed(edit: (document: ConfigInput & { relay: NonNullable<ConfigInput["relay"]> }) => void): EdgemxConfig {
  const document = structuredClone(base) as ConfigInput & { relay: NonNullable<ConfigInput["relay"]> };
  edit(document);
  return parseConfig(document);
}

describe("a reload", () => {
  const running = parseConfig(base);

  it("applies mailboxes, aliases, roles, the checks, the judge, the limits and the log level", () => {
    const next = changed((d) => {
      d.domains[0]!.mailboxes = ["alice", "bob"];
      d.domains[0]!.aliases = { info: "alice" };
      d.domains[0]!.catchAll = true;
      d.postmasterHost = "postmaster.example.org";
      d.roles = { postmaster: { relax: ["dnsbl"] } };
      d.connection = {
        dnsbl: { action: "tempfail", zones: [{ zone: "zen.spamhaus.org" }] },
        fcrdns: { action: "log", dynamicPatterns: ["^dyn"] },
        helo: { action: "log" },
        sender: { action: "tempfail" },
      };
      d.relay.limits = { maxRecipients: 5, maxMessageBytes: 1024 * 1024, maxConnections: 10, maxConnectionsPerIp: 2, maxErrors: 3, commandTimeoutSeconds: 60 };
      d.relay.logLevel = "debug";
      d.judge = { spfFail: "mark", banned: { extensions: ["exe"] } };
    });
    expect(settingsNeedingRestart(running, next)).toEqual([]);
    expect(settingsNeedingRestart(running, parseConfig(base))).toEqual([]);
  });

  it("refuses what the running services were built from, naming each setting", () => {
    const next = changed((d) => {
      d.hostname = "mx2.example.org";
      d.domains[0]!.name = "example.net";
      d.relay.spool = "/srv/spool";
      d.relay.listeners = { mx: { port: 2525 } };
      d.connection = { greylist: { enabled: false } };
      d.relay.users = { type: "imap", host: "imap.example.org" };
      d.relay.submission = { maxMessagesPerHour: 10 };
    });
    expect(settingsNeedingRestart(running, next)).toEqual([
      "hostname",
      "domains[].name",
      "relay.listeners",
      "relay.spool",
      "connection.greylist",
      "relay.users",
      "relay.submission",
    ]);
  });

  it("is a holder whose current configuration a reload replaces", () => {
    const holder = new ConfigHolder(running);
    const next = changed((d) => (d.domains[0]!.mailboxes = ["bob"]));
    holder.replace(next);
    expect(holder.current).toBe(next);
  });

  it('is asked over the control socket as {"op":"reload"}', () => {
    expect(parseControlRequest('{"op":"reload"}')).toEqual({ op: "reload" });
  });

  it("reaches the IMAP check's aliases: a login owns what the configuration says now", () => {
    const holder = new ConfigHolder(running);
    const imap = new ImapAuthenticator({ type: "imap", host: "127.0.0.1", port: 1, tls: "implicit", timeoutMs: 1000 }, () => holder.current.domains);
    expect([...imap.ownedAddresses("alice@example.org")]).toEqual(["alice@example.org"]);
    holder.replace(changed((d) => (d.domains[0]!.aliases = { info: "alice" })));
    expect([...imap.ownedAddresses("alice@example.org")]).toEqual(["alice@example.org", "info@example.org"]);
  });

  it("has each setting that needs a restart named in docs/relay.md", () => {
    const docs = readFileSync("docs/relay.md", "utf8");
    const section = docs.slice(docs.indexOf("## Reload"), docs.indexOf("\n## ", docs.indexOf("## Reload") + 1));
    expect(section.length).toBeGreaterThan(0);
    for (const { setting } of RESTART_SETTINGS) expect(section, setting).toContain(`\`${setting}\``);
  });
});
