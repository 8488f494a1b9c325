// Where the ACME certificate and its keys live (relay.acme.dir, `acme/` beside the spool by default):
// read by the relay's ACME service (acme/), by `npm run dns` for the TLSA records and by `npm run tls`.
//
//   account-key.pem  the ACME account's key (RFC 8555 §7.3), mode 0600
//   key.pem          the certificate's key, kept across renewals (its TLSA 3 1 1 record stays valid), 0600
//   cert.pem         the certificate chain the relay serves, 0644
//   next-key.pem     the next key during a key rollover (RFC 7671 §8.1), 0600
//   rollover.json    the rollover's state (core/acme/rollover.ts)
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import type { EdgemxConfig } from "../../../core/config/schema.ts";
import type { RolloverState } from "../../../core/acme/rollover.ts";

export interface AcmeFiles {
  dir: string;
  accountKey: string;
  key: string;
  cert: string;
  nextKey: string;
  state: string;
}

export function acmeFiles(config: EdgemxConfig): AcmeFiles {
  const dir = config.relay.acme?.dir ?? join(dirname(resolve(config.relay.spool)), "acme");
  return {
    dir,
    accountKey: join(dir, "account-key.pem"),
    key: join(dir, "key.pem"),
    cert: join(dir, "cert.pem"),
    nextKey: join(dir, "next-key.pem"),
    state: join(dir, "rollover.json"),
  };
}

/** rollover.json as stored: the times as ISO strings, for people reading the file. */
type StoredState =
  | { phase: "none" }
  | { phase: "publishing"; current: string; next: string; startedAt: string; swapAfter: string }
  | { phase: "swapped"; current: string; retired: string; swappedAt: string };

const HEX_DIGEST = /^[0-9a-f]{64}$/;

/** The rollover's state; none without the file. A file that is not one throws, naming it. */
export function readRolloverState(path: string): RolloverState {
  if (!existsSync(path)) return { phase: "none" };
  const bad = (why: string): Error => new Error(`${path}: not a key rollover state (${why})`);
  let stored: StoredState;
  try {
    stored = JSON.parse(readFileSync(path, "utf8")) as StoredState;
  } catch (err) {
    throw bad((err as Error).message);
  }
  const time = (text: string): number => {
    const ms = Date.parse(text);
    if (Number.isNaN(ms)) throw bad(`${JSON.stringify(text)} is not a time`);
    return ms;
  };
  const digest = (text: string): string => {
    if (typeof text !== "string" || !HEX_DIGEST.test(text)) throw bad(`${JSON.stringify(text)} is not a SHA-256 digest`);
    return text;
  };
  switch (stored.phase) {
    case "none":
      return { phase: "none" };
    case "publishing":
      return {
        phase: "publishing",
        current: digest(stored.current),
        next: digest(stored.next),
        startedAt: time(stored.startedAt),
        swapAfter: time(stored.swapAfter),
      };
    case "swapped":
      return { phase: "swapped", current: digest(stored.current), retired: digest(stored.retired), swappedAt: time(stored.swappedAt) };
    default:
      throw bad(`unknown phase ${JSON.stringify((stored as { phase: unknown }).phase)}`);
  }
}

export function storedRolloverState(state: RolloverState): string {
  const iso = (ms: number): string => new Date(ms).toISOString();
  const stored: StoredState =
    state.phase === "publishing"
      ? { ...state, startedAt: iso(state.startedAt), swapAfter: iso(state.swapAfter) }
      : state.phase === "swapped"
        ? { ...state, swappedAt: iso(state.swappedAt) }
        : state;
  return `${JSON.stringify(stored, null, 2)}\n`;
}
