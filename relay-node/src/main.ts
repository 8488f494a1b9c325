// The relay's process: `node relay-node/src/main.ts [--config <file> | --example]`, configured by
// --config, else $EDGEMX_CONFIG, else ./edgemx.yaml (relay-node/src/config/file.ts); the example only
// with --example. Relative paths in the configuration (spool, Maildir, greylist database, users,
// certificates, keys) are taken from the configuration file's folder. Signals:
//   SIGTERM, SIGINT  stop gracefully: no new connections, sessions finish (at most 30 s, then 421),
//                    deliveries in flight finish; a second signal exits at once
//   SIGHUP           re-read the TLS certificate and key, and the configuration file: new sessions use
//                    it; a bad file, or one changing a setting that needs a restart, is refused with a
//                    log line naming the fields, and the running configuration stays (config/reload.ts)
// A spool taken over by another relay (queue/lease.ts) stops the relay as SIGTERM does, exit status 1.
// A configuration or start-up problem is one line on stderr and exit status 1, never a stack trace.
import { parseArgs } from "node:util";
import { CONFIG_OPTIONS, configFilePath, loadConfigFile } from "./config/file.ts";
import { startRelay, type RunningRelay } from "./relay.ts";

let path: string;
let relay: RunningRelay;
try {
  path = configFilePath(parseArgs({ options: CONFIG_OPTIONS }).values);
  relay = await startRelay(loadConfigFile(path), { configFile: path });
} catch (err) {
  // ConfigError's message names the file and every bad field; the others say what could not be done.
  console.error(`edgemx relay: ${(err as Error).message}`);
  process.exit(1);
}
relay.logger.info({ event: "start", config: path, pid: process.pid }, "relay started");

let stopping = false;
for (const signal of ["SIGTERM", "SIGINT"] as const) {
  process.on(signal, () => {
    if (stopping) {
      relay.logger.warn({ event: "stop", signal }, "second signal: exiting without waiting");
      process.exit(1);
    }
    stopping = true;
    relay.logger.info({ event: "stop", signal }, "stopping");
    relay.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        relay.logger.error({ event: "stop", err }, "unclean stop");
        process.exit(1);
      },
    );
  });
}
// A relay whose spool another relay took over (it was stopped past its lease) takes no mail into it
// and delivers none from it any more; it stops as on SIGTERM and exits with status 1, so that systemd
// (Restart=on-failure) starts it again — on its spool once the adopter gave it up (docs/queue.md).
void relay.spoolLost.then(() => {
  if (stopping) return;
  stopping = true;
  relay.logger.error({ event: "stop" }, "stopping: the spool is another relay's now; exit status 1, for a restart");
  relay.stop().then(
    () => process.exit(1),
    () => process.exit(1),
  );
});
// The outcome is logged by the relay; `npm run reload` asks over the control socket and prints it.
process.on("SIGHUP", () => void relay.reload());
