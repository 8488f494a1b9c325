// What checks a submission user's password, whichever checker it is (authenticator.ts picks one): three
// outcomes, mapped by the submission listener to RFC 4954 §6 replies: ok → 235, invalid → 535 5.7.8,
// temporary (the checker could not decide) → 454 4.7.0.
import type { UserRecord } from "./store.ts";

export type AuthOutcome = { status: "ok"; user: UserRecord } | { status: "invalid" } | { status: "temporary"; reason: string };

export interface Authenticator {
  /** Never throws and never records the password anywhere. */
  authenticate(username: string, password: string): Promise<AuthOutcome>;
  close(): void;
}
