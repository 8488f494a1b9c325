// One case of "a dependency dying mid-load" (dependencies.test.ts): two streams of load run against
// an in-process relay — `good` mail that passes every check, and `bad` mail that the dependency must
// see to refuse (a virus for clamd, GTUBE for rspamd, a new greylisting triplet for Redis, a sender
// domain that does not exist for DNS, a banned attachment for the verdict API) — while the dependency
// is killed (SIGKILL) or hung (SIGSTOP) for a few seconds and then restarted (or continued).
// What comes back: every message's outcome, when the fault began and ended, and the relay's metrics
// and log lines, for the case to check.
import type { MessageOutcome, PhaseResult } from "../../../bench/support/smtp-load.ts";
import type { TestRelay } from "../../harness/relay.ts";
import { runLoad, type LoadPlan } from "./load.ts";

export type StreamPlan = Omit<LoadPlan, "port" | "dir" | "prefix" | "seconds" | "maxMessages"> & { maxMessages?: number };

export interface FaultWindow {
  /** The signal that starts the fault: SIGKILL (then a restart ends it) or SIGSTOP (then SIGCONT). */
  signal: "SIGKILL" | "SIGSTOP";
  /** Sends the signal. */
  inject: () => void;
  /** Ends the fault: restarts the daemon (resolving once it is ready) or sends SIGCONT. */
  end: () => Promise<void>;
}

export interface DependencyRun {
  good: PhaseResult & { messages: MessageOutcome[] };
  bad: PhaseResult & { messages: MessageOutcome[] };
  /** ms since the epoch. */
  faultStartedAt: number;
  faultEndedAt: number;
  /** From the end of the fault to the first good 250 after it, ms. */
  recoveryMs: number;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Seconds of load before the fault, the fault's length, and the load after it. */
export const TIMELINE = { before: 2, during: 4, after: 4 } as const;

/**
 * Runs the two streams for TIMELINE's seconds with the fault in their middle. When no good message
 * got its 250 after the fault's end within the load, more good mail is sent, one message at a time,
 * until one does (bounded by the test's timeout): the relay must recover without a restart.
 */
export async function loadThroughFault(
  test: TestRelay,
  dir: string,
  prefix: string,
  streams: { good: StreamPlan; bad: StreamPlan },
  fault: FaultWindow,
): Promise<DependencyRun> {
  const seconds = TIMELINE.before + TIMELINE.during + TIMELINE.after;
  const common = { port: test.port, dir, seconds, maxMessages: 5000 };
  const loads = Promise.all([
    runLoad({ ...common, ...streams.good, prefix: `${prefix}-good` }),
    runLoad({ ...common, ...streams.bad, prefix: `${prefix}-bad` }),
  ]);
  await sleep(TIMELINE.before * 1000);
  fault.inject();
  const faultStartedAt = Date.now();
  await sleep(TIMELINE.during * 1000);
  await fault.end();
  const faultEndedAt = Date.now();
  const [good, bad] = await loads;
  let firstAfter = good.messages.find((m) => m.code === 250 && m.at >= faultEndedAt)?.at;
  for (let probe = 0; firstAfter === undefined; probe++) {
    const one = await runLoad({ ...common, ...streams.good, sessions: 1, maxMessages: 1, prefix: `${prefix}-probe${probe}` });
    good.messages.push(...one.messages);
    firstAfter = one.messages.find((m) => m.code === 250)?.at;
  }
  return { good, bad, faultStartedAt, faultEndedAt, recoveryMs: firstAfter - faultEndedAt };
}

/** The relay's metrics text (its own listener). */
export async function metricsText(test: TestRelay): Promise<string> {
  const response = await fetch(`http://127.0.0.1:${test.relay.metricsPort}/metrics`);
  return response.text();
}

/** The value of one sample of the metrics text, 0 when absent: `name{labels}` exactly as Prometheus prints it. */
export function sampleValue(metrics: string, series: string): number {
  const line = metrics.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? 0 : Number(line.slice(series.length + 1));
}
