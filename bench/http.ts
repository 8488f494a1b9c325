// `npm run bench -- http`: the Worker's HTTP endpoints served by workerd (through Miniflare, with the
// example configuration) against two floors serving the MTA-STS policy bytes as a fixed response: a
// one-line Worker in the same workerd, and a plain Node `http` server in its own process.
// wrk loads each target on loopback; the figures are requests per second and the CPU time the SERVER
// process spent per request (workerd's or the Node server's, from /proc), so the load generator's
// own CPU never counts.
import { fork, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, rmSync } from "node:fs";
import { request as httpRequest, type IncomingMessage } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { workerPart } from "../core/config/worker.ts";
import { loadConfigFile } from "../relay-node/src/config/file.ts";
import { bundleWorker, startWorker, type RunningWorker } from "../test/harness/worker.ts";
import { mtaStsPolicy } from "../core/mtasts/published.ts";
import { childPid, cpuSeconds } from "./support/cpu.ts";
import { loadWithWrk, requireWrk, type HttpTarget, type LoadShape } from "./support/wrk.ts";
import { optionsOrUsage, wholeFlag } from "./support/options.ts";

const REPO_ROOT = fileURLToPath(new URL("../", import.meta.url));
const EXAMPLE_CONFIG = join(REPO_ROOT, "config/example.yaml");
const STATIC_SERVER = fileURLToPath(new URL("./support/static-server.ts", import.meta.url));
/** One wrk thread: on a 2-core machine the other core is the server's. */
const WRK_THREADS = 1;
const FLOOR_CONTENT_TYPE = "text/plain; charset=utf-8";
/** The workerd floor: a fixed body from a binding, no routing, no configuration. */
const FLOOR_WORKER = `export default { fetch: (_request, env) => new Response(env.BODY, { headers: { "content-type": env.CONTENT_TYPE } }) };`;

const USAGE = `usage: npm run bench -- http [--seconds N] [--warmup N] [--connections N]

  --seconds N      measured load per target, whole seconds (default 5)
  --warmup N       unmeasured load per target before it, whole seconds (default 1)
  --connections N  concurrent keep-alive connections (default 32)`;

interface Options {
  shape: LoadShape;
  warmupSeconds: number;
}

function parseOptions(args: string[]): Options {
  const { values } = parseArgs({
    args,
    options: {
      seconds: { type: "string", default: "5" },
      warmup: { type: "string", default: "1" },
      connections: { type: "string", default: "32" },
    },
  });
  return {
    shape: { seconds: wholeFlag("seconds", values.seconds), connections: wholeFlag("connections", values.connections), threads: WRK_THREADS },
    warmupSeconds: wholeFlag("warmup", values.warmup),
  };
}

/** The static Node server as a child process (so its CPU time is its own); resolves with its port. */
async function startStaticServer(body: string): Promise<{ child: ChildProcess; port: number }> {
  const fixed = JSON.stringify({ headers: { "content-type": FLOOR_CONTENT_TYPE }, bodyBase64: Buffer.from(body).toString("base64") });
  const child = fork(STATIC_SERVER, [fixed], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
  const [message] = (await Promise.race([
    once(child, "message"),
    once(child, "exit").then(() => {
      throw new Error("the static Node server exited before listening");
    }),
  ])) as [{ port: number }];
  return { child, port: message.port };
}

interface Target {
  name: string;
  /** The process whose CPU time is the server's. */
  pid: number;
  http: HttpTarget;
}

type Measurement =
  | { target: Target; bytes: number; requestsPerSecond: number; cpuMicrosPerRequest: number; serverBusy: number; p99Ms: number }
  | { target: Target; unmeasurable: string };

/** One request with an explicit Host header, as wrk will send it. */
async function probe(target: HttpTarget): Promise<{ status: number; body: Buffer }> {
  const headers: Record<string, string> = { host: target.host };
  if (target.body) headers["content-type"] = target.body.contentType;
  const req = httpRequest(target.url, { method: target.method, headers });
  req.end(target.body?.text);
  const [res] = (await once(req, "response")) as [IncomingMessage];
  const chunks: Buffer[] = [];
  for await (const chunk of res) chunks.push(chunk as Buffer);
  return { status: res.statusCode ?? 0, body: Buffer.concat(chunks) };
}

function excerpt(body: Buffer): string {
  const text = body.toString("utf8").trim().replace(/\s+/g, " ");
  return JSON.stringify(text.length > 60 ? `${text.slice(0, 60)}…` : text);
}

async function measure(target: Target, options: Options, scratchDir: string): Promise<Measurement> {
  const first = await probe(target.http);
  if (first.status !== 200) return { target, unmeasurable: `answers HTTP ${first.status} ${excerpt(first.body)}` };
  await loadWithWrk(target.http, { ...options.shape, seconds: options.warmupSeconds }, scratchDir);
  const cpuBefore = cpuSeconds(target.pid);
  const load = await loadWithWrk(target.http, options.shape, scratchDir);
  const cpu = cpuSeconds(target.pid) - cpuBefore;
  if (load.statusErrors > 0) return { target, unmeasurable: `${load.statusErrors} of ${load.requests} responses had status >= 400 under load` };
  if (load.socketErrors > 0) return { target, unmeasurable: `${load.socketErrors} socket errors or timeouts under load` };
  if (load.requests === 0) return { target, unmeasurable: "no request completed" };
  return {
    target,
    bytes: first.body.byteLength,
    requestsPerSecond: load.requests / load.seconds,
    cpuMicrosPerRequest: (cpu / load.requests) * 1e6,
    serverBusy: cpu / load.seconds,
    p99Ms: load.p99Ms,
  };
}

/** Columns padded to their widest cell: the first left-aligned, the others right-aligned. */
function table(rows: string[][]): string {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, col) => (widths[col] = Math.max(widths[col] ?? 0, cell.length)));
  return rows.map((row) => row.map((cell, col) => (col === 0 ? cell.padEnd(widths[col] ?? 0) : cell.padStart(widths[col] ?? 0))).join("  ")).join("\n");
}

function report(measurements: Measurement[], nodeFloor: Measurement, options: Options): string {
  const header = ["target", "bytes", "req/s", "CPU µs/req", "server CPU", "p99 ms", "req/s vs Node", "CPU vs Node"];
  const rows = measurements.map((m) => {
    if ("unmeasurable" in m) return [m.target.name, "-", "-", "-", "-", "-", "-", "-"];
    const ratios =
      "unmeasurable" in nodeFloor
        ? ["-", "-"]
        : [`${(m.requestsPerSecond / nodeFloor.requestsPerSecond).toFixed(2)}×`, `${(m.cpuMicrosPerRequest / nodeFloor.cpuMicrosPerRequest).toFixed(2)}×`];
    return [
      m.target.name,
      String(m.bytes),
      m.requestsPerSecond.toFixed(0),
      m.cpuMicrosPerRequest.toFixed(1),
      `${(m.serverBusy * 100).toFixed(0)}%`,
      m.p99Ms.toFixed(2),
      ...ratios,
    ];
  });
  const shape = `${options.shape.seconds} s per target after ${options.warmupSeconds} s warm-up, ${options.shape.connections} connections, wrk with ${WRK_THREADS} thread`;
  const notes = measurements.flatMap((m) => ("unmeasurable" in m ? [`NOT MEASURABLE: ${m.target.name} ${m.unmeasurable}`] : []));
  return [table([header, ...rows]), "", shape, ...notes].join("\n");
}

export async function run(args: string[]): Promise<number> {
  const options = optionsOrUsage(parseOptions, args, USAGE);
  if (options === undefined) return 2;
  requireWrk();

  const config = loadConfigFile(EXAMPLE_CONFIG);
  const domain = config.domains[0];
  if (domain === undefined) throw new Error(`${EXAMPLE_CONFIG} has no domain`);
  const configJson = JSON.stringify(workerPart(config));
  const policy = mtaStsPolicy(domain);

  const scratchDir = mkdtempSync(join(tmpdir(), "edgemx-bench-http-"));
  let worker: RunningWorker | undefined;
  let staticServer: ChildProcess | undefined;
  try {
    console.error("bundling the Worker (wrangler deploy --dry-run)…");
    const bundle = await bundleWorker(join(scratchDir, "worker"));
    console.error("starting workerd (Miniflare) and the static Node server…");
    // Each Worker on its own loopback socket: requests skip Miniflare's development entry Worker.
    worker = await startWorker({
      bundle,
      configJson,
      directSocket: true,
      extraWorkers: [{ name: "floor", script: FLOOR_WORKER, bindings: { BODY: policy, CONTENT_TYPE: FLOOR_CONTENT_TYPE } }],
    });
    const workerd = childPid(process.pid, "workerd");
    const edgemxUrl = worker.url;
    const floorUrl = worker.urlOf("floor");
    const node = await startStaticServer(policy);
    staticServer = node.child;
    if (node.child.pid === undefined) throw new Error("the static Node server has no pid");

    const edgemx = (name: string, host: string, path: string, http?: Pick<HttpTarget, "method" | "body">): Target => ({
      name,
      pid: workerd,
      http: { url: new URL(path, edgemxUrl).href, host, method: "GET", ...http },
    });
    const autodiscoverRequest = [
      '<?xml version="1.0" encoding="utf-8"?>',
      '<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006">',
      "  <Request>",
      `    <EMailAddress>user@${domain.name}</EMailAddress>`,
      "    <AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema>",
      "  </Request>",
      "</Autodiscover>",
      "",
    ].join("\n");
    const nodeFloor: Target = {
      name: "policy bytes, Node http",
      pid: node.child.pid,
      http: { url: `http://127.0.0.1:${node.port}/`, host: `mta-sts.${domain.name}`, method: "GET" },
    };
    const targets: Target[] = [
      edgemx("autoconfig GET, workerd", `autoconfig.${domain.name}`, "/mail/config-v1.1.xml"),
      edgemx("autodiscover POST, workerd", domain.name, "/autodiscover/autodiscover.xml", {
        method: "POST",
        body: { contentType: "text/xml; charset=utf-8", text: autodiscoverRequest },
      }),
      edgemx("MTA-STS GET, workerd", `mta-sts.${domain.name}`, "/.well-known/mta-sts.txt"),
      { name: "policy bytes, one-line Worker", pid: workerd, http: { url: floorUrl.href, host: `mta-sts.${domain.name}`, method: "GET" } },
      nodeFloor,
    ];

    const measurements: Measurement[] = [];
    for (const target of targets) {
      console.error(`loading ${target.name}…`);
      measurements.push(await measure(target, options, scratchDir));
    }
    const nodeMeasurement = measurements.find((m) => m.target === nodeFloor);
    if (nodeMeasurement === undefined) throw new Error("the Node floor was not measured");
    console.log(report(measurements, nodeMeasurement, options));
    return measurements.some((m) => "unmeasurable" in m) ? 1 : 0;
  } finally {
    staticServer?.disconnect();
    await worker?.stop();
    rmSync(scratchDir, { recursive: true, force: true });
  }
}
