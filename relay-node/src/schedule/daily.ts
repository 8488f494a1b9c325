// The relay's daily run at 00:15 UTC, shared by the report senders (TLS-RPT, DMARC aggregate reports):
// the day before is over everywhere by then only for UTC, which both report formats count in.

/** Milliseconds from `at` to the next 00:15 UTC. */
export function msUntilDailyRun(at: number): number {
  const d = new Date(at);
  let next = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate(), 0, 15);
  if (next <= at) next += 86_400_000;
  return next - at;
}

export interface DailyRun {
  stop(): void;
}

/**
 * Runs `run` every day at 00:15 UTC by `now`'s clock, the next run scheduled once this one ended; `run`
 * may ask `stopped()` between its steps. The timer is unref'd: it never keeps the process alive. `run`
 * handles its own failures (it logs them): a rejection here would end the schedule.
 */
export function startDailyRun(now: () => number, run: (stopped: () => boolean) => Promise<void>): DailyRun {
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const schedule = (): void => {
    if (stopped) return;
    timer = setTimeout(() => void run(() => stopped).then(schedule), msUntilDailyRun(now()));
    timer.unref();
  };
  schedule();
  return {
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
