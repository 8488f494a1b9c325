// The Worker's entry: HTTP requests go to the routing table; configuration is parsed once per isolate.
// The configuration is the Worker's part of the file (core/config/worker.ts), bundled at build time or
// given as the EDGEMX_CONFIG var; a field of the relay's there is refused as unknown.
import bundled from "./config.generated.json";
import { parseWorkerConfig } from "../../core/config/load.ts";
import type { WorkerConfig } from "../../core/config/worker.ts";
import { bindingText, type Env } from "./runtime/env.ts";
import { handleRoutedEmail } from "./email/routing.ts";
import { edgeGreylist } from "./greylist/edge-greylist.ts";
import { edgeScanner } from "./email/scan.ts";
import { handleRoutedReport } from "./email/reports.ts";
import { reportAddresses } from "../../core/reports/addresses.ts";
import { handleHttp } from "./http/routes.ts";
import { judgeOptions, judgeResolver } from "./runtime/verdict.ts";
import { plain } from "./http/respond.ts";
import { deleteExpiredReports } from "./reports/retention.ts";

let cached: { source: string; config: WorkerConfig } | undefined;

function configFor(env: Env): WorkerConfig {
  const source = env.EDGEMX_CONFIG ?? "bundled";
  if (cached?.source !== source) {
    const document: unknown = env.EDGEMX_CONFIG ? JSON.parse(env.EDGEMX_CONFIG) : bundled.config;
    cached = { source, config: parseWorkerConfig(document, env.EDGEMX_CONFIG ? "the EDGEMX_CONFIG var" : "the bundled configuration") };
  }
  return cached.config;
}

export default {
  async fetch(request, env): Promise<Response> {
    let config: WorkerConfig;
    try {
      config = configFor(env);
    } catch (err) {
      console.error(String(err));
      return plain(500, "The mail gateway's configuration is invalid; see the Worker's log");
    }
    return handleHttp(request, config, env, bundled.facts);
  },

  // Cloudflare Email Routing: a configuration error or an outage throws, which is a temporary failure.
  async email(message, env): Promise<void> {
    const config = configFor(env);
    // Mail to our own rua/ruf/TLS-RPT addresses is read as reports and kept, not judged and forwarded.
    if (reportAddresses(config).has(message.to.toLowerCase())) {
      await handleRoutedReport(message, config, env.REPORTS_DB);
      return;
    }
    const services = {
      resolver: judgeResolver(config, env),
      secret: (name: string) => bindingText(env, name),
      greylist: env.GREYLIST ? edgeGreylist(env.GREYLIST, config.connection.greylist) : null,
      scanner:
        config.scan === undefined || config.scan === "none"
          ? null
          : edgeScanner(config.scan, env.SCAN_TOKEN, env.SCAN_MTLS ?? { fetch: (input, init) => fetch(input, init) }),
    };
    await handleRoutedEmail(message, config, services, judgeOptions(env));
  },

  // The Cron Trigger of wrangler.toml: reports past reports.retentionDays are deleted.
  async scheduled(controller, env): Promise<void> {
    if (!env.REPORTS_DB) return;
    const config = configFor(env);
    const deleted = await deleteExpiredReports(env.REPORTS_DB, config.reports.retentionDays, new Date(controller.scheduledTime));
    console.log(JSON.stringify({ msg: "reports retention", retentionDays: config.reports.retentionDays, deleted }));
  },
} satisfies ExportedHandler<Env>;

// Durable Objects are exported from the Worker's main module (wrangler.toml binds GREYLIST to this class).
export { GreylistObject } from "./greylist/greylist-object.ts";
