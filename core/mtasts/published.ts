// MTA-STS (RFC 8461): the policy body we serve and the id published in the _mta-sts TXT record.
import type { WorkerDomainConfig } from "../config/worker.ts";

/** The mx patterns of the policy: configured ones, else the domain's MX hosts. */
export function mtaStsMxPatterns(domain: WorkerDomainConfig): string[] {
  return domain.mtaSts.mx && domain.mtaSts.mx.length > 0 ? domain.mtaSts.mx : domain.mx;
}

/**
 * RFC 8461 §3.2: key/value lines separated by CRLF, "version" first. "mx" lines are required unless
 * the mode is "none"; max_age is bounded by the schema (RFC 8461 §3.2: at most 31557600).
 */
export function mtaStsPolicy(domain: WorkerDomainConfig): string {
  const lines = ["version: STSv1", `mode: ${domain.mtaSts.mode}`];
  for (const mx of mtaStsMxPatterns(domain)) lines.push(`mx: ${mx}`);
  lines.push(`max_age: ${domain.mtaSts.maxAge}`);
  return lines.map((l) => `${l}\r\n`).join("");
}

/**
 * RFC 8461 §3.1: the id is 1–32 alphanumeric characters and must change whenever the policy does.
 * We derive it from the policy body (the first 128 bits of its SHA-256, in hex), so it changes
 * exactly when the policy changes and never otherwise.
 */
export async function mtaStsPolicyId(policy: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(policy)));
  return Array.from(digest.subarray(0, 16), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** The TXT record value for _mta-sts.<domain> (RFC 8461 §3.1). */
export async function mtaStsTxt(domain: WorkerDomainConfig): Promise<string> {
  return `v=STSv1; id=${await mtaStsPolicyId(mtaStsPolicy(domain))}`;
}
