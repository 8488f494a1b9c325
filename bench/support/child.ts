// Servers the benchmarks run as child processes: start with their output in a log file, wait for the
// SMTP greeting, stop the whole process group, and poll until a condition holds.
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { closeSync, existsSync, openSync, readFileSync } from "node:fs";
import { connect } from "node:net";

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** A child in its own process group, its output to `logFile`. */
export function spawnLogged(command: string, args: string[], logFile: string, options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): ChildProcess {
  const log = openSync(logFile, "a");
  const child = spawn(command, args, { stdio: ["ignore", log, log], detached: true, ...options });
  closeSync(log);
  return child;
}

/** SIGTERM to the child's process group; SIGKILL after `graceMs`, and to anything left in the group. */
export async function stopChild(child: ChildProcess, graceMs = 10_000): Promise<void> {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, "exit");
  const kill = (signal: NodeJS.Signals): void => {
    try {
      process.kill(-child.pid!, signal);
    } catch {
      // already gone
    }
  };
  kill("SIGTERM");
  const timer = setTimeout(() => kill("SIGKILL"), graceMs);
  await exited;
  clearTimeout(timer);
  kill("SIGKILL"); // anything left in the group (cluster workers)
}

/** One attempt: does the server at host:port greet with 220? */
function greets(host: string, port: number): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const socket = connect({ host, port });
    let text = "";
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(2000, () => done(false));
    socket.on("data", (chunk) => {
      text += chunk.toString("latin1");
      if (text.includes("\r\n")) {
        socket.end("QUIT\r\n");
        done(text.startsWith("220"));
      }
    });
    socket.on("error", () => done(false));
  });
}

/** Resolves once the server at host:port sends a 220 greeting; throws when the child exits or time runs out. */
export async function waitForGreeting(child: ChildProcess, host: string, port: number, logFile: string, limitMs: number): Promise<void> {
  const deadline = performance.now() + limitMs;
  while (performance.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) break;
    if (await greets(host, port)) return;
    await sleep(200);
  }
  const tail = existsSync(logFile) ? readFileSync(logFile, "utf8").split("\n").slice(-20).join("\n") : "";
  throw new Error(
    `the server on ${host}:${port} did not greet within ${limitMs / 1000} s (exit ${child.exitCode ?? child.signalCode ?? "none"}); log ${logFile}:\n${tail}`,
  );
}

/** Polls `done` every 20 ms; the seconds it took. Throws `describe()` past `limitMs`. */
export async function waitUntil(describe: () => string, done: () => boolean, limitMs: number): Promise<number> {
  const started = performance.now();
  while (!done()) {
    if (performance.now() - started > limitMs) throw new Error(`${describe()} after ${limitMs / 1000} s`);
    await sleep(20);
  }
  return (performance.now() - started) / 1000;
}
