// vitest globalSetup of the Worker tests (test/workers): beside the DNS harness of every project
// (global-setup.ts), the relay's scan endpoint with real clamd and rspamd behind it (scan-endpoint.ts),
// provided as `scan`; vitest.config.ts gives its URLs, token, CA and client certificate to workerd.
import type { TestProject } from "vitest/node";
import { startScanHarness, type ScanHarnessAddresses } from "./scan-endpoint.ts";

declare module "vitest" {
  export interface ProvidedContext {
    scan: Omit<ScanHarnessAddresses, "startupMs">;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const scan = await startScanHarness(project.getProvidedContext().harness.dnsPort);
  console.log(`edgemx scan endpoint: ${scan.url} (mutual TLS: ${scan.mtlsUrl}); clamd and rspamd ready in ${scan.startupMs} ms`);
  const { url, mtlsUrl, token, caPem, clientKeyPem, clientCertPem } = scan;
  project.provide("scan", { url, mtlsUrl, token, caPem, clientKeyPem, clientCertPem });
  return () => scan.stop();
}
