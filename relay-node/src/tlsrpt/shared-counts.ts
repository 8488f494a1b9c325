// TLS-RPT counts shared by the relays through the Redis of relay.store: every relay counts
// into one hash per UTC day, and the day's report for a policy domain is sent by one relay alone (a
// claim with a lease), so a receiver gets one report with the sessions of all relays under one
// report-id — RFC 8460 §4.4 asks that id to be unique per report, which several relays each sending
// their own counts under `<day>_<domain>` broke (docs/scaling.md).
//
// Keys under "edgemx:tlsrpt:": `counts:<day>` (hash: the row's identity → count, HINCRBY, so no
// relay's count is lost), `sent:<day>:<domain>` (set of the rua URIs done, "" once the domain's day is
// done), `claim:<day>:<domain>` (SET NX PX). Each expires after KEEP_SECONDS.
//
// Redis down: a session's outcome is not counted (the log says so); delivery never waits on a report's
// count. A report run then fails, and the daily timer's next run tries the days again (sender.ts).
import type { Redis } from "ioredis";
import { utcDay, type TlsCountRow, type TlsPolicyType, type TlsSessionOutcome } from "./counts.ts";

/** How long a day's counts wait for their report: the report run revisits the previous three days (sender.ts, RETRY_DAYS). */
export const KEEP_SECONDS = 8 * 86_400;

/** The store the sender reads and the remote deliverer counts into, shared through Redis. */
export interface SharedTlsRptStore {
  record(outcome: TlsSessionOutcome): void;
  rows(day: string): Promise<TlsCountRow[]>;
  isSent(day: string, policyDomain: string, target?: string): Promise<boolean>;
  markSent(day: string, policyDomain: string, at: number, target?: string): Promise<void>;
  /** Takes the domain's day for `ms`, so that one relay sends its report; false while another holds it. */
  claim(day: string, policyDomain: string, ms: number): Promise<boolean>;
  release(day: string, policyDomain: string): Promise<void>;
  close(): void;
}

type RowIdentity = [TlsPolicyType, string, string[], string[], string, string, string, string];

export function redisTlsRptStore(client: Redis, onError: (err: unknown) => void): SharedTlsRptStore {
  const prefix = "edgemx:tlsrpt:";
  const sentKey = (day: string, domain: string): string => `${prefix}sent:${day}:${domain}`;
  const claimKey = (day: string, domain: string): string => `${prefix}claim:${day}:${domain}`;
  return {
    record(outcome) {
      const { policy, failure } = outcome;
      const identity: RowIdentity = [
        policy.type,
        policy.domain,
        [...policy.policyString],
        [...policy.mxHost],
        failure?.resultType ?? "",
        failure?.receivingMxHostname ?? "",
        failure?.receivingIp ?? "",
        failure?.detail ?? "",
      ];
      const counts = `${prefix}counts:${utcDay(outcome.at)}`;
      client
        .multi()
        .hincrby(counts, JSON.stringify(identity), 1)
        .expire(counts, KEEP_SECONDS)
        .exec()
        .then((results) => {
          const failed = (results ?? [[new Error("MULTI was discarded"), null]]).find(([error]) => error !== null);
          if (failed !== undefined) onError(failed[0]);
        }, onError);
    },
    async rows(day) {
      const fields = await client.hgetall(`${prefix}counts:${day}`);
      return Object.entries(fields)
        .map(([field, count]): TlsCountRow => {
          const [policyType, policyDomain, policyString, mxHost, resultType, receivingMxHostname, receivingIp, detail] = JSON.parse(field) as RowIdentity;
          return { day, policyType, policyDomain, policyString, mxHost, resultType, receivingMxHostname, receivingIp, detail, count: Number(count) };
        })
        .sort((a, b) => a.policyDomain.localeCompare(b.policyDomain) || a.policyType.localeCompare(b.policyType) || a.resultType.localeCompare(b.resultType));
    },
    async isSent(day, policyDomain, target = "") {
      return (await client.sismember(sentKey(day, policyDomain), target)) === 1;
    },
    async markSent(day, policyDomain, _at, target = "") {
      const key = sentKey(day, policyDomain);
      await client.multi().sadd(key, target).expire(key, KEEP_SECONDS).exec();
    },
    async claim(day, policyDomain, ms) {
      return (await client.set(claimKey(day, policyDomain), "1", "PX", ms, "NX")) === "OK";
    },
    async release(day, policyDomain) {
      await client.del(claimKey(day, policyDomain));
    },
    close: () => client.disconnect(),
  };
}
