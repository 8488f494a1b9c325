// `npm run queue -- list | show <id> | flush [<id>] | delete <id> | tlsrpt-send [--day D] | dmarc-send [--day D] | adopt <dir>`: the queue of the running relay,
// through its control socket (queue/control.ts). The relay owns the spool, so flush and delete need it
// running; list and show fall back to reading the spool files read-only when it is not.
// Exit status: 0 done, 1 refused or failed, 2 bad usage.
import { ConfigError } from "../../../core/config/load.ts";
import { ConfigChoiceError, configFilePath, loadConfigFile } from "../config/file.ts";
import { controlSocketPath, headerSection, RelayNotRunning, sendControlRequest, type ControlAnswer } from "../control/control.ts";
import { readQueuedMessage, readSpoolEntries } from "../queue/spool.ts";
import { formatAdoption, formatDmarcRun, formatQueueEntry, formatQueueList, formatTlsRptRun, parseQueueCommand, QUEUE_USAGE } from "./queue-commands.ts";

async function main(args: string[]): Promise<number> {
  const command = parseQueueCommand(args);
  if (typeof command === "string") {
    console.error(`${command}\n${QUEUE_USAGE}`);
    return 2;
  }
  const spool = command.spool ?? (command.socket === undefined ? loadConfigFile(configFilePath(command)).relay.spool : undefined);
  const socket = command.socket ?? controlSocketPath(spool!);
  const { request } = command;
  let answer: ControlAnswer;
  try {
    // A TLS report run may wait on slow https: rua (30 s each), a DMARC report run on DNS.
    answer = await sendControlRequest(
      socket,
      request,
      request.op === "tlsrpt-send" || request.op === "dmarc-send" || request.op === "adopt" ? 600_000 : undefined,
    );
  } catch (error) {
    if (!(error instanceof RelayNotRunning)) throw error;
    if ((request.op !== "list" && request.op !== "show") || spool === undefined) {
      console.error(`${error.message}: ${request.op} needs the running relay (it owns the spool)`);
      return 1;
    }
    console.error(`${error.message}: reading the spool ${spool} read-only`);
    answer = await readOffline(spool, request.op === "show" ? request.id : undefined);
  }
  if (!answer.ok) {
    console.error(answer.error);
    return 1;
  }
  const now = Date.now();
  if ("entries" in answer) console.log(formatQueueList(answer.entries, now));
  else if ("headers" in answer) console.log(formatQueueEntry(answer.entry, answer.headers, now));
  else if ("flushed" in answer) console.log(answer.flushed.length === 0 ? "nothing to flush" : answer.flushed.map((id) => `flushed ${id}`).join("\n"));
  else if ("tlsrpt" in answer) {
    console.log(formatTlsRptRun(answer.tlsrpt));
    if (answer.tlsrpt.domains.some((d) => d.outcome === "partial" || d.outcome === "lookup-failed")) return 1;
  } else if ("dmarc" in answer) {
    console.log(formatDmarcRun(answer.dmarc));
    if (answer.dmarc.domains.some((d) => d.outcome === "partial")) return 1;
  } else if ("adopted" in answer) console.log(formatAdoption(answer.adopted));
  else if ("deleted" in answer)
    console.log(
      `deleted ${answer.deleted.id} from <${answer.deleted.envelope.mailFrom}> to ${answer.deleted.recipients.map((r) => `${r.rcpt} (${r.status})`).join(", ")}`,
    );
  return 0;
}

async function readOffline(spool: string, id: string | undefined): Promise<ControlAnswer> {
  const entries = (await readSpoolEntries(spool)).sort((a, b) => (a.id < b.id ? -1 : 1));
  if (id === undefined) return { ok: true, entries };
  const entry = entries.find((e) => e.id === id);
  const message = entry && (await readQueuedMessage(spool, id));
  return entry && message ? { ok: true, entry, headers: headerSection(message) } : { ok: false, error: `${id}: not queued` };
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
