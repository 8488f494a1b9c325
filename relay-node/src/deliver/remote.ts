// Delivery to other domains' MX hosts (RFC 5321 §5.1) with the TLS their policies ask for: DANE (RFC 7672)
// where the MX and TLSA answers are DNSSEC-authenticated, else MTA-STS (RFC 8461), else mandatory TLS
// for the configured domains, else opportunistic STARTTLS. The decisions are pure functions (mxPlan,
// tlsRequirement, checkSessionTls) over DNS answers and the peer's certificates; this file's Deliverer is
// the I/O around them. See docs/outbound.md for the order and what defers.
//
// Not mx-connect: its resolver hook returns records without the AD bit (DANE would trust unvalidated
// TLSA answers, against RFC 7672 §2.1.1), its MTA-STS fetch (mailauth) cannot take a CA, and it hands
// back a socket whose TLS and refusal reasons would still be ours to judge and report for TLS-RPT.
import { X509Certificate } from "node:crypto";
import type { DetailedPeerCertificate, TLSSocket } from "node:tls";
import type { EdgemxConfig } from "../../../core/config/schema.ts";
import type { Lookup, MxRecord, Resolver, TlsaRecord } from "../../../core/dns/resolver.ts";
import { normalizeName } from "../../../core/dns/resolver.ts";
import type { Logger } from "../log/log.ts";
import { daneRequirement, mxHostIsSecure, tlsaMatches, type DaneRequirement } from "../../../core/dane/dane.ts";
import type { StsPolicyCache } from "../mtasts/cache.ts";
import { stsPolicySource, type StsDiscovery } from "../mtasts/fetch.ts";
import { mxMatchesPolicy, policyLines, type StsPolicy } from "../../../core/mtasts/policy.ts";
import type { TlsPolicyFacts, TlsResultType, TlsRptStore } from "../tlsrpt/counts.ts";
import { runTransaction, type TlsFailure, type TlsOffer, type TransactionTimeouts } from "./transaction.ts";
import type { SessionCache } from "./session-cache.ts";
import type { Deliverer, OutgoingMessage, RecipientResult } from "../queue/deliverer.ts";
import type { RelayMetrics } from "../metrics/metrics.ts";

export interface RemoteDeliveryOptions {
  /** The SMTP port of MX hosts: 25; tests use another. */
  port?: number;
  /** WebPKI trust anchors for MX certificates and MTA-STS policy hosts; the system's roots by default. */
  ca?: string | Buffer;
  /** The HTTPS port of MTA-STS policy hosts: 443; tests use another. */
  stsPort?: number;
  /** A name in a DNSSEC-signed zone, asked at start to see whether the resolver validates (AD bit). */
  dnssecProbeName?: string;
  /** Where MTA-STS policies are cached (RFC 8461 §5.1): the relay's file, ":memory:" in tests. */
  stsCache: StsPolicyCache;
  tlsRpt?: Pick<TlsRptStore, "record">;
  logger?: Logger;
  /** Counts each session's TLS version and its policy's outcome, as TLS-RPT does. */
  metrics?: RelayMetrics | null;
  timeouts?: TransactionTimeouts;
  /** Where sessions wait for the next message to the same MX host under the same TLS decision; without it, one session per message. */
  sessions?: SessionCache;
  now?: () => number;
}

/** The default DNSSEC probe: a name in a long-signed zone. */
const DEFAULT_DNSSEC_PROBE = "ietf.org";

/** One MX host to try, in order. */
export interface MxTarget {
  host: string;
  preference: number;
}

/**
 * What the MX answer says about a domain (RFC 5321 §5.1, RFC 7505):
 * - `hosts`: the exchanges by preference, equal preferences shuffled (§5.1 "SHOULD pick one at random");
 *   no MX records means the domain itself is the implicit MX;
 * - `fail`: the domain cannot receive mail (a Null MX, or no such domain);
 * - `defer`: the lookup failed.
 */
export type MxPlan = { kind: "hosts"; targets: MxTarget[]; authenticated: boolean } | { kind: "fail"; reply: string } | { kind: "defer"; reply: string };

export function mxPlan(domain: string, lookup: Lookup<"MX">, random: () => number = Math.random): MxPlan {
  switch (lookup.status) {
    case "servfail":
    case "timeout":
      return { kind: "defer", reply: `451 4.4.3 MX lookup for ${domain} failed (${lookup.status}): ${lookup.detail}` };
    case "nxdomain":
      return { kind: "fail", reply: `550 5.1.2 ${domain}: Domain not found` };
    case "nodata":
      // §5.1: no MX records — the domain's own address records are an implicit MX of preference 0.
      return { kind: "hosts", targets: [{ host: domain, preference: 0 }], authenticated: lookup.authenticated };
    case "ok": {
      const real = lookup.answers.filter((mx) => normalizeName(mx.exchange) !== "");
      // RFC 7505 §3: a Null MX ("0 .") says the domain accepts no mail; §4.1: 556 5.1.10 at once.
      if (real.length === 0) return { kind: "fail", reply: `556 5.1.10 ${domain}: Recipient address has null MX` };
      const keyed = real.map((mx: MxRecord) => ({ host: normalizeName(mx.exchange), preference: mx.preference, tiebreak: random() }));
      keyed.sort((a, b) => a.preference - b.preference || a.tiebreak - b.tiebreak);
      return { kind: "hosts", targets: keyed.map(({ host, preference }) => ({ host, preference })), authenticated: lookup.authenticated };
    }
  }
}

/**
 * The TLS a session with one MX host must have, strongest policy first: DANE wins over MTA-STS (RFC 8461
 * §2), MTA-STS enforce over the configured mandatory TLS, and without any, opportunistic STARTTLS
 * (RFC 7435) — where an MTA-STS policy in testing mode still has its checks made and reported.
 */
export type TlsRequirement =
  | { kind: "dane"; records: readonly TlsaRecord[] }
  | { kind: "encrypt"; reason: string }
  | { kind: "webpki"; reason: "mta-sts" | "mandatory-tls" }
  | { kind: "opportunistic"; reportWebpki: boolean };

export function tlsRequirement(dane: DaneRequirement, sts: StsPolicy | undefined, mandatoryTls: boolean): TlsRequirement {
  if (dane.kind === "dane") return { kind: "dane", records: dane.records };
  if (dane.kind === "encrypt-only") return { kind: "encrypt", reason: "TLSA records published, none usable (RFC 7672 §2.2)" };
  if (sts?.mode === "enforce") return { kind: "webpki", reason: "mta-sts" };
  if (mandatoryTls) return { kind: "webpki", reason: "mandatory-tls" };
  return { kind: "opportunistic", reportWebpki: sts?.mode === "testing" };
}

/** What the session showed: the TLS socket's facts, or no TLS at all. */
export interface SessionFacts {
  secure: boolean;
  /** The WebPKI verdict of the handshake (chain to a trusted root and the name, RFC 6125). */
  authorized: boolean;
  authorizationError: string;
  chain: readonly X509Certificate[];
}

export type SessionTlsOutcome = { ok: true } | { ok: false; resultType: TlsResultType; detail: string; enforced: boolean };

/** RFC 8460 §4.3 result type of a WebPKI verification error of Node's TLS. */
function webpkiResultType(code: string): TlsResultType {
  if (code === "ERR_TLS_CERT_ALTNAME_INVALID") return "certificate-host-mismatch";
  if (code === "CERT_HAS_EXPIRED" || code === "CERT_NOT_YET_VALID") return "certificate-expired";
  if (/SELF_SIGNED|UNABLE_TO_GET_ISSUER|UNABLE_TO_VERIFY_LEAF|CERT_UNTRUSTED/.test(code)) return "certificate-not-trusted";
  return "validation-failure";
}

/** Whether the session satisfies the requirement; a failure is `enforced` when the message must not go out over it. */
export function checkSessionTls(requirement: TlsRequirement, facts: SessionFacts, referenceNames: readonly string[], now = new Date()): SessionTlsOutcome {
  const enforced = requirement.kind !== "opportunistic";
  // Without STARTTLS the session is a failure for TLS-RPT (RFC 8460 §4.3.1) whatever the policy; only a policy refuses it.
  if (!facts.secure) return { ok: false, resultType: "starttls-not-supported", detail: "the server offered no STARTTLS", enforced };
  if (requirement.kind === "opportunistic" && !requirement.reportWebpki) return { ok: true };
  switch (requirement.kind) {
    case "encrypt":
      return { ok: true };
    case "dane": {
      const match = tlsaMatches(requirement.records, facts.chain, referenceNames, now);
      return match.matched ? { ok: true } : { ok: false, resultType: "tlsa-invalid", detail: match.reason, enforced };
    }
    case "webpki":
    case "opportunistic":
      return facts.authorized
        ? { ok: true }
        : { ok: false, resultType: webpkiResultType(facts.authorizationError), detail: facts.authorizationError, enforced };
  }
}

/**
 * The offer after a STARTTLS that failed at `offer`, or undefined when this host is given up. Under
 * DANE, MTA-STS `enforce` or mandatory TLS: never a weaker one (RFC 7672 §2.2, RFC 8461 §5).
 * Opportunistically (RFC 7435 §3, RFC 3207 §4.1): a failed modern handshake is tried again with legacy
 * TLS — the peers that only speak TLS 1.0/1.1 or have no ECDHE suite — and a refused STARTTLS or a
 * failed legacy handshake in plaintext, on the same host.
 */
export function nextTlsOffer(requirement: TlsRequirement, offer: TlsOffer, failure: TlsFailure): TlsOffer | undefined {
  if (requirement.kind !== "opportunistic" || offer === "none") return undefined;
  return offer === "modern" && failure.stage === "handshake" ? "legacy" : "none";
}

/**
 * How a failed STARTTLS is counted (RFC 8460 §4.3): a refused command is `starttls-not-supported`; a
 * handshake that fails has no type of its own, so `validation-failure` ("a general failure for a
 * reason not matching a category above"), the detail saying what failed.
 */
export function tlsFailureCount(failure: TlsFailure): { resultType: TlsResultType; detail: string } {
  return failure.stage === "starttls-refused"
    ? { resultType: "starttls-not-supported", detail: `STARTTLS refused: ${failure.detail}` }
    : { resultType: "validation-failure", detail: `TLS handshake failed: ${failure.detail}` };
}

/**
 * What a session with an MX host was decided on, as the session cache's key: a cached session carries
 * the next message only when all of it is the same — the address and port, the name its certificate
 * was checked against, the recipient domain (also a reference name, RFC 7672 §3.2.2), the TLS offer,
 * the requirement with its TLSA records, and the TLS-RPT policy it is counted under. So a session
 * whose TLS was judged under one policy never carries mail that another policy (or none) governs.
 */
export function mxSessionKey(session: {
  ip: string;
  port: number;
  host: string;
  domain: string;
  offer: TlsOffer;
  requirement: TlsRequirement;
  rpt: TlsPolicyFacts;
}): string {
  const { ip, port, host, domain, offer, requirement, rpt } = session;
  const judged = requirement.kind === "dane" ? { kind: "dane", records: requirement.records.map(tlsaText) } : requirement;
  return JSON.stringify(["mx", ip, port, host, domain, offer, judged, rpt]);
}

/** The name of a requirement in replies and logs. */
function requirementLabel(requirement: TlsRequirement): string {
  if (requirement.kind === "dane") return "DANE";
  if (requirement.kind === "webpki" && requirement.reason === "mta-sts") return "MTA-STS";
  return requirement.kind === "opportunistic" ? "opportunistic TLS" : "Mandatory TLS";
}

/**
 * The certificates the peer sent, its own first (Node links them through issuerCertificate; a root
 * that Node found in its trust store may end the list). Read from getPeerCertificate(true) alone: on
 * Node 24.21, a getPeerX509Certificate() call before it makes it return an empty object, and the chain
 * then held only the server's own certificate, so no DANE-TA anchor could ever match.
 */
function peerChain(socket: TLSSocket): X509Certificate[] {
  const chain: X509Certificate[] = [];
  const seen = new Set<string>();
  // A self-signed root is its own issuerCertificate: the walk ends at the first certificate seen twice.
  for (
    let current: DetailedPeerCertificate | undefined = socket.getPeerCertificate(true);
    current?.raw !== undefined && !seen.has(current.fingerprint256);
    current = current.issuerCertificate
  ) {
    seen.add(current.fingerprint256);
    chain.push(new X509Certificate(current.raw));
  }
  return chain;
}

function sessionFacts(socket: TLSSocket | undefined): SessionFacts {
  if (socket === undefined) return { secure: false, authorized: false, authorizationError: "", chain: [] };
  return { secure: true, authorized: socket.authorized, authorizationError: String(socket.authorizationError ?? ""), chain: peerChain(socket) };
}

function tlsaText(record: TlsaRecord): string {
  return `${record.usage} ${record.selector} ${record.matchingType} ${Buffer.from(record.data).toString("hex")}`;
}

/** The TLS-RPT policy a session is counted under (RFC 8460 §4.4). */
function rptPolicy(domain: string, requirement: TlsRequirement, sts: StsPolicy | undefined): TlsPolicyFacts {
  if (requirement.kind === "dane") return { type: "tlsa", domain, policyString: requirement.records.map(tlsaText), mxHost: [] };
  if (sts !== undefined && sts.mode !== "none") return { type: "sts", domain, policyString: policyLines(sts), mxHost: sts.mx };
  return { type: "no-policy-found", domain, policyString: [], mxHost: [] };
}

/** Whether the resolver validates: a name in a signed zone must come back with the AD bit (RFC 4035 §3.2.3). */
export async function resolverValidates(resolver: Resolver, probeName: string): Promise<boolean> {
  const probe = await resolver.query(probeName, "A");
  return probe.status === "ok" && probe.authenticated;
}

/** The domain of a recipient: the part after the last "@", as a DNS name (lower case, no final dot). */
export function recipientDomain(rcpt: string): string {
  return normalizeName(rcpt.slice(rcpt.lastIndexOf("@") + 1));
}

/** Groups recipients by their domain (recipientDomain). */
export function recipientsByDomain(rcptTo: readonly string[]): Map<string, string[]> {
  const groups = new Map<string, string[]>();
  for (const rcpt of rcptTo) {
    const domain = recipientDomain(rcpt);
    groups.set(domain, [...(groups.get(domain) ?? []), rcpt]);
  }
  return groups;
}

export function remoteDeliverer(config: EdgemxConfig, resolver: Resolver, options: RemoteDeliveryOptions): Deliverer {
  const mandatory = new Set(config.connection.mandatoryTls.domains.map(normalizeName));
  const sts = stsPolicySource({ resolver, ca: options.ca, port: options.stsPort, now: options.now, cache: options.stsCache });
  const now = options.now ?? Date.now;
  const probeName = options.dnssecProbeName ?? DEFAULT_DNSSEC_PROBE;
  void resolverValidates(resolver, probeName).then((validates) => {
    if (!validates) options.logger?.warn({ probe: probeName }, "the DNS resolver does not validate DNSSEC (no AD bit): DANE cannot apply to any destination");
  });

  const countSession = (policy: TlsPolicyFacts, failure?: { resultType: TlsResultType; host: string; address: string; detail: string }): void => {
    options.metrics?.outboundPolicy(policy.type, failure?.resultType ?? "success");
    options.tlsRpt?.record({
      policy,
      at: now(),
      ...(failure
        ? { failure: { resultType: failure.resultType, receivingMxHostname: failure.host, receivingIp: failure.address, detail: failure.detail } }
        : {}),
    });
  };

  /**
   * One MX host: the session at the strongest offer, then, where the requirement allows, the weaker
   * ones after a failed STARTTLS (nextTlsOffer). The host counts once for TLS-RPT: its first TLS failure,
   * else the session's own outcome.
   */
  async function deliverToHost(
    target: { domain: string; host: string; ip: string; requirement: TlsRequirement; rpt: TlsPolicyFacts },
    message: OutgoingMessage,
  ): Promise<RecipientResult[]> {
    const { domain, host, ip, requirement, rpt } = target;
    const label = requirementLabel(requirement);
    let offer: TlsOffer = "modern";
    let downgradedFrom: string | undefined;
    for (;;) {
      const port = options.port ?? 25;
      // Only the strongest offer's sessions are cached: a message starts with it, so it is what is looked for.
      const reuse =
        options.sessions && offer === "modern"
          ? { cache: options.sessions, key: mxSessionKey({ ip, port, host, domain, offer, requirement, rpt }), destination: domain }
          : undefined;
      const outcome = await runTransaction(
        {
          host: ip,
          port,
          lmtp: false,
          hostname: config.hostname,
          tls: {
            servername: host,
            ...(options.ca === undefined ? {} : { ca: options.ca }),
            offer,
            inspect: (socket) => {
              options.metrics?.tlsSession("out", socket ? (socket.getProtocol() ?? "unknown") : "none");
              const tls = socket ? `${socket.getProtocol()} ${socket.getCipher().name}` : "none";
              if (downgradedFrom !== undefined) {
                // Already counted as the failure that led here; the log says what the message went over.
                options.logger?.warn(
                  { domain, mx: host, policy: requirement.kind, offer, tls, after: downgradedFrom },
                  "outbound session after a TLS fallback",
                );
                return undefined;
              }
              const tlsOutcome = checkSessionTls(requirement, sessionFacts(socket), [host, domain], new Date(now()));
              if (tlsOutcome.ok) {
                countSession(rpt);
                options.logger?.info({ domain, mx: host, tls, policy: requirement.kind }, "outbound session");
                return undefined;
              }
              countSession(rpt, { resultType: tlsOutcome.resultType, host, address: ip, detail: tlsOutcome.detail });
              options.logger?.warn(
                { domain, mx: host, policy: requirement.kind, result: tlsOutcome.resultType, detail: tlsOutcome.detail },
                "outbound TLS check failed",
              );
              if (!tlsOutcome.enforced) return undefined;
              // Never a downgrade (RFC 7672 §2.2, RFC 8461 §5): this host is skipped, the message waits.
              return `451 4.7.5 ${label}: ${host}: ${tlsOutcome.resultType} (${tlsOutcome.detail})`;
            },
          },
        },
        message,
        options.timeouts,
        reuse,
      );
      const failure = outcome.tlsFailure;
      if (failure === undefined) return outcome.results;
      const counted = tlsFailureCount(failure);
      if (downgradedFrom === undefined) countSession(rpt, { resultType: counted.resultType, host, address: ip, detail: counted.detail });
      downgradedFrom ??= counted.detail;
      const next = nextTlsOffer(requirement, offer, failure);
      options.logger?.warn(
        { domain, mx: host, policy: requirement.kind, offer, result: counted.resultType, detail: counted.detail, next: next ?? "none left" },
        next === undefined ? "outbound STARTTLS failed" : `outbound STARTTLS failed: trying ${next === "none" ? "plaintext" : "legacy TLS"} on the same host`,
      );
      if (next === undefined) {
        // A policy's failure is its 4.7.5 (the queue retries, the domain rests); a plaintext session that failed has its own replies.
        if (requirement.kind === "opportunistic") return outcome.results;
        const reply = `451 4.7.5 ${label}: ${host}: ${counted.resultType} (${counted.detail})`;
        return message.envelope.rcptTo.map((rcpt) => ({ rcpt, status: "deferred", reply, remoteMta: host }));
      }
      offer = next;
    }
  }

  async function deliverToDomain(domain: string, message: OutgoingMessage, rcpts: string[]): Promise<RecipientResult[]> {
    const plan = mxPlan(domain, await resolver.query(domain, "MX"));
    if (plan.kind !== "hosts") return rcpts.map((rcpt) => ({ rcpt, status: plan.kind === "fail" ? "failed" : "deferred", reply: plan.reply }));
    const discovery: StsDiscovery = await sts.discover(domain);
    const policy = discovery.kind === "policy" ? discovery.policy : undefined;
    if (discovery.kind === "failed") {
      countSession(
        { type: "sts", domain, policyString: [], mxHost: [] },
        { resultType: discovery.resultType, host: `mta-sts.${domain}`, address: "", detail: discovery.reason },
      );
    }
    let pending = rcpts;
    const final = new Map<string, RecipientResult>();
    const deferAll = (reply: string, remoteMta?: string): void => {
      for (const rcpt of pending) final.set(rcpt, { rcpt, status: "deferred", reply, ...(remoteMta ? { remoteMta } : {}) });
    };
    for (const { host } of plan.targets) {
      if (pending.length === 0) break;
      // RFC 8461 §4.1, §5: an MX host outside the policy is not a candidate under enforce; under testing
      // it is used, and the failure only reported.
      if (policy !== undefined && policy.mode !== "none" && !mxMatchesPolicy(host, policy)) {
        countSession(rptPolicy(domain, { kind: "webpki", reason: "mta-sts" }, policy), {
          resultType: "validation-failure",
          host,
          address: "",
          detail: "MX host not in the MTA-STS policy",
        });
        if (policy.mode === "enforce") {
          deferAll(`451 4.7.5 MTA-STS: MX host ${host} is not in the policy of ${domain}`, host);
          continue;
        }
      }
      const v4 = await resolver.query(host, "A");
      const address = v4.status === "ok" ? v4 : await resolver.query(host, "AAAA");
      const ip = address.answers[0];
      if (ip === undefined) {
        deferAll(`451 4.4.3 ${host}: no address (${address.status}${address.detail ? `: ${address.detail}` : ""})`, host);
        continue;
      }
      const dane: DaneRequirement = mxHostIsSecure(plan.authenticated, address.authenticated)
        ? daneRequirement(await resolver.query(`_25._tcp.${host}`, "TLSA"))
        : { kind: "none", reason: "MX or address answer not DNSSEC-authenticated" };
      if (dane.kind === "defer") {
        countSession({ type: "tlsa", domain, policyString: [], mxHost: [] }, { resultType: "dnssec-invalid", host, address: ip, detail: dane.reason });
        deferAll(`451 4.7.5 DANE: ${host}: ${dane.reason}`, host);
        continue;
      }
      const requirement = tlsRequirement(dane, policy, mandatory.has(domain));
      const results = await deliverToHost(
        { domain, host, ip, requirement, rpt: rptPolicy(domain, requirement, policy) },
        {
          ...message,
          envelope: { mailFrom: message.envelope.mailFrom, rcptTo: pending },
        },
      );
      for (const result of results) final.set(result.rcpt, result);
      // Deferred recipients try the next MX host (RFC 5321 §5.1); delivered and failed ones are done.
      pending = results.filter((result) => result.status === "deferred").map((result) => result.rcpt);
    }
    return rcpts.map((rcpt) => final.get(rcpt) ?? { rcpt, status: "deferred", reply: `451 4.4.4 ${domain}: no MX host could be tried` });
  }

  return async (message) => {
    const groups = recipientsByDomain(message.envelope.rcptTo);
    const perDomain = await Promise.all([...groups].map(([domain, rcpts]) => deliverToDomain(domain, message, rcpts)));
    return perDomain.flat();
  };
}
