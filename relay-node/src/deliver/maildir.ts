// Local delivery into Maildirs (https://cr.yp.to/proto/maildir.html), the relay's default next hop.
//
//   <path>/<domain>/<local part>/{tmp,new,cur}/    one Maildir per recipient, names in lower case
//
// Per recipient: write the message to tmp/<unique>, fsync, rename it to new/<unique>, fsync new/. Only
// then is the recipient "delivered" and may leave the spool. The spec's link(2) + unlink(2) would delete
// an inode per message, which makes every later create slow on ext4 without a journal (docs/queue.md);
// rename(2) is what Dovecot does too. The unique name (pid, counter, random) keeps it from replacing a
// file in new/. Each copy starts with the final-delivery trace fields Postfix's local(8) writes: Return-Path
// (RFC 5321 §4.4: added at final delivery) and Delivered-To (RFC 9228), so each copy names its recipient:
// the whole address, also when a subaddress (alice+news@) is filed under its mailbox (`mailboxOf`).
import { randomInt } from "node:crypto";
import { rename, unlink } from "node:fs/promises";
import { hostname as machineName } from "node:os";
import { join, resolve } from "node:path";
import { makeDirectories, syncDirectory, writeNewFileSynced } from "../queue/durable.ts";
import type { Deliverer, OutgoingMessage, RecipientResult } from "../queue/deliverer.ts";

const SUBDIRS = ["tmp", "new", "cur"] as const;

/**
 * A local part or domain as one folder name: lower case, and "/", "%", controls, spaces and a leading
 * "." written as %XX (UTF-8 octets), so that no address names a path outside <path> or a dot folder.
 */
function folderName(part: string): string {
  const lower = part.toLowerCase();
  let name = "";
  for (const [i, char] of [...lower].entries()) {
    const code = char.codePointAt(0) ?? 0;
    const unsafe = code <= 0x20 || code === 0x7f || "/%\\".includes(char) || (i === 0 && char === ".");
    name += unsafe ? [...Buffer.from(char, "utf8")].map((b) => "%" + b.toString(16).toUpperCase().padStart(2, "0")).join("") : char;
  }
  return name;
}

/** The Maildir of a recipient, or null for an address without a local part and a domain. */
function maildirOf(root: string, rcpt: string): string | null {
  const at = rcpt.lastIndexOf("@");
  if (at <= 0 || at === rcpt.length - 1) return null;
  return join(root, folderName(rcpt.slice(at + 1)), folderName(rcpt.slice(0, at)));
}

/**
 * A unique file name in the Maildir spec's form "time.delivery-id.host", the delivery id made of
 * P<pid>, Q<deliveries by this process> and R<random>, so that neither a reused pid nor a clock step
 * repeats a name; "/" and ":" in the host are written \057 and \072 as the spec says.
 */
function uniqueName(now: number, pid: number, counter: number, host: string): string {
  const safeHost = host.replaceAll("/", "\\057").replaceAll(":", "\\072");
  return `${Math.floor(now / 1000)}.P${pid}Q${counter}R${randomInt(0x100000000).toString(16).padStart(8, "0")}.${safeHost}`;
}

/** The reply for a file-system error: all of them are transient (disk full, quota, I/O). */
function replyForError(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code ?? "error";
  if (code === "ENOSPC") return "452 4.3.1 Mail system full (ENOSPC)";
  if (code === "EDQUOT") return "452 4.2.2 Mailbox full (EDQUOT)";
  return `451 4.3.0 Local delivery failed (${code})`;
}

export interface MaildirOptions {
  path: string;
  /** The mailbox a recipient is filed under (core/smtp/recipient.ts mailboxAddress); the recipient itself without it. */
  mailboxOf?: (rcpt: string) => string;
}

export function maildirDeliverer(options: MaildirOptions): Deliverer {
  const root = resolve(options.path);
  const mailboxOf = options.mailboxOf ?? ((rcpt: string) => rcpt);
  const host = machineName();
  // Maildirs made (or being made) by this process; concurrent deliveries to a new one share its making.
  const ready = new Map<string, Promise<void>>();
  let deliveries = 0;

  function ensureMaildir(folder: string): Promise<void> {
    let making = ready.get(folder);
    if (!making) {
      making = makeDirectories(SUBDIRS.map((sub) => join(folder, sub)));
      ready.set(folder, making);
    }
    return making;
  }

  async function deliverOne(message: OutgoingMessage, rcpt: string): Promise<RecipientResult> {
    const folder = maildirOf(root, mailboxOf(rcpt));
    if (folder === null) return { rcpt, status: "failed", reply: `550 5.1.3 <${rcpt}>: Bad destination mailbox address syntax` };
    const name = uniqueName(Date.now(), process.pid, ++deliveries, host);
    const temp = join(folder, "tmp", name);
    try {
      await ensureMaildir(folder);
      // One writev call: the trace fields and the message together, the message not copied.
      await writeNewFileSynced(temp, [`Return-Path: <${message.envelope.mailFrom}>\r\nDelivered-To: ${rcpt}\r\n`, message.message]);
      await rename(temp, join(folder, "new", name));
      await syncDirectory(join(folder, "new"));
    } catch (error) {
      await unlink(temp).catch(() => undefined);
      ready.delete(folder); // it may have been removed under us: create it again next time
      return { rcpt, status: "deferred", reply: replyForError(error) };
    }
    return { rcpt, status: "delivered", reply: `250 2.0.0 <${rcpt}>: delivered to maildir as ${name}` };
  }

  return async (message) => {
    const results: RecipientResult[] = [];
    for (const rcpt of message.envelope.rcptTo) results.push(await deliverOne(message, rcpt));
    return results;
  };
}
