// STUB — being written: the DNS records a domain must publish, as zone-file lines.
import type { DomainConfig, EdgemxConfig } from "../config/schema.ts";

/** Facts the configuration alone cannot give, computed where the files are (build step, relay CLI). */
export interface RecordFacts {
  /** SHA-256 (hex) of the SubjectPublicKeyInfo of the relay's certificate, for TLSA 3 1 1 (RFC 7672 §3.1.1). */
  tlsaSpkiSha256?: string;
}

export interface ZoneRecord {
  /** Owner name, fully qualified with the trailing dot. */
  name: string;
  type: string;
  /** The RDATA as written in a zone file. */
  value: string;
  ttl?: number;
  /** What the record is for, shown as a comment before it. */
  comment?: string;
}

export async function domainRecords(_domain: DomainConfig, _config: EdgemxConfig, _facts: RecordFacts): Promise<ZoneRecord[]> {
  throw new Error("not written yet");
}

export function toZoneText(_records: readonly ZoneRecord[]): string {
  throw new Error("not written yet");
}
