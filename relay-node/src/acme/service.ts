// The relay's ACME service: it looks at start, then whenever something falls due (a renewal, a key
// swap, a retry) and at least every 12 hours, and asks the CA when core/acme says so. A renewal keeps
// key.pem, so the TLSA 3 1 1 record stays valid; `npm run tls -- rollover` makes the next key, whose
// record is published beside the current one, and the swap waits relay.acme.rolloverDelaySeconds
// (RFC 7671 §8.1). Each new certificate is checked against its key, written atomically and taken up
// without a restart (the relay's reloadCertificate). Keys are never logged.
import { readFileSync, renameSync } from "node:fs";
import type { EdgemxConfig } from "../../../core/config/schema.ts";
import { acmeNames, nextCheckAt, renewalDecision, retryDelayMs } from "../../../core/acme/renewal.ts";
import { startRollover, swapDue, swapped, type RolloverState } from "../../../core/acme/rollover.ts";
import type { Logger } from "../log/log.ts";
import { acmeFiles, readRolloverState } from "../tls/acme-files.ts";
import { checkPair, writeAtomically } from "../tls/certificate.ts";
import { keySpkiSha256Hex } from "../tls/tlsa.ts";
import { startChallengeResponder } from "./challenge.ts";
import { issueCertificate } from "./issue.ts";
import { certificateFacts, newPrivateKey, readAcmeStatus, writeRolloverState, type AcmeStatus } from "./store.ts";

export interface AcmeService {
  /** The HTTP-01 responder's bound port. */
  challengePort: number;
  status(): AcmeStatus;
  /** Renews now, whatever is due (`npm run tls -- renew`); resolves with the status after it. */
  renew(): Promise<AcmeStatus>;
  /** Begins a key rollover (`npm run tls -- rollover`); throws when one is under way. */
  rollover(): AcmeStatus;
}

export interface AcmeServiceDeps {
  logger: Logger;
  /** Takes up the files just written (relay.ts reloadCertificate); false when they do not make a pair. */
  reloadCertificate(): boolean;
  now?: () => number;
  /** Listen here instead of relay.acme.challengeListener (port 0: a free port). */
  listen?: { host?: string; port?: number };
}

/** Starts the responder and the timer, each registered on `services`; the first look runs at once. */
export async function startAcmeService(config: EdgemxConfig, deps: AcmeServiceDeps, services: AsyncDisposableStack): Promise<AcmeService> {
  const settings = config.relay.acme!;
  const files = acmeFiles(config);
  const names = acmeNames(config);
  const { logger } = deps;
  const now = deps.now ?? Date.now;
  const ca = settings.caFile === undefined ? undefined : readFileSync(settings.caFile, "utf8");

  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | null = null;
  let stopped = false;
  let failures = 0;
  let lastError: string | undefined;
  let nextAt: number | undefined;
  // Disposed after the responder (registered below it): an issuance in flight fails fast without
  // answers to its challenges, and the stop waits for it, so no request outlives the relay.
  services.defer(async () => {
    stopped = true;
    clearTimeout(timer);
    await running;
  });
  const challenges = await startChallengeResponder(deps.listen?.host ?? settings.challengeListener.host, deps.listen?.port ?? settings.challengeListener.port);
  services.defer(() => challenges.close());
  logger.info({ event: "listen", listener: "acme-http-01", port: challenges.port, names }, `ACME HTTP-01 challenges answered on port ${challenges.port}`);

  const issue = async (keyPem: string): Promise<string> => {
    const chain = await issueCertificate({
      directoryUrl: settings.directoryUrl,
      accountKeyPem: readFileSync(files.accountKey, "utf8"),
      contact: settings.contact,
      names,
      keyPem,
      challenges,
      ca,
    });
    checkPair({ cert: chain, key: keyPem });
    return chain;
  };

  const renew = async (reason: string): Promise<void> => {
    const started = now();
    logger.info({ event: "acme", names, reason }, "asking the CA for a certificate");
    const keyPem = readFileSync(files.key, "utf8");
    writeAtomically(files.cert, await issue(keyPem), 0o644);
    const reloaded = deps.reloadCertificate();
    const facts = certificateFacts(files)!;
    logger.info(
      { event: "acme", names, notAfter: new Date(facts.notAfter).toISOString(), tlsa: `3 1 1 ${keySpkiSha256Hex(keyPem)}`, reloaded, ms: now() - started },
      "new certificate for the same key: the TLSA record stays valid",
    );
  };

  const swapKeys = async (state: Extract<RolloverState, { phase: "publishing" }>): Promise<void> => {
    logger.info({ event: "acme", names, tlsa: `3 1 1 ${state.next}` }, "the rollover's delay is over: asking the CA for a certificate for the next key");
    const nextPem = readFileSync(files.nextKey, "utf8");
    const chain = await issue(nextPem);
    // cert.pem first, then the key: a stop in between is finished at the next start (store.ts).
    writeAtomically(files.cert, chain, 0o644);
    renameSync(files.nextKey, files.key);
    writeRolloverState(files, swapped(state, now()));
    const reloaded = deps.reloadCertificate();
    logger.info(
      { event: "acme", names, tlsa: `3 1 1 ${state.next}`, retiredTlsa: `3 1 1 ${state.current}`, reloaded },
      "switched to the next key; the old TLSA record can be removed now",
    );
  };

  /** One look: a due swap, else a due (or asked-for) renewal. */
  const look = async (forced: string | undefined): Promise<void> => {
    const state = readRolloverState(files.state);
    if (state.phase === "publishing" && swapDue(state, now()).due) return swapKeys(state);
    const decision =
      forced === undefined ? renewalDecision(certificateFacts(files), names, now(), settings.renewBeforeDays) : { due: true as const, reason: forced };
    if (decision.due) await renew(decision.reason);
  };

  const schedule = (): void => {
    clearTimeout(timer);
    if (stopped) return;
    const at = now();
    try {
      if (failures > 0) throw new Error("retry");
      const state = readRolloverState(files.state);
      const decision = renewalDecision(certificateFacts(files), names, at, settings.renewBeforeDays);
      nextAt = nextCheckAt(at, decision.due ? at : decision.dueAt, state.phase === "publishing" ? state.swapAfter : undefined);
    } catch {
      // after a failure, or files that cannot be read now: the look itself says what is wrong
      nextAt = at + retryDelayMs(Math.max(failures, 1));
    }
    timer = setTimeout(() => void run(undefined), nextAt - at);
    timer.unref();
  };

  const run = (forced: string | undefined): Promise<void> => {
    running ??= look(forced)
      .then(
        () => {
          failures = 0;
          lastError = undefined;
        },
        (error: unknown) => {
          failures += 1;
          lastError = (error as Error).message;
          logger.warn({ event: "acme", names, failures, err: lastError, retryInMs: retryDelayMs(failures) }, "no certificate from the CA this time");
        },
      )
      .finally(() => {
        running = null;
        schedule();
      });
    return running;
  };

  const status = (): AcmeStatus => ({
    ...readAcmeStatus(config),
    ...(nextAt === undefined ? {} : { nextCheckAt: new Date(nextAt).toISOString() }),
    ...(lastError === undefined ? {} : { lastError }),
  });

  void run(undefined);
  return {
    challengePort: challenges.port,
    status,
    async renew() {
      await running;
      await run("asked for by npm run tls -- renew");
      return status();
    },
    rollover() {
      const current = keySpkiSha256Hex(readFileSync(files.key));
      const nextPem = newPrivateKey(settings.keyType);
      const begun = startRollover(readRolloverState(files.state), { current, next: keySpkiSha256Hex(nextPem) }, now(), settings.rolloverDelaySeconds * 1000);
      if ("refused" in begun) throw new Error(begun.refused);
      // The key first, then the state that names it: a stop in between leaves a key nobody saw (store.ts removes it).
      writeAtomically(files.nextKey, nextPem, 0o600);
      writeRolloverState(files, begun.state);
      if (begun.state.phase === "publishing") {
        logger.info(
          { event: "acme", tlsa: `3 1 1 ${current}`, nextTlsa: `3 1 1 ${begun.state.next}`, swapAfter: new Date(begun.state.swapAfter).toISOString() },
          "key rollover begun: publish the next key's TLSA record beside the current one now",
        );
      }
      if (running === null) schedule();
      return status();
    },
  };
}
