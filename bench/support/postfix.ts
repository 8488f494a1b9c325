// Postfix itself for the mx and outbound benchmarks: a private instance written by the test harness
// (test/harness/postfix.ts: its own config_directory, queue and data folders in the benchmark's temp
// folder, smtpd on a loopback port, every message through cleanup into the queue — fsynced before 250,
// as Postfix always does — and on to qmgr, which hands it to the discard transport). No check that needs
// DNS, and the peer name lookup is off so that nothing leaves loopback. So this row is Postfix's durable
// queue price without checks, the figure issue 4 quotes (1.81 ms). master(8) needs root (it drops to
// mail_owner for the daemons); without root the row is skipped.
import { execFile, type ChildProcess } from "node:child_process";
import type { PostfixInstance } from "../../test/harness/postfix.ts";
import { spawnLogged, stopChild, waitForGreeting } from "./child.ts";

export { postfixAvailable, postfixUser, postfixVersion, writePostfixInstance } from "../../test/harness/postfix.ts";

/**
 * Runs a written instance with `postfix start-fg`: master(8) stays in the foreground, a descendant of
 * the child, so the child's process tree is all of Postfix. Resolves once smtpd greets on `port`.
 */
export async function startPostfix(
  instance: PostfixInstance,
  port: number,
  log: string,
  limitMs: number,
): Promise<{ child: ChildProcess; stop: () => Promise<void> }> {
  const child = spawnLogged("/usr/sbin/postfix", ["-c", instance.configDir, "start-fg"], log);
  const stop = async (): Promise<void> => {
    await new Promise<void>((resolve) => execFile("/usr/sbin/postfix", ["-c", instance.configDir, "stop"], { timeout: 30_000 }, () => resolve()));
    await stopChild(child);
  };
  try {
    await waitForGreeting(child, "127.0.0.1", port, log, limitMs);
  } catch (err) {
    await stop();
    throw err;
  }
  return { child, stop };
}
