// TLS-RPT counting (RFC 8460 §4) in node:sqlite and the day's report.
import { describe, expect, it } from "vitest";
import { openTlsRptStore, tlsReport, type TlsPolicyFacts } from "../../relay-node/src/tlsrpt/counts.ts";

const STS: TlsPolicyFacts = {
  type: "sts",
  domain: "example.net",
  policyString: ["version: STSv1", "mode: enforce", "mx: mx.example.net", "max_age: 86400"],
  mxHost: ["mx.example.net"],
};
const DAY = Date.parse("2026-03-04T10:00:00Z");

describe("TLS-RPT counting", () => {
  it("counts sessions per policy and failure, and reports one day per RFC 8460 §4.4", () => {
    const store = openTlsRptStore(":memory:");
    store.record({ policy: STS, at: DAY });
    store.record({ policy: STS, at: DAY + 1000 });
    const failure = { resultType: "certificate-expired" as const, receivingMxHostname: "mx.example.net", receivingIp: "192.0.2.1", detail: "CERT_HAS_EXPIRED" };
    store.record({ policy: STS, at: DAY, failure });
    store.record({ policy: STS, at: DAY, failure });
    store.record({ policy: STS, at: DAY + 86_400_000 });
    store.record({ policy: { type: "no-policy-found", domain: "other.example", policyString: [], mxHost: [] }, at: DAY });

    const rows = store.rows("2026-03-04");
    expect(rows.reduce((sum, row) => sum + row.count, 0)).toBe(5);
    const report = tlsReport(rows, "2026-03-04", "example.net", {
      organizationName: "edgemx test",
      contactInfo: "postmaster@example.org",
      sendingMtaIp: "198.51.100.7",
    });
    expect(report).toEqual({
      "organization-name": "edgemx test",
      "date-range": { "start-datetime": "2026-03-04T00:00:00Z", "end-datetime": "2026-03-04T23:59:59Z" },
      "contact-info": "postmaster@example.org",
      "report-id": "2026-03-04_example.net",
      policies: [
        {
          policy: { "policy-type": "sts", "policy-string": STS.policyString, "policy-domain": "example.net", "mx-host": ["mx.example.net"] },
          summary: { "total-successful-session-count": 2, "total-failure-session-count": 2 },
          "failure-details": [
            {
              "result-type": "certificate-expired",
              "sending-mta-ip": "198.51.100.7",
              "receiving-mx-hostname": "mx.example.net",
              "receiving-ip": "192.0.2.1",
              "failed-session-count": 2,
              "failure-reason-code": "CERT_HAS_EXPIRED",
            },
          ],
        },
      ],
    });
    store.close();
  });
});
