// unbound, the validating resolver: it knows nothing but the test zones (stubs to Knot, anchored with
// this run's DS records) and refuses everything else at once instead of waiting for the root.
import { join } from "node:path";
import { writeFileSync } from "node:fs";
import type { Daemon } from "./process.ts";
import { spawnDaemon } from "./process.ts";
import type { TestZone } from "./zones.ts";

export interface UnboundSetup {
  dir: string;
  port: number;
  knotPort: number;
  zones: readonly TestZone[];
  anchors: string;
}

export function unboundConfig(setup: UnboundSetup): string {
  const { dir, port, knotPort, zones } = setup;
  // "test." is one of unbound's built-in static zones: each served zone is declared transparent.
  const localZones = zones.map((zone) => `  local-zone: "${zone.origin}." transparent\n`).join("");
  const stubs = zones.map((zone) => `stub-zone:\n  name: "${zone.origin}."\n  stub-addr: 127.0.0.1@${knotPort}\n`).join("");
  return `server:
  interface: 127.0.0.1
  port: ${port}
  do-ip6: no
  username: ""
  chroot: ""
  directory: "${dir}"
  pidfile: "${join(dir, "unbound.pid")}"
  use-syslog: no
  logfile: ""
  verbosity: 0
  val-log-level: 2
  num-threads: 1
  do-not-query-localhost: no
  module-config: "validator iterator"
  trust-anchor-file: "${join(dir, "anchors.ds")}"
  ede: yes
  local-zone: "." refuse
${localZones}${stubs}`;
}

export function startUnbound(setup: UnboundSetup): Daemon {
  writeFileSync(join(setup.dir, "anchors.ds"), setup.anchors);
  const config = join(setup.dir, "unbound.conf");
  writeFileSync(config, unboundConfig(setup));
  return spawnDaemon("unbound", "unbound", ["-d", "-c", config], join(setup.dir, "unbound.log"));
}
