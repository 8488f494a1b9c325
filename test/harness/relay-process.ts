// The relay as a process, the one way tests run it so: `node relay-node/src/main.ts` as production
// runs it (or test/harness/relay-entry.ts, main.ts's start with startRelay's overrides a configuration
// file cannot carry), ready once it logged its start; its log lines parsed, its exit awaited, killed
// by the test when it wants. And the command-line tools as a person types them (`npm run <tool> -- …`,
// in a folder of their choosing).
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { join } from "node:path";

export const REPO_ROOT = fileURLToPath(new URL("../..", import.meta.url));
/** The project's Node (the `node` devDependency), not the system's. */
export const PROJECT_NODE = join(REPO_ROOT, "node_modules/.bin/node");
/** How much of the output a process started with `tailOnly` keeps. */
const TAIL_CHARS = 20_000;

export interface RelayProcess {
  child: ChildProcess;
  /** Resolves when it exited: with the signal that killed it, else its exit status. */
  exited: Promise<NodeJS.Signals | number | null>;
  /** Its log lines so far, parsed (stdout, one JSON object a line). */
  logs(): Record<string, unknown>[];
  /** Resolves once a log line satisfies `match`, with that line. */
  waitForLog(match: (line: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  /** The end of its output (stdout and stderr), to explain a failure. */
  tail(): string;
  /** SIGTERM (unless it exited already), then how it exited. */
  stop(): Promise<NodeJS.Signals | number | null>;
}

export interface RelayStart {
  /** Arguments of the start script (`--config <file>`). */
  args?: readonly string[];
  /** The folder it runs in (relative paths, ./edgemx.yaml); default the repository. */
  cwd?: string;
  /** Added to the test's environment; EDGEMX_CONFIG is emptied unless given here. */
  env?: NodeJS.ProcessEnv;
  /** The start script, relative to the repository: main.ts by default, or test/harness/relay-entry.ts. */
  entry?: string;
  /**
   * Keep only the output's last TAIL_CHARS characters (a long burst or a soak logs megabytes): logs()
   * and waitForLog() then see only the lines in that end.
   */
  tailOnly?: boolean;
}

/** Starts the relay as a process; resolves once it logged its start, rejects (with its output) when it exits before. */
export async function startRelayProcess(start: RelayStart = {}): Promise<RelayProcess> {
  const cwd = start.cwd ?? REPO_ROOT;
  const child = spawn(PROJECT_NODE, [join(REPO_ROOT, start.entry ?? "relay-node/src/main.ts"), ...(start.args ?? [])], {
    cwd,
    env: { ...process.env, EDGEMX_CONFIG: "", INIT_CWD: cwd, ...start.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let output = "";
  const waiting = new Set<() => void>();
  // Every chunk is read (a full pipe would stall the relay).
  child.stdout.on("data", (chunk: Buffer) => {
    stdout += chunk.toString();
    if (start.tailOnly === true && stdout.length > TAIL_CHARS) stdout = stdout.slice(-TAIL_CHARS);
    output = (output + chunk.toString()).slice(-TAIL_CHARS);
    for (const check of waiting) check();
  });
  child.stderr.on("data", (chunk: Buffer) => void (output = (output + chunk.toString()).slice(-TAIL_CHARS)));
  const exited = new Promise<NodeJS.Signals | number | null>((resolve) => child.once("exit", (code, signal) => resolve(signal ?? code)));
  const logs = (): Record<string, unknown>[] =>
    stdout.split("\n").flatMap((line) => {
      if (!line.startsWith("{")) return [];
      try {
        return [JSON.parse(line) as Record<string, unknown>];
      } catch {
        return []; // the line being written, or the cut first line of a tail
      }
    });
  /** `timeoutMs` null: no bound but the test's timeout (a start on a busy machine). */
  const waitFor = (match: (line: Record<string, unknown>) => boolean, timeoutMs: number | null): Promise<Record<string, unknown>> =>
    new Promise((resolve, reject) => {
      const timer =
        timeoutMs === null
          ? undefined
          : setTimeout(() => {
              waiting.delete(check);
              reject(new Error(`no such log line within ${timeoutMs} ms; output:\n${output}`));
            }, timeoutMs);
      const check = (): void => {
        const line = logs().find(match);
        if (line === undefined) return;
        clearTimeout(timer);
        waiting.delete(check);
        resolve(line);
      };
      waiting.add(check);
      void exited.then((how) => {
        if (!waiting.has(check)) return;
        clearTimeout(timer);
        waiting.delete(check);
        reject(new Error(`the relay exited (${String(how)}); output:\n${output}`));
      });
      check();
    });
  await waitFor((line) => line.event === "start", null);
  return {
    child,
    exited,
    logs,
    waitForLog: (match, timeoutMs = 20_000) => waitFor(match, timeoutMs),
    tail: () => output,
    stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      return exited;
    },
  };
}

/** The relay as a process on the configuration file `configPath` (EDGEMX_CONFIG), with `env` added. */
export function startRelayWithConfig(configPath: string, start: Omit<RelayStart, "args"> = {}): Promise<RelayProcess> {
  return startRelayProcess({ ...start, env: { ...start.env, EDGEMX_CONFIG: configPath } });
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
