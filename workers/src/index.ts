// The Worker's entry: HTTP requests go to the routing table; configuration is parsed once per isolate.
// The configuration is the Worker's part of the file (core/config/worker.ts), bundled at build time or
// given as the EDGEMX_CONFIG var; a field of the relay's there is refused as unknown.
import bundled from "./config.generated.json";
import { parseWorkerConfig } from "../../core/config/load.ts";
import type { WorkerConfig } from "../../core/config/worker.ts";
import type { Env } from "./runtime/env.ts";
import { handleRoutedEmail } from "./email/routing.ts";
import { handleHttp } from "./http/routes.ts";
import { judgeOptions, judgeResolver } from "./runtime/verdict.ts";
import { plain } from "./http/respond.ts";

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
    await handleRoutedEmail(message, config, judgeResolver(config, env), judgeOptions(env));
  },
} satisfies ExportedHandler<Env>;
