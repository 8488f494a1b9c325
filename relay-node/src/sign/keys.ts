// The DKIM signing keys of our domains (domains[].dkim): the PEM file named by privateKeyFile, else the
// environment variable EDGEMX_DKIM_KEY_<DOMAIN> (the domain in capitals, every other character "_")
// holding the PEM itself. Checked at start: the key's type must be the configured algorithm, and an
// RSA key must have at least 2048 bits (RFC 8301 §3.2 says 1024 at least; 2048 is today's floor).
import { createPrivateKey, type KeyObject } from "node:crypto";
import { readFileSync } from "node:fs";
import type { EdgemxConfig } from "../../../core/config/schema.ts";
import type { DkimKey } from "../../../core/dkim/sign.ts";

export const MIN_RSA_BITS = 2048;

export class SigningKeyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SigningKeyError";
  }
}

export function dkimKeyEnvName(domain: string): string {
  return `EDGEMX_DKIM_KEY_${domain.toUpperCase().replace(/[^A-Z0-9]/g, "_")}`;
}

/** Refuses a key that is not of `algorithm`, or an RSA key below MIN_RSA_BITS. */
export function checkSigningKey(key: KeyObject, algorithm: "rsa" | "ed25519", domain: string): void {
  if (key.asymmetricKeyType !== algorithm)
    throw new SigningKeyError(`the DKIM key of ${domain} is ${key.asymmetricKeyType ?? "not asymmetric"}, the configuration says ${algorithm}`);
  const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
  if (algorithm === "rsa" && bits < MIN_RSA_BITS)
    throw new SigningKeyError(`the DKIM key of ${domain} has ${bits} bits; at least ${MIN_RSA_BITS} are required`);
}

/** The variable holding the PEM of a domain's optional second, Ed25519 key (dkim.ed25519, RFC 8463). */
export function dkimEd25519KeyEnvName(domain: string): string {
  return `EDGEMX_DKIM_ED25519_KEY_${domain.toUpperCase().replace(/[^A-Z0-9]/g, "_")}`;
}

function parsePem(pem: string, source: string, domain: string): KeyObject {
  try {
    return createPrivateKey(pem);
  } catch {
    // The PEM's text must not reach a log: name where it came from, never what it holds.
    throw new SigningKeyError(`the DKIM key of ${domain} (${source}) is not a PEM private key`);
  }
}

/** The Ed25519 key of dkim.ed25519 when configured and present (file, else environment), else undefined. */
function loadEd25519Key(domain: EdgemxConfig["domains"][number], env: NodeJS.ProcessEnv): DkimKey | undefined {
  const ed = domain.dkim?.ed25519;
  if (ed === undefined) return undefined;
  const source = ed.privateKeyFile ?? dkimEd25519KeyEnvName(domain.name);
  const pem = ed.privateKeyFile !== undefined ? readFileSync(ed.privateKeyFile, "utf8") : env[source];
  if (pem === undefined) return undefined;
  const privateKey = parsePem(pem, source, domain.name);
  checkSigningKey(privateKey, "ed25519", domain.name);
  return { domain: domain.name.toLowerCase(), selector: ed.selector, algorithm: "ed25519-sha256", privateKey };
}

/**
 * The signing key of every domain that has one, by domain name (lower case); the PEM text beside it for
 * ARC; and the optional second Ed25519 key (signed beside the first, never alone).
 */
export function loadDkimKeys(config: EdgemxConfig, env: NodeJS.ProcessEnv): Map<string, { key: DkimKey; pem: string; ed25519?: DkimKey }> {
  const keys = new Map<string, { key: DkimKey; pem: string; ed25519?: DkimKey }>();
  for (const domain of config.domains) {
    const dkim = domain.dkim;
    if (dkim === undefined) continue;
    const pem = dkim.privateKeyFile !== undefined ? readFileSync(dkim.privateKeyFile, "utf8") : env[dkimKeyEnvName(domain.name)];
    if (pem === undefined) continue;
    const privateKey = parsePem(pem, dkim.privateKeyFile ?? dkimKeyEnvName(domain.name), domain.name);
    checkSigningKey(privateKey, dkim.algorithm, domain.name);
    const algorithm = dkim.algorithm === "rsa" ? "rsa-sha256" : "ed25519-sha256";
    const ed25519 = loadEd25519Key(domain, env);
    keys.set(domain.name.toLowerCase(), {
      key: { domain: domain.name.toLowerCase(), selector: dkim.selector, algorithm, privateKey },
      pem,
      ...(ed25519 ? { ed25519 } : {}),
    });
  }
  return keys;
}
