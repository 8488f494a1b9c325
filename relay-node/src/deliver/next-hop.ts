// The configured next hop (relay.nextHop) as a Deliverer: a local Maildir (the default), LMTP or SMTP.
// A subaddress (alice+news@) goes to an LMTP or SMTP host whole, as Postfix hands it on: the mailbox
// host files it (Dovecot's recipient_delimiter) and its Sieve sees the detail (RFC 5233). A Maildir is
// the final delivery, so the relay files it under its mailbox itself.
import type { EdgemxConfig } from "../../../core/config/schema.ts";
import { mailboxAddress } from "../../../core/smtp/recipient.ts";
import { lmtpDeliverer } from "./lmtp.ts";
import { maildirDeliverer } from "./maildir.ts";
import { smtpDeliverer } from "./smtp.ts";
import type { TransactionTimeouts } from "./transaction.ts";
import type { Deliverer } from "../queue/deliverer.ts";

/** `timeouts`: the LMTP or SMTP client's waits, RFC 5321 §4.5.3.2's by default (transaction.ts). */
export function nextHopDeliverer(config: EdgemxConfig, timeouts?: TransactionTimeouts): Deliverer {
  const { nextHop } = config.relay;
  const hostname = config.hostname;
  switch (nextHop.type) {
    case "maildir":
      return maildirDeliverer({ path: nextHop.path, mailboxOf: (rcpt) => mailboxAddress(rcpt, config) });
    case "lmtp":
      return lmtpDeliverer({ host: nextHop.host, port: nextHop.port, hostname, ...(timeouts ? { timeouts } : {}) });
    case "smtp":
      return smtpDeliverer({ host: nextHop.host, port: nextHop.port, hostname, ...(timeouts ? { timeouts } : {}) });
  }
}
