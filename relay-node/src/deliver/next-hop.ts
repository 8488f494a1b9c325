// The configured next hop (relay.nextHop) as a Deliverer: a local Maildir (the default), LMTP or SMTP.
import type { EdgemxConfig } from "../../../core/config/schema.ts";
import { lmtpDeliverer } from "./lmtp.ts";
import { maildirDeliverer } from "./maildir.ts";
import { smtpDeliverer } from "./smtp.ts";
import type { TransactionTimeouts } from "./transaction.ts";
import type { Deliverer } from "../queue/deliverer.ts";

/** `timeouts`: the LMTP or SMTP client's waits, RFC 5321 §4.5.3.2's by default (transaction.ts). */
export function nextHopDeliverer(nextHop: EdgemxConfig["relay"]["nextHop"], hostname: string, timeouts?: TransactionTimeouts): Deliverer {
  switch (nextHop.type) {
    case "maildir":
      return maildirDeliverer({ path: nextHop.path });
    case "lmtp":
      return lmtpDeliverer({ host: nextHop.host, port: nextHop.port, hostname, ...(timeouts ? { timeouts } : {}) });
    case "smtp":
      return smtpDeliverer({ host: nextHop.host, port: nextHop.port, hostname, ...(timeouts ? { timeouts } : {}) });
  }
}
