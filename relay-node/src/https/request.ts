// One HTTPS request of the relay's own: the MTA-STS policy fetch (RFC 8461 §3.3) and the TLS-RPT
// report POST (RFC 8460 §3). The host name is resolved through our resolver, like every other name the
// relay looks up, and the connection is made to that address with SNI and WebPKI verification against
// the name (RFC 6125). No redirects are followed, and the response body and the whole exchange are
// bounded. node:https's own lookup would ask the system's resolver instead, and fetch() cannot be given
// an address to connect to.
import type { IncomingHttpHeaders } from "node:http";
import { request } from "node:https";
import { isIP } from "node:net";
import type { Resolver } from "../../../core/dns/resolver.ts";

export interface HttpsEndpoint {
  resolver: Resolver;
  /** Trust anchors for the server's certificate; the system's WebPKI roots by default. Tests pass their CA. */
  ca?: string | Buffer;
  /** The port to connect to instead of the URL's (443 unless it names one); tests serve elsewhere. */
  port?: number;
  /** The whole exchange: lookup, connect, TLS, request and response. */
  timeoutMs: number;
  /** A longer response body ends the exchange as a failure. */
  maxResponseBytes: number;
}

export type HttpsResponse = { ok: true; status: number; headers: IncomingHttpHeaders; body: Buffer } | { ok: false; reason: string };

/** The first address of the name `host`: A, else AAAA, through our resolver. */
async function addressOf(host: string, resolver: Resolver): Promise<{ address: string } | { reason: string }> {
  const v4 = await resolver.query(host, "A");
  const addresses = v4.status === "ok" ? v4.answers : (await resolver.query(host, "AAAA")).answers;
  const address = addresses[0];
  return address === undefined ? { reason: `${host} has no address (${v4.status}${v4.detail ? `: ${v4.detail}` : ""})` } : { address };
}

/** Sends `method` to the https: `url` and reads the response; a failure of any step is an outcome, never an exception. */
export async function httpsRequest(
  url: URL,
  method: "GET" | "POST",
  headers: Record<string, string>,
  body: Buffer | undefined,
  endpoint: HttpsEndpoint,
): Promise<HttpsResponse> {
  if (url.protocol !== "https:") return { ok: false, reason: `${url.protocol} is not https:` };
  const started = Date.now();
  // An IP literal (an IPv6 one in brackets) is its own address, and is never sent as SNI.
  const literal = url.hostname.replace(/^\[|\]$/g, "");
  const servername = isIP(literal) === 0 ? url.hostname : undefined;
  const found = servername === undefined ? { address: literal } : await addressOf(url.hostname, endpoint.resolver);
  if ("reason" in found) return { ok: false, reason: found.reason };
  const timeoutMs = Math.max(1, endpoint.timeoutMs - (Date.now() - started));
  return new Promise((resolve) => {
    let settled = false;
    const finish = (outcome: HttpsResponse): void => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      req.destroy();
      resolve(outcome);
    };
    const req = request(
      {
        host: found.address,
        port: endpoint.port ?? (url.port === "" ? 443 : Number(url.port)),
        path: `${url.pathname}${url.search}`,
        method,
        // Certificate and SNI against the name, not the address we connect to (RFC 6125; SNI never names an address, RFC 6066 §3).
        ...(servername === undefined ? {} : { servername }),
        headers: { host: url.host, ...headers, ...(body === undefined ? {} : { "content-length": String(body.length) }) },
        ...(endpoint.ca === undefined ? {} : { ca: endpoint.ca }),
        rejectUnauthorized: true,
        agent: false,
      },
      (response) => {
        const limit = endpoint.maxResponseBytes;
        if (Number(response.headers["content-length"] ?? 0) > limit) {
          return finish({ ok: false, reason: `Content-Length ${response.headers["content-length"]} exceeds ${limit} bytes` });
        }
        const chunks: Buffer[] = [];
        let size = 0;
        response.on("data", (chunk: Buffer) => {
          size += chunk.length;
          if (size > limit) return finish({ ok: false, reason: `the response body exceeds ${limit} bytes` });
          chunks.push(chunk);
        });
        response.on("end", () => finish({ ok: true, status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks) }));
        response.on("error", (err) => finish({ ok: false, reason: `reading ${url.origin}: ${err.message}` }));
      },
    );
    const deadline = setTimeout(() => finish({ ok: false, reason: `no complete answer from ${url.origin} within ${endpoint.timeoutMs} ms` }), timeoutMs);
    req.on("error", (err: NodeJS.ErrnoException) => finish({ ok: false, reason: `${url.origin}: ${err.code ?? err.message}` }));
    req.end(body);
  });
}
