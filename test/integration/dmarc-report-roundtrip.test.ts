// The DMARC report round trip, every hop real: our relay receives mail that fails DMARC (and some that
// passes) on a day the test chooses; the next morning it sends that day's aggregate report through its
// queue to the rua's MX (mx.reports.test, the harness's DNS), which is a second edgemx relay; that relay
// hands the report mail to its Worker's intake (workerd, an in-memory D1), and the Worker's dashboard,
// asked as its owner asks it, shows the failing source with its counts.
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { parseConfig } from "../../core/config/load.ts";
import type { ConfigInput } from "../../core/config/schema.ts";
import { workerPart } from "../../core/config/worker.ts";
import { controlSocketPath } from "../../relay-node/src/control/control.ts";
import { DKIM_PRIVATE_KEY_PEM, DKIM_PUBLIC_KEY_BASE64, DKIM_SELECTOR } from "../harness/dkim-key.ts";
import { LOCAL, relayDocument, sendAsAuthorizedSender, startTestRelay, type TestRelay } from "../harness/relay.ts";
import { bundleWorker, startWorker, type RunningWorker } from "../harness/worker.ts";
import { TEST_DNS } from "../harness/zones.ts";
import { until } from "../harness/until.ts";

const harness = inject("harness");
const CLI = join(import.meta.dirname, "../../relay-node/src/cli/queue.ts");
const { sender, dmarcReports } = TEST_DNS;
const { authorized, ruaZone, mailbox, mx, mxAddress } = dmarcReports;
const DAY = "2026-05-06";
const REPORTS_TOKEN = "roundtrip-reports-token";
const DASHBOARD_TOKEN = "roundtrip-dashboard-token";

const dir = mkdtempSync(join(tmpdir(), "edgemx-dmarc-roundtrip-"));
let worker: RunningWorker;
/** reports.test's MX: takes the rua mail and hands it to its Worker. */
let receiver: TestRelay;
/** Our relay: judges the mail of authorized.dmarcrpt.test and reports on it. */
let ours: TestRelay;
let clock = Date.parse(`${DAY}T09:30:00Z`);

/** The report receiver's domains: reports.test (its rua mailbox) and the domain it watches for its owner. */
function receiverDocument(folder: string, intakeUrl?: string): ConfigInput {
  const base = relayDocument(folder, harness.dnsPort);
  return {
    ...base,
    hostname: mx,
    domains: [{ name: ruaZone, mx: [mx], catchAll: true, dmarc: { rua: [`mailto:${mailbox}`] } }],
    // Our relay sends from 127.0.0.1 as example.org, neither of which the harness's DNS knows (no PTR, no zone):
    // the receiver spares its report address what it spares postmaster@ (RFC 2142), as one taking reports from anyone would.
    roles: { [mailbox.split("@")[0]!]: { relax: ["dnsbl", "fcrdns", "helo", "sender", "spf", "dmarc", "banned", "greylist"] } },
    ...(intakeUrl ? { reports: { intakeUrl } } : {}),
  };
}

beforeAll(async () => {
  const workerFolder = join(dir, "worker");
  const watched = receiverDocument(workerFolder);
  worker = await startWorker({
    bundle: await bundleWorker(workerFolder),
    configJson: JSON.stringify(
      workerPart(
        parseConfig({ ...watched, domains: [...watched.domains, { name: authorized, mx: [mx], catchAll: true, dmarc: { rua: [`mailto:${mailbox}`] } }] }),
      ),
    ),
    bindings: { REPORTS_TOKEN, DASHBOARD_TOKEN, DOH_URL: harness.dohUrl },
    d1Databases: ["REPORTS_DB"],
  });
  receiver = await startTestRelay(
    receiverDocument(join(dir, "receiver"), new URL("/v1/reports", worker.url).href),
    { EDGEMX_REPORTS_TOKEN: REPORTS_TOKEN },
    { listen: { host: mxAddress, port: 0 } },
  );

  const keyFile = join(dir, "dkim.pem");
  writeFileSync(keyFile, DKIM_PRIVATE_KEY_PEM, { mode: 0o600 });
  const document = relayDocument(join(dir, "ours"), harness.dnsPort, { outbound: { dnssecProbeName: sender.domain } });
  document.domains[0]!.dkim = { selector: DKIM_SELECTOR, publicKey: DKIM_PUBLIC_KEY_BASE64, privateKeyFile: keyFile };
  ours = await startTestRelay(document, {}, { remote: { port: receiver.port }, dmarcReportsNow: () => clock });
}, 180_000);

afterAll(async () => {
  await ours?.relay.stop();
  await receiver?.relay.stop();
  await worker?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** One message from sender.test's authorized address; the reply to its final dot. */
function send(mailFrom: string, from: string): Promise<string> {
  return sendAsAuthorizedSender(ours.port, mailFrom, from);
}

function dashboard(path: string, token?: string): Promise<Response> {
  return fetch(new URL(path, worker.url), token ? { headers: { authorization: `Bearer ${token}` } } : {});
}

describe("a DMARC failure travels from our relay's judgement to the report receiver's dashboard", () => {
  it("judges the day's mail: three aligned messages pass, two forged ones fail and are refused", async () => {
    for (let i = 0; i < 3; i++) expect(await send(`bob@${authorized}`, `bob@${authorized}`)).toMatch(/^250 /);
    // SPF passes for sender.test only: nothing aligns with the From domain; p=reject refuses it (RFC 7489 §6.6.2).
    for (let i = 0; i < 2; i++) expect(await send(`bob@${sender.domain}`, `bob@${authorized}`)).toMatch(/^550 5\.7\.1 /);
  });

  it("sends the report the next morning; the receiver's relay hands it to its Worker, whose dashboard shows the failing source", async () => {
    clock = Date.parse(`${DAY}T00:15:00Z`) + 86_400_000;
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [
      CLI,
      "--socket",
      controlSocketPath(ours.config.relay.spool),
      "dmarc-send",
      "--day",
      DAY,
    ]);
    expect(stderr).toBe("");
    expect(stdout).toContain(`${DAY} ${authorized}: sent\n    sent ${mailbox}`);
    await ours.relay.delivery.idle();

    const db = await worker.miniflare.getD1Database("REPORTS_DB");
    const stored = await until("our report in the receiver's D1", async () => {
      try {
        return (await db.prepare("SELECT org_name, report_id, policy_domain, message_count, received_via FROM dmarc_reports").first()) ?? undefined;
      } catch {
        return undefined; // the tables are created with the first report
      }
    });
    expect(stored).toEqual({
      org_name: LOCAL.hostname,
      report_id: `${DAY}_${authorized}@${LOCAL.hostname}`,
      policy_domain: authorized,
      message_count: 5,
      received_via: "relay",
    });
    expect(receiver.logs.some((l) => JSON.stringify(l).includes("Kept by the report intake"))).toBe(true);

    // Nothing without the owner's token.
    const anonymous = await dashboard(`/admin/api/${authorized}/dmarc/failing-sources`);
    expect(anonymous.status).toBe(401);
    expect(await anonymous.text()).not.toContain(sender.authorizedIp);

    const failing = await dashboard(`/admin/api/${authorized}/dmarc/failing-sources`, DASHBOARD_TOKEN);
    expect(failing.status).toBe(200);
    // The view lists sources failing DKIM or SPF (DMARC-aligned results): none of the five was signed, and the two
    // forged ones passed SPF for sender.test only, unaligned; the SPF domains are every one seen from that source.
    expect(await failing.json()).toEqual([
      { ip: sender.authorizedIp, name: null, messages: 5, dkimFailed: 5, spfFailed: 2, dkimDomains: [], spfDomains: [authorized, sender.domain] },
    ]);
    const sources = (await (await dashboard(`/admin/api/${authorized}/dmarc/sources`, DASHBOARD_TOKEN)).json()) as {
      ip: string;
      messages: number;
      passed: number;
    }[];
    expect(sources.map(({ ip, messages, passed }) => ({ ip, messages, passed }))).toEqual([{ ip: sender.authorizedIp, messages: 5, passed: 3 }]);

    const page = await dashboard(`/admin/${authorized}`, DASHBOARD_TOKEN);
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain(sender.authorizedIp);
    expect(html).toContain(authorized);
  });
});
