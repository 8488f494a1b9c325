// rspamd for the tests: Debian's configuration (/etc/rspamd), edgemx's shipped local.d
// (config/rspamd/local.d: thresholds, Bayes and neural in Redis, greylisting off) — so the tests run
// the configuration a server runs — and this run's override.d on top: loopback ports, the harness's
// Redis and DNS. Every path is in the run's folder except the Hyperscan cache, which is shared between
// runs: a cold start compiles the regular expressions for ~10 s, a warm one loads them in ~0.5 s.
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export interface RspamdSetup {
  /** LOCAL_CONFDIR: holds local.d and override.d. */
  dir: string;
  normalPort: number;
  controllerPort: number;
  /** The local fuzzy storage of the shipped worker-fuzzy.inc, moved to a free port. */
  fuzzyPort: number;
  redisUrl: string;
  /** The harness's unbound: rspamd's DNS (an unreachable nameserver makes every check wait ~8 s). */
  dnsPort: number;
}

/** Outside the per-run folders, so that only the first run on a machine pays for the compilation. */
export const HYPERSCAN_CACHE = join(tmpdir(), "edgemx-rspamd-hs-cache");

/** edgemx's shipped rspamd configuration (docs/spam.md). */
export const SHIPPED_LOCAL_D = fileURLToPath(new URL("../../config/rspamd/local.d/", import.meta.url));

/** Where the shipped configuration puts the local fuzzy storage. */
const SHIPPED_FUZZY_SOCKET = "127.0.0.1:11335";

/** The shipped local.d, relative path → content. */
function shippedFiles(): Record<string, string> {
  return Object.fromEntries(readdirSync(SHIPPED_LOCAL_D).map((name) => [`local.d/${name}`, readFileSync(join(SHIPPED_LOCAL_D, name), "utf8")]));
}

/** The files under LOCAL_CONFDIR, relative path → content: the shipped local.d and this run's override.d. */
export function rspamdFiles(setup: RspamdSetup): Record<string, string> {
  const redis = new URL(setup.redisUrl);
  const worker = (port: number, extra = ""): string => `bind_socket = "127.0.0.1:${port}";\ncount = 1;\n${extra}`;
  return {
    ...shippedFiles(),
    // override.d replaces the defaults' "localhost:1133x" sockets: loopback high ports, one process each.
    "override.d/worker-normal.inc": worker(setup.normalPort, "mime = true;\n"),
    // secure_ip: the controller trusts loopback without a password (learning, /stat).
    "override.d/worker-controller.inc": worker(setup.controllerPort, 'secure_ip = "127.0.0.1";\nstatic_dir = "${WWWDIR}";\n'),
    // The milter proxy is for MTAs without an HTTP client; the relay speaks to the normal worker.
    "override.d/worker-proxy.inc": "enabled = false;\n",
    "override.d/logging.inc": 'type = "console";\nlevel = "warning";\n',
    // 127.0.0.x counts as local, and the tests' clients all are: check them anyway. The test patterns
    // (GTUBE_PATTERNS in gtube.ts) give each action on demand; GTUBE itself, reject, is always on.
    "override.d/options.inc": `dns {\n  nameserver = ["127.0.0.1:${setup.dnsPort}"];\n}\ncheck_local = true;\nenable_test_patterns = true;\nhs_cache_dir = "${HYPERSCAN_CACHE}";\n`,
    "override.d/dkim.conf": "check_local = true;\n",
    "override.d/rbl.conf": "default_exclude_local = false;\ndefault_exclude_private_ips = false;\n",
    "override.d/redis.conf": `servers = "${redis.hostname}:${redis.port}";\n`,
    // Offline, fuzzy_check would resolve rspamd.com's public servers while loading: the override keeps
    // only the shipped "local" rule (a higher-priority "rule" replaces them all), on this run's port.
    // (rspamd's own greylisting, which would make results depend on the shared Redis state of earlier
    // tests, is off in the shipped local.d.)
    // sync: the storage applies queued hashes every second (60 s by default), so a test sees them at once.
    "override.d/worker-fuzzy.inc": `bind_socket = "127.0.0.1:${setup.fuzzyPort}";\ncount = 1;\nallow_update = ["127.0.0.1"];\nsync = 1;\n`,
    "override.d/fuzzy_check.conf": readFileSync(join(SHIPPED_LOCAL_D, "fuzzy_check.conf"), "utf8").replace(
      SHIPPED_FUZZY_SOCKET,
      `127.0.0.1:${setup.fuzzyPort}`,
    ),
  };
}

export function writeRspamdConfig(setup: RspamdSetup): void {
  mkdirSync(HYPERSCAN_CACHE, { recursive: true });
  for (const [path, content] of Object.entries(rspamdFiles(setup))) {
    mkdirSync(join(setup.dir, path, ".."), { recursive: true });
    writeFileSync(join(setup.dir, path), content);
  }
}
