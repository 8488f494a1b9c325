// A test hook for the fault suite's crash points (test/faults/spool-crash-points.test.ts): with
// EDGEMX_CRASH_AT=<step>:<n> in its environment, the process SIGKILLs itself right after the n-th time
// the spool finished <step>, so that a test kills it between two given durable steps on purpose
// instead of by timing luck. The steps, in the order a message passes them (docs/queue.md):
//
//   write            the queue file's bytes are written (a temp file, or a free file rewritten), not fsynced
//   fsync            that file is fsynced, not yet renamed into queue/
//   rename           it is renamed into queue/, the directory not yet fsynced
//   directory-fsync  queue/ is fsynced: the message is durable, the 250 not yet given
//   delivery         the next hop took the message, the spool not yet told (or, delivered before the
//                    reply, deliver/direct.ts: the Maildir took it, the 250 not yet given)
//   removal          the delivered message's queue file left queue/, the directory not yet fsynced
//
// The variable is read once, when this module loads. Unset (production), every crashPoint() call is one
// comparison and does nothing.
export const CRASH_STEPS = ["write", "fsync", "rename", "directory-fsync", "delivery", "removal"] as const;
export type CrashStep = (typeof CRASH_STEPS)[number];

export const CRASH_AT_ENV = "EDGEMX_CRASH_AT";

/** The step and count EDGEMX_CRASH_AT names; undefined when it is unset or empty. */
export function parseCrashAt(text: string | undefined): { step: CrashStep; count: number } | undefined {
  if (text === undefined || text === "") return undefined;
  const [, step, count] = /^([a-z-]+):([1-9][0-9]*)$/.exec(text) ?? [];
  const found = CRASH_STEPS.find((name) => name === step);
  if (found === undefined) {
    throw new Error(`${CRASH_AT_ENV} must be <step>:<n> with a step of ${CRASH_STEPS.join(", ")} and n ≥ 1; not ${JSON.stringify(text)}`);
  }
  return { step: found, count: Number(count) };
}

const target = parseCrashAt(process.env[CRASH_AT_ENV]);
let passed = 0;

/** The spool finished `step`: with EDGEMX_CRASH_AT naming it, count, and die by SIGKILL at the n-th time. */
export function crashPoint(step: CrashStep): void {
  if (target === undefined || step !== target.step) return;
  if (++passed === target.count) process.kill(process.pid, "SIGKILL");
}
