// The relay as the MX hands report mail to the Worker's intake: a DMARC aggregate report sent over SMTP
// to our rua address is accepted by the real relay (in-process, real DNS), delivered by its queue to
// POST /v1/reports of the real Worker (workerd, an in-memory D1), and kept there — the same store Email
// Routing fills. Mail to other recipients still goes to the mailbox host.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import nodemailer from "nodemailer";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { parseConfig } from "../../core/config/load.ts";
import type { ConfigInput } from "../../core/config/schema.ts";
import { workerPart } from "../../core/config/worker.ts";
import { delivered, LOCAL, messageWithAttachment, relayDocument, startTestRelay, testMessage, type TestRelay } from "../harness/relay.ts";
import { bundleWorker, startWorker, type RunningWorker } from "../harness/worker.ts";
import { TEST_DNS } from "../harness/zones.ts";
import { until } from "../harness/until.ts";
import { conformanceFile } from "../fixtures/conformance-suites.ts";

const harness = inject("harness");
const dir = mkdtempSync(join(tmpdir(), "edgemx-relay-reports-"));
const { sender } = TEST_DNS;
const REPORTS_TOKEN = "relay-reports-token";
const RUA = `dmarc-reports@${LOCAL.domain}`;
const SAMPLE = conformanceFile("dmarc-reports/aggregate/rfc9990-example.net!example.com!1700000000!1700086399.xml");

let worker: RunningWorker;
let relay: TestRelay;

/** Our domain publishes its rua at dmarc-reports@ (not a mailbox of the relay's list: a report address is accepted all the same). */
function documentFor(folder: string, intakeUrl?: string): ConfigInput {
  const base = relayDocument(folder, harness.dnsPort);
  return {
    ...base,
    domains: [
      {
        name: LOCAL.domain,
        mx: [LOCAL.hostname],
        mailboxes: ["alice"],
        dmarc: { rua: [`mailto:${RUA}`] },
        tlsRpt: { rua: [`mailto:tls-reports@${LOCAL.domain}`] },
      },
    ],
    ...(intakeUrl ? { reports: { intakeUrl } } : {}),
  };
}

async function send(port: number, to: string[], raw: string): Promise<string> {
  const transport = nodemailer.createTransport({
    host: "127.0.0.1",
    port,
    secure: false,
    ignoreTLS: true,
    localAddress: sender.authorizedIp,
    name: sender.mailHost,
  });
  try {
    return (await transport.sendMail({ envelope: { from: `bob@${sender.domain}`, to }, raw })).response;
  } finally {
    transport.close();
  }
}

beforeAll(async () => {
  const workerFolder = join(dir, "worker");
  worker = await startWorker({
    bundle: await bundleWorker(workerFolder),
    // The report is about example.com: the Worker's configuration has it beside example.org.
    configJson: JSON.stringify(
      workerPart(
        parseConfig({
          ...documentFor(workerFolder),
          domains: [
            ...documentFor(workerFolder).domains,
            { name: "example.com", mx: ["mx.example.com"], catchAll: true, tlsRpt: { rua: ["mailto:tls@example.com"] } },
          ],
        }),
      ),
    ),
    bindings: { REPORTS_TOKEN, DOH_URL: harness.dohUrl },
    d1Databases: ["REPORTS_DB"],
  });
  relay = await startTestRelay(documentFor(join(dir, "relay"), new URL("/v1/reports", worker.url).href), { EDGEMX_REPORTS_TOKEN: REPORTS_TOKEN });
}, 180_000);

afterAll(async () => {
  await relay?.relay.stop();
  await worker?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe("report mail through the relay to the Worker's intake", () => {
  it("keeps an aggregate report sent to the rua over SMTP in the Worker's store, and delivers other recipients to the Maildir", async () => {
    const report = gzipSync(readFileSync(SAMPLE));
    const raw = messageWithAttachment("example.net!example.com!1700000000!1700086399.xml.gz", report, {
      to: RUA,
      subject: "Report Domain: example.com Submitter: example.net",
    });
    const reply = await send(relay.port, [RUA, LOCAL.mailbox], raw);
    expect(reply).toMatch(/^250 /);

    const db = await worker.miniflare.getD1Database("REPORTS_DB");
    const stored = await until("the report in D1", async () => {
      try {
        return (await db.prepare("SELECT org_name, report_id, policy_domain, message_count, received_via FROM dmarc_reports").first()) ?? undefined;
      } catch {
        return undefined; // the tables are created with the first report
      }
    });
    expect(stored).toEqual({
      org_name: "example.net",
      report_id: "dmarcbis-test-report-001",
      policy_domain: "example.com",
      message_count: 7,
      received_via: "relay",
    });
    const records = await db.prepare("SELECT source_ip, message_count, disposition FROM dmarc_records ORDER BY record_index").all();
    expect(records.results).toEqual([
      { source_ip: "198.51.100.1", message_count: 5, disposition: "none" },
      { source_ip: "203.0.113.10", message_count: 2, disposition: "reject" },
    ]);
    // Alice got her copy from the Maildir next hop; the report address got none there.
    const copies = await until("alice's copy", async () => ((await delivered(relay, LOCAL.mailbox)).length > 0 ? delivered(relay, LOCAL.mailbox) : undefined));
    expect(copies).toHaveLength(1);
    expect(relay.logs.some((l) => JSON.stringify(l).includes("Kept by the report intake"))).toBe(true);
  });

  it("accepts the report address at RCPT TO though the domain lists only alice", async () => {
    const reply = await send(relay.port, [`tls-reports@${LOCAL.domain}`], testMessage({ to: `tls-reports@${LOCAL.domain}`, body: "no report in here" }));
    expect(reply).toMatch(/^250 /);
  });
});
