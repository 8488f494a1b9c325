// DNS over TCP (RFC 1035 §4.2.2, RFC 7766): one query per connection, each message behind a
// two-octet length. The harness polls readiness with it and the DoH bridge reaches unbound with it.
import { connect } from "node:net";
import { firstTcpMessage, withTcpLength } from "../../relay-node/src/dns/resolver.ts";

export class DnsTcpTimeout extends Error {}

/** Sends one DNS message to 127.0.0.1:port and resolves with the reply, within `timeoutMs` in all. */
export function queryOverTcp(port: number, message: Uint8Array, timeoutMs: number): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: "127.0.0.1", port });
    let received = Buffer.alloc(0);
    const settle = (outcome: () => void): void => {
      clearTimeout(deadline);
      socket.destroy();
      outcome();
    };
    const deadline = setTimeout(() => settle(() => reject(new DnsTcpTimeout(`no DNS reply from port ${port} within ${timeoutMs} ms`))), timeoutMs);
    socket.on("error", (err) => settle(() => reject(err)));
    socket.on("connect", () => socket.write(withTcpLength(message)));
    socket.on("data", (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      const reply = firstTcpMessage(received);
      if (reply !== undefined) settle(() => resolve(new Uint8Array(reply)));
    });
    socket.on("end", () => settle(() => reject(new Error(`port ${port} closed the connection before a full DNS reply`))));
  });
}
