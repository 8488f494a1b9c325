// Hostile and slow clients for the fault suite (hostile-clients.test.ts): raw sockets from chosen
// loopback addresses (Linux routes all of 127.0.0.0/8 to lo, so each 127.x.y.z is a client of its
// own), doing what a misbehaving or attacking client does. Each keeps what the relay answered.
import { connect, type Socket } from "node:net";
import { connect as tlsConnect } from "node:tls";

export interface RawClient {
  socket: Socket;
  /** Everything the relay sent so far (latin1). */
  received(): string;
  /**
   * Resolves once what was received from offset `from` on (default 0) matches `pattern`, or rejects
   * after `ms` (or when the connection ends first).
   */
  waitFor(pattern: RegExp, ms?: number, from?: number): Promise<string>;
  /** Resolves once the relay closed the connection. */
  closed: Promise<void>;
  close(): void;
}

/** A TCP connection from `localAddress` to the relay; resolves once connected (not once greeted). */
export function rawClient(port: number, localAddress: string): Promise<RawClient> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: "127.0.0.1", port, localAddress });
    let text = "";
    const waiters = new Set<() => void>();
    socket.setEncoding("latin1");
    socket.on("data", (chunk: string) => {
      text += chunk;
      for (const check of waiters) check();
    });
    socket.on("error", () => undefined);
    const closed = new Promise<void>((done) => socket.once("close", () => done()));
    void closed.then(() => {
      for (const check of waiters) check();
    });
    socket.once("connect", () =>
      resolve({
        socket,
        received: () => text,
        closed,
        close: () => socket.destroy(),
        waitFor: (pattern, ms = 30_000, from = 0) =>
          new Promise((found, fail) => {
            const timer = setTimeout(() => {
              waiters.delete(check);
              fail(new Error(`no ${String(pattern)} within ${ms} ms; received: ${JSON.stringify(text.slice(-300))}`));
            }, ms);
            const check = (): void => {
              const match = pattern.exec(text.slice(from));
              if (match === null && !socket.destroyed) return;
              clearTimeout(timer);
              waiters.delete(check);
              if (match === null) fail(new Error(`closed before ${String(pattern)}; received: ${JSON.stringify(text.slice(-300))}`));
              else found(match[0]);
            };
            waiters.add(check);
            check();
          }),
      }),
    );
    socket.once("error", reject);
  });
}

/** `count` connections spread over `addresses`, opened `batch` at a time; each resolves to its client or to the connect error. */
export async function connectMany(port: number, addresses: readonly string[], count: number, batch = 100): Promise<(RawClient | Error)[]> {
  const clients: (RawClient | Error)[] = [];
  for (let start = 0; start < count; start += batch) {
    const opened = await Promise.all(
      Array.from({ length: Math.min(batch, count - start) }, (_, i) =>
        rawClient(port, addresses[(start + i) % addresses.length]!).catch((err: unknown) => (err instanceof Error ? err : new Error(String(err)))),
      ),
    );
    clients.push(...opened);
  }
  return clients;
}

/** The first reply line of a connection: its greeting (220) or its refusal (421), "" when it was closed without one. */
export async function greeting(client: RawClient, ms = 30_000): Promise<string> {
  return client.waitFor(/^\d{3}[ -][^\r\n]*\r\n/, ms).catch(() => "");
}

/** 127.<a>.<b>.<c> addresses: `count` of them under 127.<a>. */
export function loopbackAddresses(a: number, count: number): string[] {
  return Array.from({ length: count }, (_, i) => `127.${a}.${Math.floor(i / 250)}.${(i % 250) + 1}`);
}

/** After a 220 to STARTTLS: a TLS client on the socket that sends its ClientHello and then stalls (it never reads the reply). */
export function stallTls(client: RawClient): void {
  const secure = tlsConnect({ socket: client.socket, rejectUnauthorized: false });
  secure.on("error", () => undefined);
  // Paused at once: the ServerHello is never read, so the handshake never completes.
  client.socket.pause();
}
