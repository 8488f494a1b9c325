// Daemons for the harness: spawned in the foreground with their output in a log file, stopped with
// SIGTERM (SIGKILL after a grace period), and never outliving the test process.
import type { ChildProcess } from "node:child_process";
import { spawn } from "node:child_process";
import { createSocket } from "node:dgram";
import { closeSync, existsSync, openSync, readFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";

export interface Daemon {
  name: string;
  logFile: string;
  /** Set once the process has exited. */
  exited(): boolean;
  /** The end of its log, to explain a failure. */
  logTail(): string;
  /** Sends a signal (to its whole group when it leads one): the fault suite kills, stops and continues daemons. */
  signal(name: NodeJS.Signals): void;
  stop(): Promise<void>;
}

/** A daemon the fault suite can kill, stop and continue (test/faults/dependencies.test.ts). */
export interface Signalable {
  /** Sends a signal to the daemon (SIGKILL, SIGSTOP, SIGCONT), to all its processes when it forks workers. */
  signal(name: NodeJS.Signals): void;
  /** Ends the daemon if it still runs and starts it again, same folder, ports and configuration; resolves once it is ready. */
  restart(): Promise<void>;
}

const running = new Set<ChildProcess>();
const groupLeaders = new WeakSet<ChildProcess>();
process.once("exit", () => {
  for (const child of running) signal(child, "SIGKILL");
});

/** A daemon that forks workers (rspamd) runs in its own process group: a signal reaches them all. */
function signal(child: ChildProcess, name: NodeJS.Signals): void {
  if (groupLeaders.has(child) && child.pid !== undefined) {
    try {
      process.kill(-child.pid, name);
    } catch {
      // the group is gone already
    }
  } else child.kill(name);
}

export interface SpawnOptions {
  /** Start it as the leader of a new process group, so that stopping it also stops its children. */
  processGroup?: boolean;
  /** Variables added to this process's environment for it (pebble takes some settings only there). */
  env?: Readonly<Record<string, string>>;
}

export function spawnDaemon(name: string, command: string, args: readonly string[], logFile: string, options: SpawnOptions = {}): Daemon {
  const log = openSync(logFile, "a");
  const child = spawn(findProgram(command) ?? command, args, {
    stdio: ["ignore", log, log],
    detached: options.processGroup === true,
    ...(options.env === undefined ? {} : { env: { ...process.env, ...options.env } }),
  });
  closeSync(log);
  running.add(child);
  if (options.processGroup === true) groupLeaders.add(child);
  let hasExited = false;
  const exit = new Promise<void>((resolve) => {
    const done = (): void => {
      hasExited = true;
      running.delete(child);
      resolve();
    };
    child.once("exit", done);
    child.once("error", done);
  });
  return {
    name,
    logFile,
    exited: () => hasExited,
    logTail: () => readFileSync(logFile, "utf8").split("\n").slice(-15).join("\n"),
    signal: (name) => {
      if (!hasExited) signal(child, name);
    },
    async stop() {
      if (!hasExited) {
        signal(child, "SIGTERM");
        const grace = setTimeout(() => signal(child, "SIGKILL"), 2_000);
        await exit;
        clearTimeout(grace);
      }
      if (groupLeaders.has(child)) signal(child, "SIGKILL"); // workers that outlived their master
    },
  };
}

/** A port on 127.0.0.1 free for both TCP and UDP at the time of asking. */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const port = await new Promise<number>((resolve, reject) => {
      const server = createServer();
      server.once("error", reject);
      server.listen(0, "127.0.0.1", () => {
        const address = server.address();
        server.close(() => (typeof address === "object" && address !== null ? resolve(address.port) : reject(new Error("no port"))));
      });
    });
    const udpFree = await new Promise<boolean>((resolve) => {
      const socket = createSocket("udp4");
      socket.once("error", () => resolve(false));
      socket.bind(port, "127.0.0.1", () => socket.close(() => resolve(true)));
    });
    if (udpFree) return port;
  }
  throw new Error("no free port on 127.0.0.1 for both TCP and UDP");
}

/** Polls `ready` every 20 ms until it holds; fails early when the daemon dies, and at the deadline. */
export async function waitUntilReady(daemon: Daemon, ready: () => Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (daemon.exited()) throw new Error(`${daemon.name} exited during start-up:\n${daemon.logTail()}`);
    if (await ready().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`${daemon.name} not ready after ${timeoutMs} ms:\n${daemon.logTail()}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** The absolute path of a program on PATH or in the sbin folders, where Debian puts daemons. */
export function findProgram(program: string): string | undefined {
  const folders = [...(process.env.PATH ?? "").split(":"), "/usr/sbin", "/sbin", "/usr/local/sbin"];
  return folders.map((folder) => join(folder, program)).find((path) => existsSync(path));
}
