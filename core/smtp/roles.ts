// RFC 2142 role mailboxes: postmaster@, abuse@ … must stay reachable for people reporting problems, so
// the configured checks are relaxed for them. The virus scan is never among the relaxable checks.
import type { RelaxableCheck } from "../config/schema.ts";
import type { WorkerConfig } from "../config/worker.ts";

/** The local part of an address, lower-cased (RFC 5321 §2.4: postmaster is case-insensitive). */
function roleOf(address: string, config: WorkerConfig): string | null {
  const at = address.lastIndexOf("@");
  if (at <= 0) return null;
  const local = address.slice(0, at).toLowerCase();
  const domain = address.slice(at + 1).toLowerCase();
  if (!config.domains.some((d) => d.name === domain)) return null;
  return Object.hasOwn(config.roles, local) ? local : null;
}

/**
 * The checks relaxed for a message: those every recipient's role relaxes. A message to postmaster@
 * and to an ordinary user gets no relaxation — the user is protected; the relay asks senders to
 * split such a transaction only where a check refuses at RCPT.
 */
export function relaxedChecks(rcptTo: readonly string[], config: WorkerConfig): Set<RelaxableCheck> {
  const perRecipient = rcptTo.map((rcpt) => {
    const role = roleOf(rcpt, config);
    return new Set<RelaxableCheck>(role ? (config.roles[role]?.relax ?? []) : []);
  });
  const [first, ...others] = perRecipient;
  if (!first) return new Set();
  return new Set([...first].filter((check) => others.every((set) => set.has(check))));
}

/** The role mailbox an address is, if any (for logs and the postmaster view). */
export function roleMailbox(address: string, config: WorkerConfig): string | null {
  return roleOf(address, config);
}
