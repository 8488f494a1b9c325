// The relay's metrics (relay.metrics, relay-node/src/metrics/metrics.ts) by themselves: the CPU of the
// calls one accepted message makes on a RelayMetrics, in the mx benchmark's shape (a session of
// `perSession` messages, pipelined MAIL/RCPT/DATA, delivered to the Maildir), plus its share of a
// Prometheus scrape every `scrapeEveryMessages` messages. The mx benchmark's metrics row differs from
// its metrics-off row by less than the machine's run-to-run noise; this measures the difference
// directly, in-process, where nothing else runs.
import { parseWorkerConfig } from "../../core/config/load.ts";
import { RelayMetrics } from "../../relay-node/src/metrics/metrics.ts";
import { selfSignedCertificate } from "../../relay-node/src/tls/self-signed.ts";
import type { VerdictSource } from "../../relay-node/src/verdict/source.ts";
import type { Verdict } from "../../core/verdict/types.ts";

export interface MetricsCost {
  /** CPU microseconds per message: the metric calls and the share of the scrapes. */
  microsecondsPerMessage: number;
  /** Of which the scrapes' share. */
  scrapeMicrosecondsPerMessage: number;
  messages: number;
}

const ACCEPTED: Verdict = { action: "accept", reply: { code: 250, enhanced: "2.0.0", text: "Ok" }, id: "54321-01", headers: [], marks: [], checks: [] };

/** A judge that answers at once: what is timed is the metrics' wrapper around it, not a verdict. */
const instantJudge: VerdictSource = {
  where: "in-process",
  threads: 0,
  ask: () => Promise.resolve({ ok: true, verdict: ACCEPTED }),
  close() {},
};

function cpuMicroseconds(): number {
  const { user, system } = process.cpuUsage();
  return user + system;
}

/** `messages` messages' metric calls (after as many unmeasured ones, for the compiler), scraped every `scrapeEveryMessages`. */
export async function measureMetricsCost(messages: number, perSession: number, scrapeEveryMessages: number): Promise<MetricsCost> {
  const metrics = new RelayMetrics();
  // What a scrape reads: the spool's entries (the mx benchmark's queue is near empty) and the certificate.
  const { cert } = selfSignedCertificate("mx.example.org");
  metrics.watch({ queue: () => [], certificate: () => cert });
  const judge = metrics.timeVerdicts(instantJudge);
  const raw = new Uint8Array(0);
  const envelope = { mailFrom: "alice@sender.test", rcptTo: ["bob@example.org"], direction: "inbound" as const };
  const results = [{ rcpt: "bob@example.org", status: "delivered" as const, reply: "250 2.0.0 Ok" }];
  const config = parseWorkerConfig(
    { hostname: "mx.example.org", domains: [{ name: "example.org", mx: ["mx.example.org"] }] },
    "the metrics cost's configuration",
  );
  let scrapeCpu = 0;

  const run = async (count: number): Promise<void> => {
    for (let n = 0; n < count; n++) {
      const startedAt = performance.now();
      if (n % perSession === 0) {
        metrics.sessionOpened("mx");
        metrics.stage("mx", "connect", startedAt);
        metrics.stage("mx", "helo", startedAt);
      }
      metrics.stage("mx", "mail", startedAt);
      metrics.stage("mx", "rcpt", startedAt);
      await judge.ask(raw, envelope, { id: ACCEPTED.id, config });
      metrics.stage("mx", "data", startedAt);
      metrics.accepted("mx");
      metrics.delivered(results, () => "maildir", 40);
      if (n % perSession === perSession - 1) metrics.sessionClosed("mx");
      if (n % scrapeEveryMessages === scrapeEveryMessages - 1) {
        const before = cpuMicroseconds();
        await metrics.registry.metrics();
        scrapeCpu += cpuMicroseconds() - before;
      }
    }
  };

  await run(messages);
  scrapeCpu = 0;
  const before = cpuMicroseconds();
  await run(messages);
  const used = cpuMicroseconds() - before;
  return { microsecondsPerMessage: used / messages, scrapeMicrosecondsPerMessage: scrapeCpu / messages, messages };
}
