// CPU time of another process (all its threads, user + system) from Linux's /proc, for CPU-per-request figures.
import { execFileSync } from "node:child_process";
import { readFileSync, readdirSync } from "node:fs";

/** Clock ticks per second, the unit of utime and stime in /proc/<pid>/stat (proc(5)). */
const TICKS_PER_SECOND = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim());

interface ProcStat {
  command: string;
  parentPid: number;
  cpuTicks: number;
}

// proc(5): "pid (comm) state ppid …"; comm may hold spaces and parentheses, so split after the last ")".
function readStat(pid: number): ProcStat {
  const text = readFileSync(`/proc/${pid}/stat`, "utf8");
  const open = text.indexOf("(");
  const close = text.lastIndexOf(")");
  const fields = text.slice(close + 2).split(" ");
  // fields[0] is field 3 (state): ppid is field 4, utime field 14, stime field 15.
  const field = (n: number): number => Number(fields[n - 3]);
  return { command: text.slice(open + 1, close), parentPid: field(4), cpuTicks: field(14) + field(15) };
}

/** CPU seconds the process has used so far, user + system, summed over its threads. */
export function cpuSeconds(pid: number): number {
  return readStat(pid).cpuTicks / TICKS_PER_SECOND;
}

/** The pid of the one child of `parentPid` whose command name is `command`; throws unless exactly one. */
export function childPid(parentPid: number, command: string): number {
  const matches: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    try {
      const stat = readStat(pid);
      if (stat.parentPid === parentPid && stat.command === command) matches.push(pid);
    } catch {
      // The process ended while we listed /proc.
    }
  }
  const [pid] = matches;
  if (pid === undefined || matches.length > 1) {
    throw new Error(`expected one "${command}" child of process ${parentPid}, found ${matches.length}`);
  }
  return pid;
}
