// `npm start`: runs edgemx locally on the configuration file ($EDGEMX_CONFIG, ./edgemx.yaml, else the
// example — the one program that runs on the example unasked): the relay in this process (its MX
// listener, spool and delivery; relay-node/src/relay.ts) and the Worker's HTTP side inside workerd
// (wrangler dev) on 127.0.0.1 as a child. On the example configuration it first brings up what the
// relay's main job needs — DNS and clamd, as the tests do (scripts/quickstart/) — and prints a swaks
// line the relay accepts through its real checks. Each message delivered to the Maildir is named with
// its Authentication-Results. Ctrl-C stops it all; a second Ctrl-C does not wait.
import { spawn } from "node:child_process";
import { get } from "node:http";
import { relative, resolve } from "node:path";
import pretty from "pino-pretty";
import { ConfigError } from "../core/config/load.ts";
import type { EdgemxConfig } from "../core/config/schema.ts";
import { isExampleConfig, loadConfigFile, startConfigPath } from "../relay-node/src/config/file.ts";
import { createLogger } from "../relay-node/src/log/log.ts";
import { startRelay, type RunningRelay } from "../relay-node/src/relay.ts";
import { authenticationResults, watchDeliveries } from "./quickstart/deliveries.ts";
import { startQuickstart, type Quickstart } from "./quickstart/quickstart.ts";
import { SANDBOX_SENDER } from "./quickstart/zones.ts";

const path = startConfigPath();
const port = process.env.PORT ?? "8787";
let config: EdgemxConfig;
try {
  config = loadConfigFile(path);
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  console.error(err.message);
  process.exit(1);
}

/** A path as the user would type it from here: relative below the working directory, else absolute. */
function shown(target: string): string {
  const rel = relative(process.cwd(), target);
  return rel.startsWith("..") ? resolve(target) : rel;
}

const domain = config.domains[0]!.name;
console.log(`edgemx: serving ${config.domains.map((x) => x.name).join(", ")} from ${path}`);

let quickstart: Quickstart | null = null;
if (isExampleConfig(path)) {
  console.log("edgemx quickstart: bringing up the DNS and clamd the relay's checks need");
  try {
    quickstart = await startQuickstart(config);
  } catch (err) {
    console.error(`edgemx quickstart: ${(err as Error).message}`);
    process.exit(1);
  }
  for (const note of quickstart.notes) console.log(`  ${note}`);
  config = quickstart.config;
}

let relay: RunningRelay;
try {
  // Readable log lines on a terminal, JSON lines otherwise (as the relay writes them in production).
  const logger = createLogger(config.relay.logLevel, process.stdout.isTTY ? pretty({ colorize: true }) : undefined);
  // A reload reads the file again; the quickstart's DNS and clamd go on replacing the file's.
  relay = await startRelay(config, { logger, configFile: path, ...(quickstart === null ? {} : { asRun: quickstart.asRun }) });
} catch (err) {
  console.error(`edgemx relay: ${(err as Error).message}`);
  await quickstart?.stop();
  process.exit(1);
}

const { nextHop } = config.relay;
const deliveries =
  nextHop.type === "maildir"
    ? watchDeliveries(resolve(nextHop.path), (file, message) => {
        console.log(`edgemx: delivered ${shown(file)}`);
        for (const results of authenticationResults(message)) console.log(`  Authentication-Results: ${results}`);
      })
    : null;

const child = spawn("wrangler", ["dev", "--ip", "127.0.0.1", "--port", port, "--show-interactive-dev-session=false"], {
  stdio: "inherit",
  // The Worker's build step (scripts/worker-config.ts) reads the same file, and the example only when asked.
  env: {
    ...process.env,
    ...(isExampleConfig(path) ? { EDGEMX_CONFIG: undefined, EDGEMX_EXAMPLE: "1" } : { EDGEMX_CONFIG: resolve(path) }),
    CLOUDFLARE_CF_FETCH_ENABLED: "false",
    WRANGLER_SEND_METRICS: "false",
  },
});
const childExit = new Promise<number>((resolveExit) => child.once("exit", (code) => resolveExit(code ?? 0)));

/** One GET of the postmaster page (fetch() cannot set Host); true when it answers at all. */
function postmasterPageAnswers(): Promise<boolean> {
  return new Promise((resolveGet) => {
    // Until wrangler's build is done the request waits: give it time, and ask again when refused.
    const request = get({ host: "127.0.0.1", port, path: "/postmaster", headers: { host: domain }, timeout: 120_000 }, (response) => {
      response.resume();
      resolveGet(true);
    });
    request.once("timeout", () => request.destroy());
    request.once("error", () => resolveGet(false));
  });
}

/** Resolves once wrangler dev serves the Worker (its build runs first): true, or false when it exited. */
async function workerAnswers(): Promise<boolean> {
  while (child.exitCode === null && child.signalCode === null) {
    if (await postmasterPageAnswers()) return true;
    await new Promise((wait) => setTimeout(wait, 250));
  }
  return false;
}

/** What to try, printed once both halves run: the last thing `npm start` says before mail arrives. */
function tryLines(): string[] {
  const http = `http://127.0.0.1:${port}`;
  const lines = ["", "edgemx is running. Try:"];
  if (relay.port !== null) {
    const server = `${relay.host}:${relay.port}`;
    const to = `postmaster@${domain}`;
    if (quickstart?.dns === true) {
      lines.push(
        `  mail      swaks ${quickstart.acceptedMessage(server, to).join(" ")}`,
        `            → 250 2.0.0 Ok: queued as …: ${SANDBOX_SENDER.host} (${SANDBOX_SENDER.address}) passes every check (DNSBL, FCrDNS, HELO, sender, SPF, DMARC, clamd).`,
      );
      if (config.connection.greylist.enabled) {
        lines.push(
          `            To another mailbox (--to bob@${domain}) a new sender is greylisted first, as a postmaster wants: 451 4.7.1, accepted when retried after ${config.connection.greylist.delaySeconds} s.`,
        );
      }
    } else {
      lines.push(`  mail      swaks --server ${server} --to ${to}   (your resolver and clamd decide; the relay's lines above say whether they answer)`);
    }
    if (nextHop.type === "maildir")
      lines.push(
        `            Delivered mail lands in ${shown(nextHop.path)}/<domain>/<local part>/new/, each file named here with its Authentication-Results.`,
      );
  }
  const request =
    `<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006"><Request>` +
    `<EMailAddress>bob@${domain}</EMailAddress>` +
    `<AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema>` +
    `</Request></Autodiscover>`;
  lines.push(
    `  Thunderbird autoconfig   curl -H 'Host: autoconfig.${domain}' '${http}/mail/config-v1.1.xml?emailaddress=bob@${domain}'`,
    `  Outlook autodiscover     curl -H 'Host: autodiscover.${domain}' -H 'Content-Type: text/xml' --data '${request}' ${http}/autodiscover/autodiscover.xml`,
    `  MTA-STS policy           curl -H 'Host: mta-sts.${domain}' ${http}/.well-known/mta-sts.txt`,
    `  postmaster page          curl -H 'Host: ${domain}' ${http}/postmaster`,
    `  … in German              curl -H 'Host: ${domain}' '${http}/postmaster?lang=de'`,
  );
  if (relay.metricsPort !== null) {
    const host = config.relay.metrics.host;
    const metrics = `http://${host.includes(":") ? `[${host}]` : host}:${relay.metricsPort}`;
    lines.push(`  metrics and health       curl ${metrics}/metrics   (and ${metrics}/readyz: which dependency does not answer)`);
  }
  lines.push("Ctrl-C stops it all.");
  return lines;
}

let stopping = false;
let signals = 0;
/** Stops wrangler, the relay and what the quickstart brought up; exits 0 when asked to by a signal, else with wrangler's status. */
async function stopAll(): Promise<void> {
  if (stopping) return;
  stopping = true;
  if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
  deliveries?.stop();
  const [code] = await Promise.all([childExit, relay.stop()]);
  await quickstart?.stop();
  process.exit(signals > 0 ? 0 : code);
}

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    if (++signals > 1) {
      child.kill("SIGKILL");
      process.exit(1);
    }
    void stopAll();
  });
}
child.once("exit", () => void stopAll());
if (await workerAnswers()) console.log(tryLines().join("\n"));
