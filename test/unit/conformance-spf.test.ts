// The openspf SPF test suites (RFC 7208 and RFC 4408, as kept by pyspf) against mailauth's SPF, the
// one the judge runs, through our Resolver and mailauth adapter. Each scenario's `zonedata` becomes
// an in-memory DNS with the suite's own rules (pyspf's test driver): SPF-type records double as TXT
// unless the name has TXT records of its own ("TXT: NONE" means none at all), and TIMEOUT makes
// every query that found no record before it time out.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { mailauthResolver } from "../../core/dns/mailauth.ts";
import { SPF_VERIFY_OPTIONS } from "../../core/authentication/mailauth-checks.ts";
import type { RecordType } from "../../core/dns/resolver.ts";
import { checkSpf } from "../../core/mailauth/internals.ts";
import type { CaseOutcome } from "../fixtures/conformance.ts";
import { conformanceReport } from "../fixtures/conformance.ts";
import { ZoneResolver } from "../fixtures/zone-resolver.ts";
import { CONFORMANCE } from "../fixtures/conformance-suites.ts";

type ZoneEntry = "TIMEOUT" | Record<string, unknown>;

interface SpfCase {
  helo: string;
  host: string;
  mailfrom: string;
  result: string | string[];
  explanation?: string;
}

interface Scenario {
  description: string;
  tests: Record<string, SpfCase>;
  zonedata?: Record<string, ZoneEntry[]>;
}

const strings = (value: unknown): string[] => (Array.isArray(value) ? value.map(String) : [String(value)]);

/** The records of one name in the order pyspf's driver yields them, SPF copied to TXT at the end. */
function expandEntries(entries: readonly ZoneEntry[]): ZoneEntry[] {
  let generateTxt = true;
  const generated: ZoneEntry[] = [];
  const out: ZoneEntry[] = [];
  for (const entry of entries) {
    if (entry === "TIMEOUT") {
      out.push(entry);
      continue;
    }
    for (const [type, value] of Object.entries(entry)) {
      if (type === "TXT") generateTxt = false;
      else if (type === "SPF" && generateTxt) generated.push({ TXT: value });
      if (value !== "NONE") out.push({ [type]: value });
    }
  }
  return generateTxt ? [...out, ...generated] : out;
}

const QUERY_TYPES: readonly RecordType[] = ["A", "AAAA", "MX", "PTR", "TXT", "CNAME"];

/** One name's answers per type: its records up to a TIMEOUT; a type with none before it times out. */
function addName(zone: ZoneResolver, name: string, entries: readonly ZoneEntry[]): void {
  zone.exists(name);
  for (const type of QUERY_TYPES) {
    for (const entry of expandEntries(entries)) {
      if (entry === "TIMEOUT") {
        if (!zone.has(name, type)) zone.fail(name, "timeout", type);
        break;
      }
      const value = entry[type];
      if (value === undefined) continue;
      if (type === "TXT") zone.add(name, "TXT", strings(value));
      else if (type === "MX") zone.add(name, "MX", { preference: Number(strings(value)[0]), exchange: strings(value)[1] ?? "" });
      else if (type === "AAAA") for (const address of strings(value)) zone.add(name, "AAAA", address.toLowerCase());
      else if (type === "A" || type === "PTR" || type === "CNAME") for (const target of strings(value)) zone.add(name, type, target);
    }
  }
}

function zoneOf(zonedata: Scenario["zonedata"]): ZoneResolver {
  const zone = new ZoneResolver();
  for (const [name, entries] of Object.entries(zonedata ?? {})) addName(zone, name, entries);
  return zone;
}

function loadSuite(file: string): { name: string; testCase: SpfCase; zone: ZoneResolver }[] {
  const text = readFileSync(new URL(`spf/${file}`, CONFORMANCE), "utf8");
  return parseAllDocuments(text).flatMap((document) => {
    const scenario = document.toJS() as Scenario;
    const zone = zoneOf(scenario.zonedata);
    return Object.entries(scenario.tests).map(([name, testCase]) => ({ name, testCase, zone }));
  });
}

async function runCase(name: string, testCase: SpfCase, zone: ZoneResolver): Promise<CaseOutcome> {
  const result = await checkSpf({
    ip: testCase.host,
    helo: testCase.helo,
    sender: testCase.mailfrom,
    mta: "mx.example.org",
    resolver: mailauthResolver(zone),
    ...SPF_VERIFY_OPTIONS,
  });
  const acceptable = strings(testCase.result);
  const got = result.status.result;
  if (!acceptable.includes(got)) return { name, failure: `got ${got}, expected ${acceptable.join(" or ")}` };
  // The explanation (RFC 7208 §6.2) is checked where the suite gives one and the result is fail;
  // "DEFAULT" means the receiver's own, i.e. no explanation from the domain.
  const explanation = testCase.explanation === "DEFAULT" ? undefined : testCase.explanation;
  if (got === "fail" && testCase.explanation !== undefined && result.explanation !== explanation) {
    return { name, failure: `explanation ${JSON.stringify(result.explanation)}, expected ${JSON.stringify(testCase.explanation)}` };
  }
  return { name, failure: undefined };
}

async function runSuite(file: string): Promise<CaseOutcome[]> {
  const cases = loadSuite(file);
  const names = cases.map(({ name }) => name);
  expect(new Set(names).size, "case names are unique").toBe(names.length);
  return Promise.all(cases.map(({ name, testCase, zone }) => runCase(name, testCase, zone)));
}

const IPV6_NIBBLE_CASE =
  "the result (fail) is right, only the explanation text differs: mailauth expands the nibbles of an IPv6 %{i} in lower case, " +
  "the suite expects upper case as in the example of RFC 7208 §7.4; DNS names compare case-insensitively (RFC 4343 §3), so no lookup differs";

/** Cases of the RFC 7208 suite mailauth does not pass, each with the reason. */
const RFC7208_EXPECTED_FAILURES: Record<string, string> = {
  "v-macro-ip6": IPV6_NIBBLE_CASE,
};

/** Cases of the RFC 4408 suite mailauth does not pass, each with the reason. */
const RFC4408_EXPECTED_FAILURES: Record<string, string> = {
  "v-macro-ip6": IPV6_NIBBLE_CASE,
};

describe("SPF conformance (openspf suites, mailauth)", () => {
  it("RFC 7208 suite", async () => {
    const outcomes = await runSuite("rfc7208-tests.yml");
    expect(outcomes).toHaveLength(203);
    const report = conformanceReport("SPF RFC 7208 suite", outcomes, RFC7208_EXPECTED_FAILURES);
    expect(report.unexpectedFailures).toEqual([]);
    expect(report.unexpectedPasses).toEqual([]);
  });

  it("RFC 4408 suite", async () => {
    const outcomes = await runSuite("rfc4408-tests.yml");
    expect(outcomes).toHaveLength(191);
    const report = conformanceReport("SPF RFC 4408 suite", outcomes, RFC4408_EXPECTED_FAILURES);
    expect(report.unexpectedFailures).toEqual([]);
    expect(report.unexpectedPasses).toEqual([]);
  });
});
