// GET <domain>/postmaster and postmaster host "/": the postmaster page in English or German.
import type { WorkerConfig, WorkerDomainConfig } from "../../../core/config/worker.ts";
import { domainRecords, type RecordFacts } from "../../../core/records/records.ts";
import { pageLanguage } from "../postmaster/language.ts";
import { renderPostmasterPage } from "../postmaster/page.ts";

/** The page loads nothing: inline styles only, no scripts, no images, no frames, no forms. */
const CONTENT_SECURITY_POLICY = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

export async function servePostmasterPage(request: Request, domain: WorkerDomainConfig, config: WorkerConfig, facts: RecordFacts): Promise<Response> {
  const lang = pageLanguage(new URL(request.url).searchParams.get("lang"), request.headers.get("accept-language"));
  const records = await domainRecords(domain, config, facts);
  return new Response(renderPostmasterPage({ lang, domain, config, records }), {
    status: 200,
    headers: {
      "content-type": "text/html; charset=utf-8",
      "content-language": lang,
      // Without ?lang= the language follows Accept-Language: caches must keep one copy per language.
      vary: "accept-language",
      "cache-control": "max-age=300",
      "content-security-policy": CONTENT_SECURITY_POLICY,
      "x-content-type-options": "nosniff",
      "referrer-policy": "no-referrer",
    },
  });
}
