// Greylisting on Email Routing's path: the triplet of the trace's client, the envelope sender and the
// recipient, asked of the Durable Object of the client's network (greylist-object.ts). A deferral throws
// like every temporary answer of this path, so the sending server retries; so does an object that cannot
// be reached — never an accept because greylisting could not run.
import { clientNetwork, tripletKey, type GreylistPolicy, type GreylistTriplet } from "../../../core/greylist/greylist.ts";
import type { Finding } from "../../../core/smtp/finding.ts";
import type { GreylistObject } from "./greylist-object.ts";

export interface EdgeGreylist {
  /** The attempt's finding: pass, or fail with the relay's 451 4.7.1. Rejects when the object cannot be reached. */
  check(triplet: GreylistTriplet): Promise<Finding>;
  /** After a message of the triplet's network was forwarded: one more towards its auto-allow. */
  delivered(triplet: GreylistTriplet): Promise<void>;
}

export function edgeGreylist(namespace: DurableObjectNamespace<GreylistObject>, policy: GreylistPolicy): EdgeGreylist {
  const { delaySeconds, retryWindowSeconds, passLifetimeSeconds, autoAllowAfter } = policy;
  const objectOf = (network: string) => namespace.get(namespace.idFromName(network));
  const networkOf = (triplet: GreylistTriplet) => clientNetwork(triplet.clientIp, policy.ipv4Prefix, policy.ipv6Prefix);
  return {
    check(triplet) {
      const network = networkOf(triplet);
      const request = { key: tripletKey(triplet, policy), network, recipient: triplet.recipient };
      return objectOf(network).check(request, { delaySeconds, retryWindowSeconds, passLifetimeSeconds, autoAllowAfter });
    },
    async delivered(triplet) {
      await objectOf(networkOf(triplet)).delivered({ passLifetimeSeconds });
    },
  };
}
