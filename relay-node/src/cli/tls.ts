// `npm run tls -- status | renew | rollover`: the ACME certificate of the running relay, through its
// control socket (control/control.ts). The relay owns the keys (mode 0600, its user's), so renew and
// rollover need it running; status falls back to the files others may read (cert.pem, rollover.json).
// Exit status: 0 done, 1 refused or failed, 2 bad usage.
import { ConfigError } from "../../../core/config/load.ts";
import { ConfigChoiceError, configFilePath, loadConfigFile } from "../config/file.ts";
import { controlSocketPath, RelayNotRunning, sendControlRequest, type ControlAnswer } from "../control/control.ts";
import { readAcmeStatus } from "../acme/store.ts";
import { formatTlsStatus, parseTlsCommand, TLS_USAGE } from "./tls-commands.ts";

async function main(args: string[]): Promise<number> {
  const command = parseTlsCommand(args);
  if (typeof command === "string") {
    console.error(`${command}\n${TLS_USAGE}`);
    return 2;
  }
  const config = loadConfigFile(configFilePath(command));
  if (config.relay.acme === undefined) {
    console.error("relay.acme is not configured: the relay gets no certificates by ACME");
    return 1;
  }
  const socket = command.socket ?? controlSocketPath(config.relay.spool);
  let answer: ControlAnswer;
  try {
    // An issuance waits on the CA's validation and its retries.
    answer = await sendControlRequest(socket, command.request, command.request.op === "tls-renew" ? 600_000 : undefined);
  } catch (error) {
    if (!(error instanceof RelayNotRunning)) throw error;
    if (command.request.op !== "tls-status") {
      console.error(`${error.message}: ${command.request.op.slice("tls-".length)} needs the running relay (it owns the keys)`);
      return 1;
    }
    console.error(`${error.message}: reading the files`);
    answer = { ok: true, tls: readAcmeStatus(config) };
  }
  if (!answer.ok) {
    console.error(answer.error);
    return 1;
  }
  if (!("tls" in answer)) throw new Error(`not an answer to ${command.request.op}`);
  console.log(formatTlsStatus(answer.tls, config));
  return answer.tls.lastError === undefined ? 0 : 1;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (!(err instanceof ConfigError) && !(err instanceof ConfigChoiceError)) throw err;
    console.error(err.message);
    process.exitCode = 1;
  },
);
