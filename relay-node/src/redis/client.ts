// The Redis connection of the shared stores (greylisting, the spamtrap blocklist): an outage must
// answer fast, so that the check tempfails instead of holding the SMTP session.
import { Redis } from "ioredis";

/**
 * Commands time out after `commandTimeoutMs` and are retried on one reconnect at most; reconnects go
 * on in the background. Connection errors reach the caller as failed commands, with their reason; the
 * event itself would otherwise be printed by ioredis as "Unhandled error event" on every reconnect.
 */
export function fastFailingRedis(url: string, commandTimeoutMs = 1_000): Redis {
  const client = new Redis(url, {
    commandTimeout: commandTimeoutMs,
    connectTimeout: commandTimeoutMs,
    maxRetriesPerRequest: 1,
    retryStrategy: (times) => Math.min(times * 100, 2_000),
  });
  client.on("error", () => {});
  return client;
}
