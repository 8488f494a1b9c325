// The HTTP-01 responder (RFC 8555 §8.3): the CA fetches http://<name>/.well-known/acme-challenge/<token>
// and expects the key authorization of that token as the body. It listens while the relay runs, so a
// renewal needs nothing else on port 80; it answers only the tokens of challenges in progress and 404
// to everything else.
import { createServer, type Server } from "node:http";

const CHALLENGE_PATH = /^\/\.well-known\/acme-challenge\/([A-Za-z0-9_-]+)$/;

export interface ChallengeResponder {
  /** The bound port (the configured one, or the one chosen for port 0). */
  port: number;
  /** Answers `token` with `keyAuthorization` until removed. */
  set(token: string, keyAuthorization: string): void;
  remove(token: string): void;
  close(): Promise<void>;
}

export async function startChallengeResponder(host: string, port: number): Promise<ChallengeResponder> {
  const pending = new Map<string, string>();
  const server: Server = createServer((request, response) => {
    const token = request.method === "GET" || request.method === "HEAD" ? CHALLENGE_PATH.exec(request.url ?? "")?.[1] : undefined;
    const keyAuthorization = token === undefined ? undefined : pending.get(token);
    if (keyAuthorization === undefined) {
      response.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
      return;
    }
    // RFC 8555 §8.3: the body is the key authorization; application/octet-stream as Let's Encrypt serves it.
    response.writeHead(200, { "content-type": "application/octet-stream" }).end(keyAuthorization);
  });
  // A validation request holds the connection no longer than it needs; nothing keeps it open at stop.
  server.keepAliveTimeout = 1_000;
  try {
    await new Promise<void>((done, fail) => {
      server.once("error", fail);
      server.listen(port, host, () => {
        server.off("error", fail);
        done();
      });
    });
  } catch (err) {
    throw new Error(`cannot listen for ACME HTTP-01 challenges on ${host} port ${port}: ${(err as Error).message}`, { cause: err });
  }
  const bound = server.address();
  return {
    port: typeof bound === "object" && bound !== null ? bound.port : port,
    set: (token, keyAuthorization) => void pending.set(token, keyAuthorization),
    remove: (token) => void pending.delete(token),
    close: () =>
      new Promise<void>((done) => {
        server.close(() => done());
        server.closeAllConnections();
      }),
  };
}
