// The quickstart (`npm start` on config/example.yaml, scripts/quickstart/): the DNS and clamd it brings
// up, and the relay on the example configuration with them. The swaks line it prints is accepted by the
// relay's real checks — the message lands with iprev, SPF and DMARC passing — while the same checks
// still refuse: a listed client, a virus, a new sender to a mailbox that greylisting protects.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { EdgemxConfig } from "../../core/config/schema.ts";
import { loadConfigFile } from "../../relay-node/src/config/file.ts";
import { settingsNeedingRestart } from "../../relay-node/src/config/reload.ts";
import { createLogger } from "../../relay-node/src/log/log.ts";
import { startRelay, type RunningRelay } from "../../relay-node/src/relay.ts";
import { authenticationResults, maildirFiles } from "../../scripts/quickstart/deliveries.ts";
import { hasFreshclamDatabase, startQuickstart, type Quickstart } from "../../scripts/quickstart/quickstart.ts";
import { DNSBL_TEST_ENTRY, SANDBOX_SENDER } from "../../scripts/quickstart/zones.ts";
import { EICAR } from "../harness/clamd.ts";
import { runSwaks, type SwaksRun } from "../harness/swaks.ts";

const dir = mkdtempSync(join(tmpdir(), "edgemx-quickstart-"));
let quickstart: Quickstart;
let relay: RunningRelay;
let server: string;
const logs: Record<string, unknown>[] = [];

/** The example configuration with its files in this test's folder (ports come from the overrides). */
function exampleInFolder(): EdgemxConfig {
  const example = loadConfigFile("config/example.yaml");
  return {
    ...example,
    relay: {
      ...example.relay,
      spool: join(dir, "spool"),
      nextHop: { type: "maildir", path: join(dir, "Maildir"), deliverBeforeReply: true },
      store: { type: "sqlite", path: join(dir, "greylist.sqlite") },
    },
  };
}

/** One result of an Authentication-Results field: `method=result (comment) property=value`, exactly. */
function result(method: string, outcome: string, properties: string): RegExp {
  const escaped = properties.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  return new RegExp(`(^|; )${method}=${outcome} \\([^)]*\\) ${escaped}(;|$)`);
}

function lastReply(run: SwaksRun): string {
  return run.exchanges.at(-1)?.reply ?? run.transcript;
}

beforeAll(async () => {
  quickstart = await startQuickstart(exampleInFolder());
  relay = await startRelay(quickstart.config, {
    listen: { host: "127.0.0.1", port: 0 },
    submissionListen: { submission: { port: 0 }, submissions: { port: 0 } },
    metricsListen: { port: 0 },
    logger: createLogger("info", { write: (line: string) => void logs.push(JSON.parse(line) as Record<string, unknown>) }),
    delivery: { pollIntervalMs: 200 },
  });
  server = `127.0.0.1:${relay.port}`;
}, 240_000);

afterAll(async () => {
  await relay?.stop();
  await quickstart?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe("the quickstart", () => {
  it("brings up its DNS and a clamd, and says which signatures clamd has", () => {
    expect(quickstart.dns).toBe(true);
    expect(quickstart.config.relay.resolver.port).not.toBe(53);
    const clamdNote = quickstart.notes.find((note) => note.startsWith("clamd"));
    expect(clamdNote).toMatch(hasFreshclamDatabase() ? /freshclam's database/ : /TEST SIGNATURES ONLY/);
  });

  it("keeps its DNS and clamd in the example read again, so npm start's relay can reload", () => {
    const again = exampleInFolder();
    // As the file has them, the resolver (and a clamd started here) would be changes that need a restart.
    expect(settingsNeedingRestart(quickstart.config, again)).toContain("relay.resolver");
    expect(quickstart.asRun(again)).toEqual(quickstart.config);
    expect(settingsNeedingRestart(quickstart.config, quickstart.asRun(again))).toEqual([]);
  });

  it("accepts the printed swaks line to postmaster@ with every check passing, and delivers it", async () => {
    const run = await runSwaks(quickstart.acceptedMessage(server, "postmaster@example.org"));
    expect(lastReply(run), run.transcript).toMatch(/^221 /);
    expect(run.exchanges.find((exchange) => exchange.command === ".")?.reply).toMatch(/^250 2\.0\.0 Ok: queued as /);
    await relay.delivery.idle();
    const files = maildirFiles(join(dir, "Maildir"));
    expect(files).toHaveLength(1);
    expect(files[0]).toContain(join("example.org", "postmaster", "new"));
    const [results] = authenticationResults(readFileSync(files[0]!));
    expect(results).toMatch(/^mx\.example\.org;/);
    expect(results).toMatch(result("spf", "pass", `smtp.mailfrom=${SANDBOX_SENDER.domain}`));
    expect(results).toMatch(result("spf", "pass", `smtp.helo=${SANDBOX_SENDER.host}`));
    expect(results).toMatch(result("dmarc", "pass", `policy.dmarc=reject header.from=${SANDBOX_SENDER.domain} header.d=${SANDBOX_SENDER.domain}`));
    // What each check found is on the log lines: every one passed, none was relaxed for the role mailbox.
    const session = logs.find((line) => line.event === "session" && line.helo === SANDBOX_SENDER.host);
    expect(session).toMatchObject({ clientIp: SANDBOX_SENDER.address, verifiedName: SANDBOX_SENDER.host, lastRefusal: null });
    const message = logs.find((line) => line.event === "message" && line.session === session?.session);
    expect(message).toMatchObject({ verdict: { action: "accept" }, scan: "clean" });
    const checks = [...(session?.checks as { check: string; outcome: string }[]), ...(message?.checks as { check: string; outcome: string }[])];
    expect(checks.map((finding) => finding.check)).toEqual(expect.arrayContaining(["dnsbl", "fcrdns", "helo", "sender", "spf", "dmarc"]));
    expect(checks.filter((finding) => finding.outcome !== "pass")).toEqual([]);
  });

  it("still greylists a new sender to a mailbox that is not a role", async () => {
    const run = await runSwaks(quickstart.acceptedMessage(server, "bob@example.org"));
    expect(run.exchanges.find((exchange) => exchange.command.startsWith("RCPT TO"))?.reply).toMatch(
      /^451 4\.7\.1 <bob@example\.org>: Recipient address rejected: Greylisted/,
    );
  });

  it("still refuses the DNSBL's listed test entry", async () => {
    const run = await runSwaks([...quickstart.acceptedMessage(server, "bob@example.org"), "--local-interface", DNSBL_TEST_ENTRY.listed]);
    const blocked = `554 5.7.1 Service unavailable; Client host [${DNSBL_TEST_ENTRY.listed}] blocked using zen.spamhaus.org`;
    expect(run.exchanges.find((exchange) => exchange.command.startsWith("RCPT TO"))?.reply, run.transcript).toBe(blocked);
  });

  it("still scans: EICAR to postmaster@ is refused as infected", async () => {
    const eicar = join(dir, "eicar.com");
    writeFileSync(eicar, EICAR);
    const run = await runSwaks([
      ...quickstart.acceptedMessage(server, "postmaster@example.org"),
      "--attach-type",
      "application/octet-stream",
      "--attach",
      `@${eicar}`,
    ]);
    expect(run.exchanges.find((exchange) => exchange.command === ".")?.reply, run.transcript).toMatch(/^554 5\.7\.0 Reject, id=\S+ – INFECTED/);
  });
});
