// Delivery to the mailbox host over LMTP (RFC 2033): one reply per recipient after DATA, so a full
// mailbox or an unknown user fails that recipient alone (RFC 2033 §4.2).
import { sendTransaction, type TransactionTimeouts } from "./transaction.ts";
import type { Deliverer } from "../queue/deliverer.ts";

export function lmtpDeliverer(options: { host: string; port: number; hostname: string; timeouts?: TransactionTimeouts }): Deliverer {
  return (message) => sendTransaction({ host: options.host, port: options.port, lmtp: true, hostname: options.hostname }, message, options.timeouts);
}
