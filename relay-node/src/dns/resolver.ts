// The relay's Resolver: DNS over UDP (RFC 1035 §4.2.1) to a local validating resolver (unbound),
// over TCP (RFC 1035 §4.2.2, RFC 7766) when the UDP reply is truncated, behind the shared cache.
// The query and the classification of the reply are wire.ts's, as for the Worker's DoH client;
// this file is only the transport. A query never throws: an unreachable or silent resolver is a
// `servfail` or a `timeout`, which the checks turn into a 451.
import { randomInt } from "node:crypto";
import { createSocket } from "node:dgram";
import { connect, isIPv6 } from "node:net";
import type { DecodedPacket } from "dns-packet";
import { cachingResolver } from "../../../core/dns/cache.ts";
import type { Lookup, RecordType, Resolver } from "../../../core/dns/resolver.ts";
import { failedLookup, isQueryableName, normalizeName } from "../../../core/dns/resolver.ts";
import type { SentQuery } from "../../../core/dns/wire.ts";
import { decodeMessage, encodeQuery, lookupFromReply } from "../../../core/dns/wire.ts";

type ResolverSettings = Parameters<typeof createRelayResolver>[0];

/** What one exchange with the resolver produced: its reply, or the failure to report. */
type Exchange = { reply: DecodedPacket } | { failure: Lookup };

/** What the resolver's user hears of besides lookups: a query the resolver never answered (the metrics count it). */
export interface ResolverEvents {
  unanswered?: () => void;
}

/**
 * A cached Resolver asking the validating resolver at host:port. `timeoutMs` bounds each query as a
 * whole, UDP and a TCP retry together; the one UDP retransmission goes out after half of it.
 */
export function createRelayResolver(settings: { host: string; port: number; timeoutMs: number }, events: ResolverEvents = {}): Resolver {
  return cachingResolver({ query: (name, type) => queryResolver(settings, name, type, events) });
}

async function queryResolver<T extends RecordType>(settings: ResolverSettings, name: string, type: T, events: ResolverEvents): Promise<Lookup<T>> {
  const qname = normalizeName(name);
  if (!isQueryableName(qname)) {
    return { status: "nxdomain", answers: [], ttl: 0, authenticated: false, detail: "not a valid DNS name" };
  }
  try {
    return await exchange(settings, qname, type, events);
  } catch (err) {
    // Only a bug or a setting node refuses (a bad address family) gets here; still never a throw.
    return failedLookup("servfail", `DNS query failed: ${err instanceof Error ? err.message : String(err)}`);
  }
}

async function exchange<T extends RecordType>(settings: ResolverSettings, qname: string, type: T, events: ResolverEvents): Promise<Lookup<T>> {
  const deadlineMs = performance.now() + settings.timeoutMs;
  const udpQuery: SentQuery<T> = { id: randomId(), name: qname, type };
  const overUdp = await exchangeOverUdp(settings, udpQuery, deadlineMs);
  if ("failure" in overUdp) {
    events.unanswered?.();
    return overUdp.failure as Lookup<T>;
  }
  // RFC 7766 §5 (RFC 1035 §4.2.1): a truncated UDP reply is asked again over TCP, with a fresh id.
  if (!overUdp.reply.flag_tc) return lookupFromReply(udpQuery, overUdp.reply);
  const tcpQuery: SentQuery<T> = { id: randomId(), name: qname, type };
  const overTcp = await exchangeOverTcp(settings, tcpQuery, deadlineMs);
  if ("failure" in overTcp) {
    events.unanswered?.();
    return overTcp.failure as Lookup<T>;
  }
  // A truncated reply over TCP as well is a broken resolver: classifyReply makes it a servfail.
  return lookupFromReply(tcpQuery, overTcp.reply);
}

/**
 * One query over UDP from a fresh socket (a fresh random source port, RFC 5452 §9.2), connected to the
 * resolver so that only its datagrams arrive. A datagram that is not a response to this id is
 * ignored and the wait goes on (RFC 5452 §9.1): a forged or late reply cannot end the exchange.
 */
function exchangeOverUdp(settings: ResolverSettings, query: SentQuery, deadlineMs: number): Promise<Exchange> {
  const where = `${settings.host}:${settings.port}`;
  return new Promise((resolve) => {
    const socket = createSocket(isIPv6(settings.host) ? "udp6" : "udp4");
    const message = encodeQuery(query);
    const remainingMs = Math.max(0, deadlineMs - performance.now());
    let ignored = 0;
    let retransmit: NodeJS.Timeout | undefined;
    let settled = false;
    const settle = (outcome: Exchange): void => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      clearTimeout(retransmit);
      socket.close();
      resolve(outcome);
    };
    const fail = (status: "servfail" | "timeout", detail: string): void => settle({ failure: failedLookup(status, detail) });
    const send = (): void =>
      socket.send(message, (err) => {
        if (err) fail("servfail", `cannot send to the resolver ${where} over UDP: ${errorText(err)}`);
      });
    const deadline = setTimeout(() => {
      const noise = ignored > 0 ? ` (${ignored} datagram(s) ignored: malformed or not the reply to this query)` : "";
      fail("timeout", `no DNS reply from ${where} within ${settings.timeoutMs} ms over UDP${noise}`);
    }, remainingMs);
    // With a connected socket, an ICMP port unreachable arrives as an error (ECONNREFUSED).
    socket.on("error", (err) => fail("servfail", `resolver ${where} unreachable over UDP: ${errorText(err)}`));
    socket.on("message", (datagram) => {
      const reply = decodeOrUndefined(datagram);
      if (reply === undefined || !reply.flag_qr || reply.id !== query.id) {
        ignored += 1;
        return;
      }
      settle({ reply });
    });
    // node calls this with the error when the host does not resolve or the connect fails.
    socket.connect(settings.port, settings.host, (err?: Error) => {
      if (err) fail("servfail", `cannot reach the resolver ${where} over UDP: ${errorText(err)}`);
      if (settled) return;
      send();
      // RFC 1035 §4.2.1: UDP may lose the datagram; one retransmission, halfway to the deadline.
      retransmit = setTimeout(send, remainingMs / 2);
    });
  });
}

/** A DNS message as it goes over TCP: behind a two-octet length (RFC 1035 §4.2.2, RFC 7766 §8). */
export function withTcpLength(message: Uint8Array): Buffer {
  const length = Buffer.alloc(2);
  length.writeUInt16BE(message.byteLength);
  return Buffer.concat([length, message]);
}

/**
 * The first DNS message in what a TCP connection delivered so far, without its length; undefined
 * while it is not all there. The two-octet length bounds it at 65535 octets.
 */
export function firstTcpMessage(received: Buffer): Buffer | undefined {
  if (received.length < 2) return undefined;
  const size = received.readUInt16BE(0);
  return received.length < 2 + size ? undefined : received.subarray(2, 2 + size);
}

/**
 * One query over its own TCP connection, the message behind a two-octet length (RFC 1035 §4.2.2).
 * Truncated replies are rare with a 1232-octet payload, so no connection is kept open for the reuse
 * RFC 7766 §6.2.1 recommends to clients that send many TCP queries. The length bounds the reply at
 * 65535 octets, and nothing past it is read.
 */
function exchangeOverTcp(settings: ResolverSettings, query: SentQuery, deadlineMs: number): Promise<Exchange> {
  const where = `${settings.host}:${settings.port}`;
  return new Promise((resolve) => {
    const socket = connect({ host: settings.host, port: settings.port });
    let received = Buffer.alloc(0);
    let settled = false;
    const settle = (outcome: Exchange): void => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      socket.destroy();
      resolve(outcome);
    };
    const fail = (status: "servfail" | "timeout", detail: string): void => settle({ failure: failedLookup(status, detail) });
    const deadline = setTimeout(
      () => fail("timeout", `no DNS reply from ${where} within ${settings.timeoutMs} ms over TCP (after a truncated UDP reply)`),
      Math.max(0, deadlineMs - performance.now()),
    );
    socket.on("error", (err) => fail("servfail", `resolver ${where} unreachable over TCP: ${errorText(err)}`));
    socket.on("connect", () => socket.write(withTcpLength(encodeQuery(query))));
    socket.on("data", (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      const message = firstTcpMessage(received);
      if (message === undefined) return;
      const reply = decodeOrUndefined(message);
      // Over TCP the connection is this query's alone: anything but its reply is a broken resolver.
      if (reply === undefined) fail("servfail", `malformed DNS reply from ${where} over TCP`);
      else if (!reply.flag_qr || reply.id !== query.id) fail("servfail", `reply from ${where} over TCP does not answer query id ${query.id}`);
      else settle({ reply });
    });
    socket.on("end", () => fail("servfail", `resolver ${where} closed the TCP connection before a full reply`));
  });
}

/** A DNS message, or undefined if the bytes are none. A datagram is at most 65507 octets, a TCP reply 65535. */
function decodeOrUndefined(bytes: Uint8Array): DecodedPacket | undefined {
  try {
    return decodeMessage(bytes);
  } catch {
    return undefined;
  }
}

/** RFC 5452 §9.2: an unpredictable query id. */
function randomId(): number {
  return randomInt(0, 0x10000);
}

function errorText(err: Error): string {
  const code = (err as NodeJS.ErrnoException).code;
  return code === undefined ? err.message : `${code} (${err.message})`;
}
