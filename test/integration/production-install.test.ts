// A production install (docs/deploy.md): the repository's files copied to a temp folder, `npm ci
// --omit=dev` there (from the npm registry, once per run: it takes a minute or more), and the relay
// started from that copy on the Node it installed — no devDependency, no file of this checkout. It
// takes one message and delivers it, the CLIs run, SIGTERM stops it. The systemd units in deploy/ (one
// relay, and the template of several on one host), pointed at this install, pass `systemd-analyze
// verify` and its offline security review.
import { execFileSync, spawn, spawnSync, type ChildProcess } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { authenticationResults } from "../../scripts/quickstart/deliveries.ts";
import { freePort } from "../harness/process.ts";
import { LOCAL, relayDocument, testMessage } from "../harness/relay.ts";
import { startClamd, type ClamdService } from "../harness/services.ts";
import { runSwaks, writeSwaksData } from "../harness/swaks.ts";
import { TEST_DNS } from "../harness/zones.ts";

const harness = inject("harness");
const dir = mkdtempSync(join(tmpdir(), "edgemx-install-"));
/** The installed copy, as /opt/edgemx would be. */
const install = join(dir, "opt-edgemx");
/** The relay's state, as /var/lib/edgemx would be, and its configuration file. */
const state = join(dir, "state");
const configFile = join(dir, "edgemx.yaml");
/** Only the system's programs: nothing of this checkout's node_modules/.bin. */
const SYSTEM_PATH = "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin";
const UNIT = "deploy/edgemx-relay.service";
/** Several relays on one host: an instance per relay (docs/scaling.md). */
const TEMPLATE_UNIT = "deploy/edgemx-relay@.service";

let clamd: ClamdService;
let relay: ChildProcess;
let mxPort: number;
const stdout: string[] = [];

/** The files of the repository as a clone has them: tracked ones and new ones not ignored. */
function repositoryFiles(): string[] {
  const listed = execFileSync("git", ["ls-files", "-z", "--cached", "--others", "--exclude-standard"], { encoding: "utf8" });
  return listed.split("\0").filter((file) => file !== "" && existsSync(file));
}

/** The installed Node running one of the install's scripts, in the state folder, with only the system's PATH. */
function runInstalled(args: readonly string[]): { status: number | null; output: string } {
  const result = spawnSync(join(install, "node_modules/.bin/node"), args, {
    cwd: state,
    env: { PATH: SYSTEM_PATH, EDGEMX_CONFIG: configFile },
    encoding: "utf8",
    timeout: 30_000,
  });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

/** Resolves with the first stdout line (JSON) that `match` accepts; rejects when the relay exits first. */
function logLine(match: (line: Record<string, unknown>) => boolean, timeoutMs = 30_000): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const check = (): boolean => {
      for (const text of stdout) {
        try {
          const line = JSON.parse(text) as Record<string, unknown>;
          if (match(line)) {
            resolve(line);
            return true;
          }
        } catch {
          // not a JSON log line
        }
      }
      return false;
    };
    if (check()) return;
    const timer = setInterval(() => {
      if (check()) clearInterval(timer);
      else if (relay.exitCode !== null) {
        clearInterval(timer);
        reject(new Error(`the relay exited (${relay.exitCode}):\n${stdout.join("\n")}`));
      }
    }, 50);
    setTimeout(() => {
      clearInterval(timer);
      reject(new Error(`no such log line after ${timeoutMs} ms:\n${stdout.join("\n")}`));
    }, timeoutMs).unref();
  });
}

beforeAll(async () => {
  for (const file of repositoryFiles()) {
    mkdirSync(dirname(join(install, file)), { recursive: true });
    cpSync(file, join(install, file));
  }
  execFileSync("npm", ["ci", "--omit=dev", "--no-audit", "--no-fund"], { cwd: install, stdio: "pipe", timeout: 900_000 });

  mkdirSync(state);
  clamd = await startClamd();
  mxPort = await freePort();
  const document = relayDocument(state, harness.dnsPort, {
    listeners: { mx: { host: "127.0.0.1", port: mxPort } },
    clamd: { enabled: true, host: clamd.host, port: clamd.port },
  });
  writeFileSync(configFile, JSON.stringify(document, null, 2)); // JSON is YAML

  relay = spawn(join(install, "node_modules/.bin/node"), [join(install, "relay-node/src/main.ts")], {
    cwd: state,
    env: { PATH: SYSTEM_PATH, EDGEMX_CONFIG: configFile },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let partial = "";
  const collect = (chunk: Buffer): void => {
    const lines = (partial + chunk.toString("utf8")).split("\n");
    partial = lines.pop()!;
    stdout.push(...lines);
  };
  relay.stdout!.on("data", collect);
  relay.stderr!.on("data", collect);
  await logLine((line) => line.event === "start");
}, 960_000);

afterAll(async () => {
  if (relay?.exitCode === null) {
    relay.kill("SIGKILL");
    await new Promise((resolve) => relay.once("exit", resolve));
  }
  await clamd?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe("a production install (npm ci --omit=dev)", () => {
  it("has the Node the relay runs on and none of the development tools", () => {
    expect(runInstalled(["--version"]).output.trim()).toMatch(/^v2[4-9]\./);
    for (const tool of ["vitest", "typescript", "wrangler", "eslint", "pino-pretty"]) expect(existsSync(join(install, "node_modules", tool)), tool).toBe(false);
  });

  it("runs the relay: it takes a message from the world and delivers it to the Maildir", async () => {
    const data = join(dir, "message.eml");
    writeSwaksData(data, testMessage({ subject: "from a production install" }));
    const { sender } = TEST_DNS;
    const run = await runSwaks([
      ...["--server", `127.0.0.1:${mxPort}`, "--local-interface", sender.authorizedIp, "--helo", sender.mailHost],
      ...["--from", `bob@${sender.domain}`, "--to", LOCAL.mailbox, "--data", `@${data}`],
    ]);
    expect(run.exchanges.find((exchange) => exchange.command === ".")?.reply, run.transcript).toMatch(/^250 2\.0\.0 Ok: queued as /);
    await logLine((line) => Array.isArray(line.results) && (line.results as { status: string }[]).every((result) => result.status === "delivered"));
    const newFolder = join(state, "Maildir", LOCAL.domain, LOCAL.mailbox.split("@")[0]!, "new");
    const [file] = readdirSync(newFolder);
    const message = readFileSync(join(newFolder, file!));
    expect(message.toString("utf8")).toContain("Subject: from a production install");
    expect(authenticationResults(message)).toEqual([expect.stringMatching(/^mx\.example\.org; .*spf=pass .* smtp\.mailfrom=sender\.test;/)]);
  });

  it("runs the command-line tools", () => {
    const check = runInstalled([join(install, "relay-node/src/cli/config-check.ts"), configFile]);
    expect(check.status, check.output).toBe(0);
    const dns = runInstalled([join(install, "relay-node/src/cli/dns.ts"), LOCAL.domain, "--config", configFile]);
    expect(dns.status, dns.output).toBe(0);
    expect(dns.output).toContain(`${LOCAL.domain}.\t3600\tIN\tMX\t10 ${LOCAL.hostname}.`);
    const queue = runInstalled([join(install, "relay-node/src/cli/queue.ts"), "--spool", join(state, "spool"), "list"]);
    expect(queue.status, queue.output).toBe(0);
  });

  it("stops on SIGTERM with status 0", async () => {
    const exit = new Promise<number | null>((resolve) => relay.once("exit", (code) => resolve(code)));
    relay.kill("SIGTERM");
    expect(await exit).toBe(0);
    await logLine((line) => line.msg === "relay stopped");
  });

  it("ships a systemd unit that systemd-analyze verifies and rates as well hardened", () => {
    const unit = readFileSync(UNIT, "utf8");
    for (const directive of [
      /^User=edgemx$/m,
      /^StateDirectory=edgemx$/m,
      /^AmbientCapabilities=CAP_NET_BIND_SERVICE$/m,
      /^CapabilityBoundingSet=CAP_NET_BIND_SERVICE$/m,
      /^NoNewPrivileges=yes$/m,
      /^ProtectSystem=strict$/m,
      /^ProtectHome=yes$/m,
      /^PrivateTmp=yes$/m,
      /^RestrictAddressFamilies=/m,
      /^SystemCallFilter=@system-service$/m,
    ]) {
      expect(unit).toMatch(directive);
    }
    // The unit names /opt/edgemx, where docs/deploy.md installs; here it is pointed at this install,
    // since verify checks that ExecStart's program exists.
    const unitDir = join(dir, "systemd");
    mkdirSync(unitDir);
    const pointed = join(unitDir, "edgemx-relay.service");
    writeFileSync(pointed, unit.replaceAll("/opt/edgemx/", `${install}/`));
    const verify = spawnSync("systemd-analyze", ["verify", pointed], { encoding: "utf8" });
    expect({ status: verify.status, output: `${verify.stdout}${verify.stderr}` }).toEqual({ status: 0, output: "" });
    // The threshold is in tenths: an exposure above 1.9, out of systemd's "OK" band, fails.
    const security = spawnSync("systemd-analyze", ["security", "--offline=yes", "--threshold=19", pointed], { encoding: "utf8" });
    expect(security.status, security.stdout).toBe(0);
    expect(security.stdout).toMatch(/Overall exposure level for edgemx-relay\.service: 1\.\d OK/);
  });

  it("ships a template unit for several relays on one host, hardened as the one relay's unit, that systemd-analyze verifies and rates alike", () => {
    const template = readFileSync(TEMPLATE_UNIT, "utf8");
    expect(template).toMatch(/^Environment=EDGEMX_CONFIG=\/etc\/edgemx\/relay-%i\.yaml$/m);
    expect(template).toMatch(/^StateDirectory=edgemx\/relay-%i edgemx\/shared$/m);
    expect(template).toMatch(/^WorkingDirectory=\/var\/lib\/edgemx\/relay-%i$/m);
    // Every setting of the one relay's unit but those naming its files is the template's too.
    const settings = (unit: string): string[] => unit.split("\n").filter((line) => line !== "" && !line.startsWith("#"));
    const perInstance = /^(Description|Documentation|Environment=EDGEMX_CONFIG|StateDirectory|WorkingDirectory|ReadWritePaths)=?/;
    expect(settings(template).filter((line) => !perInstance.test(line))).toEqual(
      settings(readFileSync(UNIT, "utf8")).filter((line) => !perInstance.test(line)),
    );

    // An instance of the template, pointed at this install: verify and the security review see relay 1.
    const unitDir = join(dir, "systemd-template");
    mkdirSync(unitDir);
    writeFileSync(join(unitDir, "edgemx-relay@.service"), template.replaceAll("/opt/edgemx/", `${install}/`));
    const instance = join(unitDir, "edgemx-relay@1.service");
    const verify = spawnSync("systemd-analyze", ["verify", instance], { encoding: "utf8" });
    expect({ status: verify.status, output: `${verify.stdout}${verify.stderr}` }).toEqual({ status: 0, output: "" });
    const security = spawnSync("systemd-analyze", ["security", "--offline=yes", "--threshold=19", instance], { encoding: "utf8" });
    expect(security.status, security.stdout).toBe(0);
    expect(security.stdout).toMatch(/Overall exposure level for edgemx-relay@1\.service: 1\.\d OK/);
  });
});
