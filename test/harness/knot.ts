// Knot DNS, the authoritative server of the test zones: automatic DNSSEC signing with one
// ECDSA P-256 key per zone (RFC 8624 §3.1), keys and journal in the run's folder.
import { execFile } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import type { Daemon } from "./process.ts";
import { findProgram, spawnDaemon } from "./process.ts";
import { renderZoneFile } from "./zone-file.ts";
import type { TestZone } from "./zones.ts";

const run = promisify(execFile);

export function knotConfig(dir: string, port: number, zones: readonly TestZone[]): string {
  return `server:
  rundir: "${join(dir, "run")}"
  listen: 127.0.0.1@${port}
  udp-workers: 1
  tcp-workers: 1
  background-workers: 1
database:
  storage: "${join(dir, "db")}"
control:
  listen: "${join(dir, "run", "knot.sock")}"
log:
  - target: stderr
    any: warning
policy:
  - id: test
    algorithm: ecdsap256sha256
    single-type-signing: on
    ksk-lifetime: 0
    zsk-lifetime: 0
template:
  - id: default
    storage: "${join(dir, "zones")}"
    file: "%s.zone"
    zonefile-sync: -1
    journal-content: none
zone:
${zones.map((zone) => `  - domain: ${zone.origin}.\n${zone.security === "signed" ? "    dnssec-signing: on\n    dnssec-policy: test\n" : ""}`).join("")}`;
}

/** Writes the zone files and the configuration under `dir`/knot and starts knotd. */
export function startKnot(root: string, port: number, zones: readonly TestZone[]): { daemon: Daemon; config: string } {
  const dir = join(root, "knot");
  for (const sub of ["run", "db", "zones"]) mkdirSync(join(dir, sub), { recursive: true });
  for (const zone of zones) writeFileSync(join(dir, "zones", `${zone.origin}.zone`), renderZoneFile(zone));
  const config = join(dir, "knot.conf");
  writeFileSync(config, knotConfig(dir, port, zones));
  return { daemon: spawnDaemon("knotd", "knotd", ["-c", config], join(dir, "knotd.log")), config };
}

/**
 * The trust anchors for unbound, one DS set per anchored zone: the DS of each signed zone's current
 * key (`keymgr ds`; new keys each run), and for a bogus zone a DS that matches no key at all.
 */
export async function trustAnchors(knotConfigFile: string, zones: readonly TestZone[]): Promise<string> {
  const anchors = await Promise.all(
    zones.map(async (zone) => {
      if (zone.security === "bogus") return `${zone.origin}. DS 4242 13 2 ${"00".repeat(32)}\n`;
      if (zone.security === "unsigned") return "";
      const { stdout } = await run(findProgram("keymgr") ?? "keymgr", ["-c", knotConfigFile, `${zone.origin}.`, "ds"]);
      return stdout;
    }),
  );
  return anchors.join("");
}
