// Validating an SMTP TLS report (RFC 8460 §4) sent to us: the typed report, or every problem found
// with the JSON path where it is. Pure: the HTTP endpoint (http/tlsrpt.ts) reads, inflates and keeps.
// Fields this version does not know are dropped (RFC 8460 §4.4 lets reports grow).

/** The decoded report is refused above this many characters (a day's report is a few kilobytes). */
export const MAX_REPORT_CHARS = 1024 * 1024;
export const MAX_POLICIES = 100;
/** Across all policies of one report. */
export const MAX_FAILURE_DETAILS = 1000;
const MAX_LIST_ENTRIES = 100;
const MAX_STRING_CHARS = 2048;
const MAX_PROBLEMS = 50;

export const POLICY_TYPES = ["tlsa", "sts", "no-policy-found"] as const;
export type TlsRptPolicyType = (typeof POLICY_TYPES)[number];

/** RFC 8460 §4.3: the negotiation failures (§4.3.1) and the DANE and MTA-STS policy failures (§4.3.2). */
export const RESULT_TYPES = [
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
] as const;
export type TlsRptResultType = (typeof RESULT_TYPES)[number];

export interface TlsRptFailureDetail {
  "result-type": TlsRptResultType;
  "sending-mta-ip": string;
  "receiving-mx-hostname": string;
  "receiving-mx-helo"?: string;
  "receiving-ip"?: string;
  "failed-session-count": number;
  "additional-information"?: string;
  "failure-reason-code"?: string;
}

export interface TlsRptPolicyResult {
  policy: {
    "policy-type": TlsRptPolicyType;
    "policy-string"?: string[];
    "policy-domain": string;
    "mx-host"?: string[];
  };
  summary: { "total-successful-session-count": number; "total-failure-session-count": number };
  "failure-details"?: TlsRptFailureDetail[];
}

/** RFC 8460 §4.4: the report as sent, with its member names. */
export interface TlsRptReport {
  "organization-name": string;
  "date-range": { "start-datetime": string; "end-datetime": string };
  "contact-info": string;
  "report-id": string;
  policies: TlsRptPolicyResult[];
}

export type TlsRptValidation = { ok: true; report: TlsRptReport } | { ok: false; problems: string[] };

type JsonObject = Record<string, unknown>;

/** A JSON path: `$.policies[0].policy['policy-type']`. */
function pathOf(parent: string, key: string | number): string {
  if (typeof key === "number") return `${parent}[${key}]`;
  return /^[A-Za-z_][A-Za-z0-9_]*$/.test(key) ? `${parent}.${key}` : `${parent}['${key}']`;
}

const isObject = (value: unknown): value is JsonObject => typeof value === "object" && value !== null && !Array.isArray(value);

// RFC 3339 §5.6 date-time.
const DATE_TIME = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;
const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

/** An IPv4 dotted quad or an RFC 4291 §2.2 IPv6 text form (the URL parser knows the IPv6 grammar). */
function isIpAddress(text: string): boolean {
  if (IPV4.test(text)) return true;
  if (!text.includes(":") || !/^[0-9A-Fa-f:.]+$/.test(text)) return false;
  return URL.canParse(`http://[${text}]/`);
}

/** Collects problems up to a bound and reads typed members of JSON objects. */
class Reader {
  readonly problems: string[] = [];

  problem(path: string, message: string): void {
    if (this.problems.length < MAX_PROBLEMS) this.problems.push(`${path}: ${message}`);
  }

  object(parent: JsonObject, key: string, path: string): JsonObject | undefined {
    const value = parent[key];
    if (isObject(value)) return value;
    this.problem(pathOf(path, key), value === undefined ? "required object missing" : "expected an object");
    return undefined;
  }

  string(parent: JsonObject, key: string, path: string, required: boolean): string | undefined {
    const value = parent[key];
    const at = pathOf(path, key);
    if (value === undefined) {
      if (required) this.problem(at, "required string missing");
      return undefined;
    }
    if (typeof value !== "string") this.problem(at, "expected a string");
    else if (value.length > MAX_STRING_CHARS) this.problem(at, `longer than ${MAX_STRING_CHARS} characters`);
    else if (required && value.trim() === "") this.problem(at, "empty");
    else return value;
    return undefined;
  }

  count(parent: JsonObject, key: string, path: string): number | undefined {
    const value = parent[key];
    if (typeof value === "number" && Number.isSafeInteger(value) && value >= 0) return value;
    this.problem(pathOf(path, key), value === undefined ? "required count missing" : "expected a non-negative integer");
    return undefined;
  }

  oneOf<T extends string>(parent: JsonObject, key: string, path: string, allowed: readonly T[]): T | undefined {
    const value = this.string(parent, key, path, true);
    if (value === undefined) return undefined;
    if ((allowed as readonly string[]).includes(value)) return value as T;
    this.problem(pathOf(path, key), `expected one of ${allowed.join(", ")}; got ${JSON.stringify(value.slice(0, 64))}`);
    return undefined;
  }

  stringList(parent: JsonObject, key: string, path: string): string[] | undefined {
    const value = parent[key];
    const at = pathOf(path, key);
    if (value === undefined) return undefined;
    if (!Array.isArray(value)) return void this.problem(at, "expected an array of strings");
    if (value.length > MAX_LIST_ENTRIES) return void this.problem(at, `more than ${MAX_LIST_ENTRIES} entries`);
    const out: string[] = [];
    value.forEach((entry: unknown, i) => {
      if (typeof entry === "string" && entry.length <= MAX_STRING_CHARS) out.push(entry);
      else this.problem(pathOf(at, i), `expected a string of at most ${MAX_STRING_CHARS} characters`);
    });
    return out;
  }

  ip(parent: JsonObject, key: string, path: string, required: boolean): string | undefined {
    const value = this.string(parent, key, path, required);
    if (value === undefined || isIpAddress(value)) return value;
    this.problem(pathOf(path, key), `not an IP address: ${JSON.stringify(value.slice(0, 64))}`);
    return undefined;
  }

  dateTime(parent: JsonObject, key: string, path: string): string | undefined {
    const value = this.string(parent, key, path, true);
    if (value === undefined || (DATE_TIME.test(value) && Number.isFinite(Date.parse(value)))) return value;
    this.problem(pathOf(path, key), `not an RFC 3339 date-time: ${JSON.stringify(value.slice(0, 64))}`);
    return undefined;
  }
}

/** Adds the optional members that are present, so the typed report has no `undefined` members. */
function withOptional<T extends object>(base: T, optional: Record<string, unknown>): T {
  const out = { ...base } as Record<string, unknown>;
  for (const [key, value] of Object.entries(optional)) if (value !== undefined) out[key] = value;
  return out as T;
}

function readFailureDetail(r: Reader, detail: JsonObject, path: string): TlsRptFailureDetail | undefined {
  const fields = {
    "result-type": r.oneOf(detail, "result-type", path, RESULT_TYPES),
    "sending-mta-ip": r.ip(detail, "sending-mta-ip", path, true),
    "receiving-mx-hostname": r.string(detail, "receiving-mx-hostname", path, true),
    "failed-session-count": r.count(detail, "failed-session-count", path),
  };
  const optional = {
    "receiving-mx-helo": r.string(detail, "receiving-mx-helo", path, false),
    "receiving-ip": r.ip(detail, "receiving-ip", path, false),
    "additional-information": r.string(detail, "additional-information", path, false),
    "failure-reason-code": r.string(detail, "failure-reason-code", path, false),
  };
  const [type, ip, host, count] = [fields["result-type"], fields["sending-mta-ip"], fields["receiving-mx-hostname"], fields["failed-session-count"]];
  if (type === undefined || ip === undefined || host === undefined || count === undefined) return undefined;
  return withOptional<TlsRptFailureDetail>(
    { "result-type": type, "sending-mta-ip": ip, "receiving-mx-hostname": host, "failed-session-count": count },
    optional,
  );
}

function readPolicyResult(r: Reader, entry: JsonObject, path: string, budget: { failureDetails: number }): TlsRptPolicyResult | undefined {
  // RFC 8460 §4.4: the policy applied, its summary counts and the failure details.
  const policyPath = pathOf(path, "policy");
  const policy = r.object(entry, "policy", path);
  const type = policy && r.oneOf(policy, "policy-type", policyPath, POLICY_TYPES);
  const domain = policy && r.string(policy, "policy-domain", policyPath, true);
  const policyOptional = policy
    ? {
        "policy-string": r.stringList(policy, "policy-string", policyPath),
        // §4.4 makes mx-host a list, but the RFC's own example (appendix B) sends one string, and
        // reporters copied it: a lone string is read as a list of one.
        "mx-host":
          typeof policy["mx-host"] === "string"
            ? r.stringList({ "mx-host": [policy["mx-host"]] }, "mx-host", policyPath)
            : r.stringList(policy, "mx-host", policyPath),
      }
    : {};

  const summaryPath = pathOf(path, "summary");
  const summary = r.object(entry, "summary", path);
  const successful = summary && r.count(summary, "total-successful-session-count", summaryPath);
  const failed = summary && r.count(summary, "total-failure-session-count", summaryPath);

  const detailsPath = pathOf(path, "failure-details");
  const rawDetails = entry["failure-details"];
  let details: (TlsRptFailureDetail | undefined)[] | undefined;
  if (rawDetails !== undefined && !Array.isArray(rawDetails)) r.problem(detailsPath, "expected an array");
  else if (rawDetails !== undefined) {
    budget.failureDetails -= rawDetails.length;
    if (budget.failureDetails < 0) r.problem(detailsPath, `more than ${MAX_FAILURE_DETAILS} failure details in the report`);
    else
      details = rawDetails.map((detail: unknown, i) => {
        const at = pathOf(detailsPath, i);
        if (isObject(detail)) return readFailureDetail(r, detail, at);
        r.problem(at, "expected an object");
        return undefined;
      });
  }

  if (type === undefined || domain === undefined || successful === undefined || failed === undefined) return undefined;
  if (details?.some((d) => d === undefined)) return undefined;
  return withOptional<TlsRptPolicyResult>(
    {
      policy: withOptional<TlsRptPolicyResult["policy"]>({ "policy-type": type, "policy-domain": domain }, policyOptional),
      summary: { "total-successful-session-count": successful, "total-failure-session-count": failed },
    },
    { "failure-details": details },
  );
}

/** Validates a parsed report value (RFC 8460 §4.4). */
export function validateTlsReport(value: unknown): TlsRptValidation {
  const r = new Reader();
  if (!isObject(value)) return { ok: false, problems: ["$: expected a JSON object (RFC 8460 §4.4)"] };
  const organization = r.string(value, "organization-name", "$", true);
  const rangePath = pathOf("$", "date-range");
  const range = r.object(value, "date-range", "$");
  const start = range && r.dateTime(range, "start-datetime", rangePath);
  const end = range && r.dateTime(range, "end-datetime", rangePath);
  if (start !== undefined && end !== undefined && Date.parse(start) > Date.parse(end)) r.problem(rangePath, "start-datetime is after end-datetime");
  const contact = r.string(value, "contact-info", "$", true);
  const reportId = r.string(value, "report-id", "$", true);

  const rawPolicies = value["policies"];
  let policies: (TlsRptPolicyResult | undefined)[] = [];
  if (!Array.isArray(rawPolicies)) r.problem("$.policies", rawPolicies === undefined ? "required array missing" : "expected an array");
  else if (rawPolicies.length === 0) r.problem("$.policies", "empty; a report covers at least one policy");
  else if (rawPolicies.length > MAX_POLICIES) r.problem("$.policies", `more than ${MAX_POLICIES} policies`);
  else {
    const budget = { failureDetails: MAX_FAILURE_DETAILS };
    policies = rawPolicies.map((entry: unknown, i) => {
      const at = pathOf("$.policies", i);
      if (isObject(entry)) return readPolicyResult(r, entry, at, budget);
      r.problem(at, "expected an object");
      return undefined;
    });
  }

  if (r.problems.length > 0) return { ok: false, problems: r.problems };
  return {
    ok: true,
    report: {
      "organization-name": organization!,
      "date-range": { "start-datetime": start!, "end-datetime": end! },
      "contact-info": contact!,
      "report-id": reportId!,
      policies: policies as TlsRptPolicyResult[],
    },
  };
}

/** Parses and validates the report's JSON text, bounded by MAX_REPORT_CHARS. */
export function parseTlsReport(text: string): TlsRptValidation {
  if (text.length > MAX_REPORT_CHARS) return { ok: false, problems: [`$: longer than ${MAX_REPORT_CHARS} characters`] };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return { ok: false, problems: [`$: not JSON (${err instanceof Error ? err.message : String(err)})`] };
  }
  return validateTlsReport(value);
}
