// Runs the harness by hand, for poking at it with kdig or curl: `node test/harness/serve.ts`, Ctrl-C stops it.
import { startHarness } from "./index.ts";

const harness = await startHarness();
console.log(`Knot (authoritative)  127.0.0.1:${harness.knotPort}   kdig +tcp @127.0.0.1 -p ${harness.knotPort} sender.test MX`);
console.log(`unbound (validating)  127.0.0.1:${harness.dnsPort}   kdig +tcp @127.0.0.1 -p ${harness.dnsPort} sender.test MX`);
console.log(`DoH bridge            ${harness.dohUrl}`);
console.log(`blackhole             ${harness.blackholeUrl}`);
console.log(`files and logs        ${harness.dir}`);
console.log(`ready in ${harness.startupMs} ms; Ctrl-C stops`);
process.once("SIGINT", () => void harness.stop().then(() => process.exit(0)));
