// GET https://mta-sts.<domain>/.well-known/mta-sts.txt (RFC 8461 §3.3): 200, text/plain, no redirect.
import type { WorkerDomainConfig } from "../../../core/config/worker.ts";
import { mtaStsPolicy } from "../../../core/mtasts/published.ts";

export function serveMtaStsPolicy(domain: WorkerDomainConfig): Response {
  return new Response(mtaStsPolicy(domain), {
    status: 200,
    headers: {
      // RFC 8461 §3.2: the media type is "text/plain".
      "content-type": "text/plain; charset=utf-8",
      // Senders cache by max_age themselves; a short HTTP cache keeps policy changes quick to appear.
      "cache-control": "max-age=300",
    },
  });
}
