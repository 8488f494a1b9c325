// The DNS wire format (RFC 1035 §4) on both sides of any transport: building a query, and turning a
// reply into a Lookup. Pure: DoH (doh.ts) and the relay's UDP/TCP client share it.
import { Buffer } from "node:buffer";
import { AUTHENTIC_DATA, RECURSION_DESIRED, decode, encode } from "dns-packet";
import type { Answer, DecodedPacket, OptAnswer } from "dns-packet";
import type { Lookup, RecordData, RecordType } from "./resolver.ts";
import { failedLookup, normalizeName } from "./resolver.ts";

/** What a reply must echo: the query's id and its question (RFC 5452 §3). */
export interface SentQuery<T extends RecordType = RecordType> {
  id: number;
  name: string;
  type: T;
}

/** The EDNS0 UDP payload size edgemx advertises: small enough to avoid IP fragmentation (DNS Flag Day 2020). */
export const EDNS_PAYLOAD_SIZE = 1232;

/** The largest DNS message: its length is a 16-bit field over TCP (RFC 1035 §4.2.2); DoH carries the same messages. */
export const MAX_MESSAGE_BYTES = 65_535;

const RCODE_NAMES: Readonly<Record<number, string>> = {
  0: "NOERROR",
  1: "FORMERR",
  2: "SERVFAIL",
  3: "NXDOMAIN",
  4: "NOTIMP",
  5: "REFUSED",
  16: "BADVERS",
};

/** EDNS option code of an Extended DNS Error (RFC 8914 §2). */
const EDE_OPTION = 15;

/** EDNS0 (RFC 6891 §6.1.2): the payload size, version 0, no DO bit, no options. */
const OPT_RECORD: OptAnswer = {
  type: "OPT",
  name: ".",
  udpPayloadSize: EDNS_PAYLOAD_SIZE,
  extendedRcode: 0,
  ednsVersion: 0,
  flags: 0,
  flag_do: false,
  options: [],
};

/**
 * A recursive query for one name and type. The AD bit asks a validating resolver to say whether it
 * authenticated the answer (RFC 6840 §5.7), without the RRSIGs a DO bit would add; the OPT record
 * announces EDNS0 (RFC 6891 §6.1.1).
 */
export function encodeQuery(query: SentQuery): Uint8Array {
  return encode({
    type: "query",
    id: query.id,
    flags: RECURSION_DESIRED | AUTHENTIC_DATA,
    questions: [{ type: query.type, name: query.name, class: "IN" }],
    additionals: [OPT_RECORD],
  });
}

/** Parses a DNS message; throws on a malformed one. */
export function decodeMessage(bytes: Uint8Array): DecodedPacket {
  return decode(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
}

/** Checks that a reply answers this query, then classifies it. */
export function lookupFromReply<T extends RecordType>(query: SentQuery<T>, reply: DecodedPacket): Lookup<T> {
  const mismatch = replyMismatch(query, reply);
  return mismatch === undefined ? classifyReply(query.type, reply) : failedLookup("servfail", mismatch);
}

/** Why a message is not the reply to this query, or undefined if it is (RFC 1035 §4.1.1, RFC 5452 §3). */
function replyMismatch(query: SentQuery, reply: DecodedPacket): string | undefined {
  if (!reply.flag_qr) return "the reply is not a response";
  if (reply.id !== query.id) return `reply id ${reply.id} does not match query id ${query.id}`;
  const question = reply.questions?.[0];
  const echoed =
    reply.questions?.length === 1 &&
    question !== undefined &&
    normalizeName(question.name) === normalizeName(query.name) &&
    question.type === query.type &&
    (question.class ?? "IN") === "IN";
  return echoed ? undefined : "the reply does not repeat the question";
}

/** The response code, with the upper bits an EDNS0 OPT record carries (RFC 6891 §6.1.3). */
export function rcodeOf(reply: DecodedPacket): number {
  return (((optOf(reply)?.extendedRcode ?? 0) << 4) | ((reply.flags ?? 0) & 0xf)) >>> 0;
}

/** Maps a reply, already matched to its query, to the result classes edgemx decides on. */
export function classifyReply<T extends RecordType>(type: T, reply: DecodedPacket): Lookup<T> {
  // A truncated reply is incomplete (RFC 1035 §4.1.1 TC); over TCP or DoH it is a broken resolver.
  if (reply.flag_tc) return failedLookup("servfail", "truncated reply");
  const rcode = rcodeOf(reply);
  const authenticated = reply.flag_ad;
  if (rcode === 3) {
    return { status: "nxdomain", answers: [], ttl: negativeTtl(reply), authenticated, detail: "NXDOMAIN" };
  }
  if (rcode !== 0) {
    const extended = extendedError(reply);
    return failedLookup("servfail", `${RCODE_NAMES[rcode] ?? `RCODE ${rcode}`}${extended ? ` (${extended})` : ""}`);
  }
  const section = reply.answers ?? [];
  const answers = section.flatMap((answer) => {
    const data = RECORD_DATA[type](answer);
    return data === undefined ? [] : [data];
  });
  if (answers.length === 0) {
    // NOERROR without records of the type, possibly after a CNAME chain (RFC 2308 §2.2).
    return { status: "nodata", answers: [], ttl: negativeTtl(reply), authenticated, detail: "no records of this type" };
  }
  return { status: "ok", answers, ttl: Math.min(...section.map(ttlOf)), authenticated, detail: "" };
}

/** How long a negative answer may be cached: min(SOA TTL, SOA MINIMUM) of the authority SOA, else 0 (RFC 2308 §5). */
function negativeTtl(reply: DecodedPacket): number {
  const soa = (reply.authorities ?? []).find((record) => record.type === "SOA");
  if (soa === undefined || soa.type !== "SOA") return 0;
  return Math.min(ttlOf(soa), clampTtl(soa.data.minimum ?? 0));
}

/** A TTL with its top bit set counts as zero (RFC 2181 §8). */
function clampTtl(ttl: number): number {
  return ttl > 0x7fffffff ? 0 : ttl;
}

function ttlOf(record: Answer): number {
  return record.type === "OPT" ? 0 : clampTtl(record.ttl ?? 0);
}

function optOf(reply: DecodedPacket): OptAnswer | undefined {
  return (reply.additionals ?? []).find((record): record is OptAnswer => record.type === "OPT");
}

/** An Extended DNS Error (RFC 8914 §2) as "EDE <info-code>: <text>", or "" without one. */
function extendedError(reply: DecodedPacket): string {
  // dns-packet leaves options it does not know as { code, data }.
  const options = (optOf(reply)?.options ?? []) as readonly { code: number; data?: Uint8Array }[];
  const ede = options.find((option) => option.code === EDE_OPTION)?.data;
  if (ede === undefined || ede.length < 2) return "";
  const infoCode = (ede[0]! << 8) | ede[1]!;
  const text = new TextDecoder().decode(ede.subarray(2));
  return `EDE ${infoCode}${text ? `: ${text}` : ""}`;
}

/** A name as edgemx writes it: no trailing dot, so the root (a Null MX exchange) is "". */
function nameData(name: string): string {
  return name.replace(/\.$/, "");
}

const RECORD_DATA: { [K in RecordType]: (answer: Answer) => RecordData[K] | undefined } = {
  A: (answer) => (answer.type === "A" ? answer.data : undefined),
  AAAA: (answer) => (answer.type === "AAAA" ? answer.data : undefined),
  CNAME: (answer) => (answer.type === "CNAME" ? nameData(answer.data) : undefined),
  NS: (answer) => (answer.type === "NS" ? nameData(answer.data) : undefined),
  PTR: (answer) => (answer.type === "PTR" ? nameData(answer.data) : undefined),
  MX: (answer) => (answer.type === "MX" ? { preference: answer.data.preference ?? 0, exchange: nameData(answer.data.exchange) } : undefined),
  TXT: (answer) => {
    if (answer.type !== "TXT") return undefined;
    const strings = Array.isArray(answer.data) ? answer.data : [answer.data];
    return strings.map((part) => (typeof part === "string" ? part : new TextDecoder().decode(part)));
  },
  TLSA: (answer) =>
    answer.type === "TLSA"
      ? {
          usage: answer.data.usage,
          selector: answer.data.selector,
          matchingType: answer.data.matchingType,
          data: new Uint8Array(answer.data.certificate),
        }
      : undefined,
};
