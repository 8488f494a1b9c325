// `npm run blocklist -- list|add|del`: the spamtrap's blocklist (spam/blocklist-store.ts), in whichever
// store relay.store names — the SQLite file or the Redis that relays share — so a postmaster can
// see who is blocked, block an address by hand, and unblock one (a shared address that hit a trap once).
// A running relay sees each change at its next connection: it asks the store at every connect. Exit
// status 1 when there was nothing to remove or the store failed, 2 on bad usage.
import { parseArgs } from "node:util";
import { ConfigError } from "../../../core/config/load.ts";
import { canonicalIp } from "../../../core/smtp/ip-address.ts";
import { CONFIG_OPTIONS, ConfigChoiceError, configFilePath, loadConfigFile } from "../config/file.ts";
import { openBlocklistStore, type Listing } from "../spam/blocklist-store.ts";
import { spamtrapZone } from "../spam/spamtrap.ts";

const USAGE = `usage: npm run blocklist -- list
       npm run blocklist -- add <address> [--ttl <seconds>]
       npm run blocklist -- del <address>
  each may add --config <file> (or --example)

  The spamtrap's blocklist in relay.store of the relay's configuration (SQLite or Redis):
  --config, else $EDGEMX_CONFIG, else ./edgemx.yaml. A listed address is refused at connect
  (554 5.7.1 … blocked using spamtrap.<hostname>) until its listing ends: --ttl seconds from now,
  else relay.rspamd.spamtrap.blocklistTtlSeconds.`;

class UsageError extends Error {}
/** The store did not answer (a locked file, Redis unreachable). */
class StoreFailure extends Error {}

/** A store operation, its failure said as one line rather than a stack trace. */
function fromStore<T>(operation: Promise<T>): Promise<T> {
  return operation.catch((err: unknown) => {
    throw new StoreFailure(`the blocklist store failed: ${err instanceof Error ? err.message : String(err)}`);
  });
}

/** "192.0.2.7  until 2026-12-08T05:00:00.000Z (86400 s more)" */
function describeListing(listing: Listing, now: number): string {
  return `${listing.ip}  until ${new Date(listing.until).toISOString()} (${Math.max(0, Math.round((listing.until - now) / 1000))} s more)`;
}

/** The address as the relay looks it up (an IPv4-mapped address as IPv4, IPv6 in RFC 5952 form). */
function addressArgument(text: string | undefined): string {
  const ip = text === undefined ? null : canonicalIp(text);
  if (ip === null) throw new UsageError(`${text === undefined ? "an address is missing" : `not an IP address: ${text}`}\n${USAGE}`);
  return ip;
}

function ttlArgument(text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  if (!/^\d+$/.test(text) || Number(text) < 1) throw new UsageError(`--ttl: expected whole seconds, at least 1, not ${text}\n${USAGE}`);
  return Number(text);
}

async function main(args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args, allowPositionals: true, options: { ...CONFIG_OPTIONS, ttl: { type: "string" } } });
  } catch (err) {
    throw new UsageError(`${(err as Error).message}\n${USAGE}`);
  }
  const { positionals, values } = parsed;
  const [command, address, ...rest] = positionals;
  const takesAddress = command === "add" || command === "del";
  if (!(takesAddress || command === "list") || rest.length > 0 || (command === "list" && address !== undefined)) throw new UsageError(USAGE);
  if (values.ttl !== undefined && command !== "add") throw new UsageError(`--ttl goes with add only\n${USAGE}`);
  const ip = takesAddress ? addressArgument(address) : null;

  const config = loadConfigFile(configFilePath(values));
  const spamtrap = config.relay.rspamd.spamtrap;
  const ttl = ttlArgument(values.ttl, spamtrap.blocklistTtlSeconds);
  if (spamtrap.addresses.length === 0)
    console.error("note: relay.rspamd.spamtrap.addresses is empty, and a relay without spamtrap addresses does not consult the blocklist");
  const store = openBlocklistStore(config.relay.store);
  const zone = spamtrapZone(config.hostname);
  try {
    switch (command) {
      case "list": {
        const now = Date.now();
        const listings = await fromStore(store.list());
        if (listings.length === 0) console.error(`nothing is listed in ${zone}`);
        for (const listing of listings) console.log(describeListing(listing, now));
        return 0;
      }
      case "add": {
        const until = await fromStore(store.add(ip!, ttl));
        console.log(`listed ${describeListing({ ip: ip!, until }, Date.now())} in ${zone}`);
        return 0;
      }
      default: {
        if (await fromStore(store.remove(ip!))) {
          console.log(`removed ${ip!} from ${zone}`);
          return 0;
        }
        console.error(`${ip!} is not listed in ${zone}`);
        return 1;
      }
    }
  } finally {
    await store.close();
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof UsageError) {
      console.error(err.message);
      process.exitCode = 2;
      return;
    }
    if (!(err instanceof ConfigError) && !(err instanceof ConfigChoiceError) && !(err instanceof StoreFailure)) throw err;
    console.error(err.message);
    process.exitCode = 1;
  },
);
