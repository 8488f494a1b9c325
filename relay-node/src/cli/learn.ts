// `npm run learn -- spam|ham <file|Maildir>... [--config <file> | --example]`: teaches rspamd's Bayes classifier (relay.rspamd.
// controllerUrl, the password from EDGEMX_RSPAMD_PASSWORD) what people decided: a file is one message,
// a Maildir folder every message in its cur/ and new/. Prints what was not learned and a summary;
// exit status 1 when a message could not be learned (rspamd unreachable, an error), 2 on bad usage.
import { readFile, stat } from "node:fs/promises";
import { parseArgs } from "node:util";
import { ConfigError } from "../../../core/config/load.ts";
import { CONFIG_OPTIONS, ConfigChoiceError, configFilePath, loadConfigFile } from "../config/file.ts";
import { messageFiles, NotAMessageSource } from "../spam/learn-messages.ts";
import { createRspamdController, RSPAMD_PASSWORD_ENV, type LearnOutcome } from "../spam/rspamd-controller.ts";

const USAGE = `usage: npm run learn -- spam|ham <file|Maildir folder>... [--config <file> | --example]

  Teaches rspamd (relay.rspamd.controllerUrl of the relay's configuration: --config, else $EDGEMX_CONFIG,
  else ./edgemx.yaml) that the messages are spam or ham. The controller's password, if it asks for one: ${RSPAMD_PASSWORD_ENV}.`;
/** Messages learned at once. */
const CONCURRENCY = 4;

type Tally = Record<LearnOutcome["status"] | "too-large", number>;

async function main(args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args, options: CONFIG_OPTIONS, allowPositionals: true });
  } catch (err) {
    console.error(`${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  const [kind, ...paths] = parsed.positionals;
  if ((kind !== "spam" && kind !== "ham") || paths.length === 0) {
    console.error(USAGE);
    return 2;
  }
  const configPath = configFilePath(parsed.values);
  const config = loadConfigFile(configPath);
  const { controllerUrl, timeoutMs } = config.relay.rspamd;
  if (controllerUrl === undefined) {
    console.error(`${configPath}: relay.rspamd.controllerUrl is not set: there is no rspamd controller to teach`);
    return 1;
  }
  const files = (await Promise.all(paths.map(messageFiles))).flat();
  const controller = createRspamdController({ url: controllerUrl, password: process.env[RSPAMD_PASSWORD_ENV], timeoutMs });
  const tally: Tally = { learned: 0, "already-learned": 0, declined: 0, error: 0, "too-large": 0 };
  const maxBytes = config.relay.limits.maxMessageBytes;
  let next = 0;
  const worker = async (): Promise<void> => {
    for (let index = next++; index < files.length; index = next++) {
      const file = files[index]!;
      if ((await stat(file)).size > maxBytes) {
        tally["too-large"]++;
        console.log(`too large (over ${maxBytes} bytes): ${file}`);
        continue;
      }
      const outcome = await controller.learn(kind, await readFile(file));
      tally[outcome.status]++;
      if (outcome.status !== "learned") console.log(`${outcome.status === "already-learned" ? "already learned" : outcome.status}: ${file}: ${outcome.detail}`);
    }
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, files.length) }, worker));
  controller.close();
  console.log(
    `${kind}: ${tally.learned} learned, ${tally["already-learned"]} already learned, ${tally.declined} declined, ${tally["too-large"]} too large, ${tally.error} failed (${files.length} messages)`,
  );
  return tally.error > 0 ? 1 : 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (!(err instanceof ConfigError) && !(err instanceof ConfigChoiceError) && !(err instanceof NotAMessageSource)) throw err;
    console.error(err.message);
    process.exitCode = 1;
  },
);
