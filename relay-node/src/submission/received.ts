// The Received field of submitted mail (RFC 5321 §4.4). With relay.submission.hideClientAddress (the
// default) it leaves out the "from" clause — the client's HELO name and address would tell every
// recipient where the user was sitting (a home IP, a hotel) — as many submission services do; RFC
// 5322 §3.6.7 lets the received-tokens be any of word, angle-addr, addr-spec or domain. Without it,
// the MX's own field. The protocol is ESMTPSA (RFC 3848 §2): TLS and AUTH always, here.
import type { TlsFacts } from "../log/log.ts";
import { receivedHeader, rfc5322Date, withProtocol } from "../smtp/received.ts";

export interface SubmissionTrace {
  hideClientAddress: boolean;
  helo: string | null;
  clientIp: string;
  hostname: string;
  queueId: string;
  tls: TlsFacts | null;
  smtputf8: boolean;
  date: Date;
}

export function submissionReceived(trace: SubmissionTrace): string {
  const protocol = withProtocol({ ehlo: true, tls: true, authenticated: true, smtputf8: trace.smtputf8 });
  if (!trace.hideClientAddress) {
    const { helo, clientIp, hostname, queueId: id, tls, date } = trace;
    return receivedHeader({ helo, clientIp, verifiedName: null, hostname, protocol, id, recipients: [], tls, date });
  }
  const lines = [`Received: by ${trace.hostname} with ${protocol} id ${trace.queueId}`];
  if (trace.tls) lines.push(`\t(version=${trace.tls.version} cipher=${trace.tls.cipher})`);
  return `${lines.join("\r\n")}; ${rfc5322Date(trace.date)}`;
}
