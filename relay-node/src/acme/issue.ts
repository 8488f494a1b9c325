// One certificate from the ACME CA (RFC 8555 §7.4) with npm acme-client: the account (found again by
// its key, §7.3.1), an order for the names, HTTP-01 for each authorization (§8.3) answered by the relay's
// own responder, then the finalization with a CSR for the key we keep. The key never leaves this process:
// only the CSR, signed with it, is sent.
import { Agent } from "node:https";
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

/** The chain (PEM, leaf first) the CA issued for `names` and the key. */
export async function issueCertificate(request: IssueRequest): Promise<string> {
  // acme-client sends every request through its one axios instance: the agent is set there for this
  // issuance (a private CA's roots, no keep-alive) and destroyed after it, so no socket stays open.
  const agent = new Agent({ keepAlive: false, ...(request.ca === undefined ? {} : { ca: request.ca }) });
  acme.axios.defaults.httpsAgent = agent;
  try {
    const client = new acme.Client({ directoryUrl: request.directoryUrl, accountKey: request.accountKeyPem });
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
  } finally {
    agent.destroy();
    if (acme.axios.defaults.httpsAgent === agent) acme.axios.defaults.httpsAgent = undefined;
  }
}
