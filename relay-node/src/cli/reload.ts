// `npm run reload -- [--config <file> | --example] [--socket <path>]`: has the running relay read its
// configuration file again, as SIGHUP does (relay.ts, config/reload.ts), over its control socket
// (control/control.ts) — the one beside relay.spool of --config, else $EDGEMX_CONFIG, else
// ./edgemx.yaml. The relay reads the file it was started with; a file this command finds bad is
// refused here already, with its fields, as the relay would. Prints what was done; exit status 0
// reloaded, 1 refused (the running configuration stays) or no relay answering, 2 bad usage.
import { parseArgs } from "node:util";
import { ConfigError } from "../../../core/config/load.ts";
import { CONFIG_OPTIONS, ConfigChoiceError, configFilePath, loadConfigFile } from "../config/file.ts";
import type { ReloadOutcome } from "../config/reload.ts";
import { controlSocketPath, RelayNotRunning, sendControlRequest } from "../control/control.ts";

const USAGE = "usage: npm run reload -- [--config <file> | --example] [--socket <path>]";

/** What a person reads of the outcome. */
function describeReload(outcome: ReloadOutcome): string {
  if (outcome.ok) return `configuration reloaded from ${outcome.path}: new sessions use it`;
  const from = outcome.path === null ? "" : ` from ${outcome.path}`;
  return `configuration not reloaded${from}; the running one stays:\n${outcome.problems.map((p) => `  - ${p}`).join("\n")}`;
}

async function main(args: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({ args, options: { ...CONFIG_OPTIONS, socket: { type: "string" } } }));
  } catch (err) {
    console.error(`${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  const socket = values.socket ?? controlSocketPath(loadConfigFile(configFilePath(values)).relay.spool);
  try {
    const answer = await sendControlRequest(socket, { op: "reload" });
    if (!answer.ok || !("reload" in answer)) {
      console.error(answer.ok ? `${socket}: not an answer to reload` : answer.error);
      return 1;
    }
    const text = describeReload(answer.reload);
    if (answer.reload.ok) console.log(text);
    else console.error(text);
    return answer.reload.ok ? 0 : 1;
  } catch (err) {
    if (!(err instanceof RelayNotRunning)) throw err;
    console.error(err.message);
    return 1;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (!(err instanceof ConfigError) && !(err instanceof ConfigChoiceError)) throw err;
    console.error(`configuration not reloaded: ${err.message}`);
    process.exitCode = 1;
  },
);
