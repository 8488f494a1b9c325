// What the kernel says about a process (Linux /proc): its resident memory now and at its peak, and its
// open file descriptors — the soak's samples and the hostile clients' memory bound.
import { readdirSync, readFileSync } from "node:fs";

export interface ProcessStats {
  /** VmRSS, bytes. */
  rss: number;
  /** VmHWM, the peak resident set since the process started, bytes. */
  peakRss: number;
  /** Entries in /proc/<pid>/fd. */
  openFds: number;
}

/** A "kB" line of /proc/<pid>/status, in bytes. */
function statusField(status: string, field: string): number {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB$`, "m").exec(status);
  if (match === null) throw new Error(`no ${field} in /proc status`);
  return Number(match[1]) * 1024;
}

export function processStats(pid: number): ProcessStats {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  return { rss: statusField(status, "VmRSS"), peakRss: statusField(status, "VmHWM"), openFds: readdirSync(`/proc/${pid}/fd`).length };
}

export const mebibytes = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
