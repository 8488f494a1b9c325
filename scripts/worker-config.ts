// Build step of the Worker (wrangler.toml [build]): validates the configuration file and bundles it
// as workers/src/config.generated.json, with the facts the DNS records need from the relay's
// files (the TLSA digest of relay.tls.cert when that file is readable here). A bad file stops the build
// with each bad field's path.
import { readFileSync, writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { ConfigError } from "../core/config/load.ts";
import { CONFIG_OPTIONS, ConfigChoiceError, configFilePath, loadConfigFile, parseConfigText } from "../relay-node/src/config/file.ts";
import { recordFactsFromConfig } from "../relay-node/src/tls/tlsa.ts";

const OUT = new URL("../workers/src/config.generated.json", import.meta.url);

try {
  const { values, positionals } = parseArgs({ options: CONFIG_OPTIONS, allowPositionals: true });
  const path = configFilePath({ ...values, config: values.config ?? positionals[0] });
  const config = loadConfigFile(path);
  const document = parseConfigText(readFileSync(path, "utf8"), path);
  const { facts, warning } = recordFactsFromConfig(config);
  if (warning) console.warn(`edgemx: ${warning}`);
  writeFileSync(OUT, `${JSON.stringify({ source: path, config: document, facts }, null, 2)}\n`);
  console.log(`edgemx: bundled ${path} into the Worker`);
} catch (err) {
  if (err instanceof ConfigError || err instanceof ConfigChoiceError) {
    console.error(err.message);
    process.exit(1);
  }
  throw err;
}
