// The bindings vitest.config.ts gives the Worker tests from the DNS harness (test/harness/README.md).
declare namespace Cloudflare {
  interface Env {
    /** The harness's RFC 8484 endpoint (HTTP/1.1 on 127.0.0.1) in front of the validating resolver. */
    HARNESS_DOH_URL: string;
    /** A DoH URL whose server accepts connections and never answers. */
    HARNESS_BLACKHOLE_URL: string;
    /** The public report samples as mails, [name, base64][] in load order (test/fixtures/report-samples.ts). */
    REPORT_SAMPLES: string;
    /** The relay's scan endpoint (test/harness/scan-endpoint.ts): the bearer token alone, and with a client certificate. */
    HARNESS_SCAN_URL: string;
    HARNESS_SCAN_MTLS_URL: string;
    /** workerd's loopback network trusting the scan endpoint's test CA; and the same presenting the test client certificate. */
    HARNESS_SCAN_TLS: Fetcher;
    HARNESS_SCAN_MTLS: Fetcher;
  }
}
