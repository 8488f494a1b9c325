// mailauth's `resolver` option on top of an edgemx Resolver. mailauth calls it the way it would call
// Node's dns.promises.resolve(name, rrtype) and reads the error codes of Node's dns module: ENOTFOUND
// and ENODATA are "no record" (SPF void lookups, RFC 7208 §4.6.4), anything else is temporary.
import type { DNSResolver } from "mailauth";
import type { Lookup, RecordData, Resolver } from "./resolver.ts";

/** The record types mailauth asks for, with the name of the Node dns call that would fail. */
const NODE_SYSCALLS = {
  A: "queryA",
  AAAA: "queryAaaa",
  CNAME: "queryCname",
  MX: "queryMx",
  NS: "queryNs",
  PTR: "queryPtr",
  TXT: "queryTxt",
} as const;

type NodeRecordType = keyof typeof NODE_SYSCALLS;

/** One answer as Node's dns.promises.resolve gives it. */
export type NodeAnswer = string | string[] | { exchange: string; priority: number };

const NODE_SHAPES: { [K in NodeRecordType]: (record: RecordData[K]) => NodeAnswer } = {
  A: (address) => address,
  AAAA: (address) => address,
  CNAME: (name) => name,
  NS: (name) => name,
  PTR: (name) => name,
  MX: (mx) => ({ exchange: mx.exchange, priority: mx.preference }),
  TXT: (strings) => [...strings],
};

/** The code Node's dns module gives each failed Lookup. */
const NODE_ERROR_CODES = {
  nxdomain: "ENOTFOUND",
  nodata: "ENODATA",
  servfail: "ESERVFAIL",
  timeout: "ETIMEOUT",
} as const;

/** An error shaped like Node's dns errors: `code`, `syscall`, `hostname`. */
export class DnsError extends Error {
  readonly code: string;
  readonly syscall: string;
  readonly hostname: string;

  constructor(code: string, syscall: string, hostname: string, detail: string) {
    // "No such name" and "no data" are answers, thrown for every void SPF/DMARC lookup: no stack trace
    // (capturing it was about 1 % of the relay's CPU). Other codes are failures and keep theirs.
    const quiet = code === "ENOTFOUND" || code === "ENODATA";
    const limit = Error.stackTraceLimit;
    if (quiet) Error.stackTraceLimit = 0;
    try {
      super(`${syscall} ${code} ${hostname}${detail ? ` (${detail})` : ""}`);
    } finally {
      if (quiet) Error.stackTraceLimit = limit;
    }
    this.code = code;
    this.syscall = syscall;
    this.hostname = hostname;
  }
}

function isNodeRecordType(type: string): type is NodeRecordType {
  return Object.hasOwn(NODE_SYSCALLS, type);
}

/** A Lookup as Node's dns.promises.resolve would settle: its answers, or a thrown DnsError. */
export function nodeAnswers<T extends NodeRecordType>(lookup: Lookup<T>, type: T, hostname: string): NodeAnswer[] {
  if (lookup.status !== "ok") {
    throw new DnsError(NODE_ERROR_CODES[lookup.status], NODE_SYSCALLS[type], hostname, lookup.detail);
  }
  return lookup.answers.map((record) => NODE_SHAPES[type](record));
}

export function mailauthResolver(resolver: Resolver): DNSResolver {
  const resolve = async (name: string, rrtype: string): Promise<NodeAnswer[]> => {
    const type = rrtype.toUpperCase();
    if (!isNodeRecordType(type)) throw new DnsError("ENOTIMP", "query", name, `record type ${rrtype} is not supported`);
    return nodeAnswers(await resolver.query(name, type), type, name);
  };
  // mailauth's DNSResolver type lists string results only, yet its MX code reads { exchange, priority }
  // objects, as Node returns them.
  return resolve as DNSResolver;
}
