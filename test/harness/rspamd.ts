// rspamd for the tests: Debian's configuration (/etc/rspamd) with this run's local.d and override.d on
// top, every path in the run's folder except the Hyperscan cache, which is shared between runs: a cold
// start compiles the regular expressions for ~10 s, a warm one loads them in ~0.5 s.
import { mkdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface RspamdSetup {
  /** LOCAL_CONFDIR: holds local.d and override.d. */
  dir: string;
  normalPort: number;
  controllerPort: number;
  redisUrl: string;
  /** The harness's unbound: rspamd's DNS (an unreachable nameserver makes every check wait ~8 s). */
  dnsPort: number;
}

/** Outside the per-run folders, so that only the first run on a machine pays for the compilation. */
export const HYPERSCAN_CACHE = join(tmpdir(), "edgemx-rspamd-hs-cache");

/** The files under LOCAL_CONFDIR, relative path → content. */
export function rspamdFiles(setup: RspamdSetup): Record<string, string> {
  const redis = new URL(setup.redisUrl);
  const worker = (port: number, extra = ""): string => `bind_socket = "127.0.0.1:${port}";\ncount = 1;\n${extra}`;
  return {
    // override.d replaces the defaults' "localhost:1133x" sockets: loopback high ports, one process each.
    "override.d/worker-normal.inc": worker(setup.normalPort, "mime = true;\n"),
    // secure_ip: the controller trusts loopback without a password (learning, /stat).
    "override.d/worker-controller.inc": worker(setup.controllerPort, 'secure_ip = "127.0.0.1";\nstatic_dir = "${WWWDIR}";\n'),
    // The milter proxy is for MTAs without an HTTP client; the relay speaks to the normal worker.
    "override.d/worker-proxy.inc": "enabled = false;\n",
    "override.d/logging.inc": 'type = "console";\nlevel = "warning";\n',
    // 127.0.0.x counts as local, and the tests' clients all are: check them anyway.
    "local.d/options.inc": `dns {\n  nameserver = ["127.0.0.1:${setup.dnsPort}"];\n}\ncheck_local = true;\nhs_cache_dir = "${HYPERSCAN_CACHE}";\n`,
    "local.d/dkim.conf": "check_local = true;\n",
    "local.d/rbl.conf": "default_exclude_local = false;\ndefault_exclude_private_ips = false;\n",
    "local.d/redis.conf": `servers = "${redis.hostname}:${redis.port}";\n`,
    // Offline: fuzzy_check resolves its public servers while loading. rspamd's own greylisting would
    // make results depend on the shared Redis state of earlier tests.
    "local.d/fuzzy_check.conf": "enabled = false;\n",
    "local.d/greylist.conf": "enabled = false;\n",
  };
}

export function writeRspamdConfig(setup: RspamdSetup): void {
  mkdirSync(HYPERSCAN_CACHE, { recursive: true });
  for (const [path, content] of Object.entries(rspamdFiles(setup))) {
    mkdirSync(join(setup.dir, path, ".."), { recursive: true });
    writeFileSync(join(setup.dir, path), content);
  }
}
