// DNS over TCP (RFC 1035 §4.2.2, RFC 7766): one query per connection, each message behind a
// two-octet length. The harness polls readiness with it and the DoH bridge reaches unbound with it.
import { connect } from "node:net";

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
    const deadline = setTimeout(
      () => settle(() => reject(new DnsTcpTimeout(`no DNS reply from port ${port} within ${timeoutMs} ms`))),
      timeoutMs,
    );
    socket.on("error", (err) => settle(() => reject(err)));
    socket.on("connect", () => {
      const length = Buffer.alloc(2);
      length.writeUInt16BE(message.byteLength);
      socket.write(Buffer.concat([length, message]));
    });
    socket.on("data", (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      if (received.length < 2) return;
      const size = received.readUInt16BE(0); // at most 65535: the framing bounds the reply
      if (received.length >= 2 + size) settle(() => resolve(new Uint8Array(received.subarray(2, 2 + size))));
    });
    socket.on("end", () => settle(() => reject(new Error(`port ${port} closed the connection before a full DNS reply`))));
  });
}
