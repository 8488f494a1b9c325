// A TTL-respecting cache in front of any Resolver. In the Worker it lives as long as the isolate
// (isolate.ts); it is bounded, caches negative answers for their SOA-derived TTL, failures briefly.
import type { Lookup, RecordType, Resolver } from "./resolver.ts";
import { normalizeName } from "./resolver.ts";

export interface CacheLimits {
  /** Entries kept; the least recently used go first. */
  maxEntries: number;
  /** Upper bound for positive answers, whatever their TTL. */
  maxPositiveSeconds: number;
  /** Upper bound for NXDOMAIN and NODATA; RFC 2308 §5 finds one to three hours sensible. */
  maxNegativeSeconds: number;
  /** How long a SERVFAIL is remembered: briefly, to spare a failing resolver (RFC 2308 §7.1 allows 5 minutes). */
  failureSeconds: number;
}

export const DEFAULT_CACHE_LIMITS: CacheLimits = {
  maxEntries: 2_000,
  maxPositiveSeconds: 86_400,
  maxNegativeSeconds: 10_800,
  failureSeconds: 5,
};

interface CacheEntry {
  lookup: Lookup;
  expiresAtMs: number;
}

/** Seconds a result may be reused. A timeout is never cached: the next query tries again. */
export function cacheSeconds(lookup: Lookup, limits: CacheLimits): number {
  switch (lookup.status) {
    case "ok":
      return Math.min(lookup.ttl, limits.maxPositiveSeconds);
    case "nxdomain":
    case "nodata":
      // lookup.ttl is min(SOA TTL, SOA MINIMUM), 0 without an SOA: not cached (RFC 2308 §5).
      return Math.min(lookup.ttl, limits.maxNegativeSeconds);
    case "servfail":
      return limits.failureSeconds;
    case "timeout":
      return 0;
  }
}

/** Whole seconds left before expiry, rounded up, never negative: the TTL a cached answer is served with. */
export function remainingSeconds(expiresAtMs: number, nowMs: number): number {
  return Math.max(0, Math.ceil((expiresAtMs - nowMs) / 1000));
}

function cacheKey(name: string, type: RecordType): string {
  return `${type} ${normalizeName(name)}`;
}

/**
 * Wraps a resolver with a cache. Concurrent queries for the same name and type share one upstream
 * query. `now` is the clock in milliseconds.
 */
export function cachingResolver(upstream: Resolver, limits: CacheLimits = DEFAULT_CACHE_LIMITS, now: () => number = Date.now): Resolver {
  const entries = new Map<string, CacheEntry>();
  const inFlight = new Map<string, Promise<Lookup>>();

  function remember(key: string, lookup: Lookup): void {
    const seconds = cacheSeconds(lookup, limits);
    if (seconds <= 0) return;
    entries.delete(key);
    while (entries.size >= limits.maxEntries) {
      const oldest = entries.keys().next();
      if (oldest.done) break;
      entries.delete(oldest.value);
    }
    entries.set(key, { lookup, expiresAtMs: now() + seconds * 1000 });
  }

  return {
    query<T extends RecordType>(name: string, type: T): Promise<Lookup<T>> {
      const key = cacheKey(name, type);
      const entry = entries.get(key);
      const at = now();
      if (entry !== undefined && entry.expiresAtMs > at) {
        entries.delete(key); // re-insert: most recently used last
        entries.set(key, entry);
        // The key holds the type, so the entry is a Lookup<T>.
        const lookup = entry.lookup as Lookup<T>;
        return Promise.resolve({ ...lookup, ttl: remainingSeconds(entry.expiresAtMs, at) });
      }
      if (entry !== undefined) entries.delete(key);
      let pending = inFlight.get(key);
      if (pending === undefined) {
        pending = upstream
          .query(name, type)
          .then((lookup: Lookup) => {
            remember(key, lookup);
            return lookup;
          })
          .finally(() => inFlight.delete(key));
        inFlight.set(key, pending);
      }
      return pending as Promise<Lookup<T>>;
    },
  };
}
