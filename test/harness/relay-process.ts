// The relay as the process it is in production, `node relay-node/src/main.ts`, and the command-line
// tools as a person types them (`npm run <tool> -- …`, in a folder of their choosing).
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { join } from "node:path";

export const REPO_ROOT = fileURLToPath(new URL("../..", import.meta.url));
const NODE = join(REPO_ROOT, "node_modules/.bin/node");

export interface RelayProcess {
  child: ChildProcess;
  /** Its log lines so far, parsed (stdout, one JSON object a line). */
  logs(): Record<string, unknown>[];
  /** Resolves once a log line satisfies `match`, with that line. */
  waitForLog(match: (line: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  /** SIGTERM, then its exit status. */
  stop(): Promise<number | null>;
}

/** Starts the relay with `args` in the folder `cwd`; resolves once it logged its start. */
export async function startRelayProcess(args: readonly string[], cwd: string, env: NodeJS.ProcessEnv = {}): Promise<RelayProcess> {
  const child = spawn(NODE, [join(REPO_ROOT, "relay-node/src/main.ts"), ...args], {
    cwd,
    env: { ...process.env, EDGEMX_CONFIG: "", INIT_CWD: cwd, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  const waiting = new Set<() => void>();
  child.stdout.on("data", (chunk: Buffer) => {
    stdout += chunk.toString();
    for (const check of waiting) check();
  });
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const logs = (): Record<string, unknown>[] =>
    stdout
      .split("\n")
      .filter((line) => line.startsWith("{"))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  const waitForLog = (match: (line: Record<string, unknown>) => boolean, timeoutMs = 20_000): Promise<Record<string, unknown>> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        waiting.delete(check);
        reject(new Error(`no such log line within ${timeoutMs} ms; stdout:\n${stdout}\nstderr:\n${stderr}`));
      }, timeoutMs);
      const check = (): void => {
        const line = logs().find(match);
        if (line === undefined) return;
        clearTimeout(timer);
        waiting.delete(check);
        resolve(line);
      };
      waiting.add(check);
      void exited.then(() => {
        if (!waiting.has(check)) return;
        clearTimeout(timer);
        waiting.delete(check);
        reject(new Error(`the relay exited; stdout:\n${stdout}\nstderr:\n${stderr}`));
      });
      check();
    });
  await waitForLog((line) => line.event === "start");
  return {
    child,
    logs,
    waitForLog,
    stop() {
      if (child.exitCode === null) child.kill("SIGTERM");
      return exited;
    },
  };
}

export interface ToolRun {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** `npm run <tool> -- <args>` typed in the folder `cwd` (npm runs it in the repository, INIT_CWD = cwd). */
export function npmRun(tool: string, args: readonly string[], cwd: string, input?: string): ToolRun {
  const env: NodeJS.ProcessEnv = { ...process.env, EDGEMX_CONFIG: "" };
  delete env.INIT_CWD; // npm sets it to where it is typed: the test runner's own must not leak in
  const run = spawnSync("npm", ["--prefix", REPO_ROOT, "run", "--silent", tool, "--", ...args], { cwd, env, encoding: "utf8", input, timeout: 60_000 });
  return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}
