// The one use of nodemailer's internals. Its SMTPConnection (the client of every next hop and remote MX,
// transaction.ts) keeps the socket it speaks over, replaced by the TLS socket after STARTTLS (RFC 3207),
// in `_socket`: declared by @types/nodemailer, underscored by nodemailer, and reachable no other way.
// Remote delivery needs that TLS socket between EHLO and MAIL FROM, to read the peer's certificate chain
// (getPeerCertificate(true)) for DANE and MTA-STS before a byte of the message goes out.
// test/unit/nodemailer-adapter.test.ts fails if an upgrade of nodemailer moves it.
import type { TLSSocket } from "node:tls";
import type SMTPConnection from "nodemailer/lib/smtp-connection";

/** The connection's TLS socket once the session is encrypted (STARTTLS or implicit TLS), else undefined. */
export function tlsSocketOf(connection: SMTPConnection): TLSSocket | undefined {
  return connection.secure ? (connection._socket as TLSSocket) : undefined;
}
