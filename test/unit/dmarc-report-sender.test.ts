// DMARC aggregate report sending (relay-node/src/dmarcrpt/): the SQLite store's counting, claims and
// deletion, which judged messages count, and sendDmarcReports over a real in-memory store with an
// in-memory zone, a spool that records what it is given and the generated-mail DKIM signer.
import { generateKeyPairSync } from "node:crypto";
import { gunzipSync } from "node:zlib";
import PostalMime from "postal-mime";
import { describe, expect, it } from "vitest";
import { parseAggregateReport } from "../../core/dmarcrpt/aggregate.ts";
import { createLogger } from "../../relay-node/src/log/log.ts";
import { countsTowardsReport, dmarcRecorder } from "../../relay-node/src/dmarcrpt/recorder.ts";
import { MAX_PENDING_DAYS, sendDmarcReports, type DmarcReportSenderDeps } from "../../relay-node/src/dmarcrpt/sender.ts";
import { SqliteDmarcReportStore, type DmarcReportStore } from "../../relay-node/src/dmarcrpt/store.ts";
import type { EnqueueRequest } from "../../relay-node/src/queue/spool.ts";
import { generatedMailSigner } from "../../relay-node/src/sign/generated.ts";
import { dmarcEvaluation } from "../fixtures/dmarc-evaluation.ts";
import { validateAgainstSchema } from "../fixtures/xml-schema.ts";
import { ZoneResolver } from "../fixtures/zone-resolver.ts";

const DAY = "2026-03-04";
const AT = Date.parse(`${DAY}T10:00:00Z`);
const NEXT_MORNING = Date.parse("2026-03-05T00:15:00Z");

const evaluation = dmarcEvaluation;

describe("the SQLite store", () => {
  it("counts identical evaluations as one row, keeps the day's last record, and deletes a domain's day whole", async () => {
    const store = new SqliteDmarcReportStore(":memory:");
    const first = evaluation("a.test", "v=DMARC1; p=none; rua=mailto:d@a.test");
    await store.record(first, AT);
    await store.record(first, AT + 1000);
    await store.record({ ...first, sourceIp: "192.0.2.1", disposition: "none" }, AT);
    await store.record({ ...first, record: "v=DMARC1; p=reject; rua=mailto:d@a.test" }, AT + 2000);
    await store.record(evaluation("b.test", "v=DMARC1; p=none; rua=mailto:d@b.test"), AT - 86_400_000);
    expect(await store.days()).toEqual(["2026-03-03", DAY]);
    expect(await store.domains(DAY)).toEqual(["a.test"]);
    const report = await store.report(DAY, "a.test");
    expect(report?.record).toBe("v=DMARC1; p=reject; rua=mailto:d@a.test");
    expect(report?.rows.map((r) => [r.evaluation.sourceIp, r.count])).toEqual([
      ["192.0.2.1", 1],
      ["203.0.113.5", 3],
    ]);
    expect(report?.rows[1]?.evaluation).not.toHaveProperty("policyDomain");

    await store.markSent(DAY, "a.test", "d@a.test");
    expect(await store.isSent(DAY, "a.test", "d@a.test")).toBe(true);
    expect(await store.claim(DAY, "a.test", 60_000)).toBe(true);
    expect(await store.claim(DAY, "a.test", 60_000)).toBe(false);
    await store.release(DAY, "a.test");
    expect(await store.claim(DAY, "a.test", 60_000)).toBe(true);
    await store.remove(DAY, "a.test");
    expect(await store.report(DAY, "a.test")).toBeNull();
    expect(await store.isSent(DAY, "a.test", "d@a.test")).toBe(false);
    expect(await store.claim(DAY, "a.test", 60_000)).toBe(true);
    expect(await store.days()).toEqual(["2026-03-03"]);
    await store.close();
  });

  it("lets an expired claim be taken over", async () => {
    let now = AT;
    const store = new SqliteDmarcReportStore(":memory:", { clock: () => now });
    expect(await store.claim(DAY, "a.test", 1000)).toBe(true);
    now += 999;
    expect(await store.claim(DAY, "a.test", 1000)).toBe(false);
    now += 1;
    expect(await store.claim(DAY, "a.test", 1000)).toBe(true);
    await store.close();
  });
});

describe("which messages count", () => {
  const reportAddresses = new Set(["dmarc-reports@example.org"]);
  const reply = (code: number) => ({ code, enhanced: `${Math.floor(code / 100)}.0.0`, text: "x" });

  it("those answered for good, not a 4xx whose retry will count, nor reports to our report addresses", () => {
    expect(countsTowardsReport(reply(250), ["alice@example.org"], reportAddresses)).toBe(true);
    expect(countsTowardsReport(reply(550), ["alice@example.org"], reportAddresses)).toBe(true);
    expect(countsTowardsReport(reply(451), ["alice@example.org"], reportAddresses)).toBe(false);
    expect(countsTowardsReport(reply(250), ["DMARC-Reports@example.org"], reportAddresses)).toBe(false);
    expect(countsTowardsReport(reply(250), ["dmarc-reports@example.org", "alice@example.org"], reportAddresses)).toBe(true);
  });

  it("the recorder stores what counts, on the UTC day of its clock", async () => {
    const store = new SqliteDmarcReportStore(":memory:");
    const record = dmarcRecorder(
      store,
      () => reportAddresses,
      createLogger("silent"),
      () => AT,
    );
    record(evaluation("a.test", "v=DMARC1; p=none; rua=mailto:d@a.test"), ["alice@example.org"], reply(250));
    record(evaluation("b.test", "v=DMARC1; p=none; rua=mailto:d@b.test"), ["alice@example.org"], reply(451));
    await new Promise((resolve) => setImmediate(resolve));
    expect(await store.domains(DAY)).toEqual(["a.test"]);
    await store.close();
  });
});

const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });

function setup(zone: ZoneResolver, store: DmarcReportStore = new SqliteDmarcReportStore(":memory:")) {
  const queued: EnqueueRequest[] = [];
  let refuseSpool = false;
  const deps: DmarcReportSenderDeps = {
    store,
    resolver: zone,
    enqueue: (request) => {
      if (refuseSpool) return Promise.reject(new Error("the spool is full"));
      queued.push(request);
      return Promise.resolve(`q${queued.length}`);
    },
    sign: generatedMailSigner(new Map([["example.org", { key: { domain: "example.org", selector: "s1", algorithm: "rsa-sha256" as const, privateKey } }]])),
    reporter: { organization: "mx.example.org", contact: "postmaster@example.org", hostname: "mx.example.org", from: "postmaster@example.org" },
    logger: createLogger("silent"),
    now: () => NEXT_MORNING,
  };
  return { store, deps, queued, refuseSpool: (refuse: boolean) => (refuseSpool = refuse) };
}

/** The gzipped XML of a queued report message. */
async function reportOf(request: EnqueueRequest): Promise<string> {
  const parsed = await PostalMime.parse(Buffer.from(request.message).toString("latin1"));
  const attachment = parsed.attachments.find((a) => a.mimeType === "application/gzip")!;
  return gunzipSync(Buffer.from(attachment.content as ArrayBuffer)).toString("utf8");
}

describe("sendDmarcReports", () => {
  it("queues a signed report per agreed destination, names the refused one in the report, and deletes the day", async () => {
    const zone = new ZoneResolver()
      .txt("_dmarc.a.test", "v=DMARC1; p=reject; rua=mailto:d@a.test,mailto:agg@reports.test,mailto:x@unasked.test")
      .txt("a.test._report._dmarc.reports.test", "v=DMARC1");
    const { store, deps, queued } = setup(zone);
    const record = "v=DMARC1; p=reject; rua=mailto:d@a.test,mailto:agg@reports.test,mailto:x@unasked.test";
    await store.record(evaluation("a.test", record), AT);
    await store.record(evaluation("a.test", record), AT);
    await store.record(evaluation("a.test", record, { sourceIp: "192.0.2.10", disposition: "pass", spf: "pass" }), AT);

    const run = await sendDmarcReports(deps);
    expect(run.days).toEqual([DAY]);
    expect(run.domains).toEqual([
      {
        day: DAY,
        domain: "a.test",
        outcome: "sent",
        delivered: ["d@a.test", "agg@reports.test"],
        refused: [
          {
            uri: "mailto:x@unasked.test",
            reason: "unasked.test has not agreed to take reports for a.test (no v=DMARC1 record at a.test._report._dmarc.unasked.test)",
          },
        ],
        waiting: [],
      },
    ]);
    expect(queued.map((q) => q.envelope)).toEqual([
      { mailFrom: "postmaster@example.org", rcptTo: ["d@a.test"] },
      { mailFrom: "postmaster@example.org", rcptTo: ["agg@reports.test"] },
    ]);
    expect(Buffer.from(queued[0]!.message).toString("latin1")).toMatch(/^DKIM-Signature: v=1; a=rsa-sha256; c=relaxed\/relaxed; d=example\.org;/);
    const xml = await reportOf(queued[1]!);
    expect(validateAgainstSchema(xml).valid).toBe(true);
    const parsed = parseAggregateReport(new TextEncoder().encode(xml));
    if (!parsed.ok) throw new Error(parsed.reason);
    expect(parsed.report.errors).toEqual([expect.stringContaining("mailto:x@unasked.test: unasked.test has not agreed")]);
    expect(parsed.report.records.map((r) => [r.sourceIp, r.count, r.disposition])).toEqual([
      ["192.0.2.10", 1, "pass"],
      ["203.0.113.5", 2, "reject"],
    ]);
    expect(await store.days()).toEqual([]);
    expect((await sendDmarcReports(deps)).domains).toEqual([]);
    expect(queued).toHaveLength(2);
  });

  it("sends nothing where no destination agreed or all are too small, and deletes the day all the same", async () => {
    const zone = new ZoneResolver().txt("small.test._report._dmarc.reports.test", "v=DMARC1");
    const { store, deps, queued } = setup(zone);
    await store.record(evaluation("unasked.test", "v=DMARC1; p=none; rua=mailto:agg@reports.test"), AT);
    await store.record(evaluation("small.test", "v=DMARC1; p=none; rua=mailto:agg@reports.test!1k"), AT);
    await store.record(evaluation("norua.test", "v=DMARC1; p=none; rua=https://reports.test/"), AT);
    const run = await sendDmarcReports(deps, DAY);
    expect(run.domains.map((d) => [d.domain, d.outcome, d.delivered.length])).toEqual([
      ["norua.test", "no-destination", 0],
      ["small.test", "no-destination", 0],
      ["unasked.test", "no-destination", 0],
    ]);
    expect(run.domains[1]?.refused.map((r) => r.uri)).toEqual(["mailto:agg@reports.test"]);
    expect(run.domains[1]?.refused[0]?.reason).toMatch(/^the report mail is \d+ bytes, more than the 1024 this destination takes$/);
    expect(queued).toEqual([]);
    expect(await store.days()).toEqual([]);
  });

  it("keeps the day when DNS or the spool fails, sends only what is left next run, and gives it up after a week", async () => {
    const zone = new ZoneResolver().txt("a.test._report._dmarc.reports.test", "v=DMARC1").fail("a.test._report._dmarc.flaky.test", "timeout");
    const { store, deps, queued, refuseSpool } = setup(zone);
    await store.record(evaluation("a.test", "v=DMARC1; p=none; rua=mailto:agg@reports.test,mailto:agg@flaky.test"), AT);
    const first = await sendDmarcReports(deps);
    expect(first.domains[0]).toMatchObject({
      outcome: "partial",
      delivered: ["agg@reports.test"],
      waiting: [{ uri: "mailto:agg@flaky.test", reason: "a.test._report._dmarc.flaky.test: the lookup failed (timeout)" }],
    });
    zone.txt("a.test._report._dmarc.flaky.test", "v=DMARC1");
    refuseSpool(true);
    expect((await sendDmarcReports(deps)).domains[0]).toMatchObject({
      outcome: "partial",
      waiting: [{ uri: "mailto:agg@flaky.test", reason: "the spool is full" }],
    });
    refuseSpool(false);
    expect((await sendDmarcReports(deps)).domains[0]).toMatchObject({ outcome: "sent", delivered: ["agg@reports.test", "agg@flaky.test"] });
    expect(queued.map((q) => q.envelope.rcptTo[0])).toEqual(["agg@reports.test", "agg@flaky.test"]);

    await store.record(evaluation("b.test", "v=DMARC1; p=none; rua=mailto:agg@flaky.test"), AT);
    const late = { ...deps, now: () => AT + (MAX_PENDING_DAYS + 1) * 86_400_000 };
    expect((await sendDmarcReports(late)).domains).toMatchObject([{ domain: "b.test", outcome: "expired" }]);
    expect(await store.days()).toEqual([]);
  });

  it("leaves a domain another run holds, and refuses a day that is not over", async () => {
    const { store, deps, queued } = setup(new ZoneResolver());
    await store.record(evaluation("a.test", "v=DMARC1; p=none; rua=mailto:d@a.test"), AT);
    expect(await store.claim(DAY, "a.test", 60_000)).toBe(true);
    expect((await sendDmarcReports(deps)).domains).toMatchObject([{ domain: "a.test", outcome: "claimed" }]);
    expect(queued).toEqual([]);
    await expect(sendDmarcReports(deps, "2026-03-05")).rejects.toThrow("2026-03-05 is not over yet (UTC): its report is sent once it is");
  });
});
