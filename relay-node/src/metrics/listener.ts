// The metrics and health listener (relay.metrics, docs/operations.md), plain HTTP on loopback by
// default:
//   GET /metrics  Prometheus's text format; the dependencies are probed first (health.ts), so
//                 edgemx_dependency_up is as fresh as the scrape
//   GET /healthz  200 while the process lives and its event loop turns
//   GET /readyz   200 when every dependency the configuration uses answers its probe, else 503; the
//                 body has one line per dependency, "ok" or why not
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { listenOn } from "../net/listen.ts";
import type { DependencyProbes, ProbeFinding } from "./health.ts";
import type { Dependency, RelayMetrics } from "./metrics.ts";

export interface RunningMetricsListener {
  port: number;
  close(): Promise<void>;
}

/** The readiness body: "dns ok", "clamd down: …", one line each. */
export function readinessReport(findings: ReadonlyMap<Dependency, ProbeFinding>): { ready: boolean; body: string } {
  const lines = [...findings].map(([name, problem]) => (problem === null ? `${name} ok` : `${name} down: ${problem}`));
  const ready = [...findings.values()].every((problem) => problem === null);
  return { ready, body: `${ready ? "ready" : "not ready"}\n${lines.join("\n")}\n` };
}

function answer(response: ServerResponse, status: number, body: string, contentType = "text/plain; charset=utf-8"): void {
  response.writeHead(status, { "content-type": contentType, "cache-control": "no-store" });
  response.end(body);
}

async function serve(request: IncomingMessage, response: ServerResponse, metrics: RelayMetrics, probes: DependencyProbes): Promise<void> {
  if (request.method !== "GET" && request.method !== "HEAD") {
    response.setHeader("allow", "GET, HEAD");
    return answer(response, 405, "GET or HEAD\n");
  }
  const path = new URL(request.url ?? "/", "http://metrics").pathname;
  switch (path) {
    case "/metrics":
      metrics.dependencies(await probes.probe());
      return answer(response, 200, await metrics.registry.metrics(), metrics.registry.contentType);
    case "/healthz":
      return answer(response, 200, "ok\n");
    case "/readyz": {
      const findings = await probes.probe();
      metrics.dependencies(findings);
      const { ready, body } = readinessReport(findings);
      return answer(response, ready ? 200 : 503, body);
    }
    default:
      return answer(response, 404, "/metrics, /healthz or /readyz\n");
  }
}

/** Listens on host:port; rejects with the listen error (the relay decides what it means). */
export async function startMetricsListener(
  host: string,
  port: number,
  metrics: RelayMetrics,
  probes: DependencyProbes,
  onError: (err: unknown) => void,
): Promise<RunningMetricsListener> {
  const server = createServer((request, response) => {
    serve(request, response, metrics, probes).catch((err: unknown) => {
      onError(err);
      if (!response.headersSent) answer(response, 500, "the metrics could not be read; the relay's log says why\n");
      else response.destroy();
    });
  });
  const bound = await listenOn(server, { host, port });
  return {
    port: bound,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        // A scraper keeps its connection open between scrapes: it must not hold the stop.
        server.closeAllConnections();
      }),
  };
}
