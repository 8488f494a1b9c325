// `npm run soak [-- --minutes <n>]`: the soak (support/soak.ts) for an hour by default, against the
// harness's DNS and a clamd of its own; prints a sample each minute and, at the end, the first and
// last values with their slope per hour and the checker's row. Not part of npm test (the fault suite
// runs five minutes of it, soak.test.ts). Exit status 1 when a message that got a 250 was lost or
// delivered twice.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { optionsOrUsage, wholeFlag } from "../../bench/support/options.ts";
import { startHarness } from "../harness/index.ts";
import { startClamd } from "../harness/services.ts";
import { printRow } from "./support/checker.ts";
import { runSoak, soakSummary } from "./support/soak.ts";

const USAGE = "usage: npm run soak [-- --minutes <n>]   (default 60)";
const options = optionsOrUsage(
  (args) => ({ minutes: wholeFlag("minutes", parseArgs({ args, options: { minutes: { type: "string", default: "60" } } }).values.minutes) }),
  process.argv.slice(2),
  USAGE,
);
if (options === undefined) process.exit(2);

const dir = mkdtempSync(join(tmpdir(), "edgemx-soak-"));
const harness = await startHarness();
const clamd = await startClamd();
let result: Awaited<ReturnType<typeof runSoak>>;
try {
  console.log(`soak: ${options.minutes} min, the relay's folder ${dir}`);
  result = await runSoak({ minutes: options.minutes, dnsPort: harness.dnsPort, clamd, dir, log: (line) => console.log(line) });
} finally {
  await clamd.stop();
  await harness.stop();
  rmSync(dir, { recursive: true, force: true });
}
console.log(soakSummary(result));
printRow(result.row);
process.exit(result.row.lost > 0 || result.row.duplicated > 0 ? 1 : 0);
