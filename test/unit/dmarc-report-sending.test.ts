// The pure parts of the DMARC aggregate reports we send (core/dmarcrpt/): the evaluation the judge
// records for each message, the record's policy and rua destinations (with RFC 7489 §6.2 size limits),
// the external destination check (RFC 7489 §7.1), and the report itself — valid against the RFC 9990
// schema (xmllint) and read back by our own intake's parser.
import { gunzipSync } from "node:zlib";
import PostalMime from "postal-mime";
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../core/config/load.ts";
import type { AuthOutcome } from "../../core/authentication/authenticate.ts";
import { organizationalDomains } from "../../core/dmarc/organizational-domain.ts";
import { parseAggregateReport } from "../../core/dmarcrpt/aggregate.ts";
import { verifyDestinations } from "../../core/dmarcrpt/destinations.ts";
import { dmarcEvaluation, dmarcEvaluationOf, MAX_DKIM_RESULTS, type DmarcEvaluation, type EvaluationInput } from "../../core/dmarcrpt/evaluation.ts";
import { dmarcTags, parseReportUri, policyPublished, reportUris } from "../../core/dmarcrpt/policy-record.ts";
import {
  aggregateReportFilename,
  aggregateReportId,
  aggregateReportMessage,
  aggregateReportXml,
  DMARC_NAMESPACE,
  type CountedEvaluation,
} from "../../core/dmarcrpt/sending.ts";
import { verdict } from "../../core/verdict/verdict.ts";
import { validateAgainstSchema } from "../fixtures/xml-schema.ts";
import { ZoneResolver } from "../fixtures/zone-resolver.ts";

const SENDER_IP = "192.0.2.10";
const STRANGER_IP = "203.0.113.5";

describe("the policy record (RFC 9989 §4.7, RFC 7489 §6.2)", () => {
  it("reads tags only from a record that starts with v=DMARC1", () => {
    expect(dmarcTags("v=DMARC1; p=reject; RUA=mailto:a@b.test")).toEqual(
      new Map([
        ["v", "DMARC1"],
        ["p", "reject"],
        ["rua", "mailto:a@b.test"],
      ]),
    );
    expect(dmarcTags("p=reject; v=DMARC1")).toBeNull();
    expect(dmarcTags("v=spf1 -all")).toBeNull();
    expect(dmarcTags("")).toBeNull();
  });

  it("reports the published policy with the defaults filled in", () => {
    expect(policyPublished("example.com", "v=DMARC1; p=Quarantine; rua=mailto:d@example.com")).toEqual({
      domain: "example.com",
      discoveryMethod: "treewalk",
      p: "quarantine",
      sp: "quarantine",
      np: "quarantine",
      adkim: "r",
      aspf: "r",
      fo: "0",
      testing: "n",
    });
    expect(policyPublished("example.com", "v=DMARC1; p=reject; sp=none; np=quarantine; adkim=s; aspf=s; fo=1; t=y")).toMatchObject({
      p: "reject",
      sp: "none",
      np: "quarantine",
      adkim: "s",
      aspf: "s",
      fo: "1",
      testing: "y",
    });
    // RFC 9989 §4.10.1: a record with reports but no valid p is applied as p=none.
    expect(policyPublished("example.com", "v=DMARC1; p=block; rua=mailto:d@example.com").p).toBe("none");
  });

  it("takes mailto: destinations with their size limits in powers of two, and leaves the rest out", () => {
    expect(parseReportUri("mailto:dmarc@Example.COM!10m")).toEqual({
      uri: "mailto:dmarc@Example.COM",
      address: "dmarc@example.com",
      host: "example.com",
      maxBytes: 10 * 2 ** 20,
    });
    expect(parseReportUri(" mailto:d@example.com!512 ")?.maxBytes).toBe(512);
    expect(parseReportUri("mailto:d@example.com!1k")?.maxBytes).toBe(1024);
    expect(parseReportUri("mailto:d@example.com!2G")?.maxBytes).toBe(2 * 2 ** 30);
    expect(parseReportUri("mailto:d%2Breports@example.com?subject=hi")).toMatchObject({ address: "d+reports@example.com", maxBytes: null });
    expect(parseReportUri("https://example.com/dmarc")).toBeNull();
    expect(parseReportUri("mailto:not-an-address")).toBeNull();
    expect(parseReportUri("mailto:%zz@example.com")).toBeNull();
    expect(reportUris("v=DMARC1; p=none; rua=mailto:a@one.test!1m, https://x.test/, mailto:b@two.test").map((uri) => uri.address)).toEqual([
      "a@one.test",
      "b@two.test",
    ]);
    const many = Array.from({ length: 9 }, (_, i) => `mailto:r${i}@example.com`).join(",");
    expect(reportUris(`v=DMARC1; p=none; rua=${many}`)).toHaveLength(5);
    expect(reportUris("v=DMARC1; p=none")).toEqual([]);
  });
});

/** An authentication outcome for a message from sender.test, failing or passing as asked. */
function auth(overrides: Partial<AuthOutcome["dmarc"]> = {}, rest: Partial<EvaluationInput["auth"]> = {}): EvaluationInput["auth"] {
  return {
    dmarc: {
      result: "fail",
      authorDomain: "sender.test",
      policy: "reject",
      pct: 100,
      disposition: { applied: "reject" },
      policyRecord: { domain: "sender.test", record: "v=DMARC1; p=reject; rua=mailto:d@sender.test", testing: false, spfAligned: false },
      ...overrides,
    },
    dkim: [],
    spf: { mailFrom: { result: "fail", domain: "Sender.TEST" } },
    ...rest,
  };
}

const envelope = { clientIp: STRANGER_IP, mailFrom: "bob@Sender.test" };

describe("the evaluation the judge records (core/dmarcrpt/evaluation.ts)", () => {
  it("records a failing message with the disposition applied, the identifiers and the raw results", () => {
    expect(dmarcEvaluation({ auth: auth(), envelope, relaxed: false })).toEqual({
      policyDomain: "sender.test",
      record: "v=DMARC1; p=reject; rua=mailto:d@sender.test",
      sourceIp: STRANGER_IP,
      headerFrom: "sender.test",
      envelopeFrom: "sender.test",
      disposition: "reject",
      dkim: "fail",
      spf: "fail",
      reasons: [],
      dkimResults: [],
      spfResult: { domain: "sender.test", result: "fail" },
    });
  });

  it('says "pass" for passing mail under an enforcing policy, "none" under p=none', () => {
    const passing = { result: "pass", disposition: { applied: "none" as const } };
    expect(dmarcEvaluation({ auth: auth(passing), envelope, relaxed: false })?.disposition).toBe("pass");
    expect(dmarcEvaluation({ auth: auth({ ...passing, policy: "none" }), envelope, relaxed: false })?.disposition).toBe("none");
    expect(dmarcEvaluation({ auth: auth({ ...passing, policy: "none" }), envelope, relaxed: false })?.reasons).toEqual([]);
  });

  it("gives the override reason when what was done is not what the domain asked for", () => {
    const reasons = (dmarc: Partial<AuthOutcome["dmarc"]>, relaxed = false, arcOverride?: string) =>
      dmarcEvaluation({ auth: auth(dmarc, arcOverride ? { arcOverride } : {}), envelope, relaxed });
    expect(reasons({}, true)).toMatchObject({ disposition: "none", reasons: [{ type: "local_policy" }] });
    expect(reasons({ disposition: { applied: "none", reason: "trusted_forwarder" } }, false, "lists.test")).toMatchObject({
      disposition: "none",
      reasons: [{ type: "trusted_forwarder", comment: "ARC chain sealed by lists.test" }],
    });
    expect(reasons({ disposition: { applied: "none", reason: "local_policy" } })?.reasons).toEqual([
      { type: "local_policy", comment: "this receiver does not enforce DMARC policies" },
    ]);
    expect(reasons({ pct: 20, disposition: { applied: "quarantine", reason: "sampled_out" } })).toMatchObject({
      disposition: "quarantine",
      reasons: [{ type: "other", comment: "sampled out by pct=20" }],
    });
    const testing = (record: string) => ({
      policy: "quarantine" as const,
      disposition: { applied: "quarantine" as const },
      policyRecord: { domain: "sender.test", record, testing: true, spfAligned: false },
    });
    expect(reasons(testing("v=DMARC1; p=reject; t=y"))?.reasons).toEqual([{ type: "policy_test_mode" }]);
    // t=y under p=none lowered nothing: no reason to give.
    expect(reasons({ ...testing("v=DMARC1; p=none; t=y"), policy: "none", disposition: { applied: "none" } })?.reasons).toEqual([]);
  });

  it("lists DKIM signatures aligned ones first, at most 100, and records a null sender's empty envelope_from", () => {
    const check = (domain: string, result: string, aligned: boolean) => ({ result, domain, selector: "s", algorithm: "rsa-sha256", aligned });
    const dkim = [
      check("other.test", "fail", false),
      check("esp.test", "pass", false),
      check("mail.sender.test", "pass", true),
      check("sender.test", "pass", true),
    ];
    const evaluation = dmarcEvaluation({ auth: auth({ result: "pass" }, { dkim }), envelope: { clientIp: SENDER_IP, mailFrom: "" }, relaxed: false });
    expect(evaluation?.dkimResults.map((d) => d.domain)).toEqual(["sender.test", "mail.sender.test", "esp.test", "other.test"]);
    expect(evaluation).toMatchObject({ dkim: "pass", envelopeFrom: "" });
    const flood = Array.from({ length: 150 }, (_, i) => check(`d${i}.test`, "fail", false));
    expect(dmarcEvaluation({ auth: auth({}, { dkim: flood }), envelope, relaxed: false })?.dkimResults).toHaveLength(MAX_DKIM_RESULTS);
  });

  it("records nothing without a policy record, a pass or fail, or the client's address", () => {
    expect(dmarcEvaluation({ auth: auth({ result: "temperror" }), envelope, relaxed: false })).toBeUndefined();
    expect(dmarcEvaluation({ auth: auth({ result: "none", policyRecord: undefined }), envelope, relaxed: false })).toBeUndefined();
    expect(dmarcEvaluation({ auth: auth(), envelope: { mailFrom: "bob@sender.test" }, relaxed: false })).toBeUndefined();
  });

  it("accepts only the evaluation's shape from elsewhere (the verdict API)", () => {
    const evaluation = dmarcEvaluation({ auth: auth(), envelope, relaxed: false })!;
    expect(dmarcEvaluationOf(JSON.parse(JSON.stringify(evaluation)))).toEqual(evaluation);
    expect(dmarcEvaluationOf({ ...evaluation, disposition: "deliver" })).toBeUndefined();
    expect(dmarcEvaluationOf({ ...evaluation, sourceIp: "not an address" })).toBeUndefined();
    expect(dmarcEvaluationOf({ ...evaluation, extra: 1 })).toBeUndefined();
  });
});

describe("the verdict carries the evaluation", () => {
  const zone = () =>
    new ZoneResolver().txt("sender.test", `v=spf1 ip4:${SENDER_IP} -all`).txt("_dmarc.sender.test", "v=DMARC1; p=reject; rua=mailto:dmarc@reports.test!1m");
  const config = (relax = false) =>
    parseConfig({
      hostname: "mx.example.org",
      domains: [{ name: "example.org", mx: ["mx.example.org"], mailboxes: ["alice"] }],
      ...(relax ? { roles: { alice: { relax: ["dmarc", "spf"] } } } : {}),
    });
  const raw = (from: string) =>
    new TextEncoder().encode(
      [
        `From: <${from}>`,
        "To: <alice@example.org>",
        "Subject: hi",
        "Date: Mon, 1 Jan 2024 10:00:00 +0000",
        "Message-ID: <1@sender.test>",
        "",
        "Hello",
        "",
      ].join("\r\n"),
    );
  const judge = (clientIp: string, relax = false) =>
    verdict(raw("bob@sender.test"), { clientIp, mailFrom: "bob@sender.test", rcptTo: ["alice@example.org"], direction: "inbound" }, config(relax), zone());

  it("on accepted mail that passed, on rejected mail that failed, and as relaxed for a role mailbox", async () => {
    const passed = await judge(SENDER_IP);
    expect(passed.action).toBe("accept");
    expect(passed.dmarc).toMatchObject({ policyDomain: "sender.test", sourceIp: SENDER_IP, disposition: "pass", spf: "pass", dkim: "fail" });
    expect(passed.dmarc?.record).toBe("v=DMARC1; p=reject; rua=mailto:dmarc@reports.test!1m");

    const failed = await judge(STRANGER_IP);
    expect(failed).toMatchObject({ action: "reject", reason: "dmarc" });
    expect(failed.dmarc).toMatchObject({ disposition: "reject", spf: "fail", spfResult: { domain: "sender.test", result: "fail" } });

    const relaxed = await judge(STRANGER_IP, true);
    expect(relaxed.action).toBe("accept");
    expect(relaxed.dmarc).toMatchObject({ disposition: "none", reasons: [{ type: "local_policy" }] });
  });

  it("not on submitted mail, which is not judged by DMARC", async () => {
    const outbound = await verdict(raw("bob@sender.test"), { mailFrom: "bob@sender.test", rcptTo: ["x@sender.test"], direction: "outbound" }, config(), zone());
    expect(outbound.dmarc).toBeUndefined();
  });
});

describe("external destinations (RFC 7489 §7.1)", () => {
  const zone = () =>
    new ZoneResolver()
      .txt("_dmarc.example.com", "v=DMARC1; p=reject")
      .txt("example.com._report._dmarc.reports.test", "v=DMARC1")
      .txt("example.com._report._dmarc.override.test", "v=DMARC1; rua=mailto:other@override.test!2k")
      .txt("example.com._report._dmarc.elsewhere.test", "v=DMARC1; rua=mailto:x@evil.test")
      .txt("example.com._report._dmarc.notdmarc.test", "v=spf1 -all")
      .fail("example.com._report._dmarc.broken.test", "servfail");
  const check = (rua: string) => {
    const resolver = zone();
    return verifyDestinations("example.com", reportUris(`v=DMARC1; p=reject; rua=${rua}`), resolver, organizationalDomains(resolver));
  };

  it("sends to the policy domain's own Organizational Domain without asking", async () => {
    expect(await check("mailto:d@example.com,mailto:e@sub.example.com")).toEqual({
      destinations: [
        { uri: "mailto:d@example.com", address: "d@example.com", host: "example.com", maxBytes: null },
        { uri: "mailto:e@sub.example.com", address: "e@sub.example.com", host: "sub.example.com", maxBytes: null },
      ],
      refused: [],
      unresolved: [],
    });
  });

  it("sends to another domain only where <domain>._report._dmarc.<host> says v=DMARC1, and takes its override at the same host", async () => {
    const result = await check("mailto:a@reports.test!1m,mailto:b@unasked.test,mailto:c@override.test,mailto:d@elsewhere.test,mailto:e@notdmarc.test");
    expect(result.destinations).toEqual([
      { uri: "mailto:a@reports.test", address: "a@reports.test", host: "reports.test", maxBytes: 2 ** 20 },
      { uri: "mailto:other@override.test", address: "other@override.test", host: "override.test", maxBytes: 2048 },
    ]);
    expect(result.refused).toEqual([
      {
        uri: "mailto:b@unasked.test",
        reason: "unasked.test has not agreed to take reports for example.com (no v=DMARC1 record at example.com._report._dmarc.unasked.test)",
      },
      { uri: "mailto:d@elsewhere.test", reason: "example.com._report._dmarc.elsewhere.test redirects reports to evil.test, another host" },
      {
        uri: "mailto:e@notdmarc.test",
        reason: "notdmarc.test has not agreed to take reports for example.com (no v=DMARC1 record at example.com._report._dmarc.notdmarc.test)",
      },
    ]);
  });

  it("leaves a destination whose lookup failed for the next run", async () => {
    expect(await check("mailto:a@broken.test")).toEqual({
      destinations: [],
      refused: [],
      unresolved: [{ uri: "mailto:a@broken.test", reason: "example.com._report._dmarc.broken.test: the lookup failed (servfail)" }],
    });
  });
});

const DAY = "2026-03-04";

function row(evaluation: Partial<DmarcEvaluation>, count: number): CountedEvaluation {
  const base = dmarcEvaluation({ auth: auth(), envelope, relaxed: false })!;
  const { policyDomain: _domain, record: _record, ...reported } = { ...base, ...evaluation };
  return { evaluation: reported, count };
}

function report(rows: CountedEvaluation[], errors: string[] = []): string {
  return aggregateReportXml({
    day: DAY,
    orgName: "mx.example.org",
    email: "postmaster@example.org",
    reportId: aggregateReportId(DAY, "sender.test", "mx.example.org"),
    policy: policyPublished("sender.test", "v=DMARC1; p=reject; rua=mailto:d@sender.test"),
    rows,
    errors,
  });
}

describe("the report (RFC 9990)", () => {
  const rows = [
    row({ disposition: "pass", spf: "pass", sourceIp: SENDER_IP, spfResult: { domain: "sender.test", result: "pass" } }, 41),
    row(
      {
        sourceIp: "2001:db8::25",
        envelopeFrom: "",
        reasons: [{ type: "trusted_forwarder", comment: "ARC chain sealed by lists.test" }],
        disposition: "none",
        dkimResults: [{ domain: "lists.test", selector: "arc", result: "pass" }],
      },
      2,
    ),
    row({}, 1),
  ];

  it("is valid against the schema of RFC 9990 (xmllint), which refuses what breaks it", () => {
    const xml = report(rows, ["mailto:x@unasked.test: not agreed & not sent"]);
    expect(validateAgainstSchema(xml)).toEqual({ valid: true, output: "- validates" });
    expect(xml).toContain(`<feedback xmlns="${DMARC_NAMESPACE}">`);
    // The check can fail: RFC 7489's form without the namespace, an element out of order, a value not allowed.
    expect(validateAgainstSchema(xml.replace(` xmlns="${DMARC_NAMESPACE}"`, "")).valid).toBe(false);
    expect(validateAgainstSchema(xml.replace(/<dkim>fail<\/dkim>\s*<spf>fail<\/spf>/, "<spf>fail</spf><dkim>fail</dkim>")).valid).toBe(false);
    expect(validateAgainstSchema(xml.replace("<disposition>reject</disposition>", "<disposition>Reject</disposition>")).valid).toBe(false);
  });

  it("reads back through our own intake's parser with every fact", () => {
    const parsed = parseAggregateReport(new TextEncoder().encode(report(rows, ["one", "two"])));
    if (!parsed.ok) throw new Error(parsed.reason);
    const { begin, end, reportId, orgName, email, errors, policy, records, version } = parsed.report;
    expect({ version, orgName, email, reportId, begin, end, errors }).toEqual({
      version: "1.0",
      orgName: "mx.example.org",
      email: "postmaster@example.org",
      reportId: "2026-03-04_sender.test@mx.example.org",
      begin: Date.parse("2026-03-04T00:00:00Z") / 1000,
      end: Date.parse("2026-03-04T23:59:59Z") / 1000,
      errors: ["one; two"],
    });
    expect(policy).toEqual({
      domain: "sender.test",
      p: "reject",
      sp: "reject",
      np: "reject",
      adkim: "r",
      aspf: "r",
      pct: null,
      fo: "0",
      testing: "n",
      discoveryMethod: "treewalk",
    });
    expect(records).toEqual([
      {
        sourceIp: SENDER_IP,
        count: 41,
        disposition: "pass",
        dkim: "fail",
        spf: "pass",
        reasons: [],
        headerFrom: "sender.test",
        envelopeFrom: "sender.test",
        envelopeTo: null,
        dkimResults: [],
        spfResults: [{ domain: "sender.test", scope: "mfrom", result: "pass", humanResult: null }],
      },
      {
        sourceIp: "2001:db8::25",
        count: 2,
        disposition: "none",
        dkim: "fail",
        spf: "fail",
        reasons: [{ type: "trusted_forwarder", comment: "ARC chain sealed by lists.test" }],
        headerFrom: "sender.test",
        envelopeFrom: null,
        envelopeTo: null,
        dkimResults: [{ domain: "lists.test", selector: "arc", result: "pass", humanResult: null }],
        spfResults: [{ domain: "sender.test", scope: "mfrom", result: "fail", humanResult: null }],
      },
      expect.objectContaining({ sourceIp: STRANGER_IP, count: 1, disposition: "reject" }),
    ]);
  });

  it("replaces characters XML cannot hold instead of writing a document nobody can read", () => {
    const xml = report([row({ dkimResults: [{ domain: "x.test", selector: "s\u0001\u0000", result: "fail" }] }, 1)]);
    expect(validateAgainstSchema(xml).valid).toBe(true);
    expect(xml).toContain("<selector>s\ufffd\ufffd</selector>");
  });

  it("travels gzipped as application/gzip in a message with the Subject and file name RFC 9990 prescribes", async () => {
    const xml = report(rows);
    const reportId = aggregateReportId(DAY, "sender.test", "mx.example.org");
    const message = aggregateReportMessage({
      xml,
      policyDomain: "sender.test",
      day: DAY,
      reportId,
      submitter: "mx.example.org",
      from: "postmaster@example.org",
      to: "dmarc@reports.test",
      now: new Date(),
    });
    expect(message.includes("\r\n")).toBe(true);
    const parsed = await PostalMime.parse(message.toString("latin1"));
    expect(parsed.subject).toBe(`Report Domain: sender.test Submitter: mx.example.org Report-ID: <${reportId}>`);
    expect(parsed.from?.address).toBe("postmaster@example.org");
    expect(parsed.to?.map((to) => to.address)).toEqual(["dmarc@reports.test"]);
    const attachment = parsed.attachments.find((a) => a.mimeType === "application/gzip")!;
    expect(attachment.filename).toBe(aggregateReportFilename("mx.example.org", "sender.test", DAY));
    expect(attachment.filename).toBe("mx.example.org!sender.test!1772582400!1772668799.xml.gz");
    expect(gunzipSync(Buffer.from(attachment.content as ArrayBuffer)).toString("utf8")).toBe(xml);
  });
});
