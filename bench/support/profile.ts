// The relay under `node --cpu-prof`, summed for the benchmarks' --profile flag (bench/mx.ts, bench/outbound.ts).
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));

/**
 * The main thread's .cpuprofile in `dir`, where `node --cpu-prof --cpu-prof-dir=dir` wrote one per thread
 * (CPU.<date>.<time>.<pid>.<thread id>.<n>.cpuprofile; the main thread's id is 0); undefined when none.
 */
export function mainThreadProfile(dir: string): string | undefined {
  const files = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith(".cpuprofile")) : [];
  const main = files.find((f) => f.split(".").at(-3) === "0");
  return main === undefined ? undefined : join(dir, main);
}

/** The worker threads' .cpuprofile files in `dir` (thread id ≠ 0). */
export function workerThreadProfiles(dir: string): string[] {
  const files = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith(".cpuprofile")) : [];
  return files.filter((f) => f.split(".").at(-3) !== "0").map((f) => join(dir, f));
}

interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] }[];
  samples: number[];
  timeDeltas: number[];
}

/**
 * A .cpuprofile of the relay's main thread, idle time left out, summed three ways (top `n` each):
 * self time per function; per innermost file of this repository on the stack (what a file costs
 * with the libraries and native calls it makes); and per npm package or Node built-in on the stack
 * below that, by package.
 */
export function profileSummary(file: string, n: number): string {
  const profile = JSON.parse(readFileSync(file, "utf8")) as CpuProfile;
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const self = new Map<number, number>();
  profile.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
  const where = (url: string): string => url.replace(/^file:\/\//, "").replace(REPO_ROOT, "");
  const isRepo = (url: string): boolean => /^(core|relay-node|workers|bench)\//.test(where(url)) && !url.includes("node_modules");
  const packageOf = (url: string): string | undefined => {
    const match = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
    if (match) return `npm ${match[1]}`;
    if (url.startsWith("node:"))
      return url
        .replace(/^node:(internal\/)?/, "node:")
        .split("/")
        .slice(0, 2)
        .join("/");
    return undefined;
  };
  let total = 0;
  let idle = 0;
  let loading = 0;
  /** Loading and compiling modules (type stripping included): start-up and first use, not a message's price. */
  const isLoading = (id: number): boolean => {
    for (let at: number | undefined = id, depth = 0; at !== undefined && depth < 500; at = parent.get(at), depth++) {
      const { url, functionName } = byId.get(at)!.callFrame;
      if (/^node:internal\/(modules|deps\/amaro)\//.test(url) || functionName === "compileForInternalLoader") return true;
    }
    return false;
  };
  const functions = new Map<string, number>();
  const inclusive = new Map<string, number>();
  const files = new Map<string, number>();
  const packages = new Map<string, number>();
  const add = (map: Map<string, number>, key: string, micros: number): void => void map.set(key, (map.get(key) ?? 0) + micros);
  for (const [id, micros] of self) {
    const frame = byId.get(id)!.callFrame;
    if (frame.functionName === "(idle)") {
      idle += micros;
      continue;
    }
    if (isLoading(id)) {
      loading += micros;
      continue;
    }
    total += micros;
    const url = where(frame.url);
    add(functions, `${frame.functionName || "(anonymous)"}${url ? ` ${url}:${frame.lineNumber + 1}` : " (native)"}`, micros);
    // Walk towards the root: the first repository frame names the file; the first package frame below it, the package.
    let repoFile: string | undefined;
    let library: string | undefined;
    for (let at: number | undefined = id, depth = 0; at !== undefined && depth < 500; at = parent.get(at), depth++) {
      const callFrame = byId.get(at)!.callFrame;
      if (isRepo(callFrame.url)) {
        repoFile = where(callFrame.url);
        break;
      }
      library ??= packageOf(callFrame.url);
    }
    // Every repository function on the stack, once per sample however often it recurs.
    const seen = new Set<string>();
    for (let at: number | undefined = id, depth = 0; at !== undefined && depth < 500; at = parent.get(at), depth++) {
      const callFrame = byId.get(at)!.callFrame;
      if (!isRepo(callFrame.url)) continue;
      const name = `${callFrame.functionName || "(anonymous)"} ${where(callFrame.url)}:${callFrame.lineNumber + 1}`;
      if (!seen.has(name)) add(inclusive, name, micros);
      seen.add(name);
    }
    const special = ["(garbage collector)", "(program)"].includes(frame.functionName) ? frame.functionName : undefined;
    add(files, special ?? repoFile ?? `(no repository frame) ${library ?? "native"}`, micros);
    add(packages, special ?? library ?? (url === "" ? `native, called from ${repoFile ?? "the event loop"}` : (repoFile ?? url)), micros);
  }
  const top = (map: Map<string, number>): string[] =>
    [...map]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([name, micros]) => `  ${((micros / total) * 100).toFixed(1).padStart(5)}%  ${name}`);
  return [
    `main thread busy ${(total / 1e6).toFixed(1)} s (shares below), idle ${(idle / 1e6).toFixed(1)} s, loading modules ${(loading / 1e6).toFixed(1)} s (left out).`,
    "By function (self time):",
    ...top(functions),
    "By the innermost repository file on the stack (with the libraries and native calls it makes):",
    ...top(files),
    "By library (npm package, Node built-in, or native code):",
    ...top(packages),
    "By repository function, inclusive (itself and all it calls):",
    ...top(inclusive),
  ].join("\n");
}

/** The busy time of a .cpuprofile in seconds: every sample but idle ones. */
export function busySeconds(file: string): number {
  const profile = JSON.parse(readFileSync(file, "utf8")) as CpuProfile;
  const idle = new Set(profile.nodes.filter((node) => node.callFrame.functionName === "(idle)").map((node) => node.id));
  let micros = 0;
  profile.samples.forEach((id, i) => (micros += idle.has(id) ? 0 : (profile.timeDeltas[i] ?? 0)));
  return micros / 1e6;
}
