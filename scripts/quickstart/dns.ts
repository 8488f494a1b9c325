// The quickstart's DNS: the test harness's Knot and validating unbound (test/harness/index.ts) serving
// the quickstart's zones (zones.ts) on free loopback ports, their files in a temp folder that stop()
// removes.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startValidatingDns } from "../../test/harness/index.ts";
import type { TestZone } from "../../test/harness/zones.ts";

export interface SandboxDns {
  /** unbound's port on 127.0.0.1 (UDP and TCP). */
  port: number;
  stop(): Promise<void>;
}

export async function startSandboxDns(zones: readonly TestZone[]): Promise<SandboxDns> {
  const dir = await mkdtemp(join(tmpdir(), "edgemx-quickstart-dns-"));
  const stops: (() => Promise<void>)[] = [];
  const stop = async (): Promise<void> => {
    for (const step of stops.reverse()) await step();
    await rm(dir, { recursive: true, force: true });
  };
  try {
    const { dnsPort } = await startValidatingDns(dir, zones, stops);
    return { port: dnsPort, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
