// The soak (issue 16, item 5): the relay as a process (test/harness/relay-process.ts) under a mixed load
// for `minutes`, its resident memory, open file descriptors and queue size sampled at the start and at
// the end of every minute. `npm run soak` runs it for an hour (test/faults/soak.ts); the fault suite
// runs five minutes (test/faults/soak.test.ts).
//
// Each minute five streams run side by side, paced by a count per minute (the load generator itself
// sends as fast as it can), all from the harness's mail.sender.test address:
//   normal      ~2 KiB to the mailbox: 250 (the first ones greylisted for a second)
//   refused     to a mailbox the domain does not have: 550 5.1.1
//   greylisted  a new sender per message, so a new triplet each time: 451 4.7.1
//   virus       the test signature in the body (test/harness/clamd.ts), clamd scanning: 554
//   large       2 MiB: 250
// Greylisting counts no deliveries towards auto-allowing the network (autoAllowAfter is out of reach),
// so the greylisted stream stays greylisted for the whole run.
import { readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { freePort } from "../../harness/process.ts";
import { startRelayWithConfig } from "../../harness/relay-process.ts";
import { LOCAL, relayDocument, testMessage } from "../../harness/relay.ts";
import { TEST_PATTERN } from "../../harness/clamd.ts";
import { TEST_DNS } from "../../harness/zones.ts";
import { drained, maildirCopies, maildirFiles, spoolIds, tally, type FaultRow } from "./checker.ts";
import { BODY, runLoad, SENDER } from "./load.ts";
import { processStats } from "./process-stats.ts";
import type { MessageOutcome } from "../../../bench/support/smtp-load.ts";

export interface SoakOptions {
  minutes: number;
  /** The harness's validating resolver. */
  dnsPort: number;
  clamd: { host: string; port: number };
  /** A folder of the run's own: the configuration, the spool, the Maildir, the load's message files. */
  dir: string;
  /** Progress lines (a sample each minute). */
  log: (line: string) => void;
}

export interface SoakSample {
  minute: number;
  rss: number;
  openFds: number;
  queued: number;
}

export type SoakStream = "normal" | "refused" | "greylisted" | "virus" | "large";

export interface SoakResult {
  samples: SoakSample[];
  /** The relay's peak resident memory over the run (VmHWM), bytes. */
  peakRss: number;
  /** Per stream, every message's outcome. */
  outcomes: Record<SoakStream, MessageOutcome[]>;
  /** Per stream, the refusals by their first line (the load generator's count). */
  refusals: Record<SoakStream, Record<string, number>>;
  /** All streams together against what was delivered and what is still queued. */
  row: FaultRow;
}

interface StreamPlan {
  perMinute: number;
  sessions: number;
  mailFrom?: (minute: number) => string;
  rcptTo?: string;
  message?: string;
}

const LARGE_BODY_LINES = (2 * 1024 * 1024) / 78;

function streams(): Record<SoakStream, StreamPlan> {
  const large = Array.from(
    { length: LARGE_BODY_LINES },
    (_, i) => `${String(i).padStart(6, "0")} a line of a large message, long enough to be a real one`,
  ).join("\r\n");
  const from = (body: string, subject: string): string => testMessage({ from: SENDER, to: LOCAL.mailbox, subject, body });
  return {
    normal: { perMinute: 60, sessions: 2 },
    refused: { perMinute: 10, sessions: 1, rcptTo: `nobody@${LOCAL.domain}` },
    greylisted: { perMinute: 10, sessions: 1, mailFrom: (minute) => `grey-${minute}-{n}@${TEST_DNS.sender.domain}` },
    virus: { perMinute: 6, sessions: 1, message: from(`${BODY}\r\nand the virus scanner's test pattern: ${TEST_PATTERN}`, "soak virus") },
    large: { perMinute: 2, sessions: 1, message: from(large, "soak large") },
  };
}

/** Least squares slope of `values` over `minute`, per hour. */
export function slopePerHour(samples: readonly SoakSample[], value: (sample: SoakSample) => number): number {
  const n = samples.length;
  if (n < 2) return 0;
  const meanX = samples.reduce((sum, s) => sum + s.minute, 0) / n;
  const meanY = samples.reduce((sum, s) => sum + value(s), 0) / n;
  const covariance = samples.reduce((sum, s) => sum + (s.minute - meanX) * (value(s) - meanY), 0);
  const variance = samples.reduce((sum, s) => sum + (s.minute - meanX) ** 2, 0);
  return (covariance / variance) * 60;
}

export async function runSoak(options: SoakOptions): Promise<SoakResult> {
  const { dir, minutes } = options;
  const port = await freePort();
  const document = relayDocument(
    dir,
    options.dnsPort,
    {
      listeners: { mx: { host: "127.0.0.1", port } },
      metrics: { host: "127.0.0.1", port: await freePort() },
      clamd: { enabled: true, ...options.clamd },
      // A session is closed after maxErrors 4xx/5xx replies (Postfix's smtpd_hard_error_limit): the
      // refused and greylisted streams make nothing but errors, and must go on for the whole minute.
      limits: { maxErrors: 100_000 },
    },
    { greylist: { enabled: true, delaySeconds: 1, autoAllowAfter: 1_000_000_000 } },
  );
  const configPath = join(dir, "edgemx.json");
  writeFileSync(configPath, JSON.stringify(document));
  const spool = join(dir, "spool");
  const maildir = join(dir, "Maildir");
  const plans = streams();
  const outcomes: Record<SoakStream, MessageOutcome[]> = { normal: [], refused: [], greylisted: [], virus: [], large: [] };
  const refusals: Record<SoakStream, Record<string, number>> = { normal: {}, refused: {}, greylisted: {}, virus: {}, large: {} };
  const samples: SoakSample[] = [];

  const relay = await startRelayWithConfig(configPath, { tailOnly: true });
  const pid = relay.child.pid!;
  const queueSize = (): number => readdirSync(join(spool, "queue")).filter((name) => !name.startsWith(".")).length;
  const sample = (minute: number): void => {
    const stats = processStats(pid);
    const taken = { minute, rss: stats.rss, openFds: stats.openFds, queued: queueSize() };
    samples.push(taken);
    options.log(`soak minute ${minute}: RSS ${(taken.rss / 1024 / 1024).toFixed(1)} MiB, ${taken.openFds} open fds, ${taken.queued} queued`);
  };
  try {
    // The triplet the normal, virus and large streams share is greylisted once, then passes for good
    // (passLifetimeSeconds): its first retry comes here, so that the minutes measure the steady state.
    for (let attempt = 0; !outcomes.normal.some((o) => o.code === 250) && attempt < 10; attempt++) {
      const first = await runLoad({ port, dir, prefix: `normal-first-${attempt}`, sessions: 1, maxMessages: 1, seconds: 5 });
      outcomes.normal.push(...first.messages);
      await new Promise((resolve) => setTimeout(resolve, 1500));
    }
    const started = performance.now();
    for (let minute = 0; minute < minutes; minute++) {
      sample(minute);
      await Promise.all(
        (Object.entries(plans) as [SoakStream, StreamPlan][]).map(async ([name, plan]) => {
          const load = await runLoad({
            port,
            dir,
            prefix: `${name}-${minute}`,
            sessions: plan.sessions,
            maxMessages: plan.perMinute,
            seconds: 50,
            replyTimeoutMs: 60_000,
            mailFrom: plan.mailFrom?.(minute),
            rcptTo: plan.rcptTo,
            message: plan.message,
          });
          outcomes[name].push(...load.messages);
          for (const [reply, n] of Object.entries({ ...load.refused, ...load.errors })) refusals[name][reply] = (refusals[name][reply] ?? 0) + n;
        }),
      );
      const nextMinute = started + (minute + 1) * 60_000;
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, nextMinute - performance.now())));
    }
    await drained(spool, () => maildirFiles(maildir));
    sample(minutes);
    const { peakRss } = processStats(pid);
    const row = tally(`soak, ${minutes} min of mixed load`, Object.values(outcomes).flat(), maildirCopies(maildir), spoolIds(spool), null);
    return { samples, peakRss, outcomes, refusals, row };
  } finally {
    relay.child.kill("SIGTERM");
    await relay.exited;
  }
}

/** The note's lines: first and last sample, the slope per hour, and the peak. */
export function soakSummary(result: SoakResult): string {
  const { samples } = result;
  const first = samples[0]!;
  const last = samples.at(-1)!;
  const mib = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
  const line = (what: string, value: (s: SoakSample) => number, unit: (v: number) => string): string =>
    `| ${what} | ${unit(value(first))} | ${unit(value(last))} | ${unit(slopePerHour(samples, value))} per hour |`;
  const counts = Object.entries(result.outcomes)
    .map(([name, list]) => {
      const byCode = new Map<string, number>();
      for (const o of list) byCode.set(String(o.code ?? "none"), (byCode.get(String(o.code ?? "none")) ?? 0) + 1);
      return `${name}: ${[...byCode].map(([code, n]) => `${n}×${code}`).join(", ")}`;
    })
    .join("; ");
  return [
    `soak over ${last.minute} min, ${samples.length} samples; peak RSS ${mib(result.peakRss)}; replies by stream: ${counts}`,
    "| sampled | first | last | slope |",
    "| --- | --: | --: | --: |",
    line("RSS", (s) => s.rss, mib),
    line(
      "open file descriptors",
      (s) => s.openFds,
      (v) => v.toFixed(1),
    ),
    line(
      "queued messages",
      (s) => s.queued,
      (v) => v.toFixed(1),
    ),
    `refusals by stream: ${JSON.stringify(result.refusals)}`,
  ].join("\n");
}
