import { AUTHENTIC_DATA, TRUNCATED_RESPONSE, decode, encode } from "dns-packet";
import type { Answer, OptAnswer, Packet } from "dns-packet";
import { describe, expect, it } from "vitest";
import { isQueryableName, normalizeName } from "../../core/dns/resolver.ts";
import { EDNS_PAYLOAD_SIZE, classifyReply, decodeMessage, encodeQuery, lookupFromReply, rcodeOf } from "../../core/dns/wire.ts";

const RCODE = { NOERROR: 0, SERVFAIL: 2, NXDOMAIN: 3, REFUSED: 5 } as const;
const QUERY = { id: 4711, name: "sender.test", type: "A" } as const;
const OPT: OptAnswer = { type: "OPT", name: ".", udpPayloadSize: 1232, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [] };
const SOA: Answer = {
  type: "SOA",
  name: "sender.test",
  ttl: 300,
  data: { mname: "ns.sender.test", rname: "hostmaster.sender.test", serial: 1, refresh: 3600, retry: 600, expire: 86400, minimum: 60 },
};

/** A reply as it comes off the wire: encoded by dns-packet, then decoded the way the client does. */
function reply(fields: Partial<Packet> & { rcode?: number; ad?: boolean } = {}) {
  const { rcode = RCODE.NOERROR, ad = false, ...packet } = fields;
  return decodeMessage(
    encode({
      type: "response",
      id: QUERY.id,
      questions: [{ type: QUERY.type, name: QUERY.name, class: "IN" }],
      ...packet,
      flags: (packet.flags ?? 0) | (ad ? AUTHENTIC_DATA : 0) | rcode,
    }),
  );
}

describe("DNS names", () => {
  it("compares names case-insensitively without the root dot (RFC 4343 §3)", () => {
    expect(normalizeName(" Sender.TEST. ")).toBe("sender.test");
  });

  it("refuses names that cannot exist (RFC 1035 §2.3.4)", () => {
    expect(isQueryableName("sender.test")).toBe(true);
    expect(isQueryableName("")).toBe(false);
    expect(isQueryableName("a..test")).toBe(false);
    expect(isQueryableName(`${"a".repeat(64)}.test`)).toBe(false);
    expect(isQueryableName(`${"a".repeat(63)}.test`)).toBe(true);
    expect(isQueryableName(Array(64).fill("abc").join("."))).toBe(false);
  });
});

describe("encodeQuery", () => {
  it("asks recursively with the AD bit and EDNS0 (RFC 6840 §5.7, RFC 6891)", () => {
    const query = decode(Buffer.from(encodeQuery({ id: 99, name: "sender.test", type: "MX" })));
    expect(query.id).toBe(99);
    expect(query.flag_qr).toBe(false);
    expect(query.flag_rd).toBe(true);
    expect(query.flag_ad).toBe(true);
    expect(query.questions).toEqual([{ name: "sender.test", type: "MX", class: "IN" }]);
    expect(query.additionals).toMatchObject([{ type: "OPT", udpPayloadSize: EDNS_PAYLOAD_SIZE, flag_do: false }]);
  });
});

describe("classifyReply", () => {
  it("returns the answers of an ok reply with the AD bit and the smallest TTL", () => {
    const lookup = classifyReply(
      "A",
      reply({
        ad: true,
        answers: [
          { type: "A", name: "sender.test", ttl: 300, data: "127.0.0.11" },
          { type: "A", name: "sender.test", ttl: 120, data: "127.0.0.12" },
        ],
      }),
    );
    expect(lookup).toEqual({ status: "ok", answers: ["127.0.0.11", "127.0.0.12"], ttl: 120, authenticated: true, detail: "" });
  });

  it("follows a CNAME chain: the records of the asked type, the TTL of the whole chain", () => {
    const lookup = classifyReply(
      "A",
      reply({
        answers: [
          { type: "CNAME", name: "alias.sender.test", ttl: 30, data: "mail.sender.test" },
          { type: "A", name: "mail.sender.test", ttl: 300, data: "127.0.0.11" },
        ],
      }),
    );
    expect(lookup.answers).toEqual(["127.0.0.11"]);
    expect(lookup.ttl).toBe(30);
  });

  it("tells NXDOMAIN from NODATA, each with the negative TTL min(SOA TTL, MINIMUM) (RFC 2308 §5)", () => {
    const nxdomain = classifyReply("A", reply({ rcode: RCODE.NXDOMAIN, ad: true, authorities: [SOA] }));
    expect(nxdomain).toMatchObject({ status: "nxdomain", answers: [], ttl: 60, authenticated: true });
    const nodata = classifyReply("AAAA", reply({ authorities: [{ ...SOA, ttl: 45 }] }));
    expect(nodata).toMatchObject({ status: "nodata", answers: [], ttl: 45 });
  });

  it("gives a negative answer without SOA a TTL of 0: not to be cached", () => {
    expect(classifyReply("A", reply({ rcode: RCODE.NXDOMAIN })).ttl).toBe(0);
  });

  it("reads an answer of another type only (a CNAME to nowhere) as NODATA (RFC 2308 §2.2)", () => {
    const lookup = classifyReply("MX", reply({ answers: [{ type: "CNAME", name: "sender.test", ttl: 60, data: "gone.test" }] }));
    expect(lookup.status).toBe("nodata");
  });

  it("maps SERVFAIL, REFUSED and other RCODEs to servfail, never to a negative answer", () => {
    expect(classifyReply("A", reply({ rcode: RCODE.SERVFAIL }))).toEqual({
      status: "servfail",
      answers: [],
      ttl: 0,
      authenticated: false,
      detail: "SERVFAIL",
    });
    expect(classifyReply("A", reply({ rcode: RCODE.REFUSED })).detail).toBe("REFUSED");
    expect(classifyReply("A", reply({ rcode: 4 })).detail).toBe("NOTIMP");
  });

  it("adds an Extended DNS Error to the detail (RFC 8914)", () => {
    const ede = Buffer.concat([Buffer.from([0, 6]), Buffer.from("validation failure")]);
    const lookup = classifyReply(
      "A",
      reply({
        rcode: RCODE.SERVFAIL,
        // dns-packet's types know a few option codes only; it encodes any { code, data }.
        additionals: [{ ...OPT, options: [{ code: 15, data: ede }] as unknown as OptAnswer["options"] }],
      }),
    );
    expect(lookup.detail).toBe("SERVFAIL (EDE 6: validation failure)");
  });

  it("joins the extended RCODE bits of the OPT record (RFC 6891 §6.1.3)", () => {
    const badvers = reply({ additionals: [{ ...OPT, extendedRcode: 1 }] });
    expect(rcodeOf(badvers)).toBe(16);
    expect(classifyReply("A", badvers)).toMatchObject({ status: "servfail", detail: "BADVERS" });
  });

  it("refuses a truncated reply", () => {
    expect(classifyReply("A", reply({ flags: TRUNCATED_RESPONSE })).status).toBe("servfail");
  });

  it("treats a TTL with the top bit set as 0 (RFC 2181 §8)", () => {
    const lookup = classifyReply("A", reply({ answers: [{ type: "A", name: "sender.test", ttl: 0x80000000, data: "127.0.0.1" }] }));
    expect(lookup.ttl).toBe(0);
  });

  it("shapes MX (Null MX, RFC 7505), TXT character-strings and TLSA", () => {
    const mx = classifyReply("MX", reply({ answers: [{ type: "MX", name: "nullmx.test", ttl: 60, data: { preference: 0, exchange: "." } }] }));
    expect(mx.answers).toEqual([{ preference: 0, exchange: "" }]);
    const txt = classifyReply("TXT", reply({ answers: [{ type: "TXT", name: "sender.test", ttl: 60, data: ["v=spf1 ", "-all"] }] }));
    expect(txt.answers).toEqual([["v=spf1 ", "-all"]]);
    const tlsa = classifyReply(
      "TLSA",
      reply({
        answers: [
          {
            type: "TLSA",
            name: "_25._tcp.mx.sender.test",
            ttl: 60,
            data: { usage: 3, selector: 1, matchingType: 1, certificate: Buffer.from([1, 2, 3]) },
          },
        ],
      }),
    );
    expect(tlsa.answers).toEqual([{ usage: 3, selector: 1, matchingType: 1, data: new Uint8Array([1, 2, 3]) }]);
  });
});

describe("lookupFromReply", () => {
  it("accepts the reply to its query, the name compared case-insensitively", () => {
    const lookup = lookupFromReply(
      QUERY,
      reply({
        questions: [{ type: "A", name: "SENDER.test", class: "IN" }],
        answers: [{ type: "A", name: "sender.test", ttl: 60, data: "127.0.0.11" }],
      }),
    );
    expect(lookup.status).toBe("ok");
  });

  it("refuses a reply with another id, another question or no QR bit (RFC 5452 §3)", () => {
    expect(lookupFromReply({ ...QUERY, id: 1 }, reply()).detail).toMatch(/id 4711 does not match query id 1/);
    expect(lookupFromReply({ ...QUERY, type: "MX" }, reply()).detail).toMatch(/does not repeat the question/);
    expect(lookupFromReply({ ...QUERY, name: "other.test" }, reply()).status).toBe("servfail");
    const query = decodeMessage(encodeQuery(QUERY));
    expect(lookupFromReply(QUERY, query).detail).toMatch(/not a response/);
  });
});
