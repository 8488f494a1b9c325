// TLS-RPT sending (RFC 8460 §5) with the real relay: counts recorded in the relay's TLS-RPT store for
// dane.test (whose harness zone publishes `_smtp._tls` with a mailto: rua) and for sts.test domains
// (no record), `npm run queue -- tlsrpt-send --day …` as the postmaster runs it, and the report in our
// spool: a §5.3 message whose gzipped JSON has the §4.4 fields. Then the https: transport: the report
// POSTed to an HTTPS server on loopback, named by https-rua.sts.test's record and resolved through the
// harness's unbound.
import { execFile } from "node:child_process";
import { createServer } from "node:https";
import type { AddressInfo } from "node:net";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { gunzipSync } from "node:zlib";
import PostalMime from "postal-mime";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { openTlsRptStore } from "../../relay-node/src/tlsrpt/counts.ts";
import { postTlsReport, sendTlsReports, type TlsRptSenderDeps } from "../../relay-node/src/tlsrpt/sender.ts";
import { createRelayResolver } from "../../relay-node/src/dns/resolver.ts";
import { createLogger } from "../../relay-node/src/log/log.ts";
import { controlSocketPath } from "../../relay-node/src/control/control.ts";
import { readQueuedMessage } from "../../relay-node/src/queue/spool.ts";
import { LOCAL, relayDocument, startTestRelay, type TestRelay } from "../harness/relay.ts";
import { issueCertificate, makeTestCa } from "../harness/test-ca.ts";
import { TEST_DNS } from "../harness/zones.ts";

const harness = inject("harness");
const CLI = join(import.meta.dirname, "../../relay-node/src/cli/queue.ts");
const DAY = "2026-03-04";
const { dane, sts } = TEST_DNS;

let dir: string;
let test: TestRelay;
let storePath: string;

async function queueCli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [CLI, "--socket", controlSocketPath(join(dir, "spool")), ...args]);
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "edgemx-tlsrpt-"));
  storePath = join(dir, "tlsrpt.sqlite");
  // A day's counts, written as remote delivery would (a second connection to the relay's store file).
  const store = openTlsRptStore(storePath);
  const at = Date.parse(`${DAY}T12:00:00Z`);
  const tlsa = { type: "tlsa" as const, domain: dane.match.domain, policyString: ["3 1 1 abcd"], mxHost: [] };
  for (let i = 0; i < 3; i++) store.record({ policy: tlsa, at });
  store.record({
    policy: tlsa,
    at,
    failure: { resultType: "validation-failure", receivingMxHostname: dane.match.mx, receivingIp: dane.match.mxAddress, detail: "TLSA did not match" },
  });
  store.record({ policy: { type: "no-policy-found", domain: sts.none, policyString: [], mxHost: [] }, at });
  store.close();
  test = await startTestRelay(relayDocument(dir, harness.dnsPort, { outbound: { dnssecProbeName: "sender.test", tlsRptPath: storePath } }));
});

afterAll(async () => {
  await test?.relay.stop();
  await rm(dir, { recursive: true, force: true });
});

describe("tlsrpt-send through the queue CLI", () => {
  it("queues a §5.3 report (unsigned: no DKIM key in this config) for the domain with a record, skips the one without, and sends nothing twice", async () => {
    const first = await queueCli("tlsrpt-send", "--day", DAY);
    expect(first.stderr).toBe("");
    expect(first.code).toBe(0);
    expect(first.stdout).toContain(`${DAY} ${dane.match.domain}: sent`);
    expect(first.stdout).toContain(`sent mailto:${dane.tlsRptMailbox}`);
    expect(first.stdout).toContain(`${DAY} ${sts.none}: no-record`);

    const entries = test.relay.spool.list().filter((e) => e.envelope.rcptTo.includes(dane.tlsRptMailbox));
    expect(entries).toHaveLength(1);
    expect(entries[0]!.envelope.mailFrom).toBe(`postmaster@${LOCAL.domain}`);
    const raw = await readQueuedMessage(test.relay.spool.dir, entries[0]!.id);
    const parsed = await PostalMime.parse(Buffer.from(raw!).toString("latin1"));
    expect(parsed.subject).toBe(`Report Domain: ${dane.match.domain} Submitter: ${LOCAL.hostname} Report-ID: <${DAY}_${dane.match.domain}>`);
    expect(parsed.headers.find((h) => h.key === "tls-report-domain")?.value).toBe(dane.match.domain);
    const attachment = parsed.attachments.find((a) => a.mimeType === "application/tlsrpt+gzip")!;
    expect(attachment.filename).toMatch(new RegExp(`^${LOCAL.hostname}!${dane.match.domain}!${Date.parse(`${DAY}T00:00:00Z`) / 1000}!\\d+!\\w+\\.json\\.gz$`));
    const report = JSON.parse(gunzipSync(Buffer.from(attachment.content as ArrayBuffer)).toString()) as Record<string, unknown>;
    // RFC 8460 §4.4: organization-name, date-range, contact-info, report-id, policies.
    expect(report).toEqual({
      "organization-name": LOCAL.hostname,
      "date-range": { "start-datetime": `${DAY}T00:00:00Z`, "end-datetime": `${DAY}T23:59:59Z` },
      "contact-info": `postmaster@${LOCAL.domain}`,
      "report-id": `${DAY}_${dane.match.domain}`,
      policies: [
        {
          policy: { "policy-type": "tlsa", "policy-string": ["3 1 1 abcd"], "policy-domain": dane.match.domain },
          summary: { "total-successful-session-count": 3, "total-failure-session-count": 1 },
          "failure-details": [
            {
              "result-type": "validation-failure",
              "receiving-mx-hostname": dane.match.mx,
              "receiving-ip": dane.match.mxAddress,
              "failed-session-count": 1,
              "failure-reason-code": "TLSA did not match",
            },
          ],
        },
      ],
    });

    const again = await queueCli("tlsrpt-send", "--day", DAY);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain(`${DAY} ${dane.match.domain}: already-sent`);
    expect(test.relay.spool.list().filter((e) => e.envelope.rcptTo.includes(dane.tlsRptMailbox))).toHaveLength(1);
  });

  it("refuses a malformed day", async () => {
    const bad = await queueCli("tlsrpt-send", "--day", "yesterday");
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("--day needs a day YYYY-MM-DD");
  });
});

describe("the https: rua (RFC 8460 §3)", () => {
  it("POSTs the gzipped report to the rua's host, resolved through our resolver and verified by name; a 5xx leaves it for the next run", async () => {
    const ca = makeTestCa(join(dir, "ca"));
    const certificate = issueCertificate(ca, { names: [sts.tlsRptHost] });
    const posts: { method: string; url: string; host: string; contentType: string; body: Buffer }[] = [];
    let status = 503;
    const server = createServer({ key: certificate.keyPem, cert: certificate.chainPem }, (req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (chunk: Buffer) => chunks.push(chunk));
      req.on("end", () => {
        posts.push({
          method: req.method ?? "",
          url: req.url ?? "",
          host: req.headers.host ?? "",
          contentType: req.headers["content-type"] ?? "",
          body: Buffer.concat(chunks),
        });
        res.writeHead(status).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, sts.policyAddress, resolve));
    try {
      const port = (server.address() as AddressInfo).port;
      const resolver = createRelayResolver({ host: "127.0.0.1", port: harness.dnsPort, timeoutMs: 3000 });
      const store = openTlsRptStore(":memory:");
      store.record({
        policy: { type: "sts", domain: sts.httpsRua, policyString: ["version: STSv1", "mode: enforce"], mxHost: [sts.mx] },
        at: Date.parse(`${DAY}T08:00:00Z`),
      });
      const deps: TlsRptSenderDeps = {
        store,
        resolver,
        enqueue: () => Promise.reject(new Error("nothing is mailed: the record has an https: rua only")),
        post: (url, body) => postTlsReport(url, body, { resolver, ca: ca.certPem, port }),
        reporter: { organization: LOCAL.hostname, contact: `postmaster@${LOCAL.domain}`, hostname: LOCAL.hostname, from: `postmaster@${LOCAL.domain}` },
        logger: createLogger("silent"),
      };
      const rua = `https://${sts.tlsRptHost}/v1/tls-report`;

      const failed = await sendTlsReports(DAY, deps);
      expect(failed.domains).toEqual([{ domain: sts.httpsRua, outcome: "partial", delivered: [], failed: [{ rua, error: "HTTP status 503" }] }]);

      status = 200;
      const sent = await sendTlsReports(DAY, deps);
      expect(sent.domains).toEqual([{ domain: sts.httpsRua, outcome: "sent", delivered: [rua], failed: [] }]);
      expect(posts).toHaveLength(2);
      expect(posts[1]).toMatchObject({ method: "POST", url: "/v1/tls-report", host: sts.tlsRptHost, contentType: "application/tlsrpt+gzip" });
      const report = JSON.parse(gunzipSync(posts[1]!.body).toString()) as { "report-id": string; policies: { policy: { "policy-domain": string } }[] };
      expect(report["report-id"]).toBe(`${DAY}_${sts.httpsRua}`);
      expect(report.policies.map((p) => p.policy["policy-domain"])).toEqual([sts.httpsRua]);
      expect((await sendTlsReports(DAY, deps)).domains[0]?.outcome).toBe("already-sent");
      expect(posts).toHaveLength(2);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it("does not send a report to a server whose certificate does not name the rua's host", async () => {
    const ca = makeTestCa(join(dir, "ca-wrong"));
    const certificate = issueCertificate(ca, { names: [`other.${sts.zone}`] });
    let requests = 0;
    const server = createServer({ key: certificate.keyPem, cert: certificate.chainPem }, (_req, res) => {
      requests++;
      res.writeHead(200).end();
    });
    await new Promise<void>((resolve) => server.listen(0, sts.policyAddress, resolve));
    try {
      const port = (server.address() as AddressInfo).port;
      const resolver = createRelayResolver({ host: "127.0.0.1", port: harness.dnsPort, timeoutMs: 3000 });
      await expect(postTlsReport(`https://${sts.tlsRptHost}/v1/tls-report`, Buffer.from("x"), { resolver, ca: ca.certPem, port })).rejects.toThrow(
        /ERR_TLS_CERT_ALTNAME_INVALID/,
      );
      expect(requests).toBe(0);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
