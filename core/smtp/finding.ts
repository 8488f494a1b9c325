// What every connection-stage check returns: a pure finding; the session pipeline (smtp/) applies the
// configured action (reject / tempfail / log), role-mailbox relaxation and the delay to RCPT.
import type { RelaxableCheck } from "../config/schema.ts";
import type { SmtpReply } from "./replies.ts";

/** The checks of the relay: the relaxable ones of the schema, and those never relaxed. */
export type RelayCheck = RelaxableCheck | "recipient" | "relay" | "tls" | "virus" | "size";

export type Finding =
  /** The check passed (or does not apply); `detail` says what was seen, for the log line. */
  | { check: RelayCheck; outcome: "pass"; detail: string }
  /**
   * The check could not run for want of a fact the transport does not have — on Email Routing, a client
   * the trace does not name, or a TLS state it does not show. It refuses nothing; it is said in the log
   * and in the message's X-Edgemx-Verdict field.
   */
  | { check: RelayCheck; outcome: "skipped"; detail: string }
  /** The check failed: the reply to give when its action is reject (or tempfail, turned into 4xx). */
  | { check: RelayCheck; outcome: "fail"; reply: SmtpReply; detail: string }
  /** The check could not decide (DNS timeout, SERVFAIL, scanner down): always a 451. */
  | { check: RelayCheck; outcome: "temporary"; reply: SmtpReply; detail: string };

/** What the client is known as, once the connect-stage checks ran. */
export interface ClientFacts {
  ip: string;
  /** The forward-confirmed PTR name, or null when FCrDNS failed. */
  verifiedName: string | null;
}
