// The TLS report validator (RFC 8460 §4) over the TLS-RPT samples of stalwartlabs/mail-auth
// (../shared/conformance/reports/tlsrpt/, read in place), and over reports broken on purpose.
import { readdirSync, readFileSync } from "node:fs";
import { gunzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { TLSRPT_SCHEMA } from "../../workers/src/reports/tlsrpt-schema.ts";
import { MAX_FAILURE_DETAILS, MAX_POLICIES, MAX_REPORT_CHARS, parseTlsReport, validateTlsReport } from "../../core/tlsrpt/report.ts";
import { conformanceFile } from "../fixtures/conformance-suites.ts";

const SAMPLES = conformanceFile("reports/tlsrpt/");
const sample = (name: string): string => readFileSync(new URL(name, SAMPLES), "utf8");

/** Samples our validator refuses, with the reason: the test asserts exactly these problems. */
const KNOWN_INVALID: Record<string, { reason: string; problems: string[] }> = {
  "rpt03.json": {
    reason:
      "mail-auth's parser is lenient: it keeps an unknown policy-type and reads absent policy-domain and counts as empty/0; " +
      "RFC 8460 §4.4 names the three policy types and requires the policy-domain and both summary counts",
    problems: [
      "$.policies[0].policy['policy-domain']: required string missing",
      "$.policies[0].summary['total-failure-session-count']: required count missing",
      `$.policies[1].policy['policy-type']: expected one of tlsa, sts, no-policy-found; got "invalid-policy-type"`,
      "$.policies[1].policy['policy-domain']: required string missing",
      "$.policies[1].summary['total-failure-session-count']: required count missing",
    ],
  },
};

/** The report attachment of a multipart/report message (RFC 8460 §5.3), gunzipped when it is +gzip. */
function reportOfMessage(eml: string): string {
  const boundary = /boundary="([^"]+)"/.exec(eml)?.[1];
  if (!boundary) throw new Error("no MIME boundary");
  const part = eml.split(`--${boundary}`).find((p) => /^Content-Type:\s*application\/tlsrpt/im.test(p));
  if (!part) throw new Error("no application/tlsrpt part");
  const [head, ...rest] = part.split(/\r?\n\r?\n/);
  const body = rest.join("\n\n");
  if (/Content-Transfer-Encoding:\s*base64/i.test(head!)) {
    const bytes = Buffer.from(body.replace(/\s+/g, ""), "base64");
    return (/application\/tlsrpt\+gzip/i.test(head!) ? gunzipSync(bytes) : bytes).toString("utf8");
  }
  return body;
}

/** A report's JSON as the variants below edit it: RFC 8460 §4.4's members, typed loosely enough to hold the wrong values they put in. */
type ReportJson = { "organization-name"?: string; "date-range": Record<string, string>; policies: PolicyJson[] };
type PolicyJson = { policy: Record<string, unknown>; summary: Record<string, number>; "failure-details": Record<string, string>[] };

const VALID_REPORT = JSON.parse(sample("rpt01.json")) as ReportJson;

describe("TLS-RPT samples (stalwartlabs/mail-auth)", () => {
  const files = readdirSync(SAMPLES).sort();

  it("has the samples this test expects", () => {
    expect(files).toEqual(["rpt01.eml", "rpt01.json", "rpt02.eml", "rpt02.json", "rpt03.json"]);
  });

  for (const file of files.filter((f) => f.endsWith(".json"))) {
    const known = KNOWN_INVALID[file];
    it(`${file}: ${known ? `refused (${known.reason})` : "valid, parsed as the sample"}`, () => {
      const result = parseTlsReport(sample(file));
      if (known) expect(result).toEqual({ ok: false, problems: known.problems });
      else expect(result).toEqual({ ok: true, report: JSON.parse(sample(file)) as unknown });
    });
  }

  for (const file of files.filter((f) => f.endsWith(".eml"))) {
    it(`${file}: the attached report parses as ${file.replace(".eml", ".json")}`, () => {
      const result = parseTlsReport(reportOfMessage(sample(file)));
      expect(result).toEqual({ ok: true, report: JSON.parse(sample(file.replace(".eml", ".json"))) as unknown });
    });
  }
});

/** rpt01.json with `change` applied to a deep copy; the changes break its shape on purpose. */
function variant(change: (report: ReportJson) => void): unknown {
  const copy = structuredClone(VALID_REPORT);
  change(copy);
  return copy;
}

describe("TLS report validation (RFC 8460 §4.4)", () => {
  it("names every problem with its JSON path", () => {
    const result = validateTlsReport(
      variant((r) => {
        delete r["organization-name"];
        r["date-range"]["end-datetime"] = "yesterday";
        r.policies[0]!.policy["policy-type"] = "dane";
        r.policies[0]!.summary["total-successful-session-count"] = -1;
        r.policies[0]!["failure-details"][0]!["result-type"] = "bad-luck";
        r.policies[0]!["failure-details"][1]!["sending-mta-ip"] = "300.1.1.1";
        r.policies[0]!["failure-details"][2]!["receiving-ip"] = "2001:db8::g";
      }),
    );
    expect(result).toEqual({
      ok: false,
      problems: [
        "$['organization-name']: required string missing",
        `$['date-range']['end-datetime']: not an RFC 3339 date-time: "yesterday"`,
        `$.policies[0].policy['policy-type']: expected one of tlsa, sts, no-policy-found; got "dane"`,
        "$.policies[0].summary['total-successful-session-count']: expected a non-negative integer",
        `$.policies[0]['failure-details'][0]['result-type']: expected one of ${[
          "starttls-not-supported",
          "certificate-host-mismatch",
          "certificate-not-trusted",
          "certificate-expired",
          "validation-failure",
          "tlsa-invalid",
          "dnssec-invalid",
          "dane-required",
          "sts-policy-fetch-error",
          "sts-policy-invalid",
          "sts-webpki-invalid",
        ].join(", ")}; got "bad-luck"`,
        `$.policies[0]['failure-details'][1]['sending-mta-ip']: not an IP address: "300.1.1.1"`,
        `$.policies[0]['failure-details'][2]['receiving-ip']: not an IP address: "2001:db8::g"`,
      ],
    });
  });

  it("refuses a date range that ends before it starts, and a report without policies", () => {
    const result = validateTlsReport(
      variant((r) => {
        r["date-range"]["start-datetime"] = "2016-04-02T00:00:00Z";
        r.policies = [];
      }),
    );
    expect(result).toEqual({
      ok: false,
      problems: ["$['date-range']: start-datetime is after end-datetime", "$.policies: empty; a report covers at least one policy"],
    });
  });

  it("drops members it does not know and keeps the optional ones that are there", () => {
    const result = validateTlsReport(variant((r) => (r.policies[0]!.policy.extension = "x")));
    expect(result).toEqual({ ok: true, report: VALID_REPORT });
  });

  it("is bounded: size, policies and failure details", () => {
    expect(parseTlsReport(" ".repeat(MAX_REPORT_CHARS + 1))).toEqual({ ok: false, problems: [`$: longer than ${MAX_REPORT_CHARS} characters`] });
    const policy = VALID_REPORT.policies[0]!;
    expect(validateTlsReport(variant((r) => (r.policies = new Array<PolicyJson>(MAX_POLICIES + 1).fill(policy))))).toEqual({
      ok: false,
      problems: [`$.policies: more than ${MAX_POLICIES} policies`],
    });
    const detail = policy["failure-details"][0]!;
    const result = validateTlsReport(
      variant((r) => {
        r.policies = [policy, structuredClone(policy)];
        r.policies[1]!["failure-details"] = new Array<Record<string, string>>(MAX_FAILURE_DETAILS).fill(detail);
      }),
    );
    expect(result).toEqual({ ok: false, problems: [`$.policies[1]['failure-details']: more than ${MAX_FAILURE_DETAILS} failure details in the report`] });
  });

  it("refuses what is not a JSON object", () => {
    expect(parseTlsReport("{")).toMatchObject({ ok: false, problems: [expect.stringMatching(/^\$: not JSON/)] });
    expect(parseTlsReport("[]")).toEqual({ ok: false, problems: ["$: expected a JSON object (RFC 8460 §4.4)"] });
  });
});

describe("TLS report storage schema", () => {
  it("migrations/0001_tlsrpt.sql holds the statements the Worker runs on first use", () => {
    const migration = readFileSync(new URL("../../migrations/0001_tlsrpt.sql", import.meta.url), "utf8");
    const statements = migration
      .replace(/^--.*\n/gm, "")
      .split(";")
      .map((s) => s.trim())
      .filter((s) => s !== "");
    expect(statements).toEqual(TLSRPT_SCHEMA);
  });
});
