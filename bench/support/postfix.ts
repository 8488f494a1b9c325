// Postfix itself for the mx benchmark: a private instance (its own config_directory, queue and data
// folders in the benchmark's temp folder; the system's Postfix, if any, is not touched), smtpd on a
// loopback port, every message through cleanup into the queue (fsynced before 250, as Postfix
// always does) and on to qmgr, which hands it to the discard transport. No check that needs DNS:
// Postfix resolves with the C library, which cannot be pointed at the harness's unbound on its high
// port, and the peer name lookup is off so that nothing leaves loopback. So this row is Postfix's
// durable queue price without checks, the figure issue 4 quotes (1.81 ms).
// master(8) needs root (it drops to mail_owner for the daemons); without root the row is skipped.
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { execFile, execFileSync, type ChildProcess } from "node:child_process";
import { dirname, join } from "node:path";
import { spawnLogged, stopChild, waitForGreeting } from "./child.ts";

export interface PostfixInstance {
  configDir: string;
  queueDir: string;
  /** Messages still in the queue (incoming, active, deferred, maildrop). */
  queued(): number;
}

/** master.cf from Debian's, every service unchrooted (no chroot jail to build), smtpd on 127.0.0.1:port only. */
function masterCf(port: number): string {
  const lines = readFileSync("/etc/postfix/master.cf", "utf8").split("\n");
  return lines
    .map((line) => {
      if (line.startsWith("#") || /^\s/.test(line) || line.trim() === "") return line;
      const fields = line.trim().split(/\s+/);
      if (fields[0] === "smtp" && fields[1] === "inet") return `127.0.0.1:${port} inet n - n - - smtpd`;
      if (fields.length >= 8) fields[4] = "n";
      return fields.join(" ");
    })
    .join("\n");
}

export function postfixAvailable(): string | undefined {
  if (process.getuid?.() !== 0) return "Postfix's master(8) needs root";
  if (!existsSync("/etc/postfix/master.cf") || !existsSync("/usr/sbin/postfix")) return "Postfix is not installed (apt-get install -y postfix)";
  try {
    execFileSync("id", ["postfix"], { stdio: "ignore" });
  } catch {
    return "there is no postfix user";
  }
  return undefined;
}

/** The ids of the postfix user, which Postfix's daemons run as. */
export function postfixUser(): { uid: number; gid: number } {
  const id = (flag: string): number => Number(execFileSync("id", [flag, "postfix"], { encoding: "utf8" }).trim());
  return { uid: id("-u"), gid: id("-g") };
}

/** `extraMain`: main.cf lines appended last, so they override the ones above (the outbound benchmark's relaying). */
export function writePostfixInstance(dir: string, port: number, hostname: string, domain: string, extraMain: readonly string[] = []): PostfixInstance {
  const configDir = join(dir, "etc");
  const queueDir = join(dir, "queue");
  const dataDir = join(dir, "data");
  for (const folder of [configDir, queueDir, dataDir]) mkdirSync(folder, { recursive: true });
  // The daemons run as the postfix user: it must get through to its folders (temp folders are 0700).
  for (const folder of [dirname(dir), dir]) chmodSync(folder, 0o711);
  const { uid, gid } = postfixUser();
  chownSync(dataDir, uid, gid);
  const main = [
    "compatibility_level = 3.6",
    `queue_directory = ${queueDir}`,
    `data_directory = ${dataDir}`,
    `myhostname = ${hostname}`,
    `mydomain = ${domain}`,
    `mydestination = ${domain}`,
    "inet_interfaces = 127.0.0.1",
    "inet_protocols = ipv4",
    // Nothing may leave loopback: no PTR lookup of the client, no DNS anywhere.
    "smtpd_peername_lookup = no",
    "smtp_dns_support_level = disabled",
    // Every message is queued, then delivered to the discard transport.
    "default_transport = discard:",
    "local_transport = discard:",
    "alias_maps =",
    "alias_database =",
    "local_recipient_maps =",
    "biff = no",
    // One log line per event, as Postfix always writes them, into a file.
    `maillog_file_prefixes = ${dir}`,
    `maillog_file = ${join(dir, "maillog")}`,
    "smtpd_banner = $myhostname ESMTP",
    ...extraMain,
    "",
  ].join("\n");
  writeFileSync(join(configDir, "main.cf"), main);
  writeFileSync(join(configDir, "master.cf"), masterCf(port));
  const count = (folder: string, depth = 0): number => {
    if (!existsSync(folder) || depth > 4) return 0;
    let n = 0;
    for (const name of readdirSync(folder)) {
      const path = join(folder, name);
      try {
        n += statSync(path).isDirectory() ? count(path, depth + 1) : 1;
      } catch {
        // moved between queues while we looked
      }
    }
    return n;
  };
  return {
    configDir,
    queueDir,
    queued: () => ["maildrop", "incoming", "active", "deferred"].reduce((n, q) => n + count(join(queueDir, q)), 0),
  };
}

/** The installed Postfix's version, for the table; "" when postconf cannot say. */
export function postfixVersion(): string {
  try {
    return execFileSync("/usr/sbin/postconf", ["-d", "-h", "mail_version"], { encoding: "utf8" }).trim();
  } catch {
    return "";
  }
}

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
