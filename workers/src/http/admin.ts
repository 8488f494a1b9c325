// The postmaster dashboard: /admin (the domains), /admin/<domain> (one domain's reports) and the JSON API
// /admin/api/… with one answer per view. On every host the Worker answers on (an Access application may
// sit on its own host), always behind authorizeDashboard: nothing is read before it says yes.
import type { WorkerConfig } from "../../../core/config/worker.ts";
import { methodNotAllowed, notFound, plain } from "./respond.ts";
import { pageLanguage } from "../postmaster/language.ts";
import type { Env } from "../runtime/env.ts";
import { authorizeDashboard } from "../admin/auth.ts";
import { contentSecurityPolicy, renderDomainPage, renderIndexPage } from "../admin/page.ts";
import { dmarcTimeline, domainDashboard, domainTotals, failingSources, failureReports, policyView, refusals, tlsTimeline, topSources } from "../admin/views.ts";

/** The private data of a domain: never kept by a cache, never framed, never leaked by Referer. */
const PRIVATE = { "cache-control": "no-store", "x-content-type-options": "nosniff", "referrer-policy": "no-referrer" };

function json(value: unknown): Response {
  return new Response(JSON.stringify(value), { status: 200, headers: { "content-type": "application/json; charset=utf-8", ...PRIVATE } });
}

async function html(body: string, lang: string): Promise<Response> {
  return new Response(body, {
    status: 200,
    headers: { "content-type": "text/html; charset=utf-8", "content-language": lang, "content-security-policy": await contentSecurityPolicy(), ...PRIVATE },
  });
}

export function isAdminPath(pathname: string): boolean {
  return pathname === "/admin" || pathname.startsWith("/admin/");
}

const API_VIEWS = ["policy", "dmarc/timeline", "dmarc/sources", "dmarc/failing-sources", "dmarc/failure-reports", "tlsrpt"] as const;

export async function serveAdmin(request: Request, config: WorkerConfig, env: Env): Promise<Response> {
  if (request.method !== "GET" && request.method !== "HEAD") return methodNotAllowed(["GET", "HEAD"]);
  const access = await authorizeDashboard(request, config, env);
  if (!access.ok) {
    const challenge: Record<string, string> = access.status === 401 ? { "www-authenticate": 'Bearer realm="edgemx dashboard"' } : {};
    return plain(access.status, `Not authorized: ${access.reason}`, challenge);
  }
  const db = env.REPORTS_DB;
  if (!db) return plain(503, "The Worker has no REPORTS_DB binding: no reports are kept, so there is nothing to show (docs/reports.md)");
  const url = new URL(request.url);
  const lang = pageLanguage(url.searchParams.get("lang"), request.headers.get("accept-language"));
  const parts = url.pathname.replace(/\/+$/, "").split("/").slice(2).map(decodeURIComponent);
  const domainNamed = (name: string | undefined) => config.domains.find((d) => d.name === name?.toLowerCase());

  if (parts.length === 0) return html(renderIndexPage(lang, access.who, await domainTotals(db, config.domains), await refusals(db)), lang);
  if (parts[0] !== "api") {
    const domain = domainNamed(parts[0]);
    if (!domain || parts.length > 1) return notFound(`no dashboard at ${url.pathname}`);
    return html(renderDomainPage(lang, access.who, await domainDashboard(db, domain)), lang);
  }
  if (parts.length === 2 && parts[1] === "domains") return json(await domainTotals(db, config.domains));
  if (parts.length === 2 && parts[1] === "refusals") return json(await refusals(db));
  const domain = domainNamed(parts[1]);
  const view = parts.slice(2).join("/") as (typeof API_VIEWS)[number];
  if (!domain || !API_VIEWS.includes(view)) return notFound(`no API view at ${url.pathname}; views: domains, refusals, <domain>/{${API_VIEWS.join(",")}}`);
  switch (view) {
    case "policy":
      return json(await policyView(db, domain));
    case "dmarc/timeline":
      return json(await dmarcTimeline(db, domain.name));
    case "dmarc/sources":
      return json(await topSources(db, domain.name));
    case "dmarc/failing-sources":
      return json(await failingSources(db, domain.name));
    case "dmarc/failure-reports":
      return json(await failureReports(db, domain.name));
    case "tlsrpt":
      return json(await tlsTimeline(db, domain.name));
  }
}
