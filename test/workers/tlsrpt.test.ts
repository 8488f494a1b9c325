// Receiving TLS reports over HTTPS (RFC 8460 §3, §5.3) inside workerd, kept in the test's D1 database.
import { env } from "cloudflare:workers";
import { SELF } from "cloudflare:test";
import { describe, expect, it, vi } from "vitest";
import type { Env } from "../../workers/src/runtime/env.ts";
import { parseWorkerConfig } from "../../core/config/load.ts";
import { MAX_TLSRPT_BODY_BYTES, serveTlsReport } from "../../workers/src/http/tlsrpt.ts";
import { MAX_REPORT_CHARS } from "../../core/tlsrpt/report.ts";

const testEnv = env as Cloudflare.Env & Env;
const ENDPOINT = "https://example.org/.well-known/tlsrpt";

/** A one-policy report about example.org (the example configuration's domain) with two failure details. */
function report(reportId: string, policyDomain = "example.org"): Record<string, unknown> {
  return {
    "organization-name": "Company-X",
    "date-range": { "start-datetime": "2026-04-01T00:00:00Z", "end-datetime": "2026-04-01T23:59:59Z" },
    "contact-info": "sts-reporting@company-x.example",
    "report-id": reportId,
    policies: [
      {
        policy: {
          "policy-type": "sts",
          "policy-string": ["version: STSv1", "mode: testing", "mx: mx.example.org", "max_age: 86401"],
          "policy-domain": policyDomain,
          "mx-host": ["mx.example.org"],
        },
        summary: { "total-successful-session-count": 5326, "total-failure-session-count": 303 },
        "failure-details": [
          {
            "result-type": "certificate-expired",
            "sending-mta-ip": "2001:db8:abcd:12::1",
            "receiving-mx-hostname": "mx.example.org",
            "failed-session-count": 300,
          },
          {
            "result-type": "validation-failure",
            "sending-mta-ip": "198.51.100.62",
            "receiving-mx-hostname": "mx.example.org",
            "receiving-ip": "203.0.113.58",
            "failed-session-count": 3,
            "failure-reason-code": "X509_V_ERR_PROXY_PATH_LENGTH_EXCEEDED",
          },
        ],
      },
    ],
  };
}

async function gzip(bytes: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await new Response(new Blob([bytes]).stream().pipeThrough(new CompressionStream("gzip"))).arrayBuffer());
}

const post = (body: BodyInit, contentType: string, url = ENDPOINT): Promise<Response> =>
  SELF.fetch(url, { method: "POST", body, headers: { "content-type": contentType } });

const utf8 = new TextEncoder();

describe("TLS report endpoint (RFC 8460 §3)", () => {
  it("stores a gzipped report: one row per report, policy and failure detail", async () => {
    const res = await post(await gzip(utf8.encode(JSON.stringify(report("gz-1")))), "application/tlsrpt+gzip");
    expect(res.status).toBe(201);
    const db = testEnv.REPORTS_DB!;
    const stored = await db
      .prepare("SELECT organization_name, start_datetime, report_json FROM tlsrpt_reports WHERE report_id = ?")
      .bind("gz-1")
      .first<Record<string, string>>();
    expect(stored).toMatchObject({ organization_name: "Company-X", start_datetime: "2026-04-01T00:00:00Z" });
    expect(JSON.parse(stored!["report_json"]!)).toEqual(report("gz-1"));
    const policies = await db
      .prepare("SELECT policy_type, policy_domain, mx_host, successful_sessions, failed_sessions FROM tlsrpt_policies WHERE report_id = ?")
      .bind("gz-1")
      .all();
    expect(policies.results).toEqual([
      { policy_type: "sts", policy_domain: "example.org", mx_host: '["mx.example.org"]', successful_sessions: 5326, failed_sessions: 303 },
    ]);
    const failures = await db
      .prepare(
        "SELECT detail_index, result_type, sending_mta_ip, receiving_ip, failed_sessions, failure_reason_code FROM tlsrpt_failures WHERE report_id = ? ORDER BY detail_index",
      )
      .bind("gz-1")
      .all();
    expect(failures.results).toEqual([
      {
        detail_index: 0,
        result_type: "certificate-expired",
        sending_mta_ip: "2001:db8:abcd:12::1",
        receiving_ip: null,
        failed_sessions: 300,
        failure_reason_code: null,
      },
      {
        detail_index: 1,
        result_type: "validation-failure",
        sending_mta_ip: "198.51.100.62",
        receiving_ip: "203.0.113.58",
        failed_sessions: 3,
        failure_reason_code: "X509_V_ERR_PROXY_PATH_LENGTH_EXCEEDED",
      },
    ]);
  });

  it("stores a JSON report on the postmaster host too, and answers a resent report 200 without a second row", async () => {
    const body = JSON.stringify(report("json-1"));
    const first = await post(body, "application/tlsrpt+json; charset=utf-8", "https://postmaster.example.org/.well-known/tlsrpt");
    expect(first.status).toBe(201);
    const again = await post(body, "application/tlsrpt+json");
    expect(again.status).toBe(200);
    const count = await testEnv.REPORTS_DB!.prepare("SELECT count(*) AS n FROM tlsrpt_failures WHERE report_id = ?").bind("json-1").first<{ n: number }>();
    expect(count?.n).toBe(2);
  });

  it("refuses an invalid report with 400 and the JSON paths of its problems", async () => {
    const broken = report("bad-1");
    delete broken["contact-info"];
    (broken["policies"] as { summary: Record<string, unknown> }[])[0]!.summary["total-failure-session-count"] = "many";
    const res = await post(JSON.stringify(broken), "application/tlsrpt+json");
    expect(res.status).toBe(400);
    const text = await res.text();
    expect(text).toContain("$['contact-info']: required string missing");
    expect(text).toContain("$.policies[0].summary['total-failure-session-count']: expected a non-negative integer");
    expect((await post("{not json", "application/tlsrpt+json")).status).toBe(400);
    expect((await post("plain text, not gzip", "application/tlsrpt+gzip")).status).toBe(400);
  });

  it("refuses other media types with 415", async () => {
    const res = await post(JSON.stringify(report("type-1")), "application/json");
    expect(res.status).toBe(415);
    expect(res.headers.get("accept")).toBe("application/tlsrpt+gzip, application/tlsrpt+json");
  });

  it("refuses a report about a domain that is not ours with 403", async () => {
    const res = await post(JSON.stringify(report("foreign-1", "example.net")), "application/tlsrpt+json");
    expect(res.status).toBe(403);
    expect(await res.text()).toMatch(/not for example\.net/);
  });

  it("refuses an oversize body and a gzip bomb with 413", async () => {
    const big = await post(new Uint8Array(MAX_TLSRPT_BODY_BYTES + 1).fill(0x20), "application/tlsrpt+json");
    expect(big.status).toBe(413);
    const bomb = await gzip(new Uint8Array(MAX_REPORT_CHARS * 8).fill(0x20));
    expect(bomb.byteLength).toBeLessThan(MAX_TLSRPT_BODY_BYTES / 64);
    const res = await post(bomb, "application/tlsrpt+gzip");
    expect(res.status).toBe(413);
    expect(await res.text()).toMatch(/once inflated/);
  });

  it("answers other methods with 405 and Allow: POST", async () => {
    const res = await SELF.fetch(ENDPOINT);
    expect(res.status).toBe(405);
    expect(res.headers.get("allow")).toBe("POST");
  });

  it("without D1, logs one JSON line with the summary and answers 202", async () => {
    const config = parseWorkerConfig(JSON.parse(testEnv.EDGEMX_CONFIG!));
    const log = vi.spyOn(console, "log").mockImplementation(() => {});
    try {
      const request = new Request(ENDPOINT, { method: "POST", body: JSON.stringify(report("log-1")), headers: { "content-type": "application/tlsrpt+json" } });
      const res = await serveTlsReport(request, config, {});
      expect(res.status).toBe(202);
      expect(log).toHaveBeenCalledOnce();
      expect(JSON.parse(String(log.mock.calls[0]![0]))).toMatchObject({
        msg: "tlsrpt report",
        organization: "Company-X",
        reportId: "log-1",
        policies: [{ type: "sts", domain: "example.org", successful: 5326, failed: 303 }],
      });
    } finally {
      log.mockRestore();
    }
  });
});
