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
