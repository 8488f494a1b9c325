// SMTP connection reuse for outbound delivery, as Postfix's connection cache (scache(8)): after a
// transaction that went well, the session stays open for a short while and the next message for the
// same next hop under the same security decision goes over it — no TCP, EHLO or STARTTLS handshake of
// its own. Between two transactions the client sends RSET (RFC 5321 §4.1.1.5), which also shows the
// session is still alive; transaction.ts speaks it, remote.ts and smarthost.ts say which sessions are
// interchangeable (the key). The limits are pure functions (mayReuse, idleToClose); SessionCache is the
// bookkeeping around them.
//
// Written here rather than nodemailer's SMTPPool: that pool is one per server and options, takes whole
// Mail objects, queues them itself and never hands out the session between EHLO and MAIL FROM, where
// remote.ts must check the peer's certificates for DANE and MTA-STS before the message goes out. The
// sessions themselves are nodemailer's SMTPConnection, and RSET is its reset().
import type SMTPConnection from "nodemailer/lib/smtp-connection";

export interface SessionCacheLimits {
  /** An idle session is closed after this long (Postfix: smtp_connection_cache_time_limit, 2 s), well under servers' idle timeouts. */
  idleMs: number;
  /** A session is not reused once this old (Postfix: smtp_connection_reuse_time_limit, 300 s). */
  maxLifetimeMs: number;
  /** Transactions over one session at most (Postfix: smtp_connection_reuse_count_limit). */
  maxTransactions: number;
  /** Idle sessions to one destination at most. */
  maxIdlePerDestination: number;
  /** Idle sessions in all at most. */
  maxIdle: number;
  /**
   * Sessions to one destination at most, in use and idle together: the per-destination limit
   * (destination-limits.ts, relay.outbound.maxSessionsPerDomain), which idle sessions must not exceed.
   */
  maxOpenPerDestination: number;
}

export const DEFAULT_SESSION_CACHE_LIMITS: SessionCacheLimits = {
  idleMs: 2_000,
  maxLifetimeMs: 300_000,
  maxTransactions: 100,
  maxIdlePerDestination: 5,
  maxIdle: 100,
  maxOpenPerDestination: 5,
};

/** How much a session has been used. */
export interface SessionUse {
  /** When it was opened, ms since the epoch. */
  openedAt: number;
  /** Transactions made over it so far. */
  transactions: number;
}

/** Whether a session that just ended a transaction well may carry another one. */
export function mayReuse(use: SessionUse, now: number, limits: Pick<SessionCacheLimits, "maxLifetimeMs" | "maxTransactions">): boolean {
  return use.transactions < limits.maxTransactions && now - use.openedAt < limits.maxLifetimeMs;
}

/** An idle session as the limits see it. */
export interface IdleSession {
  destination: string;
  /** Since when it is idle, ms since the epoch. */
  idleSince: number;
}

/**
 * The idle sessions to close so that the limits hold, the longest idle first: at most `maxIdle` in
 * all, at most `maxIdlePerDestination` per destination, and per destination at most
 * `maxOpenPerDestination` together with the sessions in use (`inUse`).
 */
export function idleToClose<T extends IdleSession>(idle: readonly T[], inUse: ReadonlyMap<string, number>, limits: SessionCacheLimits): T[] {
  const idlePer = new Map<string, number>();
  for (const session of idle) idlePer.set(session.destination, (idlePer.get(session.destination) ?? 0) + 1);
  let total = idle.length;
  const close: T[] = [];
  for (const session of [...idle].sort((a, b) => a.idleSince - b.idleSince)) {
    const { destination } = session;
    const here = idlePer.get(destination)!;
    if (total > limits.maxIdle || here > limits.maxIdlePerDestination || here + (inUse.get(destination) ?? 0) > limits.maxOpenPerDestination) {
      close.push(session);
      idlePer.set(destination, here - 1);
      total--;
    }
  }
  return close;
}

/** A session that has been through at least one transaction, and what may reuse it. */
export interface CachedSession extends SessionUse {
  readonly connection: SMTPConnection;
  /** What its security was decided on: only a message with the same key may use it (remote.ts, smarthost.ts). */
  readonly key: string;
}

interface IdleEntry extends IdleSession {
  session: CachedSession;
  timer: NodeJS.Timeout;
  /** Takes the entry out of the cache when the session ends or fails while idle. */
  gone: () => void;
}

/** How long close() waits for an idle session's reply to QUIT before it drops the connection. */
const QUIT_WAIT_MS = 2_000;

/**
 * The idle sessions, and per destination how many are in use. Every checkOut() is matched by one
 * checkIn() (the session went well) or release() (it was closed), so the counts hold.
 */
export class SessionCache {
  readonly #limits: SessionCacheLimits;
  readonly #now: () => number;
  readonly #idle = new Set<IdleEntry>();
  readonly #inUse = new Map<string, number>();
  readonly #quitting = new Set<Promise<void>>();
  #closed = false;

  constructor(limits: Partial<SessionCacheLimits> = {}, now: () => number = Date.now) {
    this.#limits = { ...DEFAULT_SESSION_CACHE_LIMITS, ...limits };
    this.#now = now;
  }

  /**
   * A session for `destination` begins: an idle one cached under `key` (the most recently used), or
   * undefined — the caller opens a new one, and idle sessions of the destination are closed to make
   * room for it. Either way it counts as in use until checkIn() or release().
   */
  checkOut(key: string, destination: string): CachedSession | undefined {
    this.#inUse.set(destination, (this.#inUse.get(destination) ?? 0) + 1);
    let found: IdleEntry | undefined;
    for (const entry of this.#idle) if (entry.session.key === key && (found === undefined || entry.idleSince >= found.idleSince)) found = entry;
    if (found === undefined) {
      this.#enforceLimits();
      return undefined;
    }
    this.#forget(found);
    return found.session;
  }

  /** The session's transaction went well: it waits for the next message, or is closed by the limits. */
  checkIn(session: CachedSession, destination: string): void {
    this.release(destination);
    if (this.#closed || session.connection.destroyed || !mayReuse(session, this.#now(), this.#limits)) return this.#quit(session.connection);
    const entry: IdleEntry = {
      session,
      destination,
      idleSince: this.#now(),
      timer: setTimeout(() => {
        this.#forget(entry);
        this.#quit(session.connection);
      }, this.#limits.idleMs),
      gone: () => this.#forget(entry),
    };
    entry.timer.unref();
    // While idle, the cache answers for the session: a server that closes it (its idle timeout, a 421,
    // RFC 5321 §3.8) or a reset ends it here, and no error is left without a listener.
    session.connection.on("error", entry.gone);
    session.connection.once("end", entry.gone);
    this.#idle.add(entry);
    this.#enforceLimits();
  }

  /** A session checked out for `destination` is over; the caller closed it. */
  release(destination: string): void {
    const count = (this.#inUse.get(destination) ?? 1) - 1;
    if (count > 0) this.#inUse.set(destination, count);
    else this.#inUse.delete(destination);
  }

  /** Idle sessions now (for tests and diagnostics). */
  get idle(): number {
    return this.#idle.size;
  }

  /** Closes every idle session (QUIT) and waits for them; sessions checked in later are closed at once. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const entry of [...this.#idle]) {
      this.#forget(entry);
      this.#quit(entry.session.connection);
    }
    await Promise.all(this.#quitting);
  }

  #forget(entry: IdleEntry): void {
    if (!this.#idle.delete(entry)) return;
    clearTimeout(entry.timer);
    entry.session.connection.removeListener("error", entry.gone);
    entry.session.connection.removeListener("end", entry.gone);
  }

  #enforceLimits(): void {
    for (const entry of idleToClose([...this.#idle], this.#inUse, this.#limits)) {
      this.#forget(entry);
      this.#quit(entry.session.connection);
    }
  }

  /** QUIT (RFC 5321 §4.1.1.10), and the connection dropped if no reply comes within QUIT_WAIT_MS. */
  #quit(connection: SMTPConnection): void {
    if (connection.destroyed) return;
    const ended = new Promise<void>((resolve) => {
      const timer = setTimeout(() => connection.close(), QUIT_WAIT_MS);
      connection.once("end", () => {
        clearTimeout(timer);
        resolve();
      });
    });
    // An error while quitting only ends the session, which is what was asked.
    connection.on("error", () => {});
    connection.quit();
    this.#quitting.add(ended);
    void ended.then(() => this.#quitting.delete(ended));
  }
}
