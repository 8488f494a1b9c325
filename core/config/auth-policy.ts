// How the judge acts on message authentication (SPF, DKIM, DMARC, ARC); see docs/authentication.md.
import { z } from "zod";

// RFC 1035 §2.3.1: letter-digit-hyphen labels of 1–63 octets, at least two of them; compared in lower case.
const domainName = z
  .string()
  .regex(/^(?=.{1,253}$)(?!-)[a-z0-9-]{1,63}(?<!-)(\.(?!-)[a-z0-9-]{1,63}(?<!-))+$/i, { message: "expected a domain name such as lists.example.org" })
  .transform((d) => d.toLowerCase())
  .meta({ kind: "domain name" });

export const authPolicySchema = z
  .object({
    trustedArcSealers: z
      .array(domainName)
      .default([])
      .describe(
        "ARC sealers (the `d=` of an ARC-Seal) whose valid chain may override a DMARC failure of forwarded mail (RFC 8617 §7.2), e.g. a mailing list host or a forwarding service you use",
      ),
    dmarcEnforce: z
      .boolean()
      .default(true)
      .describe(
        "honour the sender domain's DMARC policy (RFC 7489 §6.6.2: reject, quarantine, with sp and pct); `false`: DMARC is evaluated and reported in Authentication-Results but never acted on",
      ),
    authservId: domainName.optional().meta({ description: "the authserv-id of our Authentication-Results header (RFC 8601 §2.5)", defaultText: "`hostname`" }),
  })
  .strict();

export type AuthPolicy = z.output<typeof authPolicySchema>;
