// The Resolver: how edgemx asks DNS questions, whatever carries them — DNS over HTTPS in the Worker
// (doh.ts), DNS over UDP/TCP to a local validating resolver in the relay. A query never throws for a
// DNS outcome: every outcome, failures included, is a Lookup, so callers decide each case explicitly
// (a DNS outage is a temporary failure, never a silent accept).

/** A mail exchanger (RFC 1035 §3.3.9). A Null MX (RFC 7505 §3) has preference 0 and exchange "". */
export interface MxRecord {
  preference: number;
  exchange: string;
}

/** A DANE certificate association (RFC 6698 §2.1). */
export interface TlsaRecord {
  usage: number;
  selector: number;
  matchingType: number;
  data: Uint8Array;
}

/** The record types edgemx asks for, each with the shape of one answer. Names carry no trailing dot. */
export interface RecordData {
  A: string;
  AAAA: string;
  CNAME: string;
  MX: MxRecord;
  NS: string;
  PTR: string;
  /** The character-strings of one TXT record, unjoined (RFC 1035 §3.3.14); SPF and DKIM join them. */
  TXT: string[];
  TLSA: TlsaRecord;
}

export type RecordType = keyof RecordData;

/**
 * What became of a query:
 * - `ok`: records of the asked type (NOERROR with answers);
 * - `nxdomain`: the name does not exist (RCODE 3, RFC 1035 §4.1.1; nothing below it either, RFC 8020);
 * - `nodata`: the name exists without records of that type (NOERROR, empty answer; RFC 2308 §2.2);
 * - `servfail`: the resolver gave no usable answer — SERVFAIL (also a DNSSEC-bogus answer, RFC 4035
 *   §5.5), REFUSED or another error RCODE, a malformed or mismatched reply, an unreachable resolver;
 * - `timeout`: no reply in time.
 * The last two are temporary: mail decisions that depend on them tempfail.
 */
export type LookupStatus = "ok" | "nxdomain" | "nodata" | "servfail" | "timeout";

export interface Lookup<T extends RecordType = RecordType> {
  status: LookupStatus;
  /** The records of the asked type; empty unless the status is `ok`. Shared with the cache: read only. */
  answers: readonly RecordData[T][];
  /**
   * Seconds the result stays valid: the smallest TTL of the answer section for `ok`; for `nxdomain`
   * and `nodata` the negative TTL, min(SOA TTL, SOA MINIMUM) (RFC 2308 §5), 0 without an SOA; 0 for
   * failures.
   */
  ttl: number;
  /**
   * The AD bit (RFC 4035 §3.2.3, RFC 6840 §5.8): the validating resolver proved the answer, or the
   * denial, with DNSSEC. Meaningful only from a resolver reached over a trusted channel (RFC 4035
   * §4.9.3), which is what DANE needs (RFC 7672 §2.1.1).
   */
  authenticated: boolean;
  /** Why a query failed or was answered negatively, for logs; "" for `ok`. */
  detail: string;
}

export interface Resolver {
  query<T extends RecordType>(name: string, type: T): Promise<Lookup<T>>;
}

/** Names compare case-insensitively (RFC 4343 §3); edgemx writes them lower-case without the root dot. */
export function normalizeName(name: string): string {
  return name.trim().replace(/\.$/, "").toLowerCase();
}

/** Whether a name can exist in the DNS: labels of 1–63 octets, at most 253 characters (RFC 1035 §2.3.4). */
export function isQueryableName(name: string): boolean {
  if (name.length === 0 || name.length > 253) return false;
  return name.split(".").every((label) => label.length > 0 && new TextEncoder().encode(label).length <= 63);
}

/** A failed query: nothing to answer with, nothing to cache for long. */
export function failedLookup<T extends RecordType>(status: "servfail" | "timeout", detail: string): Lookup<T> {
  return { status, answers: [], ttl: 0, authenticated: false, detail };
}
