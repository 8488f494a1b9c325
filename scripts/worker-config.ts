// Build step of the Worker (wrangler.toml [build]): validates the configuration file and bundles the
// Worker's part of it (core/config/worker.ts) as workers/src/config.generated.json, with the facts the
// DNS records need from the relay's files (the TLSA digest of relay.tls.cert when that file is readable
// here). Cloudflare stores the bundle: the relay's section (its URLs with passwords, its files) never
// goes in, and a value of the Worker's part that looks like a secret (a URL with a user name or
// password, a private key) stops the build. A bad file stops it too, with each bad field's path.
// `node scripts/worker-config.ts [<file> | --config <file> | --example] [--out <bundle>]`; wrangler's
// step names none: $EDGEMX_CONFIG, else ./edgemx.yaml, else (with EDGEMX_EXAMPLE=1) the example.
import { writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { ConfigError, parseWorkerConfig } from "../core/config/load.ts";
import { secretLikeValues, workerPart } from "../core/config/worker.ts";
import { CONFIG_OPTIONS, ConfigChoiceError, configFilePath, loadConfigFile } from "../relay-node/src/config/file.ts";
import { recordFactsFromConfig } from "../relay-node/src/tls/tlsa.ts";

const BUNDLE = fileURLToPath(new URL("../workers/src/config.generated.json", import.meta.url));

try {
  const { values, positionals } = parseArgs({ options: { ...CONFIG_OPTIONS, out: { type: "string" } }, allowPositionals: true });
  const path = configFilePath({ config: values.config ?? positionals[0], example: values.example });
  const config = loadConfigFile(path);
  const part = workerPart(config);
  // What the Worker will read back: its own schema accepts the part, and nothing in it is a secret.
  parseWorkerConfig(part, `the Worker's part of ${path}`);
  const secrets = secretLikeValues(part);
  if (secrets.length > 0)
    throw new ConfigError(
      path,
      secrets.map((s) => `${s}: the Worker's bundle is stored by Cloudflare and holds no secrets`),
    );
  const { facts, warning } = recordFactsFromConfig(config);
  if (warning) console.warn(`edgemx: ${warning}`);
  const out = values.out ?? BUNDLE;
  writeFileSync(out, `${JSON.stringify({ config: part, facts }, null, 2)}\n`);
  console.log(`edgemx: bundled the Worker's part of ${path} into ${out === BUNDLE ? "the Worker" : out}`);
} catch (err) {
  if (err instanceof ConfigError || err instanceof ConfigChoiceError) {
    console.error(err.message);
    process.exit(1);
  }
  throw err;
}
