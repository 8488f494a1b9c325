// The relay as a child process that tests kill — `node relay-node/src/main.ts` with EDGEMX_CONFIG (and any
// other variables), ready once it logged its start, its output's end kept to explain a failure.
import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
/** The project's Node (the `node` devDependency), not the system's. */
export const PROJECT_NODE = join(ROOT, "node_modules/.bin/node");

export interface RelayProcess {
  child: ChildProcess;
  exited: Promise<NodeJS.Signals | number | null>;
  /** The end of its output, to explain a failure. */
  tail(): string;
}

/**
 * `node relay-node/src/main.ts` with EDGEMX_CONFIG and `env`; resolves once it logged its start. `entry`:
 * another start script (relay-entry.ts: with overrides of remote delivery).
 */
export async function startRelayChild(configPath: string, env: NodeJS.ProcessEnv = {}, entry = "relay-node/src/main.ts"): Promise<RelayProcess> {
  const child = spawn(PROJECT_NODE, [entry], {
    cwd: ROOT,
    env: { ...process.env, ...env, EDGEMX_CONFIG: configPath },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  // Every line is read (a full pipe would stall the relay); only the end is kept.
  const keep = (chunk: Buffer): void => void (output = (output + chunk.toString()).slice(-20_000));
  child.stdout.on("data", keep);
  child.stderr.on("data", keep);
  const exited = new Promise<NodeJS.Signals | number | null>((resolve) => child.once("exit", (code, signal) => resolve(signal ?? code)));
  const started = new Promise<void>((resolve, reject) => {
    const watch = (): void => {
      if (output.includes('"event":"start"')) {
        child.stdout.off("data", watch);
        resolve();
      }
    };
    child.stdout.on("data", watch);
    void exited.then((how) => reject(new Error(`the relay exited (${String(how)}) before it started:\n${output}`)));
  });
  await started;
  return { child, exited, tail: () => output };
}
