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

/**
 * The authenticator of relay.users. Both read what is current at each login: the store its file (the
 * changes `npm run user` makes), the IMAP check the aliases of `configs.current` (a reload's).
 */
export function createAuthenticator(configs: { readonly current: EdgemxConfig }): Authenticator {
  const users = configs.current.relay.users;
  return users.type === "imap" ? new ImapAuthenticator(users, () => configs.current.domains) : new SqliteAuthenticator(new UserStore(users.path));
}
