// A DNS-over-HTTPS client (RFC 8484): one wire-format query per HTTP exchange, with a deadline and a
// bounded reply. Only web APIs (fetch, AbortSignal.timeout, crypto), so it runs in workerd and Node.
import { readBodyBounded } from "../bytes/bounded-read.ts";
import type { Lookup, RecordType, Resolver } from "./resolver.ts";
import { failedLookup, isQueryableName, normalizeName } from "./resolver.ts";
import type { SentQuery } from "./wire.ts";
import { MAX_MESSAGE_BYTES, decodeMessage, encodeQuery, lookupFromReply } from "./wire.ts";

export const DEFAULT_DOH_URL = "https://cloudflare-dns.com/dns-query";

/** The media type of a DNS message over HTTP (RFC 8484 §6). */
const DNS_MESSAGE = "application/dns-message";

export interface DohOptions {
  /** The DoH endpoint (RFC 8484 §3), without the `dns` parameter. */
  url?: string;
  /** POST the message (the default), or GET it base64url-encoded in `?dns=` (RFC 8484 §4.1). */
  method?: "POST" | "GET";
  /** Deadline for the whole exchange, reply body included. */
  timeoutMs?: number;
}

export const DOH_DEFAULTS: Required<DohOptions> = { url: DEFAULT_DOH_URL, method: "POST", timeoutMs: 3_000 };

export function dohResolver(options: DohOptions = {}): Resolver {
  const settings = { ...DOH_DEFAULTS, ...options };
  return {
    query: (name, type) => dohQuery(settings, name, type),
  };
}

async function dohQuery<T extends RecordType>(settings: Required<DohOptions>, name: string, type: T): Promise<Lookup<T>> {
  const qname = normalizeName(name);
  if (!isQueryableName(qname)) {
    return { status: "nxdomain", answers: [], ttl: 0, authenticated: false, detail: "not a valid DNS name" };
  }
  // RFC 8484 §4.1: GET uses id 0 so HTTP caches can share replies; a POST is never cached, so it gets a
  // random id that the reply must echo.
  const query: SentQuery<T> = { id: settings.method === "GET" ? 0 : randomId(), name: qname, type };
  let body: Uint8Array;
  try {
    const response = await fetch(dohRequest(settings, encodeQuery(query)), { signal: AbortSignal.timeout(settings.timeoutMs) });
    const refusal = unusableResponse(response);
    if (refusal !== undefined) {
      await response.body?.cancel();
      return failedLookup("servfail", refusal);
    }
    body = await readBounded(response, MAX_MESSAGE_BYTES);
  } catch (err) {
    if (isTimeout(err)) return failedLookup("timeout", `no DoH reply within ${settings.timeoutMs} ms`);
    return failedLookup("servfail", `DoH request failed: ${err instanceof Error ? err.message : String(err)}`);
  }
  try {
    return lookupFromReply(query, decodeMessage(body));
  } catch {
    return failedLookup("servfail", "malformed DNS reply");
  }
}

/** The HTTP request carrying a DNS query (RFC 8484 §4.1). */
export function dohRequest(settings: Required<DohOptions>, message: Uint8Array): Request {
  const headers = { accept: DNS_MESSAGE };
  if (settings.method === "GET") {
    const url = new URL(settings.url);
    url.searchParams.set("dns", base64UrlEncode(message));
    return new Request(url, { method: "GET", headers });
  }
  return new Request(settings.url, { method: "POST", headers: { ...headers, "content-type": DNS_MESSAGE }, body: message });
}

/** Why an HTTP response carries no DNS reply, or undefined if it does (RFC 8484 §4.2.1). */
export function unusableResponse(response: Response): string | undefined {
  if (response.status !== 200) return `DoH server answered HTTP ${response.status}`;
  const mediaType = (response.headers.get("content-type") ?? "").split(";")[0]!.trim().toLowerCase();
  return mediaType === DNS_MESSAGE ? undefined : `DoH server answered ${mediaType || "no content type"}, not ${DNS_MESSAGE}`;
}

/** base64url without padding (RFC 4648 §5), as RFC 8484 §4.1 wants for `?dns=`. */
export function base64UrlEncode(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** The body, refused once it exceeds `limit` bytes. */
async function readBounded(response: Response, limit: number): Promise<Uint8Array> {
  const body = await readBodyBounded(response.headers, response.body, limit);
  if (body === null) throw new Error(`reply exceeds ${limit} bytes`);
  return body;
}

function isTimeout(err: unknown): boolean {
  return typeof err === "object" && err !== null && "name" in err && err.name === "TimeoutError";
}

function randomId(): number {
  return crypto.getRandomValues(new Uint16Array(1))[0]!;
}
