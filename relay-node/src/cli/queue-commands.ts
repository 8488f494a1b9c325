// `edgemx queue`: the command line parsed, and entries formatted for people. Pure; cli/queue.ts does
// the talking (queue/control.ts).
import { resolve } from "node:path";
import { isQueueId, type QueueEntry } from "../queue/spool.ts";
import type { Adoption } from "../queue/adopt.ts";
import type { ControlRequest } from "../control/control.ts";
import type { TlsRptRunResult } from "../tlsrpt/sender.ts";
import type { DmarcRunResult } from "../dmarcrpt/sender.ts";

export const QUEUE_USAGE = `usage: npm run queue -- [--socket <path>] [--spool <dir>] list | show <id> | flush [<id>] | delete <id>
       npm run queue -- [--socket <path>] [--spool <dir>] tlsrpt-send [--day YYYY-MM-DD]
       npm run queue -- [--socket <path>] [--spool <dir>] dmarc-send [--day YYYY-MM-DD]
       npm run queue -- [--socket <path>] [--spool <dir>] adopt <spool of a dead relay>
  each may add --config <file> (or --example)

  Asks the running relay over its control socket (<data>/control.sock beside relay.spool of the
  relay's configuration: --config, else $EDGEMX_CONFIG, else ./edgemx.yaml; --socket and --spool override).
  list, show: when no relay runs, the spool files are read read-only instead.
  flush: makes the entry (or every entry) due now.  delete: removes the entry without a DSN.
  tlsrpt-send: sends the TLS-RPT reports (RFC 8460) of the day not sent yet; default: yesterday (UTC).
  dmarc-send: sends the DMARC aggregate reports (RFC 9990) of the day, a finished one; default: every
  finished day with evaluations waiting.
  adopt: moves every entry of a dead relay's spool (same host, or shared storage) into this relay's,
  which delivers them; refused while that relay lives (its lease, docs/queue.md).`;

export interface QueueCommand {
  request: ControlRequest;
  socket?: string;
  spool?: string;
  /** --config <file>, --example: which configuration names the spool (cli/queue.ts). */
  config?: string;
  example?: boolean;
}

/** The command line, or an error text (then print the usage). */
export function parseQueueCommand(args: readonly string[]): QueueCommand | string {
  const rest: string[] = [];
  const options: { socket?: string; spool?: string; config?: string; example?: boolean } = {};
  let day: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === "--day") {
      day = args[++i];
      if (day === undefined || !/^\d{4}-\d{2}-\d{2}$/.test(day)) return "--day needs a day YYYY-MM-DD";
    } else if (arg === "--socket" || arg === "--spool" || arg === "--config") {
      const value = args[++i];
      if (value === undefined) return `${arg} needs a value`;
      options[arg === "--socket" ? "socket" : arg === "--spool" ? "spool" : "config"] = value;
    } else if (arg === "--example") options.example = true;
    else rest.push(arg);
  }
  const [op, id, ...extra] = rest;
  if (extra.length > 0) return `too many arguments: ${extra.join(" ")}`;
  if (op === "adopt") return id === undefined ? "adopt needs the spool folder of the dead relay" : { request: { op, dir: resolve(id) }, ...options };
  if (op === "tlsrpt-send" || op === "dmarc-send")
    return id === undefined ? { request: day === undefined ? { op } : { op, day }, ...options } : `too many arguments: ${id}`;
  if (day !== undefined) return "--day belongs to tlsrpt-send and dmarc-send";
  if (id !== undefined && !isQueueId(id)) return `not a queue id: ${id}`;
  if (op === "list" && id === undefined) return { request: { op }, ...options };
  if (op === "flush") return { request: id === undefined ? { op } : { op, id }, ...options };
  if ((op === "show" || op === "delete") && id !== undefined) return { request: { op, id }, ...options };
  return op === undefined ? "no command" : `unknown command or missing id: ${op}`;
}

/** "45s", "12m", "3h", "2d" — the largest unit that fits; negative spans read as "now". */
export function formatSpan(ms: number): string {
  const seconds = Math.max(0, Math.round(ms / 1000));
  if (seconds < 60) return `${seconds}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)}h`;
  return `${Math.floor(seconds / 86400)}d`;
}

function nextAttempt(entry: QueueEntry, now: number): string {
  return entry.nextAttemptAt <= now ? "now" : `in ${formatSpan(entry.nextAttemptAt - now)}`;
}

/** One block per entry: a summary line, then a line per recipient with its state and latest reply. */
export function formatQueueList(entries: readonly QueueEntry[], now: number): string {
  if (entries.length === 0) return "the queue is empty";
  const lines = [`${"ID".padEnd(18)}  ${"AGE".padStart(5)}  ${"SIZE".padStart(9)}  ${"ATTEMPTS".padStart(8)}  ${"NEXT".padEnd(9)}  SENDER`];
  for (const entry of entries) {
    lines.push(
      `${entry.id}  ${formatSpan(now - entry.createdAt).padStart(5)}  ${String(entry.size).padStart(9)}  ${String(entry.attempts).padStart(8)}  ${nextAttempt(entry, now).padEnd(9)}  <${entry.envelope.mailFrom}>`,
    );
    for (const r of entry.recipients) lines.push(`    ${r.rcpt}  ${r.status}${r.reply === null ? "" : `  ${r.reply}`}`);
  }
  lines.push(`${entries.length} ${entries.length === 1 ? "entry" : "entries"}`);
  return lines.join("\n");
}

/** The entry's fields, its recipients and the message's header section. */
export function formatQueueEntry(entry: QueueEntry, headers: string, now: number): string {
  const iso = (at: number | null) => (at === null ? "never" : new Date(at).toISOString());
  return [
    `id:            ${entry.id}`,
    `sender:        <${entry.envelope.mailFrom}>`,
    `arrived:       ${iso(entry.createdAt)} (${formatSpan(now - entry.createdAt)} ago)`,
    `size:          ${entry.size} octets`,
    `attempts:      ${entry.attempts}, last ${iso(entry.lastAttemptAt)}`,
    `next attempt:  ${iso(entry.nextAttemptAt)} (${nextAttempt(entry, now)})`,
    `delay notice:  ${entry.delayWarned ? "sent" : "not sent"}`,
    "recipients:",
    ...entry.recipients.map((r) => `    ${r.rcpt}  ${r.status}${r.reply === null ? "" : `  ${r.reply}`}`),
    "",
    headers,
  ].join("\n");
}

/** A line per policy domain of a TLS report run. */
export function formatTlsRptRun(result: TlsRptRunResult): string {
  if (result.domains.length === 0) return `no TLS-RPT counts for ${result.day}`;
  return result.domains
    .map((d) =>
      [
        `${result.day} ${d.domain}: ${d.outcome}`,
        ...d.delivered.map((rua) => `    sent ${rua}`),
        ...d.failed.map((f) => `    FAILED ${f.rua}: ${f.error}`),
      ].join("\n"),
    )
    .join("\n");
}

/** A line per policy domain of a DMARC report run, then a line per destination. */
export function formatDmarcRun(result: DmarcRunResult): string {
  if (result.domains.length === 0) return result.days.length === 0 ? "no DMARC evaluations waiting" : `no DMARC evaluations for ${result.days.join(", ")}`;
  return result.domains
    .map((d) =>
      [
        `${d.day} ${d.domain}: ${d.outcome}`,
        ...d.delivered.map((address) => `    sent ${address}`),
        ...d.refused.map((r) => `    refused ${r.uri}: ${r.reason}`),
        ...d.waiting.map((w) => `    WAITING ${w.uri}: ${w.reason}`),
      ].join("\n"),
    )
    .join("\n");
}

/** A line per entry an adoption moved, then the count. */
export function formatAdoption(adoption: Adoption): string {
  return [
    ...adoption.moved.map((entry) => `adopted ${entry.was} as ${entry.now}`),
    ...adoption.finished.map((id) => `dropped ${id}: no recipient pending`),
    `${adoption.moved.length} ${adoption.moved.length === 1 ? "entry" : "entries"} adopted from ${adoption.from}`,
  ].join("\n");
}
