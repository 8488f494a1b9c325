// What `npm start` brings up beside the relay when it runs the example configuration, the way the test
// harness does: the DNS the relay's checks ask (Knot and a validating unbound serving zones.ts), and
// clamd when none answers where the configuration says — installed with apt-get when missing and run
// as root, as `npm test` does. The relay then runs with their addresses; the checks stay as configured.
import { readdirSync } from "node:fs";
import type { EdgemxConfig } from "../../core/config/schema.ts";
import { pingClamd } from "../../relay-node/src/scan/clamd.ts";
import { CLAM_EXE } from "../../test/harness/clamd.ts";
import { startClamd } from "../../test/harness/services.ts";
import { installMissingPackages, type PackageNeeds } from "../debian-packages.ts";
import { startSandboxDns } from "./dns.ts";
import { SANDBOX_SENDER, sandboxZones } from "./zones.ts";

/** Where Debian's freshclam keeps ClamAV's signature database. */
export const FRESHCLAM_DATABASE = "/var/lib/clamav";

const DNS_PACKAGES: PackageNeeds = { knotd: "knot", keymgr: "knot", unbound: "unbound" };
const SWAKS_PACKAGES: PackageNeeds = { swaks: "swaks" };

/** freshclam has downloaded a database: its main and daily signature files (.cvd, or .cld once updated). */
export function hasFreshclamDatabase(folder = FRESHCLAM_DATABASE): boolean {
  let names: string[];
  try {
    names = readdirSync(folder);
  } catch {
    return false;
  }
  return ["main", "daily"].every((base) => names.includes(`${base}.cvd`) || names.includes(`${base}.cld`));
}

export interface Quickstart {
  /** The configuration the relay runs: the file's, with the sandbox's resolver and the started clamd. */
  config: EdgemxConfig;
  /** The same replacements made in the file's configuration read again (the relay's reload). */
  asRun: (fromFile: EdgemxConfig) => EdgemxConfig;
  /** What was brought up, or why not: one line each, for the start output. */
  notes: string[];
  /** Whether the DNS world of the printed swaks line is up (without it that line gets 451). */
  dns: boolean;
  /** swaks's arguments for a message the relay accepts through its real checks, to `to` via `server` (host:port). */
  acceptedMessage(server: string, to: string): string[];
  stop(): Promise<void>;
}

/** Installs what is missing of `needs` (as root, with apt-get); returns a note naming what still is, or null. */
function ensurePackages(needs: PackageNeeds, purpose: string): string | null {
  let missing: string[];
  try {
    missing = installMissingPackages(needs, purpose);
  } catch (err) {
    return `could not install the packages for ${purpose}: ${(err as Error).message.split("\n")[0]}`;
  }
  return missing.length > 0 ? `${purpose} needs Debian packages (npm start as root installs them): apt-get install -y ${missing.join(" ")}` : null;
}

export async function startQuickstart(fileConfig: EdgemxConfig): Promise<Quickstart> {
  const notes: string[] = [];
  const stops: (() => Promise<void>)[] = [];
  const stop = async (): Promise<void> => {
    for (const step of stops.reverse()) await step();
  };
  // What the relay runs of the file: each step below that brings something up replaces its setting.
  const replacements: ((config: EdgemxConfig) => EdgemxConfig)[] = [];
  const asRun = (fromFile: EdgemxConfig): EdgemxConfig => replacements.reduce((config, replace) => replace(config), fromFile);
  let config = fileConfig;
  try {
    const swaksNote = ensurePackages(SWAKS_PACKAGES, "the swaks line below");
    if (swaksNote !== null) notes.push(swaksNote);

    let dns = false;
    const dnsNote = ensurePackages(DNS_PACKAGES, "the quickstart's DNS");
    if (dnsNote !== null) notes.push(`${dnsNote}; until then the relay asks relay.resolver`);
    else {
      const zones = sandboxZones(config);
      const sandbox = await startSandboxDns(zones);
      stops.push(() => sandbox.stop());
      const { resolver } = config.relay;
      replacements.push((c) => ({
        ...c,
        // The DNSSEC probe of outbound DANE asks a signed name this resolver serves.
        relay: {
          ...c.relay,
          resolver: { ...c.relay.resolver, host: "127.0.0.1", port: sandbox.port },
          outbound: { ...c.relay.outbound, dnssecProbeName: SANDBOX_SENDER.host },
        },
      }));
      config = asRun(fileConfig);
      dns = true;
      notes.push(
        `DNS: Knot and a validating unbound on 127.0.0.1:${sandbox.port} (instead of relay.resolver ${resolver.host}:${resolver.port}), serving ` +
          `${zones.map((zone) => zone.origin).join(", ")} — for each DNSBL only its RFC 5782 test entries — and refusing every other name`,
      );
    }

    const clamd = config.relay.clamd;
    if (clamd.enabled) {
      const ping = await pingClamd(clamd);
      if (ping.status === "ok") notes.push(`clamd: the one answering at ${clamd.host}:${clamd.port}`);
      else {
        const database = hasFreshclamDatabase() ? FRESHCLAM_DATABASE : undefined;
        const needs: PackageNeeds = database === undefined ? { clamd: "clamav-daemon", [CLAM_EXE]: "clamav-testfiles" } : { clamd: "clamav-daemon" };
        const clamdNote = ensurePackages(needs, "virus scanning");
        if (clamdNote !== null) notes.push(`${clamdNote}; until then every message gets 451 (never an unscanned accept)`);
        else {
          const started = await startClamd({
            streamMaxLength: config.relay.limits.maxMessageBytes,
            ...(database === undefined ? {} : { databaseDir: database }),
          });
          stops.push(() => started.stop());
          replacements.push((c) => ({ ...c, relay: { ...c.relay, clamd: { ...c.relay.clamd, host: started.host, port: started.port } } }));
          config = asRun(fileConfig);
          notes.push(
            database === undefined
              ? `clamd on 127.0.0.1:${started.port} has TEST SIGNATURES ONLY (EICAR and two of ours; no freshclam database in ${FRESHCLAM_DATABASE}): it finds no real virus`
              : `clamd on 127.0.0.1:${started.port} with freshclam's database in ${FRESHCLAM_DATABASE}`,
          );
        }
      }
    }

    return {
      config,
      asRun,
      notes,
      dns,
      acceptedMessage: (server, to) => ["--server", server, "--helo", SANDBOX_SENDER.host, "--from", SANDBOX_SENDER.from, "--to", to],
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
