// Build step of the Worker (wrangler.toml [build]): validates the configuration file and bundles it
// as workers/src/config/deployed.generated.json. A bad file stops the build with each bad field's path.
import { writeFileSync } from "node:fs";
import { ConfigError } from "../workers/src/config/load.ts";
import { defaultConfigPath, loadConfigFile, parseConfigText } from "../relay-node/src/config/file.ts";
import { readFileSync } from "node:fs";

const OUT = new URL("../workers/src/config/deployed.generated.json", import.meta.url);

const path = process.argv[2] ?? defaultConfigPath();
try {
  loadConfigFile(path);
  const document = parseConfigText(readFileSync(path, "utf8"), path);
  writeFileSync(OUT, `${JSON.stringify({ source: path, config: document, facts: {} }, null, 2)}\n`);
  console.log(`edgemx: bundled ${path} into the Worker`);
} catch (err) {
  if (err instanceof ConfigError) {
    console.error(err.message);
    process.exit(1);
  }
  throw err;
}
