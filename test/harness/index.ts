// The test harness: real DNS on loopback. Knot serves the DNSSEC-signed test zones (zones.ts), unbound
// validates them with this run's trust anchors, and an HTTP/1.1 DoH bridge lets workerd reach unbound.
// Everything runs unprivileged on free high ports, in a temp folder removed by stop().
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { RecordType } from "../../core/dns/resolver.ts";
import { decodeMessage, encodeQuery, lookupFromReply } from "../../core/dns/wire.ts";
import { startBlackhole } from "./blackhole.ts";
import { startDohBridge } from "./doh-bridge.ts";
import { queryOverTcp } from "./dns-tcp.ts";
import { startKnot, trustAnchors } from "./knot.ts";
import { findProgram, freePort, waitUntilReady, type Signalable } from "./process.ts";
import { startUnbound } from "./unbound.ts";
import type { TestZone } from "./zones.ts";
import { TEST_ZONES } from "./zones.ts";

/** What tests need to reach the harness; serializable, so vitest can provide it to every project. */
export interface HarnessAddresses {
  /** Knot, authoritative for the test zones (UDP and TCP on 127.0.0.1). */
  knotPort: number;
  /** unbound, the validating resolver (UDP and TCP on 127.0.0.1). */
  dnsPort: number;
  /** The DoH endpoint (RFC 8484, HTTP/1.1) in front of unbound. */
  dohUrl: string;
  /** A DoH URL whose server accepts connections and never answers. */
  blackholeUrl: string;
}

export interface Harness extends HarnessAddresses {
  dir: string;
  zones: readonly TestZone[];
  startupMs: number;
  stop(): Promise<void>;
}

/** The Debian package of each program the harness runs. */
const PACKAGES: Readonly<Record<string, string>> = { knotd: "knot", keymgr: "knot", unbound: "unbound" };

export async function startHarness(zones: readonly TestZone[] = TEST_ZONES): Promise<Harness> {
  const started = performance.now();
  const missing = Object.keys(PACKAGES).filter((program) => findProgram(program) === undefined);
  if (missing.length > 0) {
    const packages = [...new Set(missing.map((program) => PACKAGES[program]))];
    throw new Error(`the DNS test harness needs Debian packages: apt-get install -y ${packages.join(" ")}`);
  }

  const dir = await mkdtemp(join(tmpdir(), "edgemx-harness-"));
  const stops: (() => Promise<void>)[] = [];
  const stop = async (): Promise<void> => {
    for (const step of stops.reverse()) await step();
    await rm(dir, { recursive: true, force: true });
  };
  try {
    const { knotPort, dnsPort } = await startValidatingDns(dir, zones, stops);
    const bridge = await startDohBridge({ upstreamPort: dnsPort });
    stops.push(() => bridge.close());
    const blackhole = await startBlackhole();
    stops.push(() => blackhole.close());

    return {
      knotPort,
      dnsPort,
      dohUrl: bridge.url,
      blackholeUrl: `http://127.0.0.1:${blackhole.port}/dns-query`,
      dir,
      zones,
      startupMs: Math.round(performance.now() - started),
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** How long a restarted unbound may take to get its port back. */
const RESTART_LIMIT_MS = 15_000;

/**
 * Knot serving `zones` (signed where asked) and unbound validating them with this run's trust anchors,
 * on free ports, their files under `dir`; each daemon's stop goes onto `stops` as soon as it runs.
 * `unbound` lets the fault suite kill, stop and restart the resolver.
 * Ready when unbound validates every zone. Also the quickstart's DNS (scripts/quickstart/dns.ts).
 */
export async function startValidatingDns(
  dir: string,
  zones: readonly TestZone[],
  stops: (() => Promise<void>)[],
): Promise<{ knotPort: number; dnsPort: number; unbound: Signalable }> {
  const knotPort = await freePort();
  let dnsPort = await freePort();
  while (dnsPort === knotPort) dnsPort = await freePort();

  const knot = startKnot(dir, knotPort, zones);
  stops.push(() => knot.daemon.stop());
  await waitUntilReady(knot.daemon, () => answersEveryZone(knotPort, zones));

  const unboundDir = join(dir, "unbound");
  await mkdir(unboundDir);
  const anchors = await trustAnchors(knot.config, zones);
  const setup = { dir: unboundDir, port: dnsPort, knotPort, zones, anchors };
  let unbound = startUnbound(setup);
  stops.push(() => unbound.stop());
  await waitUntilReady(unbound, () => validatesEveryZone(dnsPort, zones));
  // While unbound was down its port was free, and a socket of the load beside it (a DNS query's UDP
  // socket, a client's connection) may hold that number for a moment: unbound then exits with "bind:
  // address already in use". It is started again until it binds, for RESTART_LIMIT_MS.
  const restart = async (): Promise<void> => {
    await unbound.stop();
    const deadline = Date.now() + RESTART_LIMIT_MS;
    for (;;) {
      unbound = startUnbound(setup);
      try {
        await waitUntilReady(unbound, () => validatesEveryZone(dnsPort, zones));
        return;
      } catch (err) {
        if (!unbound.exited() || Date.now() > deadline) throw err;
        await sleep(250);
      }
    }
  };
  return { knotPort, dnsPort, unbound: { signal: (name) => unbound.signal(name), restart } };
}

async function ask(port: number, name: string, type: RecordType) {
  const query = { id: 1, name, type };
  return lookupFromReply(query, decodeMessage(await queryOverTcp(port, encodeQuery(query), 500)));
}

/** Knot has loaded, and where asked signed, every zone: each apex answers its NS. */
async function answersEveryZone(port: number, zones: readonly TestZone[]): Promise<boolean> {
  const lookups = await Promise.all(zones.map((zone) => ask(port, zone.origin, "NS")));
  return lookups.every((lookup) => lookup.status === "ok");
}

/** unbound is up and validates with this run's anchors: each apex resolves, with AD exactly where signed. */
async function validatesEveryZone(port: number, zones: readonly TestZone[]): Promise<boolean> {
  const served = zones.filter((zone) => zone.security !== "bogus");
  const lookups = await Promise.all(served.map((zone) => ask(port, zone.origin, "NS")));
  return lookups.every((lookup, i) => lookup.status === "ok" && lookup.authenticated === (served[i]!.security === "signed"));
}
