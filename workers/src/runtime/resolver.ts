// The Worker's resolver: DoH behind a cache that lives as long as the isolate, one per DoH setting,
// so every request an isolate serves shares the answers others already fetched.
import { cachingResolver } from "../../../core/dns/cache.ts";
import type { DohOptions } from "../../../core/dns/doh.ts";
import { DOH_DEFAULTS, dohResolver } from "../../../core/dns/doh.ts";
import type { Resolver } from "../../../core/dns/resolver.ts";

const isolateResolvers = new Map<string, Resolver>();

export function isolateResolver(options: DohOptions = {}): Resolver {
  const settings = { ...DOH_DEFAULTS, ...options };
  const key = `${settings.method} ${settings.timeoutMs} ${settings.url}`;
  let resolver = isolateResolvers.get(key);
  if (resolver === undefined) {
    resolver = cachingResolver(dohResolver(settings));
    isolateResolvers.set(key, resolver);
  }
  return resolver;
}
