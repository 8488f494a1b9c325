// The edgemx Worker in workerd, for tests and benchmarks: bundled as `wrangler deploy` bundles it, then
// run by Miniflare on loopback with the configuration and bindings given — the one place that knows
// how (test/integration: postmaster page, relay acceptance; bench: http, judge).
import { execFile } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { Miniflare } from "miniflare";
import { unstable_readConfig } from "wrangler";
import { z } from "zod";

const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));
const WRANGLER_TOML = join(REPO_ROOT, "wrangler.toml");

/**
 * The wrangler.toml settings the bundle is built with. Checked here because wrangler's declared Config
 * type comes from a package wrangler bundles instead of installing (@cloudflare/workers-utils).
 */
const WranglerSettings = z.object({ main: z.string().optional(), compatibility_date: z.string().optional(), compatibility_flags: z.array(z.string()) });

export interface WorkerBundle {
  /** The bundled ES module, as `wrangler deploy` would upload it. */
  script: string;
  compatibilityDate: string;
  compatibilityFlags: string[];
}

/**
 * `wrangler deploy --dry-run --outdir <outDir>` with a copy of wrangler.toml that has no [build] step:
 * the build step would rewrite workers/src/config.generated.json while other tests read it.
 * The configuration reaches the Worker as the EDGEMX_CONFIG binding instead (startWorker).
 */
export async function bundleWorker(outDir: string): Promise<WorkerBundle> {
  const wrangler = WranglerSettings.parse(unstable_readConfig({ config: WRANGLER_TOML }, { hideWarnings: true }));
  const compatibilityDate = wrangler.compatibility_date;
  if (compatibilityDate === undefined) throw new Error(`${WRANGLER_TOML} has no compatibility_date`);
  mkdirSync(outDir, { recursive: true });
  const toml = join(outDir, "wrangler.toml");
  const bundleDir = join(outDir, "bundle");
  writeFileSync(
    toml,
    [
      `name = "edgemx"`,
      `main = ${JSON.stringify(resolve(REPO_ROOT, wrangler.main ?? "workers/src/index.ts"))}`,
      `compatibility_date = ${JSON.stringify(compatibilityDate)}`,
      `compatibility_flags = ${JSON.stringify(wrangler.compatibility_flags)}`,
      "",
    ].join("\n"),
  );
  const wranglerBin = fileURLToPath(new URL("bin/wrangler.js", import.meta.resolve("wrangler/package.json")));
  await promisify(execFile)(process.execPath, [wranglerBin, "deploy", "--dry-run", "--config", toml, "--outdir", bundleDir], {
    cwd: outDir,
    env: { ...process.env, WRANGLER_SEND_METRICS: "false", WRANGLER_LOG_PATH: outDir, CLOUDFLARE_CF_FETCH_ENABLED: "false" },
  });
  return { script: readFileSync(join(bundleDir, "index.js"), "utf8"), compatibilityDate, compatibilityFlags: wrangler.compatibility_flags };
}

/** Another Worker in the same workerd, e.g. a benchmark's one-line floor; reachable on its own direct socket. */
export interface ExtraWorker {
  name: string;
  /** An ES module with a default export. */
  script: string;
  bindings?: Record<string, string>;
}

export interface WorkerOptions {
  bundle: WorkerBundle;
  /** The Worker's part of a configuration (workerPart, core/config/worker.ts) as JSON: the EDGEMX_CONFIG binding. */
  configJson: string;
  /** More text bindings: DOH_URL, VERDICT_TOKEN … */
  bindings?: Record<string, string>;
  /** D1 databases by binding name (REPORTS_DB), each empty and in memory for this run. */
  d1Databases?: string[];
  /**
   * Serve the edgemx Worker on its own loopback socket, so requests skip Miniflare's development
   * entry Worker, which otherwise runs in front of every request (what benchmarks want).
   */
  directSocket?: boolean;
  extraWorkers?: ExtraWorker[];
  /**
   * Fetcher bindings of workerd's loopback network trusting `trustedCertificates` (a test CA), presenting
   * `keypair` where given: the scan endpoint's SCAN_MTLS, as Cloudflare's [[mtls_certificates]] binding is.
   */
  networkBindings?: Record<string, { trustedCertificates: string[]; keypair?: { privateKey: string; certificateChain: string } }>;
  /** Miniflare's /cdn-cgi/local/email on the entry URL: a POST there runs the Worker's email() (from, to as query parameters, the raw message as body). */
  emailTrigger?: boolean;
  /** Where the Worker's console lines go instead of this process's output (a benchmark's thousands of "email routed" lines). */
  onLog?: (message: string) => void;
  /** The entry's port on 127.0.0.1 (default: a free one): a Worker started again after a crash keeps its URL. */
  port?: number;
}

export interface RunningWorker {
  /** Where the edgemx Worker answers. */
  url: URL;
  miniflare: Miniflare;
  /** The direct socket of an extra Worker. */
  urlOf(name: string): URL;
  /** Ends workerd; calling it again does nothing more. */
  stop(): Promise<void>;
}

/** The name of the edgemx Worker inside Miniflare. */
const EDGEMX = "edgemx";
const DIRECT_SOCKET = { unsafeDirectSockets: [{ host: "127.0.0.1", port: 0 }] };

function textBindings(values: Record<string, string> = {}): Record<string, { type: "text"; value: string }> {
  return Object.fromEntries(Object.entries(values).map(([name, value]) => [name, { type: "text" as const, value }]));
}

function d1Bindings(names: readonly string[] = []): Record<string, { type: "d1"; id: string }> {
  return Object.fromEntries(names.map((name) => [name, { type: "d1" as const, id: name }]));
}

function networkBindings(bindings: WorkerOptions["networkBindings"] = {}) {
  return Object.fromEntries(
    Object.entries(bindings).map(([name, tls]) => [
      name,
      {
        type: "network" as const,
        allow: ["local"],
        tlsOptions: { trustedCertificates: tls.trustedCertificates, ...(tls.keypair ? { keypair: tls.keypair } : {}) },
      },
    ]),
  );
}

function esmManifest(contents: string) {
  return { mainModule: "index.js", modules: { "index.js": { type: "esm" as const, contents } } };
}

/** workerd on 127.0.0.1 running the bundle; resolves once it answers. */
export async function startWorker(options: WorkerOptions): Promise<RunningWorker> {
  const { bundle, extraWorkers = [] } = options;
  const runtime = { compatibilityDate: bundle.compatibilityDate, compatibilityFlags: bundle.compatibilityFlags };
  const miniflare = new Miniflare({
    host: "127.0.0.1",
    port: options.port ?? 0,
    cf: false,
    logRequests: false,
    enableDevRegistry: false,
    ...(options.emailTrigger ? { unsafeTriggerHandlers: true } : {}),
    ...(options.onLog ? { handleStructuredLogs: (log: { message: string }) => options.onLog?.(log.message) } : {}),
    workers: [
      {
        ...(options.directSocket ? { dev: DIRECT_SOCKET } : {}),
        config: {
          name: EDGEMX,
          ...runtime,
          manifest: esmManifest(bundle.script),
          env: {
            ...textBindings({ ...options.bindings, EDGEMX_CONFIG: options.configJson }),
            ...d1Bindings(options.d1Databases),
            ...networkBindings(options.networkBindings),
          },
        },
      },
      ...extraWorkers.map((extra) => ({
        dev: DIRECT_SOCKET,
        config: { name: extra.name, ...runtime, manifest: esmManifest(extra.script), env: textBindings(extra.bindings) },
      })),
    ],
  });
  try {
    const entryUrl = await miniflare.ready;
    const url = options.directSocket ? await miniflare.unsafeGetDirectURL(EDGEMX) : entryUrl;
    const extraUrls = new Map<string, URL>();
    for (const extra of extraWorkers) extraUrls.set(extra.name, await miniflare.unsafeGetDirectURL(extra.name));
    let stopped: Promise<void> | undefined;
    return {
      url,
      miniflare,
      urlOf(name) {
        const extraUrl = extraUrls.get(name);
        if (extraUrl === undefined) throw new Error(`no extra Worker named ${JSON.stringify(name)}`);
        return extraUrl;
      },
      stop: () => (stopped ??= miniflare.dispose()),
    };
  } catch (err) {
    await miniflare.dispose();
    throw err;
  }
}
