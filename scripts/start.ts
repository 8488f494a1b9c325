// `npm start`: runs edgemx locally on the configuration file ($EDGEMX_CONFIG, ./edgemx.yaml or the
// example). Today that is the Worker's HTTP side inside workerd (wrangler dev) on 127.0.0.1.
import { spawn } from "node:child_process";
import { ConfigError } from "../workers/src/config/load.ts";
import { defaultConfigPath, loadConfigFile } from "../relay-node/src/config/file.ts";

const path = defaultConfigPath();
const port = process.env.PORT ?? "8787";
try {
  const config = loadConfigFile(path);
  const d = config.domains[0];
  console.log(`edgemx: serving ${config.domains.map((x) => x.name).join(", ")} from ${path} on http://127.0.0.1:${port}`);
  if (d) {
    console.log(`  try: curl -H 'Host: autoconfig.${d.name}' http://127.0.0.1:${port}/mail/config-v1.1.xml`);
    console.log(`       curl -H 'Host: mta-sts.${d.name}' http://127.0.0.1:${port}/.well-known/mta-sts.txt`);
    console.log(`       curl -H 'Host: ${d.name}' http://127.0.0.1:${port}/postmaster`);
  }
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  console.error(err.message);
  process.exit(1);
}

const child = spawn("wrangler", ["dev", "--ip", "127.0.0.1", "--port", port, "--show-interactive-dev-session=false"], {
  stdio: "inherit",
  env: { ...process.env, EDGEMX_CONFIG: path, CLOUDFLARE_CF_FETCH_ENABLED: "false", WRANGLER_SEND_METRICS: "false" },
});
for (const signal of ["SIGINT", "SIGTERM"] as const) process.on(signal, () => child.kill(signal));
child.on("exit", (code) => process.exit(code ?? 1));
