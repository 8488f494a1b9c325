// `npm run config:check -- [file]`: validates a configuration file; each bad field is named with its path.
import { ConfigError } from "../../../core/config/load.ts";
import { defaultConfigPath, loadConfigFile } from "../config/file.ts";

const path = process.argv[2] ?? defaultConfigPath();
try {
  const config = loadConfigFile(path);
  console.log(`${path}: valid — ${config.domains.length} domain(s): ${config.domains.map((d) => d.name).join(", ")}`);
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  console.error(err.message);
  process.exit(1);
}
