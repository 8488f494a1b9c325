// The report intake's parsers over public samples, read in place: parsedmarc's samples
// (../shared/conformance/dmarc-reports/, no expected parses: the facts below were read from each file)
// and stalwartlabs/mail-auth's (../shared/conformance/reports/, each with the parse that project expects).
// Every file is parsed or refused with the reason listed here; none is skipped.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { Uint8ArrayReader, Uint8ArrayWriter, ZipWriter } from "@zip.js/zip.js";
import { describe, expect, it } from "vitest";
import { MAX_AGGREGATE_XML_BYTES, parseAggregateReport, type AggregateRecord, type AggregateReport } from "../../core/dmarcrpt/aggregate.ts";
import type { FailureReport } from "../../core/dmarcrpt/failure.ts";
import { readReportFile, readReportMessage, type ReportItem } from "../../core/reports/intake.ts";
import { reportAddresses } from "../../core/reports/addresses.ts";
import { parseConfig } from "../../core/config/load.ts";
import type { TlsRptReport } from "../../core/tlsrpt/report.ts";
import { REPORTS_SCHEMA } from "../../workers/src/reports/schema.ts";
import { CONFORMANCE } from "../fixtures/conformance-suites.ts";

const SHARED = CONFORMANCE;
const PARSEDMARC = new URL("dmarc-reports/", SHARED);
const MAIL_AUTH = new URL("reports/", SHARED);

/** Every file below a folder, as paths relative to it. */
function filesUnder(folder: URL, prefix = ""): string[] {
  return readdirSync(new URL(prefix, folder))
    .sort()
    .flatMap((name) => (statSync(new URL(prefix + name, folder)).isDirectory() ? filesUnder(folder, `${prefix}${name}/`) : [prefix + name]));
}

/** A sample as the intake meets it: a mail (.eml) through the MIME walk, any other file as an attachment. */
async function itemsOf(folder: URL, file: string): Promise<ReportItem[]> {
  const bytes = new Uint8Array(readFileSync(new URL(file, folder)));
  return file.endsWith(".eml") ? (await readReportMessage(bytes)).items : readReportFile(bytes, file.slice(file.lastIndexOf("/") + 1));
}

function only<K extends ReportItem["kind"]>(items: ReportItem[], kind: K): Extract<ReportItem, { kind: K }> {
  expect(items.map((i) => (i.kind === "refused" ? `refused: ${i.reason}` : i.kind))).toEqual([kind]);
  return items[0] as Extract<ReportItem, { kind: K }>;
}

/** The facts of an aggregate report a test names; records as [source IP, count, disposition, dkim, spf]. */
interface AggregateFacts {
  orgName: string;
  email: string;
  reportId: string;
  begin: number;
  end: number;
  policy: Partial<AggregateReport["policy"]>;
  records: [string, number, string, string, string][];
  /** Further facts of single records, by index. */
  details?: Record<number, Partial<AggregateRecord>>;
}

function expectAggregate(report: AggregateReport, facts: AggregateFacts): void {
  expect({ orgName: report.orgName, email: report.email, reportId: report.reportId, begin: report.begin, end: report.end }).toEqual({
    orgName: facts.orgName,
    email: facts.email,
    reportId: facts.reportId,
    begin: facts.begin,
    end: facts.end,
  });
  expect(report.policy).toMatchObject(facts.policy);
  expect(report.records.map((r) => [r.sourceIp, r.count, r.disposition, r.dkim, r.spf])).toEqual(facts.records);
  for (const [index, detail] of Object.entries(facts.details ?? {})) expect(report.records[Number(index)]).toMatchObject(detail);
}

const NONE_FAIL_FAIL = (ip: string, count = 1): [string, number, string, string, string] => [ip, count, "none", "fail", "fail"];

/** parsedmarc's aggregate samples: the facts read from each file. */
const AGGREGATE_FACTS: Record<string, AggregateFacts> = {
  "aggregate/!example.com!1538204542!1538463818.xml": {
    orgName: "",
    email: "administrator@accurateplastics.com",
    reportId: "example.com:1538463741",
    begin: 1538413632,
    end: 1538413632,
    policy: { domain: "example.com", p: "none", sp: "reject", adkim: "r", aspf: "r", pct: 100 },
    records: [NONE_FAIL_FAIL("12.20.127.122")],
    details: { 0: { headerFrom: "example.com", dkimResults: [], spfResults: [{ domain: "", scope: null, result: "none", humanResult: null }] } },
  },
  "aggregate/Report domain- borschow.com Submitter- google.com Report-ID- 949348866075514174.eml": {
    orgName: "google.com",
    email: "noreply-dmarc-support@google.com",
    reportId: "949348866075514174",
    begin: 1549929600,
    end: 1550015999,
    policy: { domain: "borschow.com", p: "reject", sp: "reject", pct: 100 },
    records: [["92.53.116.102", 1, "reject", "fail", "fail"]],
    details: { 0: { spfResults: [{ domain: "borschow.com", scope: null, result: "fail", humanResult: null }] } },
  },
  "aggregate/addisonfoods.com!example.com!1536105600!1536191999.xml": {
    orgName: "addisonfoods.com",
    email: "postmaster@addisonfoods.com",
    reportId: "3ceb5548498640beaeb47327e202b0b9",
    begin: 1536105600,
    end: 1536191999,
    policy: { domain: "example.com", p: "none", sp: "none", fo: "0" },
    records: [NONE_FAIL_FAIL("109.203.100.17")],
    details: {
      0: { envelopeFrom: "example.com", dkimResults: [{ domain: "toptierhighticket.club", selector: "default", result: "pass", humanResult: null }] },
    },
  },
  "aggregate/empty_reason.xml": {
    orgName: "example.org",
    email: "noreply-dmarc-support@example.org",
    reportId: "20240125141224705995",
    begin: 1706159544,
    end: 1706185733,
    policy: { domain: "example.com", p: "quarantine", sp: "quarantine", fo: "1" },
    records: [["198.51.100.123", 2, "none", "pass", "fail"]],
    // The empty <reason> is dropped; the raw results are kept.
    details: {
      0: {
        reasons: [],
        envelopeTo: "example.net",
        envelopeFrom: "example.edu",
        dkimResults: [{ domain: "example.com", selector: "example", result: "pass", humanResult: "2048-bit key" }],
        spfResults: [{ domain: "example.edu", scope: "mfrom", result: "pass", humanResult: null }],
      },
    },
  },
  "aggregate/estadocuenta1.infonacot.gob.mx!example.com!1536853302!1536939702!2940.xml.zip": {
    orgName: "XYZ Corporation",
    email: "admin@estadocuenta1.infonacot.gob.mx",
    reportId: "2940",
    begin: 1536853302,
    end: 1536939702,
    policy: { domain: "example.com", p: "none", sp: null },
    records: [NONE_FAIL_FAIL("148.243.137.254")],
    details: { 0: { envelopeTo: "estadocuenta1.infonacot.gob.mx" } },
  },
  "aggregate/example.net!example.com!1529366400!1529452799.xml": {
    orgName: "example.net",
    email: "postmaster@example.net",
    reportId: "b043f0e264cf4ea995e93765242f6dfb",
    begin: 1529366400,
    end: 1529452799,
    // A stray "11" after </sp> is text between elements: ignored.
    policy: { domain: "example.com", p: "none", sp: "none", pct: 100 },
    records: [NONE_FAIL_FAIL("199.230.200.36")],
  },
  "aggregate/fastmail.com!example.com!1516060800!1516147199!102675056.xml.gz": {
    orgName: "FastMail Pty Ltd",
    email: "reports@fastmaildmarc.com",
    reportId: "102675056",
    begin: 1516060800,
    end: 1516147199,
    policy: { domain: "indemed.com", p: "none" },
    records: [NONE_FAIL_FAIL("104.195.80.20")],
    details: { 0: { envelopeTo: "fastmail.fm", spfResults: [{ domain: "example.com", scope: "mfrom", result: "softfail", humanResult: null }] } },
  },
  "aggregate/old_draft_from_wiki.xml": {
    orgName: "acme.com",
    email: "noreply-dmarc-support@acme.com",
    reportId: "9391651994964116463",
    begin: 1335571200,
    end: 1335657599,
    policy: { domain: "example.com", p: "none" },
    records: [["72.150.241.94", 2, "none", "fail", "pass"]],
    details: { 0: { dkimResults: [{ domain: "example.com", selector: null, result: "fail", humanResult: null }] } },
  },
  "aggregate/rfc9990-example.net!example.com!1700000000!1700086399.xml": {
    orgName: "example.net",
    email: "postmaster@example.net",
    reportId: "dmarcbis-test-report-001",
    begin: 1700000000,
    end: 1700086399,
    policy: { domain: "example.com", p: "reject", sp: "quarantine", np: "reject", adkim: "s", aspf: "s", testing: "y", discoveryMethod: "treewalk", pct: null },
    records: [
      ["198.51.100.1", 5, "none", "pass", "pass"],
      ["203.0.113.10", 2, "reject", "fail", "fail"],
    ],
    details: { 1: { reasons: [{ type: "other", comment: "sender not authorized" }], envelopeFrom: "spoofed.example.com" } },
  },
  "aggregate/rfc9990-sample.xml": {
    orgName: "Sample Reporter",
    email: "report_sender@example-reporter.com",
    reportId: "3v98abbp8ya9n3va8yr8oa3ya",
    begin: 302832000,
    end: 302918399,
    policy: { domain: "example.com", p: "quarantine", sp: "none", np: "none", testing: "n", discoveryMethod: "treewalk" },
    // RFC 9990's disposition "pass".
    records: [["192.0.2.123", 123, "pass", "pass", "fail"]],
  },
  "aggregate/usssa.com!example.com!1538784000!1538870399.xml": {
    orgName: "usssa.com",
    email: "postmaster@usssa.com",
    reportId: "8953b4d4a4ee4218b6ac0e2cb2667ee1",
    begin: 1538784000,
    end: 1538870399,
    policy: { domain: "example.com", p: "none" },
    records: [NONE_FAIL_FAIL("12.20.127.40"), NONE_FAIL_FAIL("199.230.200.36")],
  },
  "aggregate/veeam.com!example.com!1530133200!1530219600.xml": {
    orgName: "veeam.com",
    email: "noreply.it.dmarc@veeam.com",
    reportId: "sonexushealth.com:1530233361",
    begin: 1530133200,
    end: 1530219600,
    policy: { domain: "example.com", p: "none" },
    records: [NONE_FAIL_FAIL("199.230.200.36")],
  },
};

/** parsedmarc's samples refused, with the reason each gets. */
const REFUSED: Record<string, string> = {
  "aggregate/ikea.com!example.de!1538690400!1538776800.xml": "not well-formed XML: Unclosed tag 'xs:schema'. (line 1, column 23)",
  "aggregate/invalid_utf_8.xml": "the document is not valid UTF-8 (a malformed byte sequence)",
  "aggregate/invalid_xml.xml": "not well-formed XML: Tag 'bad-xml@bad-xml.net' is an invalid name. (line 5, column 30)",
  // Appendix C spells the values in lower case; this reporter wrote "None" and "Pass".
  "aggregate_invalid/report_with_upper_cased_pass.xml":
    'record[0].row.policy_evaluated.disposition is "None", not one of none, quarantine, reject, pass (RFC 7489 appendix C)',
  "empty.xml": "the document is empty",
  // RFC 8460 §4.4 requires sending-mta-ip and receiving-mx-hostname in each failure detail.
  "smtp_tls/mail.ru.json":
    "invalid TLS report (RFC 8460 §4): $.policies[0]['failure-details'][0]['sending-mta-ip']: required string missing; " +
    "$.policies[0]['failure-details'][0]['receiving-mx-hostname']: required string missing; " +
    "$.policies[0]['failure-details'][1]['sending-mta-ip']: required string missing; " +
    "$.policies[0]['failure-details'][1]['receiving-mx-hostname']: required string missing",
};

const EXTRACT_REPORT: AggregateFacts = {
  orgName: "google.com",
  email: "noreply-dmarc-support@google.com",
  reportId: "11038226378739404135",
  begin: 1718236800,
  end: 1718323199,
  policy: { domain: "example.com", p: "none", sp: "none", np: "none", pct: 100 },
  records: [],
};

describe("parsedmarc's samples (dmarc-reports/)", () => {
  const files = filesUnder(PARSEDMARC).filter((f) => f !== "LICENSE");

  it("has the samples this test knows, each listed once", () => {
    const known = [
      ...Object.keys(AGGREGATE_FACTS),
      ...Object.keys(REFUSED),
      "aggregate/!large-example.com!1711897200!1711983600.xml",
      ...["changed-input.xml", "nice-input.xml", "nice-input.xml.gz", "nice-input.xml.zip"].map((f) => `extract_report/${f}`),
      "failure/DMARC Failure Report for domain.de (mail-from=sharepoint@domain.de, ip=10.10.10.10).eml",
      "failure/[Netease DMARC Failure Report] Rent Reminder.eml",
      "failure/dmarc_ruf_report_linkedin.eml",
      "failure/exim_plain_text_only_no_arf_part.eml",
      "smtp_tls/google.com_smtp_tls_report.eml",
      "smtp_tls/rfc8460.json",
      "smtp_tls/smtp_tls.json",
    ];
    expect([...known].sort()).toEqual([...files].sort());
  });

  for (const [file, facts] of Object.entries(AGGREGATE_FACTS)) {
    it(`${file}: ${facts.orgName || facts.email} report ${facts.reportId}`, async () => {
      expectAggregate(only(await itemsOf(PARSEDMARC, file), "dmarc-aggregate").report, facts);
    });
  }

  for (const [file, reason] of Object.entries(REFUSED)) {
    it(`${file}: refused (${reason.slice(0, 60)}…)`, async () => {
      const items = await itemsOf(PARSEDMARC, file);
      expect(items).toHaveLength(1);
      expect(items[0]).toMatchObject({ kind: "refused", reason });
    });
  }

  it("the large report: 2286 records of one message each, 12.20.121.1 to 12.20.129.254", async () => {
    const { report } = only(await itemsOf(PARSEDMARC, "aggregate/!large-example.com!1711897200!1711983600.xml"), "dmarc-aggregate");
    expect([report.reportId, report.begin, report.end, report.policy.domain]).toEqual(["example.com:1711897200", 1711897200, 1711983600, "example.com"]);
    expect(report.records).toHaveLength(2286);
    expect([report.records[0]!.sourceIp, report.records.at(-1)!.sourceIp]).toEqual(["12.20.121.1", "12.20.129.254"]);
    expect(report.records.reduce((n, r) => n + r.count, 0)).toBe(2286);
    expect(new Set(report.records.map((r) => `${r.disposition} ${r.dkim} ${r.spf}`))).toEqual(new Set(["none fail fail"]));
  });

  it("extract_report: the same report as XML, .xml.gz and .xml.zip parses the same; changed-input differs in org_name only", async () => {
    const [xml, gz, zip, changed] = await Promise.all(
      ["nice-input.xml", "nice-input.xml.gz", "nice-input.xml.zip", "changed-input.xml"].map(
        async (f) => only(await itemsOf(PARSEDMARC, `extract_report/${f}`), "dmarc-aggregate").report,
      ),
    );
    expectAggregate(xml!, { ...EXTRACT_REPORT, records: xml!.records.map((r) => [r.sourceIp, r.count, r.disposition, r.dkim, r.spf]) });
    expect(xml!.records).toHaveLength(20);
    expect(xml!.records.reduce((n, r) => n + r.count, 0)).toBe(3047);
    expect([xml!.records[0]!.sourceIp, xml!.records[0]!.count, xml!.records[0]!.dkim, xml!.records[0]!.spf]).toEqual(["209.85.220.69", 1, "fail", "pass"]);
    expect(gz).toEqual(xml);
    expect(zip).toEqual(xml);
    expect(changed).toEqual({ ...xml, orgName: "fred.com" });
  });

  const failure = async (file: string): Promise<FailureReport> => only(await itemsOf(PARSEDMARC, `failure/${file}`), "dmarc-failure").report;

  it("failure: the ARF report for domain.de (RFC 6591)", async () => {
    const report = await failure("DMARC Failure Report for domain.de (mail-from=sharepoint@domain.de, ip=10.10.10.10).eml");
    expect(report).toMatchObject({
      format: "arf",
      feedbackType: "auth-failure",
      userAgent: "Lua/1.0",
      sourceIp: "10.10.10.10",
      originalMailFrom: "sharepoint@domain.de",
      originalRcptTo: ["peter.pan@domain.de"],
      authFailure: "dmarc",
      deliveryResult: "smg-policy-action",
      reportedDomains: ["domain.de"],
      authenticationResults: ["dmarc=fail (p=none, dis=none) header.from=domain.de"],
      arrivalTime: Date.parse("2018-10-01T11:20:27+02:00") / 1000,
    });
    expect(report.original).toMatchObject({ subject: "Subject", to: "<peter.pan@domain.de>" });
  });

  it("failure: Netease's report, its feedback part base64-encoded", async () => {
    const report = await failure("[Netease DMARC Failure Report] Rent Reminder.eml");
    expect(report).toMatchObject({
      feedbackType: "auth-failure",
      userAgent: "NtesDmarcReporter/1.0",
      sourceIp: "167.89.69.24",
      reportedDomains: ["cardinal.com"],
      deliveryResult: "delivered",
      identityAlignment: "spf,dkim",
      dkimDomain: "entrata.com",
      originalEnvelopeId: "N8CowEApcUPo6q1bnXlMAA--.44392S3",
    });
    expect(report.original).toMatchObject({ from: "700 on Washington <info@cardinal.com>", subject: "Rent Reminder" });
  });

  it("failure: LinkedIn's report", async () => {
    const report = await failure("dmarc_ruf_report_linkedin.eml");
    expect(report).toMatchObject({
      sourceIp: "10.10.10.10",
      originalMailFrom: null,
      originalRcptTo: ["recipient@linkedin.com"],
      reportedDomains: ["example.com"],
      deliveryResult: "delivered",
      authFailure: "dmarc",
    });
    expect(report.original).toMatchObject({ from: "Sender <sender@example.com>", subject: "Subject line, could be UTF8 encoded" });
  });

  it("failure: Exim's plain-text report, no ARF part", async () => {
    const report = await failure("exim_plain_text_only_no_arf_part.eml");
    expect(report).toMatchObject({
      format: "text",
      feedbackType: "auth-failure",
      sourceIp: "203.0.113.68",
      reportedDomains: ["example.com"],
      arrivalTime: Date.parse("2025-04-07T23:16:09+02:00") / 1000,
      identityAlignment: "none",
      deliveryResult: "none, accept",
    });
    expect(report.original).toMatchObject({
      from: "<user@example.com>",
      subject: "Payment from your account.",
      messageId: "<134117F8-2145-AECE-9CCA-25FC98731341@example.com>",
    });
  });

  const tls = async (file: string): Promise<TlsRptReport> => only(await itemsOf(PARSEDMARC, `smtp_tls/${file}`), "tlsrpt").report;

  it("smtp_tls: Google's report mail (application/tlsrpt+gzip, RFC 8460 §5.3)", async () => {
    const report = await tls("google.com_smtp_tls_report.eml");
    expect(report["organization-name"]).toBe("Google Inc.");
    expect(report["report-id"]).toBe("2024-09-03T00:00:00Z_cardinalhealth.ca");
    expect(report["date-range"]).toEqual({ "start-datetime": "2024-09-03T00:00:00Z", "end-datetime": "2024-09-03T23:59:59Z" });
    expect(report.policies).toEqual([
      {
        policy: { "policy-type": "no-policy-found", "policy-domain": "cardinalhealth.ca" },
        summary: { "total-successful-session-count": 48, "total-failure-session-count": 0 },
      },
    ]);
  });

  it("smtp_tls: RFC 8460's own example, its mx-host one string (appendix B) read as a list of one", async () => {
    const report = await tls("rfc8460.json");
    expect(report["report-id"]).toBe("5065427c-23d3-47ca-b6e0-946ea0e8c4be");
    expect(report.policies[0]!.policy["mx-host"]).toEqual(["*.mail.company-y.example"]);
    expect(report.policies[0]!.summary).toEqual({ "total-successful-session-count": 5326, "total-failure-session-count": 303 });
    expect(report.policies[0]!["failure-details"]!.map((d) => [d["result-type"], d["sending-mta-ip"], d["failed-session-count"]])).toEqual([
      ["certificate-expired", "2001:db8:abcd:0012::1", 100],
      ["starttls-not-supported", "2001:db8:abcd:0013::1", 200],
      ["validation-failure", "198.51.100.62", 3],
    ]);
  });

  it("smtp_tls: smtp_tls.json", async () => {
    const report = await tls("smtp_tls.json");
    expect([report["organization-name"], report["report-id"]]).toEqual(["Example Inc.", "2024-01-09T00:00:00Z_example.com"]);
    expect(report.policies[0]!.summary["total-failure-session-count"]).toBe(3);
    expect(report.policies[0]!["failure-details"]!.map((d) => [d["sending-mta-ip"], d["receiving-ip"], d["failed-session-count"]])).toEqual([
      ["209.85.222.201", "173.212.201.41", 2],
      ["209.85.208.176", "173.212.201.41", 1],
    ]);
  });
});

// mail-auth's expected parses name enum values in CamelCase ("Quarantine", "AuthFailure", "BodyHash") and
// write "Unspecified" or "" for what is absent; ours keep the RFC's lower-case tokens and null.
const token = (value: unknown): string | null =>
  (typeof value === "string" && value !== "Unspecified" && value !== "") || typeof value === "number" ? String(value).toLowerCase() : null;
const words = (value: string): string => value.replace(/\s+/g, " ").trim();

interface MailAuthAggregate {
  report_metadata: { org_name: string; email: string; report_id: string; extra_contact_info: string | null; date_range: { begin: number; end: number } };
  policy_published: { domain: string; p: string };
  record: {
    row: { source_ip: string; count: number; policy_evaluated: { disposition: string; dkim: string; spf: string; reason: { comment: string | null }[] } };
    identifiers: { envelope_from: string; header_from: string };
    auth_results: { dkim: { domain: string; selector: string; result: string }[]; spf: { domain: string; result: string }[] };
  }[];
}

describe("mail-auth's samples (reports/), against the parses it expects", () => {
  const files = filesUnder(MAIL_AUTH).filter((f) => !f.endsWith(".txt"));
  const samples = files.filter((f) => !f.endsWith(".json") || f.startsWith("tlsrpt/"));

  it("has 17 samples with their expected parses", () => {
    expect(samples.filter((f) => f.startsWith("arf/") || f.startsWith("dmarc-feedback/"))).toHaveLength(15);
    for (const f of samples.filter((s) => !s.startsWith("tlsrpt/"))) expect(files).toContain(f.replace(/\.(eml|xml)$/, ".json"));
  });

  for (const file of samples.filter((f) => f.startsWith("dmarc-feedback/"))) {
    it(`${file}: the aggregate report mail-auth expects`, async () => {
      const { report } = only(await itemsOf(MAIL_AUTH, file), "dmarc-aggregate");
      const expected = JSON.parse(readFileSync(new URL(file.replace(/\.(eml|xml)$/, ".json"), MAIL_AUTH), "utf8")) as MailAuthAggregate;
      const meta = expected.report_metadata;
      expect([report.orgName, report.email, report.reportId, report.begin, report.end, report.extraContactInfo]).toEqual([
        meta.org_name,
        meta.email,
        meta.report_id,
        meta.date_range.begin,
        meta.date_range.end,
        meta.extra_contact_info,
      ]);
      expect([report.policy.domain, report.policy.p]).toEqual([expected.policy_published.domain, token(expected.policy_published.p)]);
      expect(
        report.records.map((r) => ({
          ip: r.sourceIp,
          count: r.count,
          evaluated: [r.disposition, r.dkim, r.spf],
          reasons: r.reasons.map((x) => x.comment),
          from: [r.headerFrom, r.envelopeFrom ?? ""],
          dkim: r.dkimResults.map((d) => [d.domain, d.selector, d.result]),
          spf: r.spfResults.map((s) => [s.domain, s.result]),
        })),
      ).toEqual(
        expected.record.map((r) => ({
          ip: r.row.source_ip,
          count: r.row.count,
          evaluated: [token(r.row.policy_evaluated.disposition), token(r.row.policy_evaluated.dkim), token(r.row.policy_evaluated.spf)],
          reasons: r.row.policy_evaluated.reason.map((x) => x.comment),
          from: [r.identifiers.header_from, r.identifiers.envelope_from],
          dkim: r.auth_results.dkim.map((d) => [d.domain, d.selector || null, token(d.result)]),
          spf: r.auth_results.spf.map((s) => [s.domain, token(s.result)]),
        })),
      );
    });
  }

  for (const file of samples.filter((f) => f.startsWith("arf/"))) {
    it(`${file}: the feedback report mail-auth expects (RFC 5965, RFC 6591)`, async () => {
      const { report } = only(await itemsOf(MAIL_AUTH, file), "dmarc-failure");
      const expected = JSON.parse(readFileSync(new URL(file.replace(".eml", ".json"), MAIL_AUTH), "utf8")) as Record<string, unknown>;
      const kebab = (value: unknown) => token(String(value).replace(/([a-z])([A-Z])/g, "$1-$2"));
      expect({
        feedbackType: report.feedbackType,
        userAgent: report.userAgent,
        version: report.version,
        sourceIp: report.sourceIp,
        originalMailFrom: report.originalMailFrom,
        originalRcptTo: report.originalRcptTo[0] ?? null,
        originalEnvelopeId: report.originalEnvelopeId,
        arrivalTime: report.arrivalTime,
        reportingMta: report.reportingMta,
        incidents: report.incidents,
        authFailure: report.authFailure,
        deliveryResult: report.deliveryResult,
        reportedDomains: report.reportedDomains,
        reportedUris: report.reportedUris,
        authenticationResults: report.authenticationResults,
        dkim: [report.dkimDomain, report.dkimIdentity, report.dkimSelector],
      }).toEqual({
        feedbackType: kebab(expected["feedback_type"]),
        userAgent: expected["user_agent"],
        version: String(expected["version"]),
        sourceIp: expected["source_ip"],
        originalMailFrom: expected["original_mail_from"],
        originalRcptTo: expected["original_rcpt_to"],
        originalEnvelopeId: expected["original_envelope_id"],
        arrivalTime: expected["arrival_date"],
        reportingMta: expected["reporting_mta"],
        incidents: expected["incidents"],
        authFailure: token(expected["auth_failure"]),
        deliveryResult: token(expected["delivery_result"]),
        reportedDomains: expected["reported_domain"],
        reportedUris: expected["reported_uri"],
        authenticationResults: (expected["authentication_results"] as string[]).map(words),
        dkim: [expected["dkim_domain"], expected["dkim_identity"], expected["dkim_selector"]],
      });
    });
  }

  for (const file of samples.filter((f) => f.startsWith("tlsrpt/") && f.endsWith(".eml"))) {
    it(`${file}: the mailed TLS report is the one in ${file.replace(".eml", ".json")}`, async () => {
      const { report } = only(await itemsOf(MAIL_AUTH, file), "tlsrpt");
      expect(report).toEqual(JSON.parse(readFileSync(new URL(file.replace(".eml", ".json"), MAIL_AUTH), "utf8")));
    });
  }
});

async function zipOf(name: string, content: Uint8Array): Promise<Uint8Array> {
  const writer = new ZipWriter(new Uint8ArrayWriter());
  await writer.add(name, new Uint8ArrayReader(content));
  return writer.close();
}

/** A report mail with one base64 attachment, as Google sends them (RFC 7489 §7.2.1.1). */
function reportMail(attachment: Uint8Array, name: string, type: string): Uint8Array {
  const base64 = Buffer.from(attachment).toString("base64").replace(/.{76}/g, "$&\r\n");
  return new TextEncoder().encode(
    [
      "From: reports@reporter.example",
      "To: dmarc-reports@example.org",
      "Subject: Report Domain: example.org Submitter: reporter.example Report-ID: 1",
      "Message-ID: <1@reporter.example>",
      "MIME-Version: 1.0",
      'Content-Type: multipart/mixed; boundary="b"',
      "",
      "--b",
      "Content-Type: text/plain",
      "",
      "A report.",
      "--b",
      `Content-Type: ${type}; name="${name}"`,
      `Content-Disposition: attachment; filename="${name}"`,
      "Content-Transfer-Encoding: base64",
      "",
      base64,
      "--b--",
      "",
    ].join("\r\n"),
  );
}

describe("bounds of the intake", () => {
  const zeros = new Uint8Array(MAX_AGGREGATE_XML_BYTES + 1);

  it("refuses a gzip bomb with the reason, after inflating no more than the bound", async () => {
    const bomb = gzipSync(zeros);
    expect(bomb.length).toBeLessThan(64 * 1024);
    const { items } = await readReportMessage(reportMail(bomb, "bomb.xml.gz", "application/gzip"));
    expect(items).toEqual([
      {
        kind: "refused",
        as: "dmarc-aggregate",
        name: "bomb.xml.gz",
        reason: `the gzip inflates to more than ${MAX_AGGREGATE_XML_BYTES} bytes (a decompression bomb, or over the bound)`,
      },
    ]);
  });

  it("refuses a zip bomb with the reason", async () => {
    const bomb = await zipOf("bomb.xml", zeros);
    expect(bomb.length).toBeLessThan(64 * 1024);
    const { items } = await readReportMessage(reportMail(bomb, "bomb.zip", "application/zip"));
    expect(items).toEqual([
      {
        kind: "refused",
        as: "dmarc-aggregate",
        name: "bomb.xml",
        reason: `the zip entry inflates to more than ${MAX_AGGREGATE_XML_BYTES} bytes (a decompression bomb, or over the bound)`,
      },
    ]);
  });

  it("refuses a DOCTYPE (entity expansion) and a root that is not <feedback>", () => {
    const laughs = '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">]><feedback>&lol;</feedback>';
    expect(parseAggregateReport(new TextEncoder().encode(laughs))).toEqual({
      ok: false,
      reason: "the document has a DOCTYPE, which no DMARC report needs (entity expansion is refused)",
    });
    expect(parseAggregateReport(new TextEncoder().encode("<report/>"))).toEqual({
      ok: false,
      reason: "the root element is not <feedback> (RFC 7489 appendix C)",
    });
  });

  it("reads a zipped report attached to a mail, and names what a mail without a report holds", async () => {
    const xml = readFileSync(new URL("extract_report/nice-input.xml", PARSEDMARC));
    const { items, from, subject, messageId } = await readReportMessage(reportMail(await zipOf("r.xml", xml), "r.zip", "application/zip"));
    expect([from, subject, messageId]).toEqual([
      "reports@reporter.example",
      "Report Domain: example.org Submitter: reporter.example Report-ID: 1",
      "<1@reporter.example>",
    ]);
    expect(only(items, "dmarc-aggregate").report.reportId).toBe("11038226378739404135");
    const plain = new TextEncoder().encode("From: someone@example.net\r\nSubject: hello\r\n\r\nJust saying hi.\r\n");
    expect((await readReportMessage(plain)).items).toEqual([
      { kind: "refused", as: "unknown", name: null, reason: "no report in the message (its parts: text/plain)" },
    ]);
  });
});

describe("report addresses", () => {
  it("are the mailto: rua and ruf of DMARC and the TLS-RPT rua at our domains, lower-cased", () => {
    const config = parseConfig(
      {
        hostname: "mx.example.org",
        domains: [
          {
            name: "example.org",
            mx: ["mx.example.org"],
            catchAll: true,
            dmarc: { rua: ["mailto:DMARC@example.org", "mailto:rua@reports.example.net"], ruf: ["mailto:ruf@example.org"] },
            tlsRpt: { rua: ["mailto:tls@example.org", "https://example.org/.well-known/tlsrpt"] },
          },
        ],
      },
      "test",
    );
    expect([...reportAddresses(config)].sort()).toEqual(["dmarc@example.org", "ruf@example.org", "tls@example.org"]);
  });

  it("are worked out once per configuration, and a reloaded configuration has its own", () => {
    const document = (rua: string) => ({
      hostname: "mx.example.org",
      domains: [{ name: "example.org", mx: ["mx.example.org"], catchAll: true, dmarc: { rua: [rua] } }],
    });
    const config = parseConfig(document("mailto:dmarc@example.org"), "test");
    expect(reportAddresses(config)).toBe(reportAddresses(config));
    const reloaded = parseConfig(document("mailto:reports@example.org"), "test");
    expect([...reportAddresses(reloaded)]).toEqual(["reports@example.org"]);
    expect([...reportAddresses(config)]).toEqual(["dmarc@example.org"]);
  });
});

describe("report storage schema", () => {
  it("migrations/0002_reports.sql holds the statements the Worker runs on first use", () => {
    const migration = readFileSync(new URL("../../migrations/0002_reports.sql", import.meta.url), "utf8");
    const statements = migration
      .replace(/^--.*\n/gm, "")
      .split(";")
      .map((s) => s.trim())
      .filter((s) => s !== "");
    expect(statements).toEqual(REPORTS_SCHEMA);
  });
});
