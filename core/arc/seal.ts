// ARC sealing (RFC 8617 §5.1) of accepted mail we forward to the mailbox host: our
// Authentication-Results become the ARC-Authentication-Results of a new ARC set, sealed with the
// configured domain and selector, so the next hop can trust what we found.
import { arcSealIdentity } from "../config/schema.ts";
import type { WorkerConfig } from "../config/worker.ts";
import { sealMessage } from "../mailauth/internals.ts";

/** What sealing needs of the authentication (core/authentication's AuthOutcome has it): our field, and the ARC chain's result. */
export interface SealedAuthentication {
  authenticationResults: string;
  arc: { result: string };
}

export interface ArcSealKey {
  /** PEM private key (RSA ≥ 2048 bits or Ed25519). */
  privateKey: string;
}

/** RFC 8617 §4.1.3 cv: none for the first set, else what validating the existing chain gave. */
export function chainValidation(arcResult: string): "none" | "pass" | "fail" {
  if (arcResult === "none") return "none";
  return arcResult === "pass" ? "pass" : "fail";
}

/** The payload of our Authentication-Results field: what follows "Authentication-Results:". */
export function authResultsPayload(field: string): string {
  return field.replace(/^Authentication-Results:\s*/i, "");
}

/**
 * What the ARC set of a copy we forward to another domain takes from the verdict that accepted it
 * (docs/forwarding.md): our Authentication-Results as its ARC-Authentication-Results, and the
 * validation of the chain the message came with (the judge's "arc" check; none without one). Null when
 * there is nothing to seal: the judge sealed the message already (judge.arcSeal), or it has no
 * Authentication-Results of ours.
 */
export function forwardSealInputs(verdict: {
  headers: readonly string[];
  checks: readonly { check: string; outcome: string }[];
}): { authResults: string; cv: "none" | "pass" | "fail" } | null {
  if (verdict.headers.some((field) => /^ARC-Seal:/i.test(field))) return null;
  const ours = verdict.headers.find((field) => /^Authentication-Results:/i.test(field));
  if (ours === undefined) return null;
  const arc = verdict.checks.find((check) => check.check === "arc");
  return { authResults: authResultsPayload(ours), cv: arc === undefined ? "none" : chainValidation(arc.outcome) };
}

/** The ARC set (ARC-Seal, ARC-Message-Signature, ARC-Authentication-Results) to prepend, as fields. */
export async function sealForwarded(
  message: Uint8Array,
  headers: readonly string[],
  auth: SealedAuthentication,
  config: WorkerConfig,
  key: ArcSealKey,
): Promise<string[]> {
  // Never null for a validated configuration with judge.arcSeal enabled: the schema refuses one without them.
  const identity = arcSealIdentity(config);
  if (!identity) throw new Error("judge.arcSeal is enabled but no sealing domain and selector are configured");
  const prefix = new TextEncoder().encode(headers.map((h) => `${h}\r\n`).join(""));
  const input = new Uint8Array(prefix.byteLength + message.byteLength);
  input.set(prefix);
  input.set(message, prefix.byteLength);
  const sealed = await sealMessage(Buffer.from(input.buffer, input.byteOffset, input.byteLength), {
    signingDomain: identity.domain,
    selector: identity.selector,
    privateKey: key.privateKey,
    authResults: authResultsPayload(auth.authenticationResults),
    cv: chainValidation(auth.arc.result),
  });
  // mailauth returns the folded fields joined by CRLF; split them at the start of each field name.
  return sealed
    .toString("utf8")
    .replace(/\r\n$/, "")
    .split(/\r\n(?=[^ \t])/);
}
