// A one-shot TCP exchange for readiness probes: send a command, collect the reply until it is complete.
import { connect } from "node:net";

/** Sends `request` to 127.0.0.1:`port` and resolves with the reply once `complete` says so. */
export function tcpExchange(port: number, request: string, complete: (reply: string) => boolean, timeoutMs = 500): Promise<string> {
  return new Promise((resolve, reject) => {
    let reply = "";
    const socket = connect({ host: "127.0.0.1", port }, () => socket.write(request));
    socket.setTimeout(timeoutMs, () => socket.destroy(new Error(`no complete reply within ${timeoutMs} ms`)));
    socket.on("data", (data) => {
      reply += data.toString("latin1");
      if (complete(reply)) {
        socket.destroy();
        resolve(reply);
      }
    });
    socket.once("error", reject);
    socket.once("close", () => reject(new Error(`connection closed after ${JSON.stringify(reply)}`)));
  });
}
