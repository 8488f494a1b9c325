// HELO/EHLO plausibility (RFC 5321 §4.1.1.1, §2.3.5): the client names itself with its fully qualified
// domain name, or — only when it has none — with an address literal of its own address. A name that
// is ours, or that does not exist in the DNS, is refused with the specification's one HELO reply.
import type { WorkerConfig } from "../config/worker.ts";
import type { Lookup, Resolver } from "../dns/resolver.ts";
import { buildReply } from "./replies.ts";
import { addressLiteralIp, canonicalIp } from "./ip-address.ts";
import { isLdhDomain } from "./mailbox.ts";
import type { Finding } from "./finding.ts";

/** RFC 5321 §4.5.3.1.2: a domain name is at most 255 octets; an address literal is shorter still. */
export const MAX_HELO_OCTETS = 255;

export async function checkHelo(
  helo: string,
  clientIp: string,
  config: WorkerConfig,
  resolver: Resolver,
  ownAddresses: readonly string[] = [],
): Promise<Finding> {
  const refuse = (detail: string): Finding => ({ check: "helo", outcome: "fail", reply: buildReply("heloNotFound", { helo }), detail });
  if (helo.length === 0) return refuse("empty HELO");
  if (Buffer.byteLength(helo) > MAX_HELO_OCTETS) return refuse(`HELO of ${Buffer.byteLength(helo)} octets, over ${MAX_HELO_OCTETS}`);

  if (helo.startsWith("[")) {
    // RFC 5321 §4.1.3; §4.1.4 lets a server check that the literal is the client's address.
    const literal = addressLiteralIp(helo);
    if (literal === null) return refuse("not a valid address literal");
    if (ownAddresses.some((own) => canonicalIp(own) === literal)) return refuse(`${literal} is our own address`);
    if (literal !== canonicalIp(clientIp)) return refuse(`address literal ${literal} is not the client's address ${clientIp}`);
    return { check: "helo", outcome: "pass", detail: `address literal of the client's address ${literal}` };
  }

  const name = helo.toLowerCase();
  if (!isFullyQualified(name)) return refuse("not a fully qualified domain name (RFC 5321 §2.3.5)");
  if (ourNames(config).has(name)) return refuse(`${name} is our own name`);

  // RFC 5321 §2.3.5: a name that resolves to an address or names a mail exchanger. A Null MX
  // (RFC 7505 §3) says the name takes no mail; it counts as no MX, as Postfix treats it.
  const [a, aaaa, mx] = await Promise.all([resolver.query(name, "A"), resolver.query(name, "AAAA"), resolver.query(name, "MX")]);
  const lookups: readonly [string, Lookup][] = [
    ["A", a],
    ["AAAA", aaaa],
    ["MX", mx],
  ];
  const summary = lookups.map(([type, lookup]) => `${type} ${lookup.status}`).join(", ");
  const mailExchanger = mx.status === "ok" && mx.answers.some((record) => record.exchange !== "");
  if (a.status === "ok" || aaaa.status === "ok" || mailExchanger) return { check: "helo", outcome: "pass", detail: `${name}: ${summary}` };
  const failed = lookups.find(([, lookup]) => lookup.status === "servfail" || lookup.status === "timeout");
  if (failed !== undefined) {
    const [type, lookup] = failed;
    return { check: "helo", outcome: "temporary", reply: buildReply("dnsTempfail", { name }), detail: `${type} ${name}: ${lookup.status} (${lookup.detail})` };
  }
  return refuse(`${name} does not resolve: ${summary}`);
}

/**
 * RFC 5321 §2.3.5: a fully qualified domain name — LDH labels, at least two of them. A last label of
 * digits only is no top-level domain (RFC 3696 §2): "192.0.2.1" is a bare address, which §4.1.3 wants
 * as a literal in brackets.
 */
function isFullyQualified(name: string): boolean {
  return isLdhDomain(name) && name.includes(".") && !/(^|\.)[0-9]+$/.test(name);
}

/** The names a client must not claim: our host name, our domains and their MX hosts. */
function ourNames(config: WorkerConfig): Set<string> {
  return new Set([config.hostname, ...config.domains.flatMap((domain) => [domain.name, ...domain.mx])].map((name) => name.toLowerCase()));
}
