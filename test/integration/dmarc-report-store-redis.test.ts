// The DMARC report store in a real redis-server (the harness's startRedis), as relays that share
// their state's Redis (relay.store) keep it: two relays count into one day, one of them sends the day's report while
// the other finds it claimed, and the day's keys are gone afterwards; days that expired are forgotten.
import { generateKeyPairSync } from "node:crypto";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DmarcEvaluation } from "../../core/dmarcrpt/evaluation.ts";
import { createLogger } from "../../relay-node/src/log/log.ts";
import { sendDmarcReports, type DmarcReportSenderDeps } from "../../relay-node/src/dmarcrpt/sender.ts";
import { REDIS_KEEP_SECONDS, RedisDmarcReportStore, openDmarcReportStore } from "../../relay-node/src/dmarcrpt/store.ts";
import type { EnqueueRequest } from "../../relay-node/src/queue/spool.ts";
import { generatedMailSigner } from "../../relay-node/src/sign/generated.ts";
import { startRedis, type RedisService } from "../harness/services.ts";
import { ZoneResolver } from "../fixtures/zone-resolver.ts";
import { dmarcEvaluation } from "../fixtures/dmarc-evaluation.ts";

const DAY = "2026-03-04";
const AT = Date.parse(`${DAY}T10:00:00Z`);
const RECORD = "v=DMARC1; p=reject; rua=mailto:dmarc@a.test";

let redis: RedisService;
let client: Redis;
const stores: RedisDmarcReportStore[] = [];

function store(): RedisDmarcReportStore {
  const opened = openDmarcReportStore({ type: "redis", url: redis.url }, "unused.sqlite");
  if (!(opened instanceof RedisDmarcReportStore)) throw new Error("a Redis relay.store should give a Redis DMARC store");
  stores.push(opened);
  return opened;
}

function evaluation(sourceIp: string): DmarcEvaluation {
  return dmarcEvaluation("a.test", RECORD, { sourceIp, dkimResults: [{ domain: "a.test", selector: "s1", result: "fail" }] });
}

beforeAll(async () => {
  redis = await startRedis();
  client = new Redis(redis.url);
});

afterAll(async () => {
  await Promise.all(stores.map((s) => s.close()));
  client?.disconnect();
  await redis?.stop();
});

describe("the DMARC report store in Redis", () => {
  it("counts two relays' evaluations into one day, with keys that expire", async () => {
    const [one, two] = [store(), store()];
    await Promise.all([one.record(evaluation("192.0.2.1"), AT), two.record(evaluation("192.0.2.1"), AT), two.record(evaluation("192.0.2.2"), AT)]);
    expect(await one.days()).toEqual([DAY]);
    expect(await two.domains(DAY)).toEqual(["a.test"]);
    const report = await one.report(DAY, "a.test");
    expect(report?.record).toBe(RECORD);
    expect(report?.rows.map((r) => [r.evaluation.sourceIp, r.count])).toEqual([
      ["192.0.2.1", 2],
      ["192.0.2.2", 1],
    ]);
    const ttl = await client.ttl(`edgemx:dmarc:rows:${DAY}:a.test`);
    expect(ttl).toBeGreaterThan(REDIS_KEEP_SECONDS - 60);
    expect(ttl).toBeLessThanOrEqual(REDIS_KEEP_SECONDS);
  });

  it("lets one of two relays send the day's report, and deletes the day once sent", async () => {
    const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
    const queued: EnqueueRequest[] = [];
    const deps = (s: RedisDmarcReportStore): DmarcReportSenderDeps => ({
      store: s,
      resolver: new ZoneResolver(),
      enqueue: (request) => {
        queued.push(request);
        return Promise.resolve(`q${queued.length}`);
      },
      sign: generatedMailSigner(new Map([["example.org", { key: { domain: "example.org", selector: "s1", algorithm: "rsa-sha256" as const, privateKey } }]])),
      reporter: { organization: "mx.example.org", contact: "postmaster@example.org", hostname: "mx.example.org", from: "postmaster@example.org" },
      logger: createLogger("silent"),
      now: () => AT + 86_400_000,
    });
    const [one, two] = [store(), store()];
    const runs = await Promise.all([sendDmarcReports(deps(one)), sendDmarcReports(deps(two))]);
    // One run sends; the other finds the day claimed, or (when it comes later) already gone.
    const outcomes = runs.flatMap((run) => run.domains.map((d) => d.outcome));
    expect(outcomes.filter((outcome) => outcome === "sent")).toEqual(["sent"]);
    expect(outcomes.filter((outcome) => outcome !== "sent").every((outcome) => outcome === "claimed" || outcome === "no-destination")).toBe(true);
    expect(queued.map((q) => q.envelope.rcptTo)).toEqual([["dmarc@a.test"]]);
    expect(await one.days()).toEqual([]);
    expect(await client.keys("edgemx:dmarc:*")).toEqual([]);
  });

  it("forgets a day whose keys expired", async () => {
    const one = store();
    await one.record(evaluation("192.0.2.9"), AT);
    await client.del(`edgemx:dmarc:day:${DAY}`);
    expect(await one.days()).toEqual([]);
    expect(await client.smembers("edgemx:dmarc:days")).toEqual([]);
  });
});
