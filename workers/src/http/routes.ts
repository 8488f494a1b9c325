// The routing table of the Worker's HTTP side: which host kind serves which path with which methods.
import { Router, type IRequest } from "itty-router";
import type { WorkerConfig, WorkerDomainConfig } from "../../../core/config/worker.ts";
import type { Env } from "../runtime/env.ts";
import type { RecordFacts } from "../../../core/records/records.ts";
import { serveAutoconfig } from "./autoconfig.ts";
import { serveAutodiscoverJson, serveAutodiscoverXml } from "./autodiscover.ts";
import { serveDnsRecords } from "./dns-records.ts";
import { classifyHost, type HostKind } from "./hosts.ts";
import { serveMtaStsPolicy } from "./mta-sts.ts";
import { servePostmasterPage } from "./postmaster.ts";
import { judgeOptions, judgeResolver } from "../runtime/verdict.ts";
import { methodNotAllowed, notFound, plain } from "./respond.ts";
import { serveTlsReport } from "./tlsrpt.ts";
import { serveVerdict } from "./verdict.ts";
import { serveReportIntake } from "./reports.ts";
import { isAdminPath, serveAdmin } from "./admin.ts";

export interface RouteContext {
  config: WorkerConfig;
  domain: WorkerDomainConfig;
  env: Env;
  facts: RecordFacts;
}

type Handler = (request: IRequest, ctx: RouteContext) => Response | Promise<Response>;
type Methods = Partial<Record<"GET" | "POST", Handler>>;

// Paths are matched lower-cased: Outlook sends /Autodiscover/Autodiscover.xml in any case.
const TABLE: Record<HostKind, Record<string, Methods>> = {
  apex: {
    "/.well-known/autoconfig/mail/config-v1.1.xml": { GET: (r, c) => serveAutoconfig(r, c.domain, c.config) },
    "/autodiscover/autodiscover.xml": {
      GET: (r, c) => serveAutodiscoverXml(r, c.domain, c.config),
      POST: (r, c) => serveAutodiscoverXml(r, c.domain, c.config),
    },
    "/autodiscover/autodiscover.json": { GET: (r, c) => serveAutodiscoverJson(r, c.config) },
    "/autodiscover/autodiscover.json/v1.0/:address": { GET: (r, c) => serveAutodiscoverJson(r, c.config, r.params["address"]) },
    "/postmaster": { GET: (r, c) => servePostmasterPage(r, c.domain, c.config, c.facts) },
    "/.well-known/edgemx/dns": { GET: (r, c) => serveDnsRecords(r, c.config, c.facts) },
    "/.well-known/tlsrpt": { POST: (r, c) => serveTlsReport(r, c.config, c.env) },
  },
  autoconfig: {
    "/mail/config-v1.1.xml": { GET: (r, c) => serveAutoconfig(r, c.domain, c.config) },
  },
  autodiscover: {
    "/autodiscover/autodiscover.xml": {
      GET: (r, c) => serveAutodiscoverXml(r, c.domain, c.config),
      POST: (r, c) => serveAutodiscoverXml(r, c.domain, c.config),
    },
    "/autodiscover/autodiscover.json": { GET: (r, c) => serveAutodiscoverJson(r, c.config) },
    "/autodiscover/autodiscover.json/v1.0/:address": { GET: (r, c) => serveAutodiscoverJson(r, c.config, r.params["address"]) },
  },
  "mta-sts": {
    "/.well-known/mta-sts.txt": { GET: (_r, c) => serveMtaStsPolicy(c.domain) },
  },
  postmaster: {
    "/": { GET: (r, c) => servePostmasterPage(r, c.domain, c.config, c.facts) },
    "/postmaster": { GET: (r, c) => servePostmasterPage(r, c.domain, c.config, c.facts) },
    "/.well-known/edgemx/dns": { GET: (r, c) => serveDnsRecords(r, c.config, c.facts) },
    "/.well-known/tlsrpt": { POST: (r, c) => serveTlsReport(r, c.config, c.env) },
  },
};

function buildRouter(paths: Record<string, Methods>) {
  const router = Router<IRequest, [RouteContext], Response>({
    catch: (err) => {
      console.error(JSON.stringify({ msg: "handler failed", error: String(err) }));
      return plain(500, "Internal error; the failure has been logged");
    },
  });
  for (const [path, methods] of Object.entries(paths)) {
    const allowed = Object.keys(methods);
    for (const [method, handler] of Object.entries(methods) as [keyof Methods, Handler][]) {
      router[method === "GET" ? "get" : "post"](path, handler);
      // RFC 9110 §9.3.2: HEAD is GET without the content.
      if (method === "GET") {
        router.head(path, async (r, c) => {
          const res = await handler(r, c);
          return new Response(null, { status: res.status, headers: res.headers });
        });
        allowed.push("HEAD");
      }
    }
    router.all(path, () => methodNotAllowed(allowed));
  }
  router.all("*", (r) => notFound(`no such path ${new URL(r.url).pathname} on this host`));
  return router;
}

const ROUTERS = Object.fromEntries(Object.entries(TABLE).map(([kind, paths]) => [kind, buildRouter(paths)])) as Record<
  HostKind,
  ReturnType<typeof buildRouter>
>;

/** Serves one HTTP request for the given configuration. */
export async function handleHttp(request: Request, config: WorkerConfig, env: Env, facts: RecordFacts = {}): Promise<Response> {
  const url = new URL(request.url);
  // The verdict API answers on every host the Worker is reached by (the relay may use workers.dev).
  if (url.pathname === "/v1/verdict") {
    if (request.method !== "POST") return methodNotAllowed(["POST"]);
    try {
      return await serveVerdict(request, config, env, judgeResolver(config, env), judgeOptions(env));
    } catch (err) {
      console.error(JSON.stringify({ msg: "verdict failed", error: String(err) }));
      return plain(500, "The judge failed on this message; the failure has been logged (treat as temporary)");
    }
  }
  // The relay's hand-over of report mail, like the verdict API, answers on every host.
  if (url.pathname === "/v1/reports") {
    if (request.method !== "POST") return methodNotAllowed(["POST"]);
    try {
      return await serveReportIntake(request, config, env);
    } catch (err) {
      console.error(JSON.stringify({ msg: "report intake failed", error: String(err) }));
      return plain(500, "The report intake failed; the failure has been logged (treat as temporary)");
    }
  }
  // The postmaster dashboard answers on every host too, behind its own authentication.
  if (isAdminPath(url.pathname)) {
    try {
      return await serveAdmin(request, config, env);
    } catch (err) {
      console.error(JSON.stringify({ msg: "dashboard failed", error: String(err) }));
      return plain(500, "The dashboard failed; the failure has been logged");
    }
  }
  const match = classifyHost(request.headers.get("host") ?? url.host, config);
  if (!match) return notFound(`the host ${url.hostname} is not a configured mail domain`);
  url.pathname = url.pathname.toLowerCase();
  const routed = new Request(url.toString(), request);
  return ROUTERS[match.kind].fetch(routed, { config, domain: match.domain, env, facts });
}
