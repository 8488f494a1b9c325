// The ARC validation suite (ValiMail arc_test_suite) against the judge's own checks (mailauth-checks.ts:
// mailauth's DKIM pass, then its ARC chain validation, RFC 8617 §5.2), with the suite's key records
// as the only DNS. Four keys of "Arc Seal Fields" are duplicated: parsed last-wins (uniqueKeys: false).
import { Buffer } from "node:buffer";
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { mailauthResolver } from "../../core/dns/mailauth.ts";
import { runChecks } from "../../core/authentication/mailauth-checks.ts";
import type { CaseOutcome } from "../fixtures/conformance.ts";
import { conformanceReport } from "../fixtures/conformance.ts";
import { ZoneResolver } from "../fixtures/zone-resolver.ts";
import { CONFORMANCE } from "../fixtures/conformance-suites.ts";

interface ArcCase {
  message: string;
  cv: string | null;
}

interface Scenario {
  description: string;
  tests: Record<string, ArcCase>;
  "txt-records"?: Record<string, string>;
}

function loadSuite(): { name: string; testCase: ArcCase; zone: ZoneResolver }[] {
  const text = readFileSync(new URL("arc/arc-draft-validation-tests.yml", CONFORMANCE), "utf8");
  return parseAllDocuments(text, { uniqueKeys: false }).flatMap((document) => {
    const scenario = document.toJS() as Scenario;
    const zone = new ZoneResolver();
    for (const [name, record] of Object.entries(scenario["txt-records"] ?? {})) zone.txt(name, record);
    return Object.entries(scenario.tests).map(([name, testCase]) => ({ name, testCase, zone }));
  });
}

/**
 * The suite's cv: None, Pass or Fail. Three cases leave it empty; each carries an ARC-Seal with
 * cv=fail, which ends validation with fail (RFC 8617 §5.2 step 2), and mailauth's own run of the
 * suite reads the empty value the same way.
 */
const expectedCv = (cv: string | null): string => (cv ?? "").trim().toLowerCase() || "fail";

async function runCase(name: string, testCase: ArcCase, zone: ZoneResolver): Promise<CaseOutcome> {
  // The suite writes messages with LF line ends; on the wire they are CRLF (RFC 5322 §2.1).
  const message = Buffer.from((testCase.message ?? "").replace(/\r?\n/g, "\r\n"));
  const { arc } = await runChecks(message, { mailFrom: "" }, "mx.example.org", mailauthResolver(zone));
  const got = arc.status.result;
  const expected = expectedCv(testCase.cv);
  return { name, failure: got === expected ? undefined : `got cv=${got}, expected cv=${expected}${arc.status.comment ? ` (${arc.status.comment})` : ""}` };
}

/** Cases the judge's ARC validation does not pass, each with the reason. */
const EXPECTED_FAILURES: Record<string, string> = {
  ams_fields_c_na:
    "the ARC-Message-Signature has no c= tag, which means simple/simple (RFC 6376 §3.5, applied to the AMS by RFC 8617 §4.1.2); " +
    "the suite signed it relaxed/relaxed as a draft default, so the strict verifier finds the signature invalid",
  ams_fields_h_empty:
    "the ARC-Message-Signature signs no header field (h= empty); RFC 6376 §5.4 and §6.1.1, applied to the AMS by RFC 8617 §4.1.2, " +
    "require From to be signed, so the signature is invalid where the draft-era suite expects a pass",
};

describe("ARC conformance (ValiMail validation suite, mailauth)", () => {
  it("ARC validation suite", async () => {
    const cases = loadSuite();
    const outcomes = await Promise.all(cases.map(({ name, testCase, zone }) => runCase(name, testCase, zone)));
    expect(new Set(outcomes.map(({ name }) => name)).size, "case names are unique").toBe(outcomes.length);
    expect(outcomes).toHaveLength(171);
    const report = conformanceReport("ARC validation suite", outcomes, EXPECTED_FAILURES);
    expect(report.unexpectedFailures).toEqual([]);
    expect(report.unexpectedPasses).toEqual([]);
  });
});
