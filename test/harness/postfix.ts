// A private Postfix (Debian's `postfix`): its own config_directory, queue and data folders in a temp
// folder (the system's Postfix, if any, is not touched), smtpd on one loopback address and port, every
// service unchrooted, its log in a file (maillog_file). No check that needs DNS: Postfix resolves with
// the C library, which cannot be pointed at the harness's unbound on its high port, so the peer name
// lookup and the SMTP client's DNS are off and nothing leaves loopback.
//
// Used by the mx and outbound benchmarks (bench/support/postfix.ts runs it for them) and by the tests
// that need a real MTA as the peer (startPostfix here): outbound TLS fallback, Postfix sending to our MX.
// master(8) needs root: it starts as root and drops to mail_owner (the postfix user) for the daemons.
import { execFile, execFileSync } from "node:child_process";
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { dirname, join } from "node:path";
import { spawnDaemon, waitUntilReady } from "./process.ts";

export interface PostfixInstance {
  dir: string;
  configDir: string;
  queueDir: string;
  /** Where smtpd listens. */
  address: string;
  port: number;
  /** Postfix's log (maillog_file). */
  maillogPath: string;
  /** Messages still in the queue (incoming, active, deferred, maildrop). */
  queued(): number;
}

/** master.cf from Debian's, every service unchrooted (no chroot jail to build), smtpd on address:port only. */
function masterCf(address: string, port: number): string {
  const lines = readFileSync("/etc/postfix/master.cf", "utf8").split("\n");
  return lines
    .map((line) => {
      if (line.startsWith("#") || /^\s/.test(line) || line.trim() === "") return line;
      const fields = line.trim().split(/\s+/);
      if (fields[0] === "smtp" && fields[1] === "inet") return `${address}:${port} inet n - n - - smtpd`;
      if (fields.length >= 8) fields[4] = "n";
      return fields.join(" ");
    })
    .join("\n");
}

/** Why a private Postfix cannot run here, or undefined when it can. */
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

/** The installed Postfix's version; "" when postconf cannot say. */
export function postfixVersion(): string {
  try {
    return execFileSync("/usr/sbin/postconf", ["-d", "-h", "mail_version"], { encoding: "utf8" }).trim();
  } catch {
    return "";
  }
}

/**
 * Writes an instance into `dir`: smtpd on `address`:`port` (127.0.0.1 unless given), mail for `domain`
 * to the discard transport. `extraMain`: main.cf lines appended last, so they override the ones above.
 */
export function writePostfixInstance(
  dir: string,
  port: number,
  hostname: string,
  domain: string,
  extraMain: readonly string[] = [],
  address = "127.0.0.1",
): PostfixInstance {
  const configDir = join(dir, "etc");
  const queueDir = join(dir, "queue");
  const dataDir = join(dir, "data");
  for (const folder of [configDir, queueDir, dataDir]) mkdirSync(folder, { recursive: true });
  // The daemons run as the postfix user: it must get through to its folders (temp folders are 0700).
  for (const folder of [dirname(dir), dir]) chmodSync(folder, 0o711);
  const { uid, gid } = postfixUser();
  chownSync(dataDir, uid, gid);
  const maillogPath = join(dir, "maillog");
  const main = [
    "compatibility_level = 3.6",
    `queue_directory = ${queueDir}`,
    `data_directory = ${dataDir}`,
    `myhostname = ${hostname}`,
    `mydomain = ${domain}`,
    `mydestination = ${domain}`,
    // Only an interface's own address passes Postfix's check here (127.0.0.40 is inside lo's 127.0.0.0/8,
    // not one of its addresses): smtpd is bound to `address` by master.cf instead.
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
    `maillog_file = ${maillogPath}`,
    "smtpd_banner = $myhostname ESMTP",
    ...extraMain,
    "",
  ].join("\n");
  writeFileSync(join(configDir, "main.cf"), main);
  writeFileSync(join(configDir, "master.cf"), masterCf(address, port));
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
    dir,
    configDir,
    queueDir,
    address,
    port,
    maillogPath,
    queued: () => ["maildrop", "incoming", "active", "deferred"].reduce((n, q) => n + count(join(queueDir, q)), 0),
  };
}

export interface RunningPostfix {
  instance: PostfixInstance;
  /** Postfix's log so far. */
  maillog(): string;
  stop(): Promise<void>;
}

/** Whether smtpd at address:port greets with 220. */
function greets(address: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: address, port });
    let text = "";
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(2000, () => done(false));
    socket.on("data", (chunk: Buffer) => {
      text += chunk.toString("latin1");
      if (text.includes("\r\n")) done(text.startsWith("220"));
    });
    socket.on("error", () => done(false));
  });
}

/**
 * Runs a written instance with `postfix start-fg` (master(8) in the foreground, in a process group of
 * its own with every daemon it starts), resolved once smtpd greets. stop() asks Postfix to stop, then
 * ends what is left of the group.
 */
export async function startPostfix(instance: PostfixInstance, timeoutMs = 20_000): Promise<RunningPostfix> {
  const problem = postfixAvailable();
  if (problem !== undefined) throw new Error(`cannot start Postfix: ${problem}`);
  const daemon = spawnDaemon("postfix", "/usr/sbin/postfix", ["-c", instance.configDir, "start-fg"], join(instance.dir, "start-fg.log"), {
    processGroup: true,
  });
  const stop = async (): Promise<void> => {
    await new Promise<void>((resolve) => execFile("/usr/sbin/postfix", ["-c", instance.configDir, "stop"], { timeout: 30_000 }, () => resolve()));
    await daemon.stop();
  };
  try {
    await waitUntilReady(daemon, () => greets(instance.address, instance.port), timeoutMs);
  } catch (err) {
    await stop();
    throw err;
  }
  return { instance, maillog: () => (existsSync(instance.maillogPath) ? readFileSync(instance.maillogPath, "utf8") : ""), stop };
}
