// What the benchmarks print about a load phase and the machine it ran on.
import { readFileSync } from "node:fs";
import type { PhaseResult } from "./smtp-load.ts";

/** Why a phase cannot be measured (refusals, session errors, nothing accepted); undefined when it can. */
export function phaseProblems(result: PhaseResult): string | undefined {
  const refused = Object.entries(result.refused);
  const errors = Object.entries(result.errors);
  if (refused.length === 0 && errors.length === 0 && result.accepted > 0) return undefined;
  const list = (entries: [string, number][]): string =>
    [...entries]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 5)
      .map(([reply, n]) => `${n}× ${JSON.stringify(reply)}`)
      .join(", ") + (entries.length > 5 ? `, and ${entries.length - 5} other replies` : "");
  return [
    result.accepted === 0 ? "no message accepted" : "",
    refused.length > 0 ? `refused: ${list(refused)}` : "",
    errors.length > 0 ? `session errors: ${list(errors)}` : "",
  ]
    .filter(Boolean)
    .join("; ");
}

/** The 1-minute load average (proc(5)): other work on the machine shows here. */
export function loadAverage(): number {
  return Number(readFileSync("/proc/loadavg", "utf8").split(" ")[0]);
}
