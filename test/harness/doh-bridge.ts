// An RFC 8484 DoH endpoint over HTTP/1.1 for the tests: workerd's fetch speaks HTTP/1.1 only and
// unbound's own DoH listener HTTP/2 only, so this bridge takes the wire query by POST or GET and
// forwards it to unbound over DNS/TCP. Every input is bounded: message size, time, path, method.
import type { IncomingMessage, ServerResponse } from "node:http";
import { createServer } from "node:http";
import { DnsTcpTimeout, queryOverTcp } from "./dns-tcp.ts";

const DNS_MESSAGE = "application/dns-message";
const PATH = "/dns-query";
/** The DNS header is 12 octets (RFC 1035 §4.1.1); the TCP length field caps a message at 65535. */
const MIN_MESSAGE = 12;
const MAX_MESSAGE = 65_535;

export interface DohBridge {
  url: string;
  close(): Promise<void>;
}

export interface DohBridgeOptions {
  /** unbound's port on 127.0.0.1 (TCP). */
  upstreamPort: number;
  upstreamTimeoutMs?: number;
}

class HttpError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

export async function startDohBridge(options: DohBridgeOptions): Promise<DohBridge> {
  const timeoutMs = options.upstreamTimeoutMs ?? 5_000;
  const server = createServer((req, res) => {
    handle(req, options.upstreamPort, timeoutMs).then(
      (reply) => send(res, 200, DNS_MESSAGE, reply),
      (err: unknown) => {
        const status = err instanceof HttpError ? err.status : err instanceof DnsTcpTimeout ? 504 : 502;
        send(res, status, "text/plain", Buffer.from(`${err instanceof Error ? err.message : String(err)}\n`));
      },
    );
  });
  server.requestTimeout = 10_000;
  server.headersTimeout = 5_000;
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  if (typeof address !== "object" || address === null) throw new Error("the DoH bridge has no address");
  return {
    url: `http://127.0.0.1:${address.port}${PATH}`,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function handle(req: IncomingMessage, upstreamPort: number, timeoutMs: number): Promise<Uint8Array> {
  const url = new URL(req.url ?? "/", "http://bridge");
  if (url.pathname !== PATH) throw new HttpError(404, `no such path; DoH is at ${PATH}`);
  const query = await dnsMessageOf(req, url);
  if (query.byteLength < MIN_MESSAGE) throw new HttpError(400, "not a DNS message");
  return queryOverTcp(upstreamPort, query, timeoutMs);
}

/** The DNS query of a DoH request (RFC 8484 §4.1): a POST body, or base64url in GET's `dns` parameter. */
async function dnsMessageOf(req: IncomingMessage, url: URL): Promise<Uint8Array> {
  if (req.method === "GET") {
    const encoded = url.searchParams.get("dns");
    if (encoded === null || !/^[A-Za-z0-9_-]+$/.test(encoded)) throw new HttpError(400, "GET needs a base64url dns parameter");
    if (encoded.length > Math.ceil((MAX_MESSAGE * 4) / 3)) throw new HttpError(414, "dns parameter too long");
    return new Uint8Array(Buffer.from(encoded, "base64url"));
  }
  if (req.method === "POST") {
    const mediaType = (req.headers["content-type"] ?? "").split(";")[0]!.trim().toLowerCase();
    if (mediaType !== DNS_MESSAGE) throw new HttpError(415, `POST needs content-type ${DNS_MESSAGE}`);
    return readBody(req, MAX_MESSAGE);
  }
  throw new HttpError(405, "DoH takes GET or POST");
}

async function readBody(req: IncomingMessage, limit: number): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw new HttpError(413, `a DNS message has at most ${limit} octets`);
    chunks.push(chunk);
  }
  return new Uint8Array(Buffer.concat(chunks));
}

function send(res: ServerResponse, status: number, contentType: string, body: Uint8Array): void {
  const headers: Record<string, string | number> = { "content-type": contentType, "content-length": body.byteLength };
  if (status === 405) headers.allow = "GET, POST";
  res.writeHead(status, headers).end(body);
}
