// Receiving SMTP TLS reports over HTTPS (RFC 8460 §3, §5.3): a sender whose `rua` is
// https://<our domain>/.well-known/tlsrpt POSTs one report as application/tlsrpt+gzip or
// application/tlsrpt+json. It is validated (core/tlsrpt/report.ts), must be about our domains,
// and is kept in D1 (REPORTS_DB) or, without D1, as one JSON line in the Worker's log. docs/tlsrpt.md.
import { gunzipBounded } from "../../../core/bytes/gunzip.ts";
import type { WorkerConfig } from "../../../core/config/worker.ts";
import type { Env } from "../runtime/env.ts";
import { MAX_REPORT_CHARS, parseTlsReport, type TlsRptReport } from "../../../core/tlsrpt/report.ts";
import { normalizeHost } from "./hosts.ts";
import { storeTlsReport } from "../reports/tlsrpt-store.ts";
import { plain, readBounded } from "./respond.ts";

/** The body as sent (either type); a gzipped report is also bounded after inflating, by MAX_REPORT_CHARS. */
export const MAX_TLSRPT_BODY_BYTES = 1024 * 1024;

/** RFC 8460 §5.3: the two media types of a report; parameters are ignored (RFC 9110 §8.3.1). */
function reportMediaType(header: string | null): "gzip" | "json" | null {
  const type = (header ?? "").split(";")[0]!.trim().toLowerCase();
  if (type === "application/tlsrpt+gzip") return "gzip";
  if (type === "application/tlsrpt+json") return "json";
  return null;
}

/** The policy domains of the report that are not configured domains of ours (RFC 8460 §4.4 policy-domain). */
function foreignPolicyDomains(report: TlsRptReport, config: WorkerConfig): string[] {
  const ours = new Set(config.domains.map((d) => normalizeHost(d.name)));
  const domains = report.policies.map((p) => p.policy["policy-domain"]);
  return [...new Set(domains.filter((d) => !ours.has(normalizeHost(d))))];
}

/** One JSON line per report when there is no D1 binding: who sent it, the period, the counts per policy. */
function logSummary(report: TlsRptReport, receivedAt: string): void {
  console.log(
    JSON.stringify({
      msg: "tlsrpt report",
      receivedAt,
      organization: report["organization-name"],
      reportId: report["report-id"],
      dateRange: report["date-range"],
      contact: report["contact-info"],
      policies: report.policies.map((p) => ({
        type: p.policy["policy-type"],
        domain: p.policy["policy-domain"],
        successful: p.summary["total-successful-session-count"],
        failed: p.summary["total-failure-session-count"],
        failures: (p["failure-details"] ?? []).map((d) => ({ resultType: d["result-type"], mx: d["receiving-mx-hostname"], count: d["failed-session-count"] })),
      })),
    }),
  );
}

/**
 * POST /.well-known/tlsrpt. RFC 8460 §3 asks only for a 2xx on success; we answer 201 when the
 * report is newly stored in D1, 200 when D1 already holds it (a sender's retry), 202 when it is only logged.
 */
export async function serveTlsReport(request: Request, config: WorkerConfig, env: Env): Promise<Response> {
  const kind = reportMediaType(request.headers.get("content-type"));
  if (!kind)
    return plain(415, "Unsupported media type; send application/tlsrpt+gzip or application/tlsrpt+json (RFC 8460 §5.3)", {
      accept: "application/tlsrpt+gzip, application/tlsrpt+json",
    });
  const body = await readBounded(request, MAX_TLSRPT_BODY_BYTES);
  if (!body) return plain(413, `Report too large; at most ${MAX_TLSRPT_BODY_BYTES} bytes`);

  let json = body;
  if (kind === "gzip") {
    const inflated = await gunzipBounded(body, MAX_REPORT_CHARS);
    if (inflated === null) return plain(413, `Report too large once inflated; at most ${MAX_REPORT_CHARS} bytes`);
    if (inflated instanceof Error) return plain(400, `Not a gzip stream (RFC 1952): ${inflated.message}`);
    json = inflated;
  }
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(json);
  } catch {
    return plain(400, "The report is not UTF-8 (RFC 8259 §8.1)");
  }

  const parsed = parseTlsReport(text);
  if (!parsed.ok) return plain(400, ["Invalid TLS report (RFC 8460 §4):", ...parsed.problems].join("\n"));
  const report = parsed.report;
  const foreign = foreignPolicyDomains(report, config);
  if (foreign.length > 0) return plain(403, `This receiver takes reports only for its own domains; not for ${foreign.join(", ")}`);

  const receivedAt = new Date().toISOString();
  if (!env.REPORTS_DB) {
    logSummary(report, receivedAt);
    return plain(202, "Report accepted (logged)");
  }
  const stored = await storeTlsReport(env.REPORTS_DB, report, receivedAt);
  return stored ? plain(201, "Report stored") : plain(200, "Report already stored");
}
