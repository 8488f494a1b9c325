// DMARC evaluations counted in memory and written to the store every few seconds, as greylisting's
// delivery counts are: the count of a report row is all a report needs, and a busy MX judges many
// identical evaluations (one sender, one source, the same results) in a few seconds. One store write
// per distinct row and flush instead of one per message: SQLite's transaction on the main thread, or
// Redis's eight commands, per message before (docs/scaling.md). What is pending is written before
// anything is read (the daily sender, `edgemx queue dmarc-send`) and at stop; a crash loses at most
// the last interval's counts — a report then counts a few messages less, as after a power cut with
// synchronous=NORMAL.
import type { DmarcEvaluation } from "../../../core/dmarcrpt/evaluation.ts";
import { rowKey, utcDay, type DmarcReportStore } from "./store.ts";

/** How long a count waits in memory at most. */
export const DMARC_FLUSH_INTERVAL_MS = 5_000;

/** A day's domain's pending rows: each row's count and one of its evaluations, and the record seen last. */
interface PendingReport {
  at: number;
  record: string;
  rows: Map<string, { evaluation: DmarcEvaluation; count: number }>;
}

/**
 * `store` with record() batched. A failed write reaches `onFlushError` with what it could not count;
 * those counts are dropped (the store refused them: retrying would hold memory through an outage).
 */
export function batchedDmarcReportStore(
  store: DmarcReportStore,
  onFlushError: (error: unknown, policyDomain: string, count: number) => void,
  intervalMs = DMARC_FLUSH_INTERVAL_MS,
): DmarcReportStore {
  let pending = new Map<string, PendingReport>();
  let timer: NodeJS.Timeout | undefined;
  let flushing: Promise<void> = Promise.resolve();

  const flush = (): Promise<void> => {
    clearTimeout(timer);
    timer = undefined;
    const batch = pending;
    pending = new Map();
    // One flush after another: a row's count must not overtake the record written with it.
    flushing = flushing.then(async () => {
      for (const report of batch.values()) {
        for (const { evaluation, count } of report.rows.values()) {
          // The day's last record goes with every row: the store keeps the record written last (RFC 9990: the final configuration observed).
          await store
            .record({ ...evaluation, record: report.record }, report.at, count)
            .catch((error: unknown) => onFlushError(error, evaluation.policyDomain, count));
        }
      }
    });
    return flushing;
  };
  const flushed = async <T>(read: () => Promise<T>): Promise<T> => {
    await flush();
    return read();
  };

  return {
    record(evaluation, at, count = 1) {
      const reportKey = `${utcDay(at)} ${evaluation.policyDomain}`;
      let report = pending.get(reportKey);
      if (report === undefined) pending.set(reportKey, (report = { at, record: evaluation.record, rows: new Map() }));
      report.record = evaluation.record;
      const key = rowKey(evaluation);
      const row = report.rows.get(key);
      if (row === undefined) report.rows.set(key, { evaluation, count });
      else row.count += count;
      timer ??= setTimeout(() => void flush(), intervalMs).unref();
      return Promise.resolve();
    },
    days: () => flushed(() => store.days()),
    domains: (day) => flushed(() => store.domains(day)),
    report: (day, policyDomain) => flushed(() => store.report(day, policyDomain)),
    isSent: (day, policyDomain, target) => store.isSent(day, policyDomain, target),
    markSent: (day, policyDomain, target) => store.markSent(day, policyDomain, target),
    claim: (day, policyDomain, ms) => store.claim(day, policyDomain, ms),
    release: (day, policyDomain) => store.release(day, policyDomain),
    remove: (day, policyDomain) => flushed(() => store.remove(day, policyDomain)),
    async close() {
      await flush();
      await store.close();
    },
  };
}
