import { cloudflareTest } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";
import { workerPart } from "./core/config/worker.ts";
import { loadConfigFile } from "./relay-node/src/config/file.ts";
import { sampleMails } from "./test/fixtures/report-samples.ts";

process.env.CLOUDFLARE_CF_FETCH_ENABLED = "false"; // no internet: Request.cf is not fetched

// The Worker tests run the Worker's part of the example configuration (what the build bundles),
// whatever edgemx.yaml a developer has locally.
const exampleJson = JSON.stringify(workerPart(loadConfigFile("config/example.yaml")));

// Real DNS on loopback for the projects that use it: Knot, unbound and the DoH bridge (test/harness/README.md).
const HARNESS = ["test/harness/global-setup.ts"];

/**
 * workerd's network on loopback trusting the scan harness's test CA, as a Fetcher binding: Miniflare's
 * global fetch trusts only the system's CAs (and NODE_EXTRA_CA_CERTS, read when miniflare is imported,
 * before any test CA exists), so the scan endpoint's certificate is trusted through this binding;
 * `keypair` presents a client certificate, as Cloudflare's [[mtls_certificates]] binding does.
 */
function loopbackTrusting(caPem: string, keypair?: { privateKey: string; certificateChain: string }) {
  return { network: { allow: ["local"], tlsOptions: { trustedCertificates: [caPem], ...(keypair ? { keypair } : {}) } } };
}

export default defineConfig({
  test: {
    projects: [
      {
        plugins: [
          cloudflareTest(({ inject }) => ({
            wrangler: { configPath: "./wrangler.toml" },
            miniflare: {
              // The scan endpoint over real HTTPS (test/workers/email-scan.test.ts): the token alone, or with the client certificate.
              serviceBindings: {
                HARNESS_SCAN_TLS: loopbackTrusting(inject("scan").caPem),
                HARNESS_SCAN_MTLS: loopbackTrusting(inject("scan").caPem, {
                  privateKey: inject("scan").clientKeyPem,
                  certificateChain: inject("scan").clientCertPem,
                }),
              },
              bindings: {
                EDGEMX_CONFIG: exampleJson,
                HARNESS_DOH_URL: inject("harness").dohUrl,
                HARNESS_BLACKHOLE_URL: inject("harness").blackholeUrl,
                // The judge's DNS is the harness's real resolver; the verdict API has a test token.
                DOH_URL: inject("harness").dohUrl,
                VERDICT_TOKEN: "test-verdict-token",
                // The report intake and the dashboard (test/workers/reports.test.ts), with the public
                // report samples as the mails a report address receives (base64 by sample name).
                REPORTS_TOKEN: "test-reports-token",
                DASHBOARD_TOKEN: "test-dashboard-token",
                REPORT_SAMPLES: JSON.stringify(sampleMails().map(({ name, mail }) => [name, Buffer.from(mail).toString("base64")])),
                HARNESS_SCAN_URL: inject("scan").url,
                HARNESS_SCAN_MTLS_URL: inject("scan").mtlsUrl,
                SCAN_TOKEN: inject("scan").token,
              },
              // Received reports (test/workers/tlsrpt.test.ts, test/workers/reports.test.ts).
              d1Databases: ["REPORTS_DB"],
            },
          })),
        ],
        // The scan endpoint's clamd and rspamd start beside the DNS harness (test/harness/workers-setup.ts).
        test: { name: "workers", include: ["test/workers/**/*.test.ts"], globalSetup: [...HARNESS, "test/harness/workers-setup.ts"] },
      },
      {
        // The inner loop (npm run test:unit): pure logic, fakes and command-line tools; no daemon, no harness.
        test: { name: "unit", environment: "node", include: ["test/unit/**/*.test.ts"], testTimeout: 30_000 },
      },
      {
        // Real programs: the relay in-process and as a process, clamd, rspamd, Redis, Knot and unbound, workerd.
        test: {
          name: "integration",
          environment: "node",
          include: ["test/integration/**/*.test.ts"],
          globalSetup: HARNESS,
          testTimeout: 30_000,
          hookTimeout: 60_000,
        },
      },
      {
        // The fault suite (docs/reliability.md): bounded load with one fault injected per case, and the
        // checker's row per case (sent, 250, delivered, 4xx, 5xx, lost, duplicated, recovery).
        test: {
          name: "faults",
          environment: "node",
          include: ["test/faults/**/*.test.ts"],
          globalSetup: HARNESS,
          // A bound against hangs only (no case asserts a duration): a case takes seconds alone, but up
          // to ten times that beside the rest of npm test on a loaded 2-core machine.
          testTimeout: 180_000,
          hookTimeout: 60_000,
        },
      },
    ],
  },
});
