// Delivery through a smarthost (relay.outbound.relayHost): where outbound port 25 is blocked, mail for
// other domains goes to one submission server instead of their MX hosts — implicit TLS (RFC 8314 §3.3)
// or STARTTLS (RFC 3207), required, TLS 1.2 or above and the certificate verified against the configured
// name, then AUTH PLAIN or LOGIN (RFC 4954) with the password from EDGEMX_RELAY_HOST_PASSWORD. The
// smarthost's name is resolved through the relay's resolver, as MX hosts are. No DANE, MTA-STS or TLS-RPT
// here: those are about the recipient domain's MX hosts, which the smarthost talks to, not we.
import type { EdgemxConfig } from "../../../core/config/schema.ts";
import type { Resolver } from "../../../core/dns/resolver.ts";
import type { Deliverer } from "../queue/deliverer.ts";
import { recipientDomain } from "./remote.ts";
import { routeByDomain } from "./route.ts";
import { sendTransaction, type TransactionTimeouts } from "./transaction.ts";
import type { SessionCache } from "./session-cache.ts";

/** The environment variable holding the smarthost's password (never the config file). */
export const RELAY_HOST_PASSWORD_ENV = "EDGEMX_RELAY_HOST_PASSWORD";

export type RelayHostConfig = NonNullable<EdgemxConfig["relay"]["outbound"]["relayHost"]>;

export class RelayHostSetupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "RelayHostSetupError";
  }
}

export interface SmarthostOptions {
  /** Trust anchors for the smarthost's certificate; the system's WebPKI roots by default (tests pass a test CA). */
  ca?: string | Buffer;
  timeouts?: TransactionTimeouts;
  /** Where sessions with the smarthost wait for the next message; without it, one session per message. */
  sessions?: SessionCache;
}

/** The smarthost as a Deliverer: every recipient of the message in one transaction. */
export function smarthostDeliverer(
  relayHost: RelayHostConfig,
  hostname: string,
  resolver: Resolver,
  env: NodeJS.ProcessEnv,
  options: SmarthostOptions = {},
): Deliverer {
  const pass = env[RELAY_HOST_PASSWORD_ENV];
  if (!pass) throw new RelayHostSetupError(`relay.outbound.relayHost is set, but ${RELAY_HOST_PASSWORD_ENV} (its password) is not in the environment`);
  return async (message) => {
    const v4 = await resolver.query(relayHost.host, "A");
    const address = v4.status === "ok" ? v4 : await resolver.query(relayHost.host, "AAAA");
    const ip = address.answers[0];
    if (ip === undefined) {
      const reply = `451 4.4.3 ${relayHost.host}: no address (${address.status}${address.detail ? `: ${address.detail}` : ""})`;
      return message.envelope.rcptTo.map((rcpt) => ({ rcpt, status: "deferred", reply, remoteMta: relayHost.host }));
    }
    const session = {
      servername: relayHost.host,
      implicitTls: relayHost.tls === "implicit",
      ...(options.ca === undefined ? {} : { ca: options.ca }),
      auth: { user: relayHost.username, pass, method: relayHost.authMethod === "plain" ? ("PLAIN" as const) : ("LOGIN" as const) },
    };
    // A session logged in to the same address and port under the same name and user carries any
    // domain's mail; the per-destination limit counts it under the domain of the message it carries.
    const reuse = options.sessions && {
      cache: options.sessions,
      key: JSON.stringify(["smarthost", ip, relayHost.port, session.servername, session.implicitTls, session.auth.user, session.auth.method]),
      destination: recipientDomain(message.envelope.rcptTo[0] ?? ""),
    };
    return sendTransaction({ host: ip, port: relayHost.port, lmtp: false, hostname, relayHost: session }, message, options.timeouts, reuse);
  };
}

/** Remote delivery with the smarthost in front: the domains it is configured for (all when none are listed) go to it, the rest to `direct`. */
export function viaRelayHost(relayHost: RelayHostConfig, smarthost: Deliverer, direct: Deliverer): Deliverer {
  return relayHost.domains.length === 0 ? smarthost : routeByDomain(relayHost.domains, smarthost, direct);
}
