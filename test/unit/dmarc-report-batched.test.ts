// DMARC evaluations counted in memory and written in batches (relay-node/src/dmarcrpt/batched.ts), over a
// real in-memory SQLite store and one that counts its writes.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it, vi } from "vitest";
import type { DmarcEvaluation } from "../../core/dmarcrpt/evaluation.ts";
import { batchedDmarcReportStore } from "../../relay-node/src/dmarcrpt/batched.ts";
import { SqliteDmarcReportStore, type DmarcReportStore } from "../../relay-node/src/dmarcrpt/store.ts";
import { dmarcEvaluation } from "../fixtures/dmarc-evaluation.ts";

const DAY = "2026-03-04";
const AT = Date.parse(`${DAY}T10:00:00Z`);
const NONE = "v=DMARC1; p=none; rua=mailto:d@a.test";
const REJECT = "v=DMARC1; p=reject; rua=mailto:d@a.test";
const dir = mkdtempSync(join(tmpdir(), "edgemx-dmarc-batched-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const evaluation = (overrides: Partial<DmarcEvaluation> = {}): DmarcEvaluation => dmarcEvaluation("a.test", NONE, overrides);

/** The SQLite store, with its record() calls counted. */
function countedStore(): { store: DmarcReportStore; writes: () => number } {
  const store = new SqliteDmarcReportStore(":memory:");
  const record = vi.spyOn(store, "record");
  return { store, writes: () => record.mock.calls.length };
}

describe("the batched DMARC counts", () => {
  it("writes one count per distinct row, with the day's last record, when anything is read", async () => {
    const { store, writes } = countedStore();
    const batched = batchedDmarcReportStore(store, () => {}, 60_000);
    for (let n = 0; n < 500; n++) await batched.record(evaluation(), AT + n);
    await batched.record(evaluation({ sourceIp: "192.0.2.1", disposition: "none" }), AT);
    await batched.record(evaluation({ record: REJECT }), AT + 1000);
    await batched.record(evaluation({ policyDomain: "b.test" }), AT - 86_400_000);
    expect(writes()).toBe(0);

    expect(await batched.days()).toEqual(["2026-03-03", DAY]);
    expect(writes()).toBe(3);
    const report = await batched.report(DAY, "a.test");
    expect(report?.record).toBe(REJECT);
    expect(report?.rows.map((r) => [r.evaluation.sourceIp, r.count])).toEqual([
      ["192.0.2.1", 1],
      ["203.0.113.5", 501],
    ]);
    // Counts written once are not written again.
    await batched.days();
    expect(writes()).toBe(3);
    await batched.close();
  });

  it("adds to what the store holds already, and writes what is pending at close", async () => {
    const path = join(dir, "dmarc-reports.sqlite");
    const first = batchedDmarcReportStore(new SqliteDmarcReportStore(path), () => {}, 60_000);
    await first.record(evaluation(), AT);
    await first.record(evaluation(), AT);
    await first.close();
    const second = batchedDmarcReportStore(new SqliteDmarcReportStore(path), () => {}, 60_000);
    await second.record(evaluation(), AT);
    expect((await second.report(DAY, "a.test"))?.rows.map((r) => r.count)).toEqual([3]);
    await second.close();
  });

  it("writes on its own after the interval", async () => {
    vi.useFakeTimers();
    try {
      const { store, writes } = countedStore();
      const batched = batchedDmarcReportStore(store, () => {}, 5_000);
      await batched.record(evaluation(), AT);
      await vi.advanceTimersByTimeAsync(4_999);
      expect(writes()).toBe(0);
      await vi.advanceTimersByTimeAsync(1);
      expect(writes()).toBe(1);
      await batched.close();
    } finally {
      vi.useRealTimers();
    }
  });

  it("reports the counts a store refuses, with their domain and number", async () => {
    const store = new SqliteDmarcReportStore(":memory:");
    vi.spyOn(store, "record").mockRejectedValue(new Error("store down"));
    const refused: [string, string, number][] = [];
    const batched = batchedDmarcReportStore(store, (error, domain, count) => refused.push([(error as Error).message, domain, count]), 60_000);
    await batched.record(evaluation(), AT);
    await batched.record(evaluation(), AT);
    await batched.days();
    expect(refused).toEqual([["store down", "a.test", 2]]);
    await batched.close();
  });
});
