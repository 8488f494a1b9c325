// vitest globalSetup: one harness for the whole run, its addresses provided to every project
// (`inject("harness")` in Node tests, bindings for the Worker tests in vitest.config.ts).
import type { TestProject } from "vitest/node";
import type { HarnessAddresses } from "./index.ts";
import { startHarness } from "./index.ts";

declare module "vitest" {
  export interface ProvidedContext {
    harness: HarnessAddresses;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const harness = await startHarness();
  console.log(`edgemx harness: Knot :${harness.knotPort}, unbound :${harness.dnsPort}, DoH ${harness.dohUrl}; ready in ${harness.startupMs} ms`);
  const { knotPort, dnsPort, dohUrl, blackholeUrl } = harness;
  project.provide("harness", { knotPort, dnsPort, dohUrl, blackholeUrl });
  return () => harness.stop();
}
