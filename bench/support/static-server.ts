// The floor of the HTTP benchmark, run as a child process so its CPU time is its own: a plain Node
// `http` server answering every request with one fixed response. Argument: JSON { headers, bodyBase64 }.
// It listens on an ephemeral loopback port and sends { port } to its parent over IPC.
import { createServer } from "node:http";

const fixed = JSON.parse(process.argv[2] ?? "{}") as { headers: Record<string, string>; bodyBase64: string };
const body = Buffer.from(fixed.bodyBase64, "base64");
const headers = { ...fixed.headers, "content-length": String(body.byteLength) };

const server = createServer((request, response) => {
  // Drain a request body, if any, before answering, as a real endpoint would.
  request.resume();
  request.on("end", () => response.writeHead(200, headers).end(body));
});
server.listen(0, "127.0.0.1", () => {
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("no TCP address");
  process.send?.({ port: address.port });
});
// The parent ends us by closing the IPC channel (or by signal).
process.on("disconnect", () => process.exit(0));
