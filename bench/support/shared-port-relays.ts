// The multi-process shape of issue 17 as a benchmark prototype: `node shared-port-relays.ts <config>…`
// starts one relay process per configuration file, each with its own spool, all listening on the same
// MX port with relay.listeners.mx.reusePort (SO_REUSEPORT: the kernel spreads the connections among them), and stays as their parent,
// so that the benchmark reads the CPU of the whole tree from one pid. SIGTERM stops them all.
import { fork, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { loadConfigFile } from "../../relay-node/src/config/file.ts";
import { startRelay } from "../../relay-node/src/relay.ts";

const [mode, ...files] = process.argv.slice(2);

if (mode === "relay") {
  const file = files[0]!;
  const config = loadConfigFile(file);
  const relay = await startRelay(config, { configFile: file });
  process.send?.("listening");
  process.once("SIGTERM", () => void relay.stop().then(() => process.exit(0)));
} else {
  const self = fileURLToPath(import.meta.url);
  const children: ChildProcess[] = [mode!, ...files].map((file) => fork(self, ["relay", file], { stdio: "inherit" }));
  await Promise.all(children.map((child) => once(child, "message")));
  console.log(`${children.length} relays listening`);
  process.once("SIGTERM", () => {
    for (const child of children) child.kill("SIGTERM");
    void Promise.all(children.filter((child) => child.exitCode === null).map((child) => once(child, "exit"))).then(() => process.exit(0));
  });
}
