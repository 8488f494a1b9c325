// The authentication checks, run by mailauth's modules the way its authenticate() runs them: every
// DKIM signature (RFC 6376), SPF (RFC 7208), the ARC chain (RFC 8617), then DMARC (RFC 7489, as
// mailauth implements its successor RFC 9989) over their results. They are run one by one rather than
// by authenticate(), which checks the HELO identity only for a null sender and evaluates SPF afresh for
// every message, and whose module loads BIMI code that does not load inside workerd. mailauth's
// functions come through core/mailauth/internals.ts (which says why each one is imported as it is),
// DKIM's as dkimVerifyCommonFirst(): a message with one plain signature that passes is verified by
// core/dkim/verify.ts, every other one by mailauth's verifier, fed the message without the stream.
// Below them, the plain shapes the judge keeps of each result.
import type { Buffer } from "node:buffer";
import type { ARCData, ARCResult, DMARCResult, DNSResolver, SPFResult } from "mailauth";
import type { ArcFacts, SealedResults } from "../arc/override.ts";
import type { DmarcFacts, DmarcPolicy } from "../dmarc/policy.ts";
import { dmarcPct } from "../dmarc/policy.ts";
import { checkSpf, dkimVerifyCommonFirst, evaluateDmarc, verifyArc, type DkimVerification } from "../mailauth/internals.ts";

/** The SMTP transaction as far as authentication needs it. */
export interface AuthEnvelope {
  /** The client's IP address; absent on Email Routing, where SPF cannot be evaluated. */
  clientIp?: string;
  /** The HELO/EHLO name; absent on Email Routing. */
  helo?: string;
  /** The MAIL FROM address; "" for the null reverse-path (RFC 5321 §4.5.5). */
  mailFrom: string;
}

// mailauth's strict mode follows the RFCs exactly where its default is lenient; the judge uses it
// for SPF, DKIM and ARC (the conformance tests in test/unit show what that passes), not for DMARC.

/**
 * DKIM signatures (and ARC's, which are DKIM signatures, RFC 8617 §4.1.2) as RFC 6376 and RFC 8301
 * say: tag-list, required-tag and key-record syntax checked (§3.2, §3.5, §3.6.1, §6.1.1); rsa-sha1
 * (RFC 8301 §3.1) and keys under 1024 bits (§3.2) are not valid, reported as dkim=policy and not
 * counted for DMARC; a body hash that does not match is dkim=fail (RFC 8601 §2.7.1).
 */
export const DKIM_VERIFY_OPTIONS = { strict: true, minBitLength: 1024 } as const;

/**
 * SPF as RFC 7208 says: the whole record is validated before evaluation (§4.6), c, r and t macros
 * only in exp= (§7.1), void lookups counted per §4.6.4; Authentication-Results names only the
 * identity checked (RFC 8601 §2.7.2).
 */
export const SPF_VERIFY_OPTIONS = { strict: true } as const;

// DMARC stays in mailauth's default mode: its strict mode discards a record with a repeated tag,
// which would switch a published reject policy off; leniently, the last value counts.

/** What mailauth found, check by check. */
export interface MailauthResults {
  dkim: DkimVerification;
  /** The MAIL FROM identity (HELO for a null sender); not evaluated without a client IP. */
  spf?: SPFResult;
  /** The HELO identity (RFC 7208 §2.3), when it is a domain name and MAIL FROM is not null. */
  heloSpf?: SPFResult;
  arc: ARCResult;
  /** False when the message has no single author domain (RFC 9989 §5.3.1). */
  dmarc: DMARCResult | false;
  /** The signing domains (lower case) of the passing signatures that align with the author domain. */
  dkimAligned: ReadonlySet<string>;
}

/** RFC 7208 §2.3: the HELO identity is checked only when it is a domain name, not an address literal. */
const HELO_DOMAIN = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{1,63}\.?$/i;

const normalDomain = (domain: string): string => domain.toLowerCase().replace(/\.+$/, "");

/** How long a session's SPF result is reused: well below the TTL of any ordinary SPF or A record. */
export const SPF_MEMO_MS = 30_000;
/** The most SPF results one session keeps (sender and HELO identities of its different senders). */
const SPF_MEMO_ENTRIES = 16;

/**
 * The SPF results of one SMTP session, by their inputs. RFC 7208 §4's check_host() depends on the
 * client IP, the sender (its domain, and its local part through macros, §7.3), the HELO name and the
 * DNS; a session sending many messages from one sender gets the same result for each, and evaluating
 * it again was about a tenth of the relay's CPU per message (docs/benchmarks.md, mx, round 3). A
 * result is reused for SPF_MEMO_MS at most; a temperror (a DNS outage, RFC 7208 §2.6.6) never is.
 * The relay keeps one per session; the verdict API is stateless and evaluates every time.
 */
export class SpfMemo {
  readonly #entries = new Map<string, { at: number; result: Promise<SPFResult> }>();
  readonly #clock: () => number;

  constructor(clock: () => number = Date.now) {
    this.#clock = clock;
  }

  /** The result for these inputs: reused while fresh, else evaluated by `evaluate` and kept. */
  result(inputs: readonly string[], evaluate: () => Promise<SPFResult>): Promise<SPFResult> {
    const key = JSON.stringify(inputs);
    const now = this.#clock();
    const kept = this.#entries.get(key);
    if (kept !== undefined && now - kept.at < SPF_MEMO_MS) return kept.result;
    const result = evaluate();
    this.#entries.delete(key);
    if (this.#entries.size >= SPF_MEMO_ENTRIES) this.#entries.delete(this.#entries.keys().next().value!);
    this.#entries.set(key, { at: now, result });
    const forget = () => {
      if (this.#entries.get(key)?.result === result) this.#entries.delete(key);
    };
    result.then((spf) => spf.status.result === "temperror" && forget(), forget);
    return result;
  }
}

/**
 * Runs every check; `authservId` names us in SPF's comments. With `spfMemo`, SPF results of earlier
 * messages of the same session are reused (SpfMemo).
 */
export async function runChecks(
  message: Buffer,
  envelope: AuthEnvelope,
  authservId: string,
  resolver: DNSResolver,
  spfMemo?: SpfMemo,
): Promise<MailauthResults> {
  const { clientIp, mailFrom } = envelope;
  // As mailauth's authenticate(): a client without a HELO name is known by its address literal.
  const helo = envelope.helo ?? (clientIp !== undefined ? `[${clientIp}]` : undefined);
  const evaluateSpf = (ip: string, sender: string) =>
    checkSpf({ ip, sender, mta: authservId, resolver, ...SPF_VERIFY_OPTIONS, ...(helo !== undefined ? { helo } : {}) });
  const spfFor = (ip: string, sender: string): Promise<SPFResult> =>
    spfMemo === undefined ? evaluateSpf(ip, sender) : spfMemo.result([ip, sender, helo ?? "", authservId], () => evaluateSpf(ip, sender));

  const dkim = await dkimVerifyCommonFirst(message, { resolver, sender: mailFrom, ...DKIM_VERIFY_OPTIONS });
  const [spf, heloSpf, arc] = await Promise.all([
    clientIp !== undefined ? spfFor(clientIp, mailFrom) : undefined,
    // A null sender makes the MAIL FROM check the HELO check already (RFC 7208 §2.4).
    clientIp !== undefined && helo !== undefined && mailFrom !== "" && HELO_DOMAIN.test(helo) ? spfFor(clientIp, "") : undefined,
    // mailauth's authenticate() hands over the chain the DKIM pass parsed; its type says ARCSigningData.
    verifyArc(dkim.arc as ARCData, { resolver, ...DKIM_VERIFY_OPTIONS, ...(clientIp !== undefined ? { ip: clientIp } : {}) }),
  ]);
  const { response: dmarc, dkimAligned } = await evaluateDmarc({
    headerFrom: dkim.headerFrom,
    fromFields: dkim.fromFields,
    spfDomains: spf?.status.result === "pass" ? [spf.domain] : [],
    dkimDomains: dkim.results
      .filter((row) => row.status.result === "pass" && row.signingDomain !== undefined)
      .map((row) => ({
        domain: row.signingDomain ?? "",
        aligned: row.status.aligned ?? false,
        ...(row.status.underSized ? { underSized: row.status.underSized } : {}),
      })),
    arcResult: arc,
    resolver,
  });
  return {
    dkim,
    ...(spf ? { spf } : {}),
    ...(heloSpf ? { heloSpf } : {}),
    arc,
    dmarc,
    dkimAligned: new Set([...(dkimAligned ?? [])].map(normalDomain)),
  };
}

export interface SpfCheck {
  /** RFC 7208 §2.6: pass, fail, softfail, neutral, none, temperror, permerror. */
  result: string;
  /** The domain whose policy was evaluated. */
  domain: string;
  comment?: string;
}

export interface DkimCheck {
  /** RFC 8601 §2.7.1: pass, fail, neutral, policy, temperror, permerror. */
  result: string;
  /** d= */
  domain: string;
  /** s= */
  selector: string;
  /** a= */
  algorithm: string;
  /** Whether this passing signature's d= aligns with the author domain (RFC 7489 §3.1.1). */
  aligned: boolean;
  comment?: string;
}

export interface ArcCheck {
  /** RFC 8617 §4.4 chain validation status: pass, fail, none. */
  result: string;
  /** The highest instance (i=) of the chain, 0 without one. */
  instance: number;
  /** d= of the most recent ARC-Seal. */
  sealer?: string;
  comment?: string;
}

/** `{ key: value }`, or nothing for an undefined value (optional properties stay absent). */
export function optional<K extends string>(key: K, value: string | undefined): Partial<Record<K, string>> {
  return value === undefined ? {} : ({ [key]: value } as Record<K, string>);
}

export function spfCheck(result: SPFResult): SpfCheck {
  return { result: result.status.result, domain: result.domain, ...optional("comment", result.status.comment || undefined) };
}

export function dkimChecks(rows: DkimVerification["results"], aligned: ReadonlySet<string>): DkimCheck[] {
  return rows.flatMap((row) =>
    row.signingDomain === undefined
      ? [] // mailauth's "message not signed" entry
      : [
          {
            result: row.status.result,
            domain: row.signingDomain,
            selector: row.selector ?? "",
            algorithm: row.algo ?? "",
            aligned: row.status.result === "pass" && aligned.has(normalDomain(row.signingDomain)),
            ...optional("comment", row.status.comment || undefined),
          },
        ],
  );
}

const DMARC_POLICIES: readonly string[] = ["none", "quarantine", "reject"];

export function dmarcFacts(dmarc: DMARCResult | false): DmarcFacts & { authorDomain?: string } {
  if (dmarc === false) return { result: "none", pct: 100 };
  return {
    result: dmarc.status.result,
    ...optional("authorDomain", dmarc.status.header?.from),
    ...(DMARC_POLICIES.includes(dmarc.policy) ? { policy: dmarc.policy as DmarcPolicy } : {}),
    pct: dmarc.rr ? dmarcPct(dmarc.rr) : 100,
  };
}

/** What an aggregate report tells beside the decision (RFC 9990): where the policy was found and how it read. */
export interface DmarcPolicyRecord {
  /** The DMARC Policy Domain (RFC 9989 §3.2.5): where the applied record is published, lower case. */
  domain: string;
  /** The record as published. */
  record: string;
  /** t=y (RFC 9989 §4.7): mailauth applied the policy one level lower. */
  testing: boolean;
  /** Whether the SPF-authenticated domain aligned with the author domain (RFC 9989 §4.4.2). */
  spfAligned: boolean;
}

/** The policy record behind a DMARC result; undefined when no record applied. */
export function dmarcPolicyRecord(dmarc: DMARCResult | false): DmarcPolicyRecord | undefined {
  if (dmarc === false || dmarc.rr === undefined || dmarc.policyDomain === undefined) return undefined;
  return { domain: normalDomain(dmarc.policyDomain), record: dmarc.rr, testing: dmarc.testMode, spfAligned: dmarc.alignment.spf.result !== undefined };
}

// mailauth's parse of an ARC-Authentication-Results is untyped: each value is read defensively.
const record = (value: unknown): Record<string, unknown> => (typeof value === "object" && value !== null ? (value as Record<string, unknown>) : {});
const text = (value: unknown): string | undefined => (typeof value === "string" ? value : undefined);
const domainOf = (identity: string | undefined): string | undefined => identity?.slice(identity.lastIndexOf("@") + 1) || undefined;
const property = (entry: unknown, ptype: string, name: string): string | undefined => text(record(record(entry)[ptype])[name]);
const resultOf = (entry: unknown): string => text(record(entry).result) ?? "";

/** The most recent ARC-Authentication-Results as mailauth parsed it, as SealedResults. */
function sealedResults(parsed: Record<string, unknown>): SealedResults {
  const { dmarc, spf } = parsed;
  const dkim: unknown[] = Array.isArray(parsed.dkim) ? parsed.dkim : [];
  return {
    ...(dmarc !== undefined ? { dmarc: { result: resultOf(dmarc), ...optional("from", property(dmarc, "header", "from")) } } : {}),
    dkim: dkim.map((entry) => ({ result: resultOf(entry), ...optional("domain", property(entry, "header", "d") ?? domainOf(property(entry, "header", "i"))) })),
    ...(spf !== undefined ? { spf: { result: resultOf(spf), ...optional("domain", domainOf(property(spf, "smtp", "mailfrom"))) } } : {}),
  };
}

export function arcFacts(arc: ARCResult): ArcFacts & ArcCheck {
  const instance = typeof arc.i === "number" ? arc.i : 0;
  // mailauth types the chain as a list, yet gives false for a message without one.
  const seal = Array.isArray(arc.chain) ? arc.chain.find((set) => set.i === instance)?.["arc-seal"] : undefined;
  const sealer = seal?.parsed?.d?.value;
  return {
    result: arc.status.result,
    instance,
    ...optional("sealer", typeof sealer === "string" ? normalDomain(sealer) : undefined),
    ...(arc.authenticationResults ? { sealed: sealedResults(arc.authenticationResults) } : {}),
    ...optional("comment", arc.status.comment || undefined),
  };
}
