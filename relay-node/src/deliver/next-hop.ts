// The configured next hop (relay.nextHop) as a Deliverer: a local Maildir (the default), LMTP or SMTP.
import type { EdgemxConfig } from "../../../core/config/schema.ts";
import { lmtpDeliverer } from "./lmtp.ts";
import { maildirDeliverer } from "./maildir.ts";
import { smtpDeliverer } from "./smtp.ts";
import type { Deliverer } from "../queue/deliverer.ts";

export function nextHopDeliverer(nextHop: EdgemxConfig["relay"]["nextHop"], hostname: string): Deliverer {
  switch (nextHop.type) {
    case "maildir":
      return maildirDeliverer({ path: nextHop.path });
    case "lmtp":
      return lmtpDeliverer({ host: nextHop.host, port: nextHop.port, hostname });
    case "smtp":
      return smtpDeliverer({ host: nextHop.host, port: nextHop.port, hostname });
  }
}
