// `npm start`: runs edgemx locally on the configuration file ($EDGEMX_CONFIG, ./edgemx.yaml, else the
// example — the one program that runs on the example unasked): the relay in this process (its MX listener, spool and delivery; relay-node/src/relay.ts)
// and the Worker's HTTP side inside workerd (wrangler dev) on 127.0.0.1 as a child. Ctrl-C stops both;
// a second Ctrl-C does not wait.
import { spawn } from "node:child_process";
import pretty from "pino-pretty";
import { ConfigError } from "../core/config/load.ts";
import type { EdgemxConfig } from "../core/config/schema.ts";
import { resolve } from "node:path";
import { isExampleConfig, loadConfigFile, startConfigPath } from "../relay-node/src/config/file.ts";
import { createLogger } from "../relay-node/src/log/log.ts";
import { startRelay, type RunningRelay } from "../relay-node/src/relay.ts";

const path = startConfigPath();
const port = process.env.PORT ?? "8787";
let config: EdgemxConfig;
try {
  config = loadConfigFile(path);
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  console.error(err.message);
  process.exit(1);
}

const d = config.domains[0];
console.log(`edgemx: serving ${config.domains.map((x) => x.name).join(", ")} from ${path} on http://127.0.0.1:${port}`);
if (d) {
  console.log(`  try: curl -H 'Host: autoconfig.${d.name}' http://127.0.0.1:${port}/mail/config-v1.1.xml`);
  console.log(`       curl -H 'Host: mta-sts.${d.name}' http://127.0.0.1:${port}/.well-known/mta-sts.txt`);
  console.log(`       curl -H 'Host: ${d.name}' http://127.0.0.1:${port}/postmaster`);
}

let relay: RunningRelay;
try {
  // Readable log lines on a terminal, JSON lines otherwise (as the relay writes them in production).
  const logger = createLogger(config.relay.logLevel, process.stdout.isTTY ? pretty({ colorize: true }) : undefined);
  relay = await startRelay(config, { logger, configFile: path });
} catch (err) {
  console.error(`edgemx relay: ${(err as Error).message}`);
  process.exit(1);
}
if (relay.port !== null && d) {
  console.log(`  relay: MX on ${relay.host} port ${relay.port}, e.g. swaks --server ${relay.host}:${relay.port} --to postmaster@${d.name}`);
}

const child = spawn("wrangler", ["dev", "--ip", "127.0.0.1", "--port", port, "--show-interactive-dev-session=false"], {
  stdio: "inherit",
  // The Worker's build step (scripts/worker-config.ts) reads the same file, and the example only when asked.
  env: {
    ...process.env,
    ...(isExampleConfig(path) ? { EDGEMX_CONFIG: undefined, EDGEMX_EXAMPLE: "1" } : { EDGEMX_CONFIG: resolve(path) }),
    CLOUDFLARE_CF_FETCH_ENABLED: "false",
    WRANGLER_SEND_METRICS: "false",
  },
});
const childExit = new Promise<number>((resolve) => child.once("exit", (code) => resolve(code ?? 0)));

let stopping = false;
/** Stops the relay and wrangler together; exits with wrangler's status. */
async function stopBoth(): Promise<void> {
  if (stopping) return;
  stopping = true;
  if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
  const [code] = await Promise.all([childExit, relay.stop()]);
  process.exit(code);
}

let signals = 0;
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    if (++signals > 1) {
      child.kill("SIGKILL");
      process.exit(1);
    }
    void stopBoth();
  });
}
child.once("exit", () => void stopBoth());
