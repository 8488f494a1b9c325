// TLS-RPT delivery (RFC 8460): the `_smtp._tls` record (§3) and the report message (§5.3).
import { gunzipSync } from "node:zlib";
import PostalMime from "postal-mime";
import { describe, expect, it } from "vitest";
import { parseTlsRptRecord, tlsReportFilename, tlsReportMessage } from "../../core/tlsrpt/delivery.ts";
import { tlsReport } from "../../relay-node/src/tlsrpt/counts.ts";

describe("_smtp._tls record (RFC 8460 §3)", () => {
  it("reads rua URIs, mailto: and https:", () => {
    expect(parseTlsRptRecord(["v=TLSRPTv1; rua=mailto:tls@example.net"])).toEqual({ rua: ["mailto:tls@example.net"] });
    expect(parseTlsRptRecord(["v=TLSRPTv1;rua=mailto:a@example.net,https://r.example.net/v1;"])).toEqual({
      rua: ["mailto:a@example.net", "https://r.example.net/v1"],
    });
    expect(parseTlsRptRecord(["v=spf1 -all", "v=TLSRPTv1; ext=1; rua=https://r.example.net/"])).toEqual({ rua: ["https://r.example.net/"] });
  });

  it("means no TLSRPT for none, several, a missing or repeated rua, a broken field or no usable URI", () => {
    expect(parseTlsRptRecord([])).toBeNull();
    expect(parseTlsRptRecord(["v=TLSRPTv1; rua=mailto:a@x.example", "v=TLSRPTv1; rua=mailto:b@x.example"])).toBeNull();
    expect(parseTlsRptRecord(["v=TLSRPTv1;"])).toBeNull();
    expect(parseTlsRptRecord(["v=TLSRPTv1; rua=mailto:a@x.example; rua=mailto:b@x.example"])).toBeNull();
    expect(parseTlsRptRecord(["v=TLSRPTv1; rua"])).toBeNull();
    expect(parseTlsRptRecord(["v=TLSRPTv10; rua=mailto:a@x.example"])).toBeNull();
    expect(parseTlsRptRecord(["rua=mailto:a@x.example; v=TLSRPTv1"])).toBeNull();
    expect(parseTlsRptRecord(["v=TLSRPTv1; rua=http://r.example.net/"])).toBeNull();
  });
});

describe("report message (RFC 8460 §5.3)", () => {
  it("is a multipart/report with the gzipped report named per §5.3", async () => {
    const rows = [
      {
        day: "2026-03-04",
        policyType: "no-policy-found" as const,
        policyDomain: "example.net",
        policyString: [],
        mxHost: [],
        resultType: "",
        receivingMxHostname: "",
        receivingIp: "",
        detail: "",
        count: 3,
      },
    ];
    const report = tlsReport(rows, "2026-03-04", "example.net", { organizationName: "mx.example.org", contactInfo: "postmaster@example.org" }) as {
      "report-id": string;
    };
    const bytes = tlsReportMessage({
      report,
      policyDomain: "example.net",
      day: "2026-03-04",
      submitter: "mx.example.org",
      from: "postmaster@example.org",
      to: "tls@example.net",
      now: new Date("2026-03-05T00:10:00Z"),
    });
    const head = bytes.toString("latin1").split("\r\n\r\n")[0]!;
    expect(head).toMatch(/^Content-Type: multipart\/report; report-type="tlsrpt"; boundary=/m);
    expect(head).toContain("TLS-Report-Domain: example.net");
    expect(head).toContain("TLS-Report-Submitter: mx.example.org");

    const parsed = await PostalMime.parse(bytes);
    expect(parsed.subject).toBe("Report Domain: example.net Submitter: mx.example.org Report-ID: <2026-03-04_example.net>");
    expect(parsed.from?.address).toBe("postmaster@example.org");
    expect(parsed.attachments).toHaveLength(1);
    const [attachment] = parsed.attachments;
    expect(attachment!.mimeType).toBe("application/tlsrpt+gzip");
    expect(attachment!.filename).toMatch(/^mx\.example\.org!example\.net!1772582400!1772668799![0-9a-f]{12}\.json\.gz$/);
    const json = JSON.parse(gunzipSync(Buffer.from(attachment!.content as ArrayBuffer)).toString("utf8")) as unknown;
    expect(json).toEqual(report);
  });

  it("spans the UTC day in the filename", () => {
    expect(tlsReportFilename("mx.example.org", "example.net", "2026-03-04", "abc")).toBe(
      `mx.example.org!example.net!${Date.parse("2026-03-04T00:00:00Z") / 1000}!${Date.parse("2026-03-04T23:59:59Z") / 1000}!abc.json.gz`,
    );
  });
});
