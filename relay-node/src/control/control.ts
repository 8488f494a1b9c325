// The relay's control channel: `edgemx queue` (cli/queue.ts) asks the running relay, which owns the
// spool (its index lives in memory, docs/queue.md), `npm run tls` its ACME service, and `npm run
// reload` (cli/reload.ts) has it read its configuration again (config/reload.ts), over a Unix domain
// socket beside the spool (`<data>/control.sock`, mode 0600: only the relay's user may connect). One
// JSON line per request, one JSON line per answer, then the relay closes the connection. A request
// longer than MAX_REQUEST_BYTES is refused, so a client cannot make the relay buffer without bound.
import { chmod, unlink } from "node:fs/promises";
import { createConnection, createServer, type Server } from "node:net";
import { dirname, join, resolve } from "node:path";
import type { ReloadOutcome } from "../config/reload.ts";
import type { TlsRptRunResult } from "../tlsrpt/sender.ts";
import type { DmarcRunResult } from "../dmarcrpt/sender.ts";
import type { AcmeService } from "../acme/service.ts";
import type { AcmeStatus } from "../acme/store.ts";
import type { DeliveryScheduler } from "../queue/scheduler.ts";
import { readQueuedMessage, type QueueEntry, type Spool } from "../queue/spool.ts";
import type { Adoption } from "../queue/adopt.ts";

export type ControlRequest =
  | { op: "list" }
  | { op: "show"; id: string }
  | { op: "flush"; id?: string }
  | { op: "delete"; id: string }
  | { op: "tlsrpt-send"; day?: string }
  | { op: "dmarc-send"; day?: string }
  | { op: "tls-status" | "tls-renew" | "tls-rollover" }
  | { op: "reload" }
  | { op: "adopt"; dir: string };

export type ControlAnswer =
  | { ok: true; entries: QueueEntry[] }
  | { ok: true; entry: QueueEntry; headers: string }
  | { ok: true; flushed: string[] }
  | { ok: true; deleted: QueueEntry }
  | { ok: true; tlsrpt: TlsRptRunResult }
  | { ok: true; dmarc: DmarcRunResult }
  | { ok: true; tls: AcmeStatus }
  | { ok: true; reload: ReloadOutcome }
  | { ok: true; adopted: Adoption }
  | { ok: false; error: string };

const MAX_REQUEST_BYTES = 4096;
/** The header section `show` returns is cut here: it is for reading, not for re-parsing. */
const MAX_HEADER_BYTES = 64 * 1024;

/** The control socket of the relay whose spool is `spoolDir`: beside it, in the data folder. */
export function controlSocketPath(spoolDir: string): string {
  return join(dirname(resolve(spoolDir)), "control.sock");
}

/** The header section of a message (up to the first empty line, RFC 5322 §2.1), at most 64 KiB. */
export function headerSection(message: Uint8Array): string {
  const text = Buffer.from(message.subarray(0, MAX_HEADER_BYTES)).toString("latin1");
  const end = text.search(/\r?\n\r?\n/);
  return end === -1 ? text : text.slice(0, end);
}

/** What a request line asks for, or an error text. */
export function parseControlRequest(line: string): ControlRequest | string {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return "not JSON";
  }
  if (typeof value !== "object" || value === null) return "not an object";
  const { op, id, day, dir } = value as Record<string, unknown>;
  if (op === "adopt") return typeof dir === "string" && dir !== "" ? { op, dir } : "adopt needs dir, a spool folder";
  if (id !== undefined && typeof id !== "string") return "id must be a string";
  if (op === "tlsrpt-send" || op === "dmarc-send") {
    if (day !== undefined && (typeof day !== "string" || !/^\d{4}-\d{2}-\d{2}$/.test(day))) return "day must be YYYY-MM-DD";
    return day === undefined ? { op } : { op, day };
  }
  if (op === "tls-status" || op === "tls-renew" || op === "tls-rollover") return { op };
  if (op === "list" || op === "reload") return { op };
  if (op === "flush") return id === undefined ? { op } : { op, id };
  if ((op === "show" || op === "delete") && id !== undefined) return { op, id };
  return `unknown request ${JSON.stringify(op)}`;
}

export interface QueueControlDeps {
  spool: Spool;
  delivery: DeliveryScheduler;
  now?: () => number;
  /** `tlsrpt-send`: sends the TLS reports of the day (default: the previous UTC day), tlsrpt/sender.ts. */
  sendTlsReports?: (day?: string) => Promise<TlsRptRunResult>;
  /** `dmarc-send`: sends the DMARC aggregate reports of the day (default: every finished day waiting), dmarcrpt/sender.ts. */
  sendDmarcReports?: (day?: string) => Promise<DmarcRunResult>;
  /** `tls-*` (`npm run tls`): the ACME service, once it runs; null without relay.acme. */
  acme?: () => AcmeService | null;
  /** `reload`: reads the configuration again (relay.ts); the outcome, applied or refused, is the answer. */
  reload?: () => ReloadOutcome;
  /** `adopt`: drains a dead relay's spool into this one (queue/adopt.ts). */
  adopt?: (dir: string) => Promise<Adoption>;
}

/** Carries out one request against the relay's own spool. */
export async function answerControlRequest(request: ControlRequest, deps: QueueControlDeps): Promise<ControlAnswer> {
  const { spool, delivery } = deps;
  const now = deps.now ?? Date.now;
  switch (request.op) {
    case "list":
      return { ok: true, entries: spool.list().sort((a, b) => (a.id < b.id ? -1 : 1)) };
    case "show": {
      const entry = spool.get(request.id);
      const message = entry && (await readQueuedMessage(spool.dir, request.id));
      if (!entry || !message) return { ok: false, error: `${request.id}: not queued` };
      return { ok: true, entry, headers: headerSection(message) };
    }
    case "flush": {
      const ids = request.id === undefined ? spool.list().map((e) => e.id) : [request.id];
      if (request.id !== undefined && !spool.get(request.id)) return { ok: false, error: `${request.id}: not queued` };
      const flushed: string[] = [];
      const at = now();
      for (const id of ids.sort()) {
        // An entry in flight is being attempted already; an entry already due needs nothing.
        const entry = spool.get(id);
        if (!entry || delivery.inFlight(id) || entry.nextAttemptAt <= at) continue;
        if (await spool.reschedule(id, at)) flushed.push(id);
      }
      delivery.notify();
      return { ok: true, flushed };
    }
    case "delete": {
      const entry = spool.get(request.id);
      if (!entry) return { ok: false, error: `${request.id}: not queued` };
      // Removing it under a running attempt would let the attempt record a state for a removed entry.
      if (delivery.inFlight(request.id)) return { ok: false, error: `${request.id}: being delivered right now; try again in a moment` };
      await spool.remove(request.id);
      return { ok: true, deleted: entry };
    }
    case "tlsrpt-send":
      if (deps.sendTlsReports === undefined) return { ok: false, error: "this relay does not send TLS reports" };
      return { ok: true, tlsrpt: await deps.sendTlsReports(request.day) };
    case "dmarc-send":
      if (deps.sendDmarcReports === undefined) return { ok: false, error: "this relay sends no DMARC reports (relay.dmarcReports.enabled is false)" };
      return { ok: true, dmarc: await deps.sendDmarcReports(request.day) };
    case "tls-status":
    case "tls-renew":
    case "tls-rollover": {
      const acme = deps.acme?.() ?? null;
      if (acme === null) return { ok: false, error: "this relay gets no certificates by ACME (relay.acme is not configured)" };
      if (request.op === "tls-status") return { ok: true, tls: acme.status() };
      if (request.op === "tls-rollover") return { ok: true, tls: acme.rollover() };
      return { ok: true, tls: await acme.renew() };
    }
    case "reload":
      if (deps.reload === undefined) return { ok: false, error: "this relay does not reload" };
      return { ok: true, reload: deps.reload() };
    case "adopt":
      if (deps.adopt === undefined) return { ok: false, error: "this relay does not adopt spools" };
      return { ok: true, adopted: await deps.adopt(request.dir) };
  }
}

export interface QueueControl {
  path: string;
  close(): Promise<void>;
}

/**
 * Serves the control channel at `path`. A leftover socket file of a relay that died is replaced; a
 * socket another relay still answers on is not (that relay owns the spool).
 */
export async function startQueueControl(path: string, deps: QueueControlDeps): Promise<QueueControl> {
  if (await socketAnswers(path)) throw new Error(`${path}: another relay serves this spool`);
  await unlink(path).catch(() => undefined);
  const server: Server = createServer((socket) => {
    let buffered = "";
    socket.setEncoding("utf8");
    socket.setTimeout(10_000, () => socket.destroy());
    socket.on("error", () => undefined);
    socket.on("data", (chunk: string) => {
      buffered += chunk;
      const newline = buffered.indexOf("\n");
      if (newline === -1 && buffered.length <= MAX_REQUEST_BYTES) return;
      socket.pause();
      socket.removeAllListeners("data");
      const request = newline === -1 ? "request too long" : parseControlRequest(buffered.slice(0, newline));
      // A TLS report run may wait on https: POSTs (30 s each), a DMARC report run on DNS: no idle limit once the request is read.
      // So may an ACME issuance (a CA's validation, its retries).
      // And an adoption, which writes every entry of a dead relay's spool.
      if (typeof request !== "string" && (request.op === "tlsrpt-send" || request.op === "dmarc-send" || request.op === "tls-renew" || request.op === "adopt"))
        socket.setTimeout(0);
      const answer: Promise<ControlAnswer> =
        typeof request === "string"
          ? Promise.resolve({ ok: false, error: request })
          : answerControlRequest(request, deps).catch((error: unknown) => ({ ok: false, error: (error as Error).message }));
      void answer.then((a) => socket.end(JSON.stringify(a) + "\n"));
    });
  });
  await new Promise<void>((done, fail) => {
    server.once("error", fail);
    server.listen(path, () => {
      server.off("error", fail);
      done();
    });
  });
  // The window between bind and chmod is covered by the data folder's own permissions.
  await chmod(path, 0o600);
  return {
    path,
    close: () => new Promise<void>((done) => server.close(() => done())),
  };
}

function socketAnswers(path: string): Promise<boolean> {
  return new Promise((done) => {
    const socket = createConnection(path);
    socket.once("connect", () => {
      socket.destroy();
      done(true);
    });
    socket.once("error", () => done(false));
  });
}

export class RelayNotRunning extends Error {}

/** Sends one request to the relay at `path` and returns its answer; RelayNotRunning when none listens. */
export function sendControlRequest(path: string, request: ControlRequest, timeoutMs = 30_000): Promise<ControlAnswer> {
  return new Promise((done, fail) => {
    const socket = createConnection(path);
    let received = "";
    socket.setEncoding("utf8");
    socket.setTimeout(timeoutMs, () => socket.destroy(new Error(`${path}: no answer within ${timeoutMs} ms`)));
    socket.once("connect", () => socket.write(JSON.stringify(request) + "\n"));
    socket.on("data", (chunk: string) => (received += chunk));
    socket.once("end", () => {
      try {
        done(JSON.parse(received) as ControlAnswer);
      } catch {
        fail(new Error(`${path}: not an answer: ${received.slice(0, 200)}`));
      }
    });
    socket.once("error", (error: NodeJS.ErrnoException) => {
      if (error.code === "ENOENT" || error.code === "ECONNREFUSED") fail(new RelayNotRunning(`no relay answers on ${path}`));
      else fail(error);
    });
  });
}
