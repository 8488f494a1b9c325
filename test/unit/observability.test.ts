// The pieces of relay-node/src/metrics/ and log/story.ts on their own: each relay's registry is its
// own (never prom-client's global one), what the counting methods count, the queue and certificate
// read at scrape time, the readiness report, and the story collector's choice of lines and its bounds.
// The same pieces over a real relay's traffic and log: test/integration/relay-observability.test.ts.
import { register } from "prom-client";
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../core/config/load.ts";
import { readinessReport } from "../../relay-node/src/metrics/listener.ts";
import { nextHopLabeler, RelayMetrics } from "../../relay-node/src/metrics/metrics.ts";
import { MAX_STORIES, renderStory, StoryCollector } from "../../relay-node/src/log/story.ts";
import type { QueueEntry } from "../../relay-node/src/queue/spool.ts";
import type { VerdictSource } from "../../relay-node/src/verdict/source.ts";
import { selfSignedCertificate } from "../../relay-node/src/tls/self-signed.ts";

/** One sample of the text format by its exact series. */
async function sample(metrics: RelayMetrics, series: string): Promise<number | undefined> {
  const line = (await metrics.registry.metrics()).split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

function entry(id: string, createdAt: number): QueueEntry {
  return {
    id,
    envelope: { mailFrom: "a@example.net", rcptTo: ["b@example.org"] },
    createdAt,
    size: 100,
    attempts: 0,
    lastAttemptAt: null,
    nextAttemptAt: createdAt,
    recipients: [{ rcpt: "b@example.org", status: "pending", reply: null }],
    delayWarned: false,
  };
}

describe("RelayMetrics", () => {
  it("keeps each relay's counts in its own registry, and none in prom-client's global one", async () => {
    const [a, b] = [new RelayMetrics(), new RelayMetrics()];
    a.refused("mx", "rcpt", "dnsbl", 554);
    a.refused("mx", "rcpt", "dnsbl", 554);
    b.refused("mx", "rcpt", "dnsbl", 554);
    const series = 'edgemx_smtp_refusals_total{listener="mx",stage="rcpt",check="dnsbl",code="554"}';
    expect([await sample(a, series), await sample(b, series)]).toEqual([2, 1]);
    expect(await register.metrics()).not.toContain("edgemx_");
  });

  it("counts sessions open and opened, and the deliveries by next hop with the latency of those delivered", async () => {
    const metrics = new RelayMetrics();
    metrics.sessionOpened("mx");
    metrics.sessionOpened("mx");
    metrics.sessionClosed("mx");
    const nextHopOf = nextHopLabeler({ localDomains: ["Example.org"], nextHop: "lmtp" });
    metrics.delivered(
      [
        { rcpt: "b@EXAMPLE.ORG", status: "delivered", reply: "250 ok" },
        { rcpt: "c@example.net", status: "deferred", reply: "451 later" },
      ],
      nextHopOf,
      90_000,
    );
    expect(await sample(metrics, 'edgemx_smtp_sessions_total{listener="mx"}')).toBe(2);
    expect(await sample(metrics, 'edgemx_smtp_sessions_open{listener="mx"}')).toBe(1);
    expect(await sample(metrics, 'edgemx_deliveries_total{next_hop="lmtp",result="delivered"}')).toBe(1);
    expect(await sample(metrics, 'edgemx_deliveries_total{next_hop="remote",result="deferred"}')).toBe(1);
    expect(await sample(metrics, 'edgemx_delivery_latency_seconds_sum{next_hop="lmtp"}')).toBe(90);
    expect(await sample(metrics, 'edgemx_delivery_latency_seconds_count{next_hop="remote"}')).toBeUndefined();
  });

  it("labels each recipient with the way deliver/ routes it: next hop, report intake, smarthost or MX hosts", () => {
    const plain = nextHopLabeler({ localDomains: ["example.org"], nextHop: "maildir" });
    expect(["a@Example.ORG", "dmarc@example.org", "b@example.net"].map(plain)).toEqual(["maildir", "maildir", "remote"]);
    const routed = nextHopLabeler({
      localDomains: ["example.org"],
      nextHop: "smtp",
      reportAddresses: () => new Set(["dmarc@example.org"]),
      smarthostDomains: ["Example.NET"],
    });
    expect(["a@example.org", "DMARC@example.org", "b@example.net", "c@example.com"].map(routed)).toEqual(["smtp", "reports", "smarthost", "remote"]);
    const everythingOut = nextHopLabeler({ localDomains: ["example.org"], nextHop: "lmtp", smarthostDomains: [] });
    expect(["a@example.org", "c@example.com"].map(everythingOut)).toEqual(["lmtp", "smarthost"]);
  });

  it("counts a DSN by its action, and none for the null sender", async () => {
    const metrics = new RelayMetrics();
    metrics.bounced({ id: "Q1", dsnId: "Q2", recipients: [{ rcpt: "b@example.org", action: "failed", status: "5.1.1", reply: "550 no" }] });
    metrics.bounced({ id: "Q3", dsnId: "Q4", recipients: [{ rcpt: "b@example.org", action: "delayed", status: "4.4.1", reply: "451 later" }] });
    metrics.bounced({ id: "Q5", dsnId: null, recipients: [{ rcpt: "b@example.org", action: "failed", status: "5.1.1", reply: "550 no" }] });
    expect(await sample(metrics, 'edgemx_dsns_total{action="failed"}')).toBe(1);
    expect(await sample(metrics, 'edgemx_dsns_total{action="delayed"}')).toBe(1);
  });

  it("times each verdict by judge and action, and counts the verdict API's failures as its errors", async () => {
    const metrics = new RelayMetrics();
    const outcomes = [
      { ok: false as const, detail: "verdict API https://edge.example: no answer within 100 ms" },
      {
        ok: true as const,
        verdict: { action: "accept" as const, reply: { code: 250, enhanced: "2.0.0", text: "Ok" }, id: "12345-67", headers: [], marks: [], checks: [] },
      },
    ];
    const api: VerdictSource = { where: "https://edge.example", ask: () => Promise.resolve(outcomes.shift()!), close() {} };
    const timed = metrics.timeVerdicts(api);
    const message = {
      id: "12345-67",
      config: parseConfig({ hostname: "mx.example.org", domains: [{ name: "example.org", mx: ["mx.example.org"], catchAll: true }] }),
    };
    await timed.ask(new Uint8Array(), { mailFrom: "", rcptTo: ["b@example.org"], direction: "inbound" }, message);
    await timed.ask(new Uint8Array(), { mailFrom: "", rcptTo: ["b@example.org"], direction: "inbound" }, message);
    expect(await sample(metrics, 'edgemx_judge_seconds_count{judge="api",action="error"}')).toBe(1);
    expect(await sample(metrics, 'edgemx_judge_seconds_count{judge="api",action="accept"}')).toBe(1);
    expect(await sample(metrics, 'edgemx_dependency_errors_total{dependency="verdict_api"}')).toBe(1);
  });

  it("reads the queue and the certificate when scraped", async () => {
    const metrics = new RelayMetrics();
    expect(await sample(metrics, "edgemx_queue_messages")).toBe(0);
    const now = Date.parse("2030-01-01T00:00:00Z");
    const certificate = selfSignedCertificate("mx.example.org", new Date(now), 30);
    const queue = [entry("A", now - 600_000), entry("B", now - 60_000)];
    metrics.watch({ queue: () => queue, certificate: () => certificate.cert, now: () => now });
    expect(await sample(metrics, "edgemx_queue_messages")).toBe(2);
    expect(await sample(metrics, "edgemx_queue_oldest_message_age_seconds")).toBe(600);
    expect(await sample(metrics, "edgemx_tls_certificate_not_after_seconds")).toBe(now / 1000 + 30 * 86400);
    queue.length = 0;
    expect(await sample(metrics, "edgemx_queue_oldest_message_age_seconds")).toBe(0);
  });
});

describe("readinessReport", () => {
  it("is ready only when every dependency answered, each named on a line of its own", () => {
    expect(
      readinessReport(
        new Map([
          ["dns", null],
          ["clamd", "clamd 127.0.0.1:3310: connect ECONNREFUSED 127.0.0.1:3310"],
        ]),
      ),
    ).toEqual({ ready: false, body: "not ready\ndns ok\nclamd down: clamd 127.0.0.1:3310: connect ECONNREFUSED 127.0.0.1:3310\n" });
    expect(readinessReport(new Map([["dns", null]]))).toEqual({ ready: true, body: "ready\ndns ok\n" });
  });
});

describe("StoryCollector", () => {
  const at = (second: number): string => new Date(Date.UTC(2030, 0, 1, 12, 0, second)).toISOString();
  const collect = (key: string, lines: object[]): ReturnType<StoryCollector["result"]> => {
    const collector = new StoryCollector(key);
    for (const line of lines) collector.add(JSON.stringify(line));
    return collector.result();
  };

  it("tells a session from its first line once a later one names the key, then the delivery of what it queued", () => {
    const lines = [
      { time: at(0), event: "refusal", session: "s1", stage: "rcpt", check: "recipient", rcpt: "x@example.org", reply: "550 5.1.1 no", id: null },
      { time: at(1), event: "refusal", session: "s2", stage: "rcpt", check: "dnsbl", rcpt: "b@example.org", reply: "554 5.7.1 listed", id: null },
      { time: at(2), event: "message", session: "s1", id: "12345-67", queueId: "Q1", mailFrom: "a@example.net", rcptTo: ["b@example.org"], reply: "250 ok" },
      { time: at(3), event: "session", session: "s1", clientIp: "192.0.2.1", messages: 1, refusals: 1, durationMs: 3000 },
      {
        time: at(4),
        queueId: "Q1",
        attempt: 1,
        results: [{ rcpt: "b@example.org", status: "failed", reply: "550 gone" }],
        done: true,
        msg: "delivery attempt",
      },
      { time: at(5), queueId: "Q1", dsnId: "Q2", msg: "delivery status notification queued" },
      {
        time: at(6),
        queueId: "Q2",
        attempt: 1,
        results: [{ rcpt: "a@example.net", status: "delivered", reply: "250 ok" }],
        done: true,
        msg: "delivery attempt",
      },
    ];
    const { stories, dropped } = collect("12345-67", lines);
    expect(dropped).toBe(0);
    expect(stories).toHaveLength(1);
    expect(stories[0]!.lines.map((l) => l.time)).toEqual([at(0), at(2), at(3), at(4), at(5), at(6)]);
    const told = renderStory(stories[0]!);
    expect(told.split("\n")[0]).toBe("session s1");
    expect(told).toContain(`${new Date(Date.UTC(2030, 0, 1, 12, 0, 0)).toISOString()}  connect from 192.0.2.1 (no confirmed name)`);
    expect(told).toContain("RCPT TO <x@example.org> refused (check recipient): 550 5.1.1 no");
    expect(told).toContain("delivery status notification queued for Q1: Q2");
    expect(told).toContain("<a@example.net> delivered: 250 ok");
  });

  it("finds an address whatever its case, and keeps the latest sessions only", () => {
    const lines = Array.from({ length: MAX_STORIES + 3 }, (_, i) => ({
      time: at(i),
      event: "refusal",
      session: `s${i}`,
      stage: "rcpt",
      check: "greylist",
      rcpt: "Bob@Example.org",
      reply: "451 4.7.1 later",
    }));
    const { stories, dropped } = collect("bob@example.ORG", [...lines, { time: at(59), event: "refusal", session: "other", rcpt: "carol@example.org" }]);
    expect(dropped).toBe(3);
    expect(stories.map((s) => s.session)).toEqual(lines.slice(3).map((l) => l.session));
  });

  it("passes over what is not a JSON object of the log", () => {
    const collector = new StoryCollector("12345-67");
    for (const line of ["", "not json", "[1,2]", '{"broken"', "null", `{"event":"refusal","session":"s1","id":"12345-67","time":"${at(0)}"}`])
      collector.add(line);
    expect(collector.result().stories.map((s) => s.session)).toEqual(["s1"]);
  });
});
