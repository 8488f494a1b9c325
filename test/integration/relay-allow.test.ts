// The allowlist (relay.allow) and unblocking (npm run blocklist) against the real components: relays
// started in-process with the harness's validating resolver (the test DNSBL lists 127.0.0.2; PTR
// records for the FCrDNS cases), a real clamd with its EICAR signature, and a real Redis; SMTP clients
// bound to the loopback addresses the zones describe. The blocklist CLI runs as a child process, as the
// postmaster runs it, against the relay's own configuration file.
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { dkimSign } from "mailauth";
import nodemailer from "nodemailer";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { RELAXABLE_CHECKS, type ConfigInput } from "../../core/config/schema.ts";
import { EICAR } from "../harness/clamd.ts";
import { DKIM_PRIVATE_KEY_PEM, DKIM_SELECTOR } from "../harness/dkim-key.ts";
import { delivered, LOCAL, messageWithAttachment, relayDocument, startTestRelay, testMessage, type TestRelay } from "../harness/relay.ts";
import { startClamd, startRedis, type ClamdService, type RedisService } from "../harness/services.ts";
import { TEST_DNS } from "../harness/zones.ts";

const harness = inject("harness");
const CLI = join(import.meta.dirname, "../../relay-node/src/cli/blocklist.ts");
const dir = mkdtempSync(join(tmpdir(), "edgemx-relay-allow-"));
const { sender, dnsbl, clients } = TEST_DNS;
const TRAP = `trap@${LOCAL.domain}`;
/** The dynamic-name pattern of config/example.yaml that names like dyn-127-0-0-12.pool.sender.test match. */
const DYNAMIC = "(^|[.-])(dyn|dynamic|dhcp|dialup|ppp|pool|cable|dsl|adsl)[0-9.-]";

let clamd: ClamdService;
let redis: RedisService;
let runs = 0;

async function start(relay: NonNullable<ConfigInput["relay"]>, greylisting = false): Promise<{ test: TestRelay; configFile: string }> {
  const folder = join(dir, `relay-${++runs}`);
  const document = relayDocument(
    folder,
    harness.dnsPort,
    {
      clamd: { host: clamd.host, port: clamd.port, timeoutMs: 5000 },
      store: { type: "sqlite", path: join(folder, "greylist.sqlite") },
      ...relay,
    },
    { dnsbl: { zones: [{ zone: dnsbl.zone, codes: [dnsbl.listedAnswer] }] }, fcrdns: { dynamicPatterns: [DYNAMIC] }, greylist: { enabled: greylisting } },
  );
  // The relay's own configuration as a file, for the CLI's --config (YAML reads JSON).
  const configFile = join(dir, `relay-${runs}.yaml`);
  writeFileSync(configFile, JSON.stringify(document));
  return { test: await startTestRelay(document), configFile };
}

/** Sends one message from `clientIp`; resolves with the final reply, or the refusal that stopped it. */
async function send(
  port: number,
  clientIp: string,
  raw: string,
  mailFrom = `bob@${sender.domain}`,
  to: string = LOCAL.mailbox,
  helo: string = sender.mailHost,
): Promise<string> {
  const transport = nodemailer.createTransport({ host: "127.0.0.1", port, secure: false, ignoreTLS: true, localAddress: clientIp, name: helo });
  try {
    return (await transport.sendMail({ envelope: { from: mailFrom, to }, raw })).response;
  } catch (err) {
    return String((err as { response?: string }).response ?? err);
  } finally {
    transport.close();
  }
}

/** The message DKIM-signed by sender.test with the key its zone publishes: DMARC passes whatever the client address. */
async function signed(raw: string): Promise<string> {
  const signature = { signingDomain: sender.domain, selector: DKIM_SELECTOR, privateKey: DKIM_PRIVATE_KEY_PEM };
  const result = await dkimSign(raw, { ...signature, signatureData: [signature] });
  expect(result.errors).toEqual([]);
  return result.signatures + raw;
}

function linesOf(test: TestRelay, event: string): Record<string, unknown>[] {
  return test.logs.filter((line) => line.event === event);
}

/** The checks of a message's log line. */
function checksOf(line: Record<string, unknown> | undefined): { check: string; outcome: string; detail: string; allowedBy?: string }[] {
  return (line?.checks ?? []) as { check: string; outcome: string; detail: string; allowedBy?: string }[];
}

async function metric(test: TestRelay, labels: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${test.relay.metricsPort}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(`edgemx_allowlist_spared_total{${labels}}`));
  return line === undefined ? 0 : Number(line.split(" ").at(-1));
}

async function blocklistCli(configFile: string, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [CLI, "--config", configFile, ...args]);
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

let allowing: TestRelay;
let partial: TestRelay;
let plain: { test: TestRelay; configFile: string };

beforeAll(async () => {
  [clamd, redis] = await Promise.all([startClamd(), startRedis()]);
  allowing = (
    await start({
      allow: [
        // A partner on an address the DNSBL lists and without PTR: spared every check there is to spare.
        { ip: dnsbl.listedIp, spare: [...RELAXABLE_CHECKS] },
        // Its other hosts by their forward-confirmed names.
        { name: `*.pool.${sender.domain}`, spare: ["fcrdns"] },
        // A name its address's PTR record gives, but whose A record is another address: never confirmed.
        { name: clients.unconfirmedName, spare: ["fcrdns"] },
        { sender: sender.domain, spare: ["banned"] },
      ],
    })
  ).test;
  partial = (await start({ allow: [{ ip: `${dnsbl.listedIp}/32`, spare: ["dnsbl"] }] })).test;
  plain = await start({ rspamd: { spamtrap: { addresses: [TRAP], blocklistTtlSeconds: 3600 } } });
}, 60_000);

afterAll(async () => {
  await Promise.all([allowing, partial, plain?.test].map((t) => t?.relay.stop()));
  await Promise.all([clamd?.stop(), redis?.stop()]);
  rmSync(dir, { recursive: true, force: true });
});

describe("an allowlisted client", () => {
  it("passes the DNSBL that lists it, while the same address without an entry is refused", async () => {
    const marker = `allowlisted-${Date.now()}`;
    const reply = await send(allowing.port, dnsbl.listedIp, testMessage({ body: marker }));
    expect(reply).toMatch(/^250 2\.0\.0 Ok: queued as /);
    expect((await delivered(allowing, LOCAL.mailbox)).some((m) => m.includes(marker))).toBe(true);
    const line = linesOf(allowing, "message").find((l) => l.clientIp === dnsbl.listedIp);
    expect(line?.allowlist).toEqual([`relay.allow[0] (ip ${dnsbl.listedIp})`]);
    const checks = checksOf(line);
    expect(checks.find((c) => c.check === "dnsbl")).toMatchObject({ outcome: "relaxed" });
    expect(checks.find((c) => c.check === "dnsbl")?.detail).toMatch(/^dnsbl\.test: listed .*; allowlisted by relay\.allow\[0\] \(ip 127\.0\.0\.2\)$/);
    expect(checks.find((c) => c.check === "fcrdns")).toMatchObject({ outcome: "relaxed" });
    expect(checks.find((c) => c.check === "fcrdns")?.detail).toContain("allowlisted by relay.allow[0] (ip 127.0.0.2)");
    expect(await metric(allowing, 'check="dnsbl",match="ip"')).toBe(1);
    expect(await metric(allowing, 'check="fcrdns",match="ip"')).toBe(1);

    expect(await send(plain.test.port, dnsbl.listedIp, testMessage())).toBe(
      `554 5.7.1 Service unavailable; Client host [${dnsbl.listedIp}] blocked using ${dnsbl.zone}`,
    );
    expect(await metric(plain.test, 'check="dnsbl",match="ip"')).toBe(0);
  });

  it("is spared only the checks its entry names: FCrDNS still refuses, and the refusal's line says what was spared", async () => {
    expect(await send(partial.port, dnsbl.listedIp, testMessage())).toBe(`554 5.7.1 <unknown[${dnsbl.listedIp}]>: Client host rejected: Access denied`);
    // The RCPT TO refusal's line (nodemailer's pipelined DATA then gets smtp-server's 503).
    const refusal = linesOf(partial, "refusal").find((l) => l.stage === "rcpt");
    expect(refusal).toMatchObject({ check: "fcrdns", clientIp: dnsbl.listedIp, allowlist: [`relay.allow[0] (ip ${dnsbl.listedIp}/32)`] });
  });

  it("still has its mail scanned: EICAR is refused as INFECTED", async () => {
    const reply = await send(allowing.port, dnsbl.listedIp, messageWithAttachment("eicar.com", Buffer.from(EICAR, "latin1")));
    expect(reply).toMatch(/^554 5\.7\.0 Reject, id=\d{5}-\d{2} – INFECTED$/);
    const line = linesOf(allowing, "message").at(-1);
    expect(line).toMatchObject({ scan: "infected Eicar-Test-Signature.UNOFFICIAL", allowlist: [`relay.allow[0] (ip ${dnsbl.listedIp})`] });
  });
});

describe("an allowlisted name", () => {
  it("spares a client whose forward-confirmed name matches: a dynamic-looking one passes FCrDNS", async () => {
    expect(await send(partial.port, clients.dynamicIp, await signed(testMessage()))).toBe(
      `554 5.7.1 <${clients.dynamicName}[${clients.dynamicIp}]>: Client host rejected: Access denied`,
    );
    expect(await send(allowing.port, clients.dynamicIp, await signed(testMessage()))).toMatch(/^250 /);
    // Signed by sender.test, the message also matches the sender entry (its From domain DKIM-aligned).
    expect(linesOf(allowing, "message").at(-1)).toMatchObject({
      clientIp: clients.dynamicIp,
      allowlist: [`relay.allow[1] (name *.pool.${sender.domain})`, `relay.allow[3] (sender ${sender.domain}, dkim aligned)`],
    });
    expect(await metric(allowing, 'check="fcrdns",match="name"')).toBe(1);
  });

  it("never matches a PTR name that is not forward-confirmed", async () => {
    // 127.0.0.15's PTR says unconfirmed.sender.test, whose A record is another address.
    expect(await send(allowing.port, clients.unconfirmedIp, await signed(testMessage()))).toBe(
      `554 5.7.1 <unknown[${clients.unconfirmedIp}]>: Client host rejected: Access denied`,
    );
  });
});

describe("an allowlisted sender domain", () => {
  const exe = Buffer.concat([Buffer.from("MZ"), Buffer.alloc(126)]);

  it("spares a sender whose From domain SPF aligns: its .exe is delivered", async () => {
    const reply = await send(allowing.port, sender.authorizedIp, messageWithAttachment("tool.exe", exe));
    expect(reply).toMatch(/^250 /);
    const line = linesOf(allowing, "message").at(-1);
    expect(line?.allowlist).toEqual([`relay.allow[3] (sender ${sender.domain}, spf aligned)`]);
    const banned = checksOf(line).find((c) => c.check === "banned");
    expect(banned).toMatchObject({ outcome: "relaxed", allowedBy: "sender" });
    expect(banned?.detail).toContain("; allowlisted by relay.allow[3] (sender sender.test, spf aligned)");
    expect(await metric(allowing, 'check="banned",match="sender"')).toBe(1);
  });

  it("does not spare a forged From: the envelope sender is another domain, nothing aligns sender.test", async () => {
    const forged = messageWithAttachment("tool.exe", exe, { from: `boss@${sender.domain}` });
    const reply = await send(allowing.port, sender.authorizedIp, forged, `mallory@${TEST_DNS.insecure.domain}`);
    expect(reply).toMatch(/^554 5\.7\.0 Reject, id=\d{5}-\d{2} – BANNED$/);
    const line = linesOf(allowing, "message").at(-1);
    expect(line?.allowlist).toBeUndefined();
    expect(checksOf(line).find((c) => c.check === "banned")?.outcome).toBe("fail");
  });
});

describe("greylisting and the HELO check spared", () => {
  it("lets an allowlisted client's first attempt through greylisting, defers another's; spares a named HELO name only", async () => {
    const greylisting = await start(
      {
        allow: [
          { ip: sender.authorizedIp, spare: ["greylist"] },
          { helo: sender.nxdomain, spare: ["helo"] },
        ],
      },
      true,
    );
    try {
      const { port } = greylisting.test;
      expect(await send(port, sender.authorizedIp, testMessage())).toMatch(/^250 /);
      expect(await metric(greylisting.test, 'check="greylist",match="ip"')).toBe(1);
      // mx.sender.test (127.0.0.10) passes every connection check but is not allowlisted: greylisted.
      expect(await send(port, sender.mxAddress, testMessage())).toMatch(/^451 4\.7\.1 /);
      expect(await send(port, sender.authorizedIp, testMessage(), undefined, undefined, sender.nxdomain)).toMatch(/^250 /);
      expect(await metric(greylisting.test, 'check="helo",match="helo"')).toBe(1);
      const other = `other-${sender.nxdomain}`;
      expect(await send(port, sender.authorizedIp, testMessage(), undefined, undefined, other)).toBe(
        `554 5.7.1 <${other}>: Helo command rejected: Host not found`,
      );
    } finally {
      await greylisting.test.relay.stop();
    }
  });
});

describe("npm run blocklist", () => {
  /** add, a session refused as listed; list; del, a session accepted; del again finds nothing. */
  async function unblockingCycle(test: TestRelay, configFile: string): Promise<void> {
    const client = sender.authorizedIp;
    const zone = `spamtrap.${LOCAL.hostname}`;
    expect(await blocklistCli(configFile, "list")).toEqual({ code: 0, stdout: "", stderr: `nothing is listed in ${zone}\n` });
    const added = await blocklistCli(configFile, "add", `::ffff:${client}`, "--ttl", "600");
    expect(added.code).toBe(0);
    expect(added.stdout).toMatch(
      new RegExp(`^listed ${client.replaceAll(".", "\\.")}  until \\S+ \\((599|600) s more\\) in ${zone.replaceAll(".", "\\.")}\\n$`),
    );
    expect(await send(test.port, client, testMessage())).toBe(`554 5.7.1 Service unavailable; Client host [${client}] blocked using ${zone}`);
    const listed = await blocklistCli(configFile, "list");
    expect(listed.code).toBe(0);
    expect(listed.stdout).toMatch(new RegExp(`^${client.replaceAll(".", "\\.")}  until `));
    expect(await blocklistCli(configFile, "del", client)).toEqual({ code: 0, stdout: `removed ${client} from ${zone}\n`, stderr: "" });
    expect(await send(test.port, client, testMessage())).toMatch(/^250 /);
    expect(await blocklistCli(configFile, "del", client)).toEqual({ code: 1, stdout: "", stderr: `${client} is not listed in ${zone}\n` });
  }

  it("lists, adds and removes in the SQLite store, and the relay refuses and accepts accordingly", async () => {
    await unblockingCycle(plain.test, plain.configFile);
  });

  it("does the same in the Redis relays share", async () => {
    const shared = await start({ store: { type: "redis", url: redis.url }, rspamd: { spamtrap: { addresses: [TRAP] } } });
    try {
      await unblockingCycle(shared.test, shared.configFile);
    } finally {
      await shared.test.relay.stop();
    }
  });

  it("refuses bad arguments with the usage and status 2", async () => {
    for (const args of [
      [],
      ["frob"],
      ["add"],
      ["add", "999.0.0.1"],
      ["del", "mail.sender.test"],
      ["list", "extra"],
      ["add", "192.0.2.1", "--ttl", "0"],
      ["del", "192.0.2.1", "--ttl", "5"],
    ]) {
      const run = await blocklistCli(plain.configFile, ...args);
      expect(run.code, args.join(" ")).toBe(2);
      expect(run.stderr, args.join(" ")).toContain("usage: npm run blocklist -- list");
    }
  });
});
