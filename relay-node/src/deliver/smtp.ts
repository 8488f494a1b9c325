// Delivery to the mailbox host over SMTP (RFC 5321), STARTTLS when offered (RFC 3207, opportunistic as
// in RFC 7435). Per-recipient results come from the RCPT replies; the reply to DATA covers the rest.
import { sendTransaction, type TransactionTimeouts } from "./transaction.ts";
import type { Deliverer } from "../queue/deliverer.ts";

export function smtpDeliverer(options: { host: string; port: number; hostname: string; timeouts?: TransactionTimeouts }): Deliverer {
  return (message) => sendTransaction({ host: options.host, port: options.port, lmtp: false, hostname: options.hostname }, message, options.timeouts);
}
