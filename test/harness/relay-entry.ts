// The relay's process for tests that kill relays which also deliver to other domains (started by
// relay-process.ts with entry: "test/harness/relay-entry.ts"): main.ts's start with startRelay's
// overrides a configuration file cannot carry (remote delivery's MX port, a test CA), given as JSON in
// EDGEMX_TEST_OVERRIDES. SIGTERM stops it as main.ts does; SIGKILL is the test's.
import { loadConfigFile } from "../../relay-node/src/config/file.ts";
import { startRelay, type RelayOverrides } from "../../relay-node/src/relay.ts";

const path = process.env.EDGEMX_CONFIG ?? "";
const overrides = JSON.parse(process.env.EDGEMX_TEST_OVERRIDES ?? "{}") as RelayOverrides;
const relay = await startRelay(loadConfigFile(path), { ...overrides, configFile: path });
relay.logger.info({ event: "start", config: path, pid: process.pid }, "relay started");
process.once("SIGTERM", () => {
  relay.stop().then(
    () => process.exit(0),
    () => process.exit(1),
  );
});
