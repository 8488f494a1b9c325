// Haraka for the mx benchmark: installed from npm into a folder of its own at bench time (never a
// dependency of this repository), configured there as an instance with the plugins that do what
// edgemx's checks do, where they work offline, and started as `node <preload> bin/haraka -c <dir>`.
//
// Two things would otherwise make Haraka skip work that edgemx does, and are set right by a
// preload (`--require`, written into the instance):
// - DNS: Haraka and its plugins use node:dns, several through their own `new Resolver()`, which
//   reads /etc/resolv.conf and not dns.setServers(). The preload points the default resolver at the
//   harness's unbound and makes every Resolver created afterwards use it too.
// - The test TLD: haraka-tld knows only the real TLDs, so helo.checks would find mail.sender.test
//   no valid host name. The preload adds "test" to its lists, as the Internet's TLDs are there.
// - The client's address: haraka-net-utils counts loopback (and any address bound to a local
//   interface) as private, and dns-list and spf then skip the client altogether (helo.checks too,
//   by default). The preload makes the benchmark's client address count as public, as every
//   Internet client of an MX is; all other addresses are judged as before.
// A verification plugin, last before the queue, refuses the message (550) unless every check left a
// passing result: so a run where a check silently did nothing fails loudly.
import { execFile } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";

export interface HarakaInstall {
  /** The npm prefix and Haraka instance folder (config/, plugins/, node_modules/, queue/). */
  dir: string;
  version: string;
  /** bin/haraka of the install. */
  bin: string;
}

/** `npm install --prefix <dir> Haraka` (scripts ignored: none is needed, and one would build syslog bindings). */
export async function installHaraka(dir: string): Promise<HarakaInstall> {
  const bin = join(dir, "node_modules", "Haraka", "bin", "haraka");
  if (!existsSync(bin)) {
    mkdirSync(dir, { recursive: true });
    await promisify(execFile)("npm", ["install", "--prefix", dir, "--no-audit", "--no-fund", "--ignore-scripts", "--loglevel=error", "Haraka"], {
      timeout: 300_000,
      maxBuffer: 16 * 1024 * 1024,
    });
  }
  const version = (JSON.parse(readFileSync(join(dir, "node_modules", "Haraka", "package.json"), "utf8")) as { version: string }).version;
  return { dir, version, bin };
}

export interface HarakaInstance {
  port: number;
  /** Where the harness's unbound listens. */
  dnsPort: number;
  /** The load generator's address, to be treated as a public client. */
  clientIp: string;
  /** Our own name (config/me) and the domain we receive for (config/host_list). */
  hostname: string;
  domain: string;
  dnsblZone: string;
  /** The sender's domain: its DKIM signature must verify. */
  senderDomain: string;
  /** "discard": queue/discard. "durable": Haraka's outbound queue (fsynced files), delivered to the sink. */
  queue: { type: "discard" } | { type: "durable"; sinkPort: number };
  /** Haraka's cluster workers (smtp.ini nodes); 0: one process, no cluster. */
  nodes: number;
  logLevel: string;
}

/** The plugins, in order: Haraka's equivalents of edgemx's checks, then verification, then the queue. */
export const HARAKA_PLUGINS = ["dns-list", "helo.checks", "mail_from.is_resolvable", "rcpt_to.in_host_list", "spf", "dkim", "headers", "attachment"] as const;

const PRELOAD = `'use strict'
// Written by edgemx's bench/support/haraka.ts: DNS to the harness's unbound, the bench client public.
const dns = require('node:dns')
const servers = [process.env.BENCH_DNS_SERVER]
dns.setServers(servers)
dns.promises.setServers(servers)
for (const ns of [dns, dns.promises]) {
  const Base = ns.Resolver
  ns.Resolver = class BenchResolver extends Base {
    constructor(options) {
      super(options)
      this.setServers(servers)
    }
  }
}
const fromHaraka = (name) => require(require.resolve(name, { paths: [process.env.BENCH_HARAKA_DIR] }))
// The test TLD is the harness's Internet: a public suffix like any other (helo.checks' valid_hostname).
const tlds = fromHaraka('haraka-tld')
tlds.ready.then(() => {
  tlds.top_level_tlds.add('test')
  tlds.public_suffix_list.set('test', [])
})
const netUtils = fromHaraka('haraka-net-utils')
const publicIp = process.env.BENCH_PUBLIC_CLIENT
for (const name of ['is_local_ip', 'is_private_ip']) {
  const original = netUtils[name]
  netUtils[name] = (ip) => (ip === publicIp || ip === '::ffff:' + publicIp ? false : original(ip))
}
`;

/**
 * Refuses, at the queue hook, a message for which any check did not leave its passing result; the
 * results are Haraka's own (connection.results, transaction.results).
 */
const VERIFY_PLUGIN = `'use strict'
// Written by edgemx's bench/support/haraka.ts: every check must have run and passed.
exports.register = function () {
  this.register_hook('queue', 'verify')
}
exports.verify = function (next, connection) {
  const txn = connection.transaction
  const c = (name) => connection.results.get(name) || {}
  const t = (name) => txn.results.get(name) || {}
  const has = (list, value) => Array.isArray(list) && list.some((v) => String(v).includes(value))
  const missing = []
  if (!has(c('dns-list').pass, process.env.BENCH_DNSBL_ZONE)) missing.push('dns-list ' + JSON.stringify(c('dns-list')))
  const helo = c('helo.checks')
  if (!has(helo.pass, 'forward_dns') || !has(helo.pass, 'rdns_match') || (helo.fail || []).length > 0) missing.push('helo.checks ' + JSON.stringify(helo))
  if (!has(t('mail_from.is_resolvable').pass, 'has_fwd_dns')) missing.push('mail_from.is_resolvable ' + JSON.stringify(t('mail_from.is_resolvable')))
  const spf = t('spf')
  if (spf.result !== 'Pass' || spf.scope !== 'mfrom') missing.push('spf ' + JSON.stringify(spf))
  if (!has(t('dkim').pass, process.env.BENCH_SENDER_DOMAIN)) missing.push('dkim ' + JSON.stringify(t('dkim')))
  if ((t('headers').fail || []).length > 0 || (t('headers').pass || []).length === 0) missing.push('headers ' + JSON.stringify(t('headers')))
  if ((t('attachment').fail || []).length > 0) missing.push('attachment ' + JSON.stringify(t('attachment')))
  if (missing.length > 0) {
    connection.logerror(this, 'bench verification failed: ' + missing.join('; '))
    return next(DENY, 'bench: a check did not pass: ' + missing.join('; ').slice(0, 400))
  }
  next()
}
`;

/** Queues into Haraka's outbound queue (each file fsynced before rename) and routes delivery to the sink. */
const DURABLE_PLUGIN = `'use strict'
// Written by edgemx's bench/support/haraka.ts: Haraka's own durable queue, delivered to smtp-sink.
const outbound = require('./outbound')
exports.register = function () {
  this.register_hook('queue', 'durable')
  this.register_hook('get_mx', 'sink')
}
exports.durable = function (next, connection) {
  outbound.send_trans_email(connection.transaction, next)
}
exports.sink = function (next) {
  next(OK, { exchange: '127.0.0.1', port: Number(process.env.BENCH_SINK_PORT), priority: 10 })
}
`;

/** Writes the instance's config/ and plugins/ (replacing earlier ones); returns the environment Haraka needs. */
export function writeHarakaInstance(install: HarakaInstall, instance: HarakaInstance): { env: NodeJS.ProcessEnv; preload: string; queueDir: string } {
  const config = join(install.dir, "config");
  const plugins = join(install.dir, "plugins");
  const queueDir = join(install.dir, "queue");
  for (const folder of [config, plugins, queueDir]) mkdirSync(folder, { recursive: true });
  const files: Record<string, string> = {
    me: `${instance.hostname}\n`,
    host_list: `${instance.domain}\n`,
    queue_dir: `${queueDir}\n`,
    "smtp.ini": [`listen=127.0.0.1:${instance.port}`, ...(instance.nodes > 0 ? [`nodes=${instance.nodes}`] : []), "inactivity_timeout=300", ""].join("\n"),
    "log.ini": ["[main]", `level=${instance.logLevel}`, "timestamps=false", "format=default", ""].join("\n"),
    plugins: [...HARAKA_PLUGINS, "bench_verify", instance.queue.type === "discard" ? "queue/discard" : "bench_durable", ""].join("\n"),
    // One zone, answered by the harness; no periodic self-test queries.
    "dns-list.ini": [
      "[main]",
      "periodic_checks=0",
      `zones[]=${instance.dnsblZone}`,
      "search=all",
      "",
      `[${instance.dnsblZone}]`,
      "type=block",
      "ipv6=false",
      "",
    ].join("\n"),
    // Every check of the plugin's defaults, rejecting as by default; nothing skipped for private clients.
    "helo.checks.ini": ["[skip]", "private_ip=false", "relaying=false", ""].join("\n"),
    // The test zones live on loopback: an MX host in 127/8 is not bogus here.
    "mail_from.is_resolvable.ini": [
      "[main]",
      "allow_mx_ip=false",
      "re_bogus_ip=^(?:0\\.0\\.0\\.0|255\\.255\\.255\\.255)$",
      "",
      "[reject]",
      "no_mx=deny",
      "",
    ].join("\n"),
    // SPF of MAIL FROM (and HELO): a fail is refused.
    "spf.ini": ["[main]", "", "[deny]", "mfrom_fail=true", "helo_fail=false", ""].join("\n"),
    "dkim.ini": ["[sign]", "enabled=false", "", "[verify]", "enabled=true", ""].join("\n"),
    // Outbound (the durable row): plain SMTP to the sink, no TLS attempt, no local-MX refusal.
    "outbound.ini": ["[main]", "enable_tls=false", "local_mx_ok=true", "concurrency_max=100", ""].join("\n"),
  };
  // What `haraka -i` copies into a new instance and we do not write ourselves: connection.ini (the
  // greeting, the banner, the limits), as Haraka ships it.
  copyFileSync(join(install.dir, "node_modules", "Haraka", "config", "connection.ini"), join(config, "connection.ini"));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(config, name), text);
  writeFileSync(join(plugins, "bench_verify.js"), VERIFY_PLUGIN);
  writeFileSync(join(plugins, "bench_durable.js"), DURABLE_PLUGIN);
  const preload = join(install.dir, "bench-preload.cjs");
  writeFileSync(preload, PRELOAD);
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    BENCH_DNS_SERVER: `127.0.0.1:${instance.dnsPort}`,
    BENCH_PUBLIC_CLIENT: instance.clientIp,
    BENCH_HARAKA_DIR: join(install.dir, "node_modules", "Haraka"),
    BENCH_DNSBL_ZONE: instance.dnsblZone,
    BENCH_SENDER_DOMAIN: instance.senderDomain,
    ...(instance.queue.type === "durable" ? { BENCH_SINK_PORT: String(instance.queue.sinkPort) } : { YES_REALLY_DO_DISCARD: "1" }),
  };
  return { env, preload, queueDir };
}
