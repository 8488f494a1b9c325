// CPU time of a process and all its descendants (Haraka's cluster workers, say), from Linux's /proc.
import { execFileSync } from "node:child_process";
import { readFileSync, readdirSync } from "node:fs";

/** Clock ticks per second, the unit of the time fields of /proc/<pid>/stat (proc(5)). */
const TICKS_PER_SECOND = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim());

interface Stat {
  pid: number;
  command: string;
  parentPid: number;
  /** utime + stime + cutime + cstime: the process's own CPU and that of its waited-for children. */
  ticks: number;
}

/** Field n (1-based, proc(5)) of a /proc/…/stat line, as a number. */
function statField(text: string): (n: number) => number {
  // "pid (comm) state ppid …"; comm may hold spaces and parentheses: split after the last ")".
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  return (n: number): number => Number(fields[n - 3]);
}

function readStat(pid: number): Stat | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return null; // ended while we looked
  }
  const field = statField(text);
  return { pid, command: text.slice(text.indexOf("(") + 1, text.lastIndexOf(")")), parentPid: field(4), ticks: field(14) + field(15) + field(16) + field(17) };
}

function allStats(): Stat[] {
  const stats: Stat[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = readStat(Number(entry));
    if (stat !== null) stats.push(stat);
  }
  return stats;
}

/** `rootPid` and every live descendant. */
function processTree(rootPid: number): Stat[] {
  const stats = allStats();
  const children = new Map<number, Stat[]>();
  for (const stat of stats) children.set(stat.parentPid, [...(children.get(stat.parentPid) ?? []), stat]);
  const root = stats.find((s) => s.pid === rootPid);
  if (root === undefined) throw new Error(`process ${rootPid} is gone`);
  const tree = [root];
  for (let i = 0; i < tree.length && i < 10_000; i++) tree.push(...(children.get(tree[i]!.pid) ?? []));
  return tree;
}

/** CPU seconds used so far by `rootPid` and every live descendant (user + system, with reaped children). */
export function treeCpuSeconds(rootPid: number): number {
  return processTree(rootPid).reduce((ticks, stat) => ticks + stat.ticks, 0) / TICKS_PER_SECOND;
}

/** The pids of the direct children of `parentPid` named `command` (comm, at most 15 characters). */
export function childrenNamed(parentPid: number, command: string): number[] {
  return allStats()
    .filter((s) => s.parentPid === parentPid && s.command === command)
    .map((s) => s.pid);
}

/** The CPU seconds of several process trees together. */
export function sumTreeCpuSeconds(pids: readonly number[]): number {
  return pids.reduce((total, pid) => total + treeCpuSeconds(pid), 0);
}

/** CPU seconds (utime + stime) of every live thread of `rootPid` and its descendants, by "pid/tid". */
export function treeThreadCpuSeconds(rootPid: number): Map<string, number> {
  const threads = new Map<string, number>();
  for (const { pid } of processTree(rootPid)) {
    let tids: string[];
    try {
      tids = readdirSync(`/proc/${pid}/task`);
    } catch {
      continue; // ended while we looked
    }
    for (const tid of tids) {
      let text: string;
      try {
        text = readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8");
      } catch {
        continue;
      }
      const field = statField(text);
      threads.set(`${pid}/${tid}`, (field(14) + field(15)) / TICKS_PER_SECOND);
    }
  }
  return threads;
}

/** The CPU seconds the busiest thread used between two readings of treeThreadCpuSeconds (threads that ended in between are not seen). */
export function busiestThreadSeconds(before: Map<string, number>, after: Map<string, number>): number {
  let busiest = 0;
  for (const [thread, seconds] of after) busiest = Math.max(busiest, seconds - (before.get(thread) ?? 0));
  return busiest;
}
