// HTTP load from wrk (Debian package `wrk`), a separate native process, so the load generator's CPU
// is never counted as the server's. Each run gets a Lua script for its method, headers and body and
// reports its summary as one JSON line.
import { execFile, execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

export interface HttpTarget {
  url: string;
  host: string;
  method: "GET" | "POST";
  body?: { contentType: string; text: string };
}

export interface LoadShape {
  seconds: number;
  connections: number;
  threads: number;
}

export interface LoadResult {
  requests: number;
  seconds: number;
  /** Responses with status >= 400, as wrk counts them. */
  statusErrors: number;
  socketErrors: number;
  p50Ms: number;
  p99Ms: number;
}

const SUMMARY_MARK = "edgemx-wrk-summary ";

/** Throws with the way to install wrk when it is not on the PATH. */
export function requireWrk(): void {
  try {
    execFileSync("wrk", ["--version"], { stdio: "ignore" });
  } catch (err) {
    // `wrk --version` prints its usage and exits 1; only a missing binary is a problem.
    if ((err as NodeJS.ErrnoException).code === "ENOENT") {
      throw new Error("wrk is not installed; on Debian or Ubuntu: apt-get install -y wrk", { cause: err });
    }
  }
}

/** A Lua string literal of the UTF-8 bytes of `text`: printable ASCII as is, every other byte as \ddd. */
function luaString(text: string): string {
  let out = '"';
  for (const byte of Buffer.from(text, "utf8")) {
    const printable = byte >= 0x20 && byte < 0x7f && byte !== 0x22 && byte !== 0x5c;
    out += printable ? String.fromCharCode(byte) : `\\${String(byte).padStart(3, "0")}`;
  }
  return `${out}"`;
}

function luaScript(target: HttpTarget): string {
  const lines = [`wrk.method = ${luaString(target.method)}`, `wrk.headers["Host"] = ${luaString(target.host)}`];
  if (target.body) {
    lines.push(`wrk.headers["Content-Type"] = ${luaString(target.body.contentType)}`);
    lines.push(`wrk.body = ${luaString(target.body.text)}`);
  }
  lines.push(
    "done = function(summary, latency, requests)",
    "  local e = summary.errors",
    `  io.write(string.format(${luaString(`${SUMMARY_MARK}{"requests":%d,"durationUs":%d,"status":%d,"socket":%d,"p50Us":%d,"p99Us":%d}\n`)},`,
    "    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,",
    "    latency:percentile(50), latency:percentile(99)))",
    "end",
  );
  return `${lines.join("\n")}\n`;
}

/** Loads `target` for `shape.seconds` with `shape.connections` keep-alive connections; `scratchDir` holds the script. */
export async function loadWithWrk(target: HttpTarget, shape: LoadShape, scratchDir: string): Promise<LoadResult> {
  const script = join(scratchDir, "wrk-target.lua");
  writeFileSync(script, luaScript(target));
  const args = ["-t", String(shape.threads), "-c", String(shape.connections), "-d", `${shape.seconds}s`, "-s", script, target.url];
  const { stdout } = await run("wrk", args);
  const line = stdout.split("\n").find((l) => l.startsWith(SUMMARY_MARK));
  if (line === undefined) throw new Error(`wrk printed no summary:\n${stdout}`);
  const summary = JSON.parse(line.slice(SUMMARY_MARK.length)) as Record<"requests" | "durationUs" | "status" | "socket" | "p50Us" | "p99Us", number>;
  return {
    requests: summary.requests,
    seconds: summary.durationUs / 1e6,
    statusErrors: summary.status,
    socketErrors: summary.socket,
    p50Ms: summary.p50Us / 1e3,
    p99Ms: summary.p99Us / 1e3,
  };
}
