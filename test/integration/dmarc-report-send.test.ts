// DMARC aggregate reports we send (RFC 9990), with the real relay and the harness's DNS: mail from
// three sender domains of dmarcrpt.test arrives over SMTP on a day the test chooses, the relay counts
// each DMARC evaluation in its store, and the next morning `npm run queue -- dmarc-send` sends the day's
// reports. reports.test agreed to take reports for authorized.dmarcrpt.test (RFC 7489 §7.1): its report
// leaves through our spool to reports.test's MX, the SMTP sink, DKIM-signed (python3-dkim verifies
// it); gunzipped it is valid against the RFC 9990 schema (xmllint) and read back by our intake. The
// domain without the agreement and the one whose "!1k" no report fits get none; every day is deleted.
import { execFile, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { gunzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { readReportMessage } from "../../core/reports/intake.ts";
import { controlSocketPath } from "../../relay-node/src/control/control.ts";
import { SqliteDmarcReportStore } from "../../relay-node/src/dmarcrpt/store.ts";
import { DKIM_PRIVATE_KEY_PEM, DKIM_PUBLIC_KEY_BASE64, DKIM_SELECTOR } from "../harness/dkim-key.ts";
import { LOCAL, relayDocument, sendAsAuthorizedSender, startTestRelay, type TestRelay } from "../harness/relay.ts";
import { startSmtpSink, type SmtpSink } from "../harness/smtp-sink.ts";
import { TEST_DNS } from "../harness/zones.ts";
import { until } from "../harness/until.ts";
import { validateAgainstSchema } from "../fixtures/xml-schema.ts";

const CLI = join(import.meta.dirname, "../../relay-node/src/cli/queue.ts");
const VERIFY = fileURLToPath(new URL("../fixtures/dkim-verify.py", import.meta.url));
const { sender, dmarcReports } = TEST_DNS;
const DAY = "2026-03-04";

const dir = mkdtempSync(join(tmpdir(), "edgemx-dmarc-send-"));
let sink: SmtpSink;
let test: TestRelay;
/** The relay's clock for counting and sending DMARC reports: the day of the mail, then the next morning. */
let clock = Date.parse(`${DAY}T12:00:00Z`);

beforeAll(async () => {
  sink = await startSmtpSink(dmarcReports.mxAddress);
  const keyFile = join(dir, "dkim.pem");
  writeFileSync(keyFile, DKIM_PRIVATE_KEY_PEM, { mode: 0o600 });
  const document = relayDocument(dir, inject("harness").dnsPort, { outbound: { dnssecProbeName: sender.domain } });
  document.domains[0]!.dkim = { selector: DKIM_SELECTOR, publicKey: DKIM_PUBLIC_KEY_BASE64, privateKeyFile: keyFile };
  test = await startTestRelay(document, {}, { remote: { port: sink.port }, dmarcReportsNow: () => clock });
}, 60_000);

afterAll(async () => {
  await test?.relay.stop();
  await sink?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** Sends one message from sender.test's authorized address; the reply to its final dot. */
function send(mailFrom: string, from: string): Promise<string> {
  return sendAsAuthorizedSender(test.port, mailFrom, from);
}

async function queueCli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [CLI, "--socket", controlSocketPath(test.config.relay.spool), ...args]);
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

/** The store the relay keeps beside its spool, read as a second connection. */
async function stored(): Promise<{ days: string[]; domains: string[] }> {
  const store = new SqliteDmarcReportStore(join(dir, "dmarc-reports.sqlite"));
  try {
    return { days: await store.days(), domains: await store.domains(DAY) };
  } finally {
    await store.close();
  }
}

describe("DMARC aggregate reports from the relay", () => {
  it("counts the day's evaluations: passing and failing mail of each sender domain", async () => {
    const { authorized, unauthorized, tooSmall } = dmarcReports;
    // SPF passes for the sender domain itself: DMARC passes, aligned.
    expect(await send(`bob@${authorized}`, `bob@${authorized}`)).toMatch(/^250 /);
    expect(await send(`bob@${authorized}`, `bob@${authorized}`)).toMatch(/^250 /);
    // SPF passes for sender.test only: nothing aligns with the From domain, p=reject refuses it.
    expect(await send(`bob@${sender.domain}`, `bob@${authorized}`)).toMatch(new RegExp(`^550 5\\.7\\.1 .*${authorized.replaceAll(".", "\\.")}`));
    expect(await send(`bob@${unauthorized}`, `bob@${unauthorized}`)).toMatch(/^250 /);
    expect(await send(`bob@${tooSmall}`, `bob@${tooSmall}`)).toMatch(/^250 /);
    // Counted in memory and written within the flush interval (relay-node/src/dmarcrpt/batched.ts, 5 s).
    const expected = { days: [DAY], domains: [authorized, tooSmall, unauthorized] };
    expect(await until("the day's evaluations written to the store", async () => ((await stored()).domains.length === 3 ? stored() : undefined))).toEqual(
      expected,
    );
  });

  it("refuses to send a day that is not over", async () => {
    const early = await queueCli("dmarc-send", "--day", DAY);
    expect(early.code).toBe(1);
    expect(early.stderr).toContain(`${DAY} is not over yet (UTC)`);
    expect(sink.transactions).toEqual([]);
  });

  it("sends the agreed destination its report the next morning, DKIM-signed, schema-valid, readable by our intake; nothing elsewhere", async () => {
    clock = Date.parse(`${DAY}T00:15:00Z`) + 86_400_000;
    const run = await queueCli("dmarc-send", "--day", DAY);
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    const { authorized, unauthorized, tooSmall, mailbox, ruaZone } = dmarcReports;
    expect(run.stdout).toContain(`${DAY} ${authorized}: sent\n    sent ${mailbox}`);
    expect(run.stdout).toContain(
      `${DAY} ${unauthorized}: no-destination\n    refused mailto:${mailbox}: ${ruaZone} has not agreed to take reports for ${unauthorized} (no v=DMARC1 record at ${unauthorized}._report._dmarc.${ruaZone})`,
    );
    expect(run.stdout).toMatch(
      new RegExp(
        `${DAY} ${tooSmall}: no-destination\\n {4}refused mailto:${mailbox}: the report mail is \\d+ bytes, more than the 1024 this destination takes`,
      ),
    );

    await test.relay.delivery.idle();
    expect(sink.transactions.map((t) => ({ mailFrom: t.mailFrom, rcptTo: t.rcptTo }))).toEqual([{ mailFrom: `postmaster@${LOCAL.domain}`, rcptTo: [mailbox] }]);
    // The DATA as it came over the wire, dot-stuffing undone (RFC 5321 §4.5.2).
    const message = sink.transactions[0]!.data.toString("latin1").replace(/^\.\./gm, ".");

    const dkim = spawnSync("/usr/bin/python3", [VERIFY, DKIM_SELECTOR, LOCAL.domain, `v=DKIM1; k=rsa; p=${DKIM_PUBLIC_KEY_BASE64}`], {
      input: message,
      encoding: "utf8",
    });
    // DKIM only: nothing was received and authenticated on the report's way, so no ARC set.
    expect(`${dkim.stdout}${dkim.stderr}`.trim()).toBe("dkim=pass arc=none (Message is not ARC signed)");

    const read = await readReportMessage(Buffer.from(message, "latin1"));
    expect(read.subject).toBe(`Report Domain: ${authorized} Submitter: ${LOCAL.hostname} Report-ID: <${DAY}_${authorized}@${LOCAL.hostname}>`);
    expect(read.items).toHaveLength(1);
    const item = read.items[0]!;
    if (item.kind !== "dmarc-aggregate") throw new Error(`our report was not read as one: ${JSON.stringify(item)}`);
    const begin = Date.parse(`${DAY}T00:00:00Z`) / 1000;
    const filename = `${LOCAL.hostname}!${authorized}!${begin}!${begin + 86_399}.xml`;
    expect(message).toContain(`Content-Disposition: attachment; filename="${filename}.gz"`);
    // The intake names what it read: the inflated document.
    expect(item.name).toBe(filename);
    const report = item.report;
    expect(report).toMatchObject({
      version: "1.0",
      orgName: LOCAL.hostname,
      email: `postmaster@${LOCAL.domain}`,
      reportId: `${DAY}_${authorized}@${LOCAL.hostname}`,
      begin,
      end: begin + 86_399,
    });
    expect(report.policy).toMatchObject({ domain: authorized, p: "reject", discoveryMethod: "treewalk", testing: "n" });
    expect(report.records).toEqual([
      {
        sourceIp: sender.authorizedIp,
        count: 2,
        disposition: "pass",
        dkim: "fail",
        spf: "pass",
        reasons: [],
        headerFrom: authorized,
        envelopeFrom: authorized,
        envelopeTo: null,
        dkimResults: [],
        spfResults: [{ domain: authorized, scope: "mfrom", result: "pass", humanResult: null }],
      },
      {
        sourceIp: sender.authorizedIp,
        count: 1,
        disposition: "reject",
        dkim: "fail",
        spf: "fail",
        reasons: [],
        headerFrom: authorized,
        envelopeFrom: sender.domain,
        envelopeTo: null,
        dkimResults: [],
        spfResults: [{ domain: sender.domain, scope: "mfrom", result: "pass", humanResult: null }],
      },
    ]);

    // The same XML, as the schema check sees it.
    const attachment = /Content-Type: application\/gzip\r\n[^]*?\r\n\r\n([A-Za-z0-9+/=\r\n]+?)\r\n--/.exec(message)?.[1];
    const xml = gunzipSync(Buffer.from(attachment!.replace(/\r\n/g, ""), "base64"));
    expect(validateAgainstSchema(xml)).toEqual({ valid: true, output: "- validates" });

    // Sent or given up, every domain's day is gone.
    expect(await stored()).toEqual({ days: [], domains: [] });
    const again = await queueCli("dmarc-send", "--day", DAY);
    expect(again.stdout.trim()).toBe(`no DMARC evaluations for ${DAY}`);
  });
});
