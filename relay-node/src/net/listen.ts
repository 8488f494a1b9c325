// Binding a listener, the one way every relay listener does it (MX, submission, metrics, learning, scan):
// listen, turn a bind failure (the port taken, an address not ours) into a rejection instead of an
// "error" event nobody waits for, and say which port was bound (port 0: a free one, in tests).
import type { Server } from "node:net";

export interface ListenAt {
  host: string;
  port: number;
  /** SO_REUSEPORT (Linux): several relay processes on one port (relay.listeners.mx.reusePort). */
  reusePort?: boolean;
}

/** Listens; resolves with the bound port, rejects with the bind's error. */
export async function listenOn(server: Server, at: ListenAt): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen({ host: at.host, port: at.port, ...(at.reusePort === undefined ? {} : { reusePort: at.reusePort }) }, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const bound = server.address();
  return typeof bound === "object" && bound !== null ? bound.port : at.port;
}
