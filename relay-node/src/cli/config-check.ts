// `npm run config:check -- [<file> | --config <file> | --example]`: validates a configuration file (by
// default the relay's: $EDGEMX_CONFIG, else ./edgemx.yaml); each bad field is named with its path.
// Exit status 1 for a bad or missing file, 2 for a bad command line.
import { parseArgs } from "node:util";
import { ConfigError } from "../../../core/config/load.ts";
import { CONFIG_OPTIONS, ConfigChoiceError, configFilePath, loadConfigFile } from "../config/file.ts";

const USAGE = "usage: npm run config:check -- [<file> | --config <file> | --example]";

let choice;
try {
  const { values, positionals } = parseArgs({ options: CONFIG_OPTIONS, allowPositionals: true });
  if (positionals.length > 1 || (positionals.length === 1 && values.config !== undefined)) throw new Error("name one file");
  choice = { ...values, config: values.config ?? positionals[0] };
} catch (err) {
  console.error(`edgemx config:check: ${(err as Error).message}; ${USAGE}`);
  process.exit(2);
}
try {
  const path = configFilePath(choice);
  const config = loadConfigFile(path);
  console.log(`${path}: valid — ${config.domains.length} domain(s): ${config.domains.map((d) => d.name).join(", ")}`);
} catch (err) {
  if (!(err instanceof ConfigError) && !(err instanceof ConfigChoiceError)) throw err;
  console.error(err.message);
  process.exit(1);
}
