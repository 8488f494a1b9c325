// One certificate from the ACME CA (RFC 8555 §7.4) with npm acme-client: the account (found again by
// its key, §7.3.1), an order for the names, HTTP-01 for each authorization (§8.3) answered by the relay's
// own responder, then the finalization with a CSR for the key we keep. The key never leaves this process:
// only the CSR, signed with it, is sent.
import { Agent, get } from "node:https";
import acme from "acme-client";
import type { ChallengeResponder } from "./challenge.ts";

export interface IssueRequest {
  directoryUrl: string;
  accountKeyPem: string;
  contact?: string | undefined;
  names: readonly string[];
  /** The certificate's private key (PEM): the one the TLSA record pins. */
  keyPem: string;
  challenges: ChallengeResponder;
  /** PEM CA certificates to trust for the ACME server instead of the system's. */
  ca?: string | undefined;
}

/**
 * acme-client's axios instance retries a failed request itself, sleeping up to 25 s between tries, and
 * ends a connection failure in a TypeError ("Cannot read properties of undefined (reading 'config')").
 * The service retries the whole issuance with its own backoff (core/acme/renewal.ts retryDelayMs), so
 * these retries are off: a stop never waits on a sleeping retry. Its bad-nonce retries (RFC 8555 §6.5)
 * are separate and stay.
 */
// acmeSettings is acme-client's own field on its instance's defaults (src/axios.js), not in its types.
(acme.axios.defaults as unknown as { acmeSettings: { retryMaxAttempts: number } }).acmeSettings.retryMaxAttempts = 0;

/**
 * Polling an order or a challenge (RFC 8555 §7.5.1): first after 1 s, doubling up to 10 s, 10 times —
 * about a minute for the CA's validation, and a stop waits at most one interval.
 */
const POLLING = { backoffMin: 1_000, backoffMax: 10_000, backoffAttempts: 10 } as const;

/** The directory, fetched once before acme-client's first request: a CA out of reach is said plainly. */
function fetchDirectory(url: string, agent: Agent): Promise<void> {
  return new Promise((resolve, reject) => {
    const request = get(url, { agent }, (response) => {
      response.resume();
      response.on("end", () => (response.statusCode === 200 ? resolve() : reject(new Error(`the ACME directory ${url} answers HTTP ${response.statusCode}`))));
    });
    request.setTimeout(30_000, () => request.destroy(new Error("no answer within 30 s")));
    request.on("error", (err) => reject(new Error(`cannot reach the ACME directory ${url}: ${err.message}`, { cause: err })));
  });
}

/** The chain (PEM, leaf first) the CA issued for `names` and the key. */
export async function issueCertificate(request: IssueRequest): Promise<string> {
  // acme-client sends every request through its one axios instance: the agent is set there for this
  // issuance (a private CA's roots, no keep-alive) and destroyed after it, so no socket stays open.
  const agent = new Agent({ keepAlive: false, ...(request.ca === undefined ? {} : { ca: request.ca }) });
  acme.axios.defaults.httpsAgent = agent;
  try {
    await fetchDirectory(request.directoryUrl, agent);
    const client = new acme.Client({ directoryUrl: request.directoryUrl, accountKey: request.accountKeyPem, ...POLLING });
    const [, csr] = await acme.crypto.createCsr({ altNames: [...request.names] }, request.keyPem);
    return await client.auto({
      csr,
      ...(request.contact === undefined ? {} : { email: request.contact }),
      termsOfServiceAgreed: true,
      challengePriority: ["http-01"],
      // acme-client's own pre-check fetches the token through the system resolver on port 80, which a
      // relay behind a port forward or another resolver fails while the CA succeeds: the CA decides.
      skipChallengeVerification: true,
      challengeCreateFn: (_authz, challenge, keyAuthorization) => Promise.resolve(request.challenges.set(challenge.token, keyAuthorization)),
      challengeRemoveFn: (_authz, challenge) => Promise.resolve(request.challenges.remove(challenge.token)),
    });
  } catch (err) {
    if (err instanceof TypeError) throw new Error(`the connection to the ACME server failed during the issuance (acme-client: ${err.message})`, { cause: err });
    throw err;
  } finally {
    agent.destroy();
    if (acme.axios.defaults.httpsAgent === agent) acme.axios.defaults.httpsAgent = undefined;
  }
}
