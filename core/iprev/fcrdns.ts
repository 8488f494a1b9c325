// Forward-confirmed reverse DNS (FCrDNS; the "iprev" method of RFC 8601 §3): the client's address has
// a PTR name (RFC 1035 §3.5, RFC 3596 §2.5) whose A/AAAA records lead back to the same address. A client
// without one, or whose confirmed name looks like a dynamic or dial-up address, is refused in Postfix's
// words: "unknown[ip]" when no name holds, "name[ip]" for a dynamic one.
import { isIPv4 } from "node:net";
import type { EdgemxConfig } from "../config/schema.ts";
import type { Lookup, Resolver } from "../dns/resolver.ts";
import { isQueryableName, normalizeName } from "../dns/resolver.ts";
import { buildReply } from "../smtp/replies.ts";
import { canonicalIp, reverseName } from "../smtp/ip-address.ts";
import type { ClientFacts, Finding } from "../smtp/finding.ts";

/** PTR names followed forward, at most: a client must not make us ask without bound (RFC 8601 §3 leaves the limit to us). */
export const MAX_PTR_NAMES = 10;

export async function checkFcrdns(
  ip: string,
  fcrdns: EdgemxConfig["connection"]["fcrdns"],
  resolver: Resolver,
): Promise<{ finding: Finding; client: ClientFacts }> {
  const address = canonicalIp(ip);
  const ptrName = reverseName(ip);
  const unknown = (detail: string): { finding: Finding; client: ClientFacts } => ({
    finding: { check: "fcrdns", outcome: "fail", reply: buildReply("clientRejected", { host: "unknown", ip: address ?? ip }), detail },
    client: { ip: address ?? ip, verifiedName: null },
  });
  const temporary = (name: string, detail: string): { finding: Finding; client: ClientFacts } => ({
    finding: { check: "fcrdns", outcome: "temporary", reply: buildReply("dnsTempfail", { name }), detail },
    client: { ip: address ?? ip, verifiedName: null },
  });
  if (address === null || ptrName === null) return unknown(`${ip} is not an IP address`);

  const ptr = await resolver.query(ptrName, "PTR");
  if (ptr.status === "servfail" || ptr.status === "timeout") return temporary(ptrName, `PTR ${ptrName}: ${ptr.status} (${ptr.detail})`);
  if (ptr.status !== "ok") return unknown(`PTR ${ptrName}: ${ptr.status}, no name`);

  const names = [...new Set(ptr.answers.map(normalizeName))].filter(isQueryableName);
  const followed = names.slice(0, MAX_PTR_NAMES);
  const bounded = names.length > followed.length ? ` (the first ${followed.length} of ${names.length} names)` : "";
  // The forward lookup of the address's own family: an IPv4 client is confirmed by A, IPv6 by AAAA.
  const forwardType = isIPv4(address) ? "A" : "AAAA";
  const forwards = await Promise.all(followed.map((name) => resolver.query(name, forwardType)));
  const verifiedName = followed.find((_, i) => confirms(forwards[i]!, address));

  if (verifiedName === undefined) {
    const failedAt = followed.findIndex((_, i) => forwards[i]!.status === "servfail" || forwards[i]!.status === "timeout");
    if (failedAt >= 0) {
      const failed = forwards[failedAt]!;
      return temporary(followed[failedAt]!, `${forwardType} ${followed[failedAt]}: ${failed.status} (${failed.detail})${bounded}`);
    }
    return unknown(`no PTR name of ${address} resolves back to it: ${followed.join(", ") || "(none usable)"}${bounded}`);
  }

  const client: ClientFacts = { ip: address, verifiedName };
  const dynamic = fcrdns.dynamicPatterns.find((pattern) => pattern.test(verifiedName));
  if (dynamic !== undefined) {
    const reply = buildReply("clientRejected", { host: verifiedName, ip: address });
    return { finding: { check: "fcrdns", outcome: "fail", reply, detail: `${verifiedName} matches the dynamic pattern ${dynamic.source}` }, client };
  }
  return { finding: { check: "fcrdns", outcome: "pass", detail: `${address} ↔ ${verifiedName}${bounded}` }, client };
}

/** Whether a forward lookup lists the address. */
function confirms(lookup: Lookup<"A" | "AAAA">, address: string): boolean {
  return lookup.status === "ok" && lookup.answers.some((answer) => canonicalIp(answer) === address);
}
