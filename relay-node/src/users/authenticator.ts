// Who checks a submission user's password (relay.users): the local node:sqlite store (store.ts) or the
// IMAP host (imap.ts), both Authenticators (checker.ts).
import type { EdgemxConfig } from "../../../core/config/schema.ts";
import { ImapAuthenticator } from "./imap.ts";
import type { AuthOutcome, Authenticator } from "./checker.ts";
import { UserStore } from "./store.ts";

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
