// Who checks a submission user's password (relay.users): the local node:sqlite store (store.ts) or the
// IMAP host (imap.ts). Three outcomes, mapped by the submission listener to RFC 4954 §6 replies:
// ok → 235, invalid → 535 5.7.8, temporary (the checker could not decide) → 454 4.7.0.
import type { EdgemxConfig } from "../../../core/config/schema.ts";
import { ImapAuthenticator } from "./imap.ts";
import { UserStore, type UserRecord } from "./store.ts";

export type AuthOutcome = { status: "ok"; user: UserRecord } | { status: "invalid" } | { status: "temporary"; reason: string };

export interface Authenticator {
  /** Never throws and never records the password anywhere. */
  authenticate(username: string, password: string): Promise<AuthOutcome>;
  close(): void;
}

export class SqliteAuthenticator implements Authenticator {
  readonly #store: UserStore;

  constructor(store: UserStore) {
    this.#store = store;
  }

  async authenticate(username: string, password: string): Promise<AuthOutcome> {
    try {
      const user = await this.#store.authenticate(username, password);
      return user === null ? { status: "invalid" } : { status: "ok", user };
    } catch (err) {
      return { status: "temporary", reason: `the user store failed: ${err instanceof Error ? err.message : String(err)}` };
    }
  }

  close(): void {
    this.#store.close();
  }
}

export function createAuthenticator(config: EdgemxConfig): Authenticator {
  const users = config.relay.users;
  return users.type === "imap" ? new ImapAuthenticator(users, config.domains) : new SqliteAuthenticator(new UserStore(users.path));
}
