// The report intake, the dashboard and the retention cron inside workerd, over the test's D1 database:
// every public report sample (test/fixtures/report-samples.ts) is mailed to a report address through
// the Worker's email() handler; the relay's hand-over (POST /v1/reports) lands in the same store; the
// dashboard answers only with credentials; the scheduled() handler deletes what is past retention.
import { env } from "cloudflare:workers";
import { createScheduledController, SELF } from "cloudflare:test";
import { exportJWK, generateKeyPair, SignJWT, createLocalJWKSet } from "jose";
import { beforeAll, describe, expect, it } from "vitest";
import type { Env } from "../../workers/src/runtime/env.ts";
import worker from "../../workers/src/index.ts";
import { parseWorkerConfig } from "../../core/config/load.ts";
import { authorizeDashboard } from "../../workers/src/admin/auth.ts";
import { receiveReportMail } from "../../workers/src/reports/intake.ts";
import { withSampleDomain } from "../fixtures/report-config.ts";

const testEnv = env as Cloudflare.Env & Env;
const db = (): D1Database => testEnv.REPORTS_DB!;
const samples = (JSON.parse(testEnv.REPORT_SAMPLES) as [string, string][]).map(([name, base64]) => ({
  name,
  mail: Uint8Array.from(atob(base64), (c) => c.charCodeAt(0)),
}));
const configJson = JSON.stringify(withSampleDomain(JSON.parse(testEnv.EDGEMX_CONFIG!) as Record<string, unknown>));
const config = parseWorkerConfig(JSON.parse(configJson), "the test configuration");
/** The Worker's environment with example.com among its domains. */
const sampleEnv = (): Env => ({ ...testEnv, EDGEMX_CONFIG: configJson });

interface Calls {
  rejected: string[];
  forwarded: string[];
}

function routed(mail: Uint8Array, to: string): { message: ForwardableEmailMessage; calls: Calls } {
  const calls: Calls = { rejected: [], forwarded: [] };
  const message: ForwardableEmailMessage = {
    from: "reports@reporter.example",
    to,
    headers: new Headers(),
    raw: new Blob([mail]).stream() as ReadableStream<Uint8Array>,
    rawSize: mail.byteLength,
    canBeForwarded: true,
    setReject: (reason) => void calls.rejected.push(reason),
    forward: (rcptTo) => {
      calls.forwarded.push(rcptTo);
      return Promise.resolve({ messageId: "<forwarded@example.net>" });
    },
    reply: () => Promise.reject(new Error("the handler never replies")),
  };
  return { message, calls };
}

/** expect.stringContaining, typed as what it is to a reader of the object it sits in. */
const containing = (text: string): unknown => expect.stringContaining(text);

const rows = async <T>(sql: string, ...bind: unknown[]): Promise<T[]> =>
  (
    await db()
      .prepare(sql)
      .bind(...bind)
      .all<T>()
  ).results;

/** Every sample mailed to dmarc@example.com, in the fixture's order, through email(). */
async function mailEverySample(): Promise<Calls[]> {
  const calls: Calls[] = [];
  for (const sample of samples) {
    const routedMail = routed(sample.mail, "dmarc@example.com");
    await worker.email(routedMail.message, sampleEnv());
    calls.push(routedMail.calls);
  }
  return calls;
}

/** A report mail whose body is the XML itself (RFC 7489 §7.2.1.1 allows it), one record of 4 rejected messages from 192.0.2.77. */
function relayReport(reportId: string, reporter: string, domain: string): Uint8Array {
  const xml =
    `<?xml version="1.0"?><feedback><report_metadata><org_name>${reporter}</org_name><email>dmarc@${reporter}</email><report_id>${reportId}</report_id>` +
    `<date_range><begin>1780000000</begin><end>1780086399</end></date_range></report_metadata><policy_published><domain>${domain}</domain><p>reject</p></policy_published>` +
    `<record><row><source_ip>192.0.2.77</source_ip><count>4</count><policy_evaluated><disposition>reject</disposition><dkim>fail</dkim><spf>fail</spf></policy_evaluated></row>` +
    `<identifiers><header_from>${domain}</header_from></identifiers><auth_results/></record></feedback>`;
  const header = [
    `From: dmarc@${reporter}`,
    `Subject: Report Domain: ${domain} Submitter: ${reporter} Report-ID: ${reportId}`,
    "Content-Type: application/xml",
  ];
  return new TextEncoder().encode([...header, "", xml, ""].join("\r\n"));
}

const dashboard = (path: string, headers: Record<string, string> = {}) => SELF.fetch(`https://example.org${path}`, { headers });
const AUTH = { authorization: "Bearer test-dashboard-token" };

describe("report intake through Email Routing's email()", () => {
  let calls: Calls[] = [];
  beforeAll(async () => {
    calls = await mailEverySample();
  });

  it("reads report mail instead of forwarding or judging it: nothing forwarded, nothing refused in SMTP", () => {
    expect(calls).toHaveLength(samples.length);
    expect(calls.flatMap((c) => c.forwarded)).toEqual([]);
    expect(calls.flatMap((c) => c.rejected)).toEqual([]);
  });

  it("keeps each aggregate report about our domains once, by reporter and report id", async () => {
    const stored = await rows<{
      org_name: string;
      report_id: string;
      policy_domain: string;
      record_count: number;
      message_count: number;
      received_via: string;
    }>("SELECT org_name, report_id, policy_domain, record_count, message_count, received_via FROM dmarc_reports ORDER BY policy_domain, org_name, report_id");
    expect(stored.map((r) => [r.policy_domain, r.org_name, r.report_id, r.record_count, r.message_count])).toEqual([
      ["example.com", "", "example.com:1538463741", 1, 1],
      ["example.com", "", "example.com:1711897200", 2286, 2286],
      ["example.com", "Legacy Reporter", "legacy-1", 1, 1],
      // rfc9990-sample.xml first; mail-auth's 001.xml and 004.xml carry the same reporter and report id: duplicates.
      ["example.com", "Sample Reporter", "3v98abbp8ya9n3va8yr8oa3ya", 1, 123],
      ["example.com", "XYZ Corporation", "2940", 1, 1],
      ["example.com", "acme.com", "9391651994964116463", 1, 2],
      ["example.com", "addisonfoods.com", "3ceb5548498640beaeb47327e202b0b9", 1, 1],
      ["example.com", "example.net", "b043f0e264cf4ea995e93765242f6dfb", 1, 1],
      ["example.com", "example.net", "dmarcbis-test-report-001", 2, 7],
      ["example.com", "example.org", "20240125141224705995", 1, 2],
      // changed-input.xml: the same report id from another reporter is another report.
      ["example.com", "fred.com", "11038226378739404135", 20, 3047],
      // nice-input.xml, .xml.gz and .xml.zip: one report.
      ["example.com", "google.com", "11038226378739404135", 20, 3047],
      ["example.com", "usssa.com", "8953b4d4a4ee4218b6ac0e2cb2667ee1", 2, 2],
      ["example.com", "veeam.com", "sonexushealth.com:1530233361", 1, 1],
      ["example.org", "google.com", "2122885654478337555", 1, 2],
    ]);
    expect(new Set(stored.map((r) => r.received_via))).toEqual(new Set(["email-routing"]));
    const records = await rows<{ n: number }>("SELECT count(*) AS n FROM dmarc_records");
    expect(records[0]!.n).toBe(stored.reduce((n, r) => n + r.record_count, 0));
  });

  it("keeps the facts of each record: source, count, disposition, DKIM and SPF, raw results", async () => {
    const [record] = await rows<Record<string, unknown>>(
      "SELECT source_ip, message_count, disposition, dkim, spf, header_from, envelope_from, dkim_results, spf_results, reasons FROM dmarc_records WHERE report_id = 'dmarcbis-test-report-001' AND record_index = 1",
    );
    expect(record).toEqual({
      source_ip: "203.0.113.10",
      message_count: 2,
      disposition: "reject",
      dkim: "fail",
      spf: "fail",
      header_from: "example.com",
      envelope_from: "spoofed.example.com",
      dkim_results: "[]",
      spf_results: JSON.stringify([{ domain: "spoofed.example.com", scope: "mfrom", result: "fail", humanResult: null }]),
      reasons: JSON.stringify([{ type: "other", comment: "sender not authorized" }]),
    });
  });

  it("keeps the failure reports about our domains, and the TLS reports mailed to us beside those posted", async () => {
    const failures = await rows<{ format: string; reported_domain: string | null; source_ip: string | null; original_subject: string | null }>(
      "SELECT format, reported_domain, source_ip, original_subject FROM dmarc_failure_reports ORDER BY source_ip",
    );
    expect(failures).toEqual([
      // mail-auth's arf/001.eml: an abuse report that names no domain.
      { format: "arf", reported_domain: null, source_ip: null, original_subject: "Earn money" },
      { format: "arf", reported_domain: "example.com", source_ip: "10.10.10.10", original_subject: "Subject line, could be UTF8 encoded" },
      { format: "text", reported_domain: "example.com", source_ip: "203.0.113.68", original_subject: "Payment from your account." },
    ]);
    const tls = await rows<{ organization_name: string; report_id: string }>(
      "SELECT organization_name, report_id FROM tlsrpt_reports WHERE report_id NOT LIKE 'gz-%' AND report_id NOT LIKE 'json-%' ORDER BY report_id",
    );
    expect(tls).toEqual([
      { organization_name: "Google Inc.", report_id: "2020-01-01T00:00:00Z_example.com" },
      { organization_name: "Example Inc.", report_id: "2024-01-09T00:00:00Z_example.com" },
    ]);
  });

  it("keeps every report it cannot take with the reason: unreadable ones, and those about domains not ours", async () => {
    const refused = await rows<{ kind: string; subject: string | null; name: string | null; reason: string }>(
      "SELECT kind, subject, name, reason FROM report_refusals ORDER BY name, subject",
    );
    const byName: Record<string, string> = Object.fromEntries(refused.map((r) => [r.name ?? r.subject ?? "", `${r.kind}: ${r.reason}`]));
    expect(byName).toMatchObject({
      "ikea.com!example.de!1538690400!1538776800.xml": "dmarc-aggregate: not well-formed XML: Unclosed tag 'xs:schema'. (line 1, column 23)",
      "invalid_utf_8.xml": "dmarc-aggregate: the document is not valid UTF-8 (a malformed byte sequence)",
      "invalid_xml.xml": "dmarc-aggregate: not well-formed XML: Tag 'bad-xml@bad-xml.net' is an invalid name. (line 5, column 30)",
      "report_with_upper_cased_pass.xml": containing('disposition is "None"'),
      "empty.xml": "dmarc-aggregate: the document is empty",
      "mail.ru.json": containing("required string missing"),
      "rpt03.json": containing("required string missing"),
      // Named as inflated: the .gz is gone, the zip's entry is named.
      "fastmail.com!example.com!1516060800!1516147199!102675056.xml": "dmarc-aggregate: about indemed.com, not a domain configured here",
      "google.com!borschow.com!1549929600!1550015999.xml": "dmarc-aggregate: about borschow.com, not a domain configured here",
      "rfc8460.json": "tlsrpt: about company-y.example, not a domain configured here",
      "rpt01.json": "tlsrpt: about company-y.example, not a domain configured here",
      "google.com!cardinalhealth.ca!1725321600!1725407999!001.json": "tlsrpt: about cardinalhealth.ca, not a domain configured here",
    });
    // stalw.art's five report mails, and the failure reports about other domains.
    expect(refused.filter((r) => r.reason === "about stalw.art, not a domain configured here")).toHaveLength(6);
    expect(
      refused
        .filter((r) => r.kind === "dmarc-failure")
        .map((r) => r.reason)
        .sort(),
    ).toEqual(
      ["a.sender.example", "cardinal.com", "domain.de", "example.net", "example.net", "interpublication.org"].map(
        (d) => `about ${d}, not a domain configured here`,
      ),
    );
  });

  it("the same mail again stores nothing new", async () => {
    const before = await rows<{ n: number }>("SELECT (SELECT count(*) FROM dmarc_reports) + (SELECT count(*) FROM report_refusals) AS n");
    const veeam = samples.find((s) => s.name.includes("veeam.com"))!;
    const result = await receiveReportMail(veeam.mail, "reports@reporter.example", config, db(), "email-routing");
    expect(result).toMatchObject({ stored: 0, duplicates: 1, refused: 0 });
    const after = await rows<{ n: number }>("SELECT (SELECT count(*) FROM dmarc_reports) + (SELECT count(*) FROM report_refusals) AS n");
    expect(after).toEqual(before);
  });

  it("without REPORTS_DB a report mail fails temporarily (the reporter retries), and other mail is still judged", async () => {
    const { message } = routed(samples[0]!.mail, "dmarc@example.com");
    await expect(worker.email(message, { ...sampleEnv(), REPORTS_DB: undefined })).rejects.toThrow(/no REPORTS_DB binding/);
  });
});

describe("the relay's hand-over: POST /v1/reports", () => {
  const post = (body: BodyInit, token?: string) =>
    SELF.fetch("https://relay-facing.example/v1/reports", {
      method: "POST",
      body,
      headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), "edgemx-mail-from": "reports@reporter.example" },
    });
  const mail = relayReport("relay-1", "relay-reporter.example", "example.org");

  it("refuses without the token, and with a wrong one", async () => {
    expect((await post(mail)).status).toBe(401);
    expect((await post(mail, "not-the-token")).status).toBe(401);
  });

  it("keeps the report in the same store as Email Routing's, marked as the relay's", async () => {
    const res = await post(mail, "test-reports-token");
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ stored: 1, duplicates: 0, refused: 0, items: [{ kind: "dmarc-aggregate", id: "relay-1" }] });
    expect(await rows("SELECT policy_domain, received_via, message_count FROM dmarc_reports WHERE report_id = 'relay-1'")).toEqual([
      { policy_domain: "example.org", received_via: "relay", message_count: 4 },
    ]);
    const again = await post(mail, "test-reports-token");
    expect(await again.json()).toMatchObject({ stored: 0, duplicates: 1 });
  });
});

describe("the dashboard (/admin)", () => {
  it("shows nothing without credentials: 401, 403 with wrong ones, for the page and the API alike", async () => {
    for (const path of ["/admin", "/admin/example.com", "/admin/api/domains", "/admin/api/example.com/dmarc/sources"]) {
      const none = await dashboard(path);
      expect(none.status, path).toBe(401);
      expect(none.headers.get("www-authenticate")).toMatch(/^Bearer /);
      const text = await none.text();
      expect(text).not.toMatch(/example\.com|192\.0\.2|<html/);
      const wrong = await dashboard(path, { authorization: "Bearer wrong" });
      expect(wrong.status, path).toBe(403);
      expect(await wrong.text()).not.toMatch(/192\.0\.2|<html/);
      // An Access header without Access configured opens nothing either.
      expect((await dashboard(path, { "cf-access-jwt-assertion": "x.y.z" })).status, path).toBe(401);
    }
  });

  it("answers the API with the bearer token: the sources of example.org, with the name a failure report gave", async () => {
    // An ARF report (RFC 6591) whose Source-IP carries the host name, as OpenDMARC writes it.
    const arf = [
      "From: dmarc@relay-reporter.example",
      "Subject: FW: failure",
      "Message-ID: <arf-1@relay-reporter.example>",
      'Content-Type: multipart/report; report-type=feedback-report; boundary="r"',
      "",
      "--r",
      "Content-Type: message/feedback-report",
      "",
      "Feedback-Type: auth-failure",
      "Version: 1",
      "Auth-Failure: dmarc",
      "Source-IP: 192.0.2.77 (mail.relay-reporter.example)",
      "Reported-Domain: example.org",
      "",
      "--r--",
      "",
    ].join("\r\n");
    const intake = await receiveReportMail(new TextEncoder().encode(arf), "dmarc@relay-reporter.example", config, db(), "relay");
    expect(intake).toMatchObject({ stored: 1, refused: 0 });
    const res = await dashboard("/admin/api/example.org/dmarc/sources", AUTH);
    expect(res.status).toBe(200);
    expect(res.headers.get("cache-control")).toBe("no-store");
    const sources = await res.json<{ ip: string; name: string | null; messages: number; passed: number }[]>();
    expect(sources.find((s) => s.ip === "192.0.2.77")).toEqual({
      ip: "192.0.2.77",
      name: "mail.relay-reporter.example",
      messages: 4,
      passed: 0,
      passRate: 0,
      reporters: 1,
      headerFrom: ["example.org"],
    });
    const failures = await (await dashboard("/admin/api/example.org/dmarc/failure-reports", AUTH)).json<{ sourceIp: string }[]>();
    expect(failures.map((f) => f.sourceIp)).toEqual(["192.0.2.77"]);
  });

  it("serves the page with a CSP that allows its one style sheet and nothing else", async () => {
    const res = await dashboard("/admin/example.org?lang=de", AUTH);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-security-policy")).toMatch(/^default-src 'none'; style-src 'sha256-[A-Za-z0-9+/]+=*'; /);
    const html = await res.text();
    expect(html).toContain('<html lang="de">');
    expect(html).toContain("192.0.2.77");
    expect(html).not.toMatch(/<script/i);
  });

  it("lets a Cloudflare Access token through when it is RS256, signed by the team's key, for the application's audience", async () => {
    const { publicKey, privateKey } = await generateKeyPair("RS256");
    const other = await generateKeyPair("RS256");
    const jwk = { ...(await exportJWK(publicKey)), kid: "team-key", alg: "RS256" };
    const keys = createLocalJWKSet({ keys: [jwk] });
    const access = { teamDomain: "team.cloudflareaccess.com", aud: "aud-tag" };
    const accessConfig = { ...config, reports: { ...config.reports, dashboard: { access } } };
    const token = (claims: { aud?: string; iss?: string; exp?: string }, key = privateKey) =>
      new SignJWT({ email: "owner@example.com" })
        .setProtectedHeader({ alg: "RS256", kid: "team-key" })
        .setIssuer(claims.iss ?? "https://team.cloudflareaccess.com")
        .setAudience(claims.aud ?? "aud-tag")
        .setIssuedAt()
        .setExpirationTime(claims.exp ?? "5m")
        .sign(key);
    const ask = async (jwt: string) =>
      authorizeDashboard(
        new Request("https://example.org/admin", { headers: { "cf-access-jwt-assertion": jwt } }),
        accessConfig,
        { ...testEnv, DASHBOARD_TOKEN: undefined },
        () => keys,
      );
    expect(await ask(await token({}))).toEqual({ ok: true, who: "owner@example.com" });
    expect(await ask(await token({ aud: "another-app" }))).toMatchObject({ ok: false, status: 403 });
    expect(await ask(await token({ iss: "https://other-team.cloudflareaccess.com" }))).toMatchObject({ ok: false, status: 403 });
    expect(await ask(await token({ exp: "-1m" }))).toMatchObject({ ok: false, status: 403 });
    expect(await ask(await token({}, other.privateKey))).toMatchObject({ ok: false, status: 403 });
    const hs256 = await new SignJWT({})
      .setProtectedHeader({ alg: "HS256" })
      .setAudience("aud-tag")
      .setIssuer("https://team.cloudflareaccess.com")
      .sign(new Uint8Array(32));
    expect(await ask(hs256)).toMatchObject({ ok: false, status: 403 });
  });
});

describe("retention: the Cron Trigger's scheduled()", () => {
  it("deletes the reports received before the configured age, with their records, and keeps the rest", async () => {
    const now = new Date("2027-06-01T03:17:00Z");
    const old = new Date(now.getTime() - (config.reports.retentionDays + 1) * 86_400_000);
    const aged = await receiveReportMail(relayReport("old-1", "old.example", "example.com"), "reports@reporter.example", config, db(), "email-routing", old);
    expect(aged.stored).toBe(1);
    const count = async (sql: string) => (await rows<{ n: number }>(sql))[0]!.n;
    const keptBefore = await count("SELECT count(*) AS n FROM dmarc_reports WHERE org_name <> 'old.example'");
    expect(await count("SELECT count(*) AS n FROM dmarc_records WHERE org_name = 'old.example'")).toBe(1);

    await worker.scheduled(createScheduledController({ scheduledTime: now, cron: "17 3 * * *" }), sampleEnv());

    expect(await count("SELECT count(*) AS n FROM dmarc_reports WHERE org_name = 'old.example'")).toBe(0);
    expect(await count("SELECT count(*) AS n FROM dmarc_records WHERE org_name = 'old.example'")).toBe(0);
    expect(await count("SELECT count(*) AS n FROM dmarc_reports")).toBe(keptBefore);
  });
});
