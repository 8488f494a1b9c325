// The relay's process: `node relay-node/src/main.ts`, configured by $EDGEMX_CONFIG, ./edgemx.yaml or
// the example (relay-node/src/config/file.ts). Relative paths in the configuration (spool, Maildir,
// greylist database, certificates) are taken from the working directory. Signals:
//   SIGTERM, SIGINT  stop gracefully: no new connections, sessions finish (at most 30 s, then 421),
//                    deliveries in flight finish; a second signal exits at once
//   SIGHUP           re-read the TLS certificate and key
// A configuration or start-up problem is one line on stderr and exit status 1, never a stack trace.
import { defaultConfigPath, loadConfigFile } from "./config/file.ts";
import { startRelay, type RunningRelay } from "./relay.ts";

const path = defaultConfigPath();
let relay: RunningRelay;
try {
  relay = await startRelay(loadConfigFile(path));
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
process.on("SIGHUP", () => relay.reloadCertificate());
