// MAIL FROM (RFC 5321 §4.1.1.2): a syntactically valid sender whose domain can receive the replies and
// bounces we might owe it (RFC 5321 §5.1: an MX, or an address as implicit MX; not a Null MX, RFC 7505),
// and — for sender domains whose mail we take only encrypted — a TLS session (RFC 3207).
import type { WorkerConfig } from "../config/worker.ts";
import type { Resolver } from "../dns/resolver.ts";
import { buildReply } from "./replies.ts";
import { parseMailbox } from "./mailbox.ts";
import type { Finding } from "./finding.ts";

/**
 * Two findings, always in this order: "sender" (syntax and domain) and "tls" (mandatory TLS for the
 * sender's domain). `tls` is whether the session is encrypted; null when the transport cannot tell
 * (Email Routing's trace does not show it), which skips the TLS check of a listed domain.
 */
export async function checkSender(mailFrom: string, tls: boolean | null, config: WorkerConfig, resolver: Resolver): Promise<Finding[]> {
  // RFC 5321 §4.5.5: the null reverse-path of bounces and other notifications is always welcome.
  if (mailFrom === "") {
    return [
      { check: "sender", outcome: "pass", detail: "null sender (RFC 5321 §4.5.5)" },
      { check: "tls", outcome: "pass", detail: "null sender: no domain" },
    ];
  }
  const refuse = (detail: string): Finding => ({
    check: "sender",
    outcome: "fail",
    reply: buildReply("senderDomainNotFound", { address: mailFrom }),
    detail,
  });
  const mailbox = parseMailbox(mailFrom);
  // A malformed address, or one at an address literal, has no domain a reply could be routed to.
  if (mailbox === null) return [refuse("not an RFC 5321 §4.1.2 Mailbox of at most 254 octets"), { check: "tls", outcome: "pass", detail: "no sender domain" }];
  if (mailbox.addressLiteral)
    return [refuse(`${mailbox.domain}: an address literal, no domain to resolve`), { check: "tls", outcome: "pass", detail: "no sender domain" }];
  return [await senderDomainFinding(mailbox.domain, refuse, resolver), tlsFinding(mailbox.domain, tls, config)];
}

async function senderDomainFinding(domain: string, refuse: (detail: string) => Finding, resolver: Resolver): Promise<Finding> {
  const temporary = (detail: string): Finding => ({ check: "sender", outcome: "temporary", reply: buildReply("dnsTempfail", { name: domain }), detail });
  const mx = await resolver.query(domain, "MX");
  switch (mx.status) {
    case "servfail":
    case "timeout":
      return temporary(`MX ${domain}: ${mx.status} (${mx.detail})`);
    case "nxdomain":
      return refuse(`${domain}: NXDOMAIN`);
    case "ok":
      // RFC 7505 §3: a Null MX says the domain takes no mail, so nothing could ever reach the sender.
      if (mx.answers.some((record) => record.exchange === "")) return refuse(`${domain}: Null MX (RFC 7505)`);
      return { check: "sender", outcome: "pass", detail: `${domain}: MX ${mx.answers.map((record) => record.exchange).join(", ")}` };
    case "nodata": {
      // RFC 5321 §5.1: without MX records the domain's own address is its implicit MX.
      const [a, aaaa] = await Promise.all([resolver.query(domain, "A"), resolver.query(domain, "AAAA")]);
      if (a.status === "ok" || aaaa.status === "ok") return { check: "sender", outcome: "pass", detail: `${domain}: no MX, an address as implicit MX` };
      const failed = [a, aaaa].find((lookup) => lookup.status === "servfail" || lookup.status === "timeout");
      if (failed !== undefined) return temporary(`${domain} has no MX; its address lookup failed: ${failed.status} (${failed.detail})`);
      return refuse(`${domain}: no MX, A or AAAA records`);
    }
  }
}

/** RFC 3207 §4 wording: a sender domain listed in connection.mandatoryTls.domains must come over TLS. */
function tlsFinding(domain: string, tls: boolean | null, config: WorkerConfig): Finding {
  if (!config.connection.mandatoryTls.domains.includes(domain)) return { check: "tls", outcome: "pass", detail: `${domain}: TLS not mandatory` };
  if (tls === null) return { check: "tls", outcome: "skipped", detail: `${domain}: TLS mandatory, the session's TLS state is not known` };
  if (tls) return { check: "tls", outcome: "pass", detail: `${domain}: TLS mandatory and in use` };
  return { check: "tls", outcome: "fail", reply: buildReply("tlsRequired", {}), detail: `${domain}: TLS mandatory, session not encrypted` };
}
