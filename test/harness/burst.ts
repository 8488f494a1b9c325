// A burst of mail over concurrent SMTP sessions, for the tests that kill relays in the middle of one
// (relay-crash, multi-relay, relay-reuse-port-crash): each session sends its share of the messages, one
// after the other, each with a Message-ID of its own, and tells which got a 250 — so that the test can
// look for every acknowledged message in the Maildir after the restart. Loopback only, from the
// harness's mail.sender.test address (SPF, FCrDNS and HELO pass).
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { expect } from "vitest";
import { LOCAL, maildirMessages, testMessage } from "./relay.ts";
import { openSmtp, type SmtpDialogue } from "./smtp-client.ts";
import { TEST_DNS } from "./zones.ts";

const { sender } = TEST_DNS;

export interface ShareResult {
  /** The Message-IDs that got a 250. */
  acknowledged: string[];
  /** Those sent or to be sent without a reply: the one in flight when a connection died, and (without `reconnect`) every one after it. */
  unanswered: string[];
  /** The greeting of every connection that died in the middle of the session. */
  broken: string[];
  /** The greeting of every connection the session opened, in order. */
  greetings: string[];
}

export interface Share {
  port: number;
  /** The Message-IDs of this session's messages, without angle brackets. */
  ids: readonly string[];
  /** The envelope's and From's sender, of sender.test. */
  from: string;
  body?: string;
  /** Told after each 250, with the greeting of the relay that gave it. */
  onAcknowledged?: (id: string, greeting: string) => void;
  /**
   * When the connection dies, open another and go on with the next message, as a sending MTA would
   * (it tries again later); otherwise the session ends there.
   */
  reconnect?: boolean;
}

async function connect(port: number): Promise<{ smtp: SmtpDialogue; greeting: string }> {
  const smtp = await openSmtp(port, { localAddress: sender.authorizedIp });
  try {
    const greeting = await smtp.reply();
    await smtp.command(`EHLO ${sender.mailHost}`);
    return { smtp, greeting };
  } catch (err) {
    smtp.close();
    throw err;
  }
}

/** One session sending its share, one message after the other, until done or (without `reconnect`) the connection dies. */
export async function sendShare(share: Share): Promise<ShareResult> {
  const result: ShareResult = { acknowledged: [], unanswered: [], broken: [], greetings: [] };
  let open: { smtp: SmtpDialogue; greeting: string } | null = null;
  for (const [i, id] of share.ids.entries()) {
    if (open === null) {
      // A connection refused or cut before its greeting: the relay is gone (for now).
      open = await connect(share.port).catch(() => null);
      if (open === null) {
        result.unanswered.push(...(share.reconnect === true ? [id] : share.ids.slice(i)));
        if (share.reconnect === true) continue;
        break;
      }
      result.greetings.push(open.greeting);
    }
    try {
      const { smtp, greeting } = open;
      expect(await smtp.command(`MAIL FROM:<${share.from}>`)).toMatch(/^250 /);
      expect(await smtp.command(`RCPT TO:<${LOCAL.mailbox}>`)).toMatch(/^250 /);
      expect(await smtp.command("DATA")).toMatch(/^354 /);
      smtp.write(`${testMessage({ from: share.from, messageId: `<${id}>`, ...(share.body === undefined ? {} : { body: share.body }) })}.\r\n`);
      const reply = await smtp.reply();
      if (!reply.startsWith("250 ")) throw new Error(`message ${id} refused: ${reply}`);
      result.acknowledged.push(id);
      share.onAcknowledged?.(id, greeting);
    } catch (err) {
      if ((err as Error).message !== "connection closed") throw err;
      result.broken.push(open.greeting);
      open.smtp.close();
      open = null;
      if (share.reconnect === true) result.unanswered.push(id);
      else {
        result.unanswered.push(...share.ids.slice(i));
        break;
      }
    }
  }
  open?.smtp.close();
  return result;
}

/** Message-ID → copies in the mailbox of a Maildir. */
export function copiesById(maildir: string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const message of maildirMessages(maildir, LOCAL.mailbox)) {
    const id = /^Message-ID: <([^>]+)>\r$/im.exec(message)?.[1];
    if (id !== undefined) counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  return counts;
}

/** Files waiting in <spool>/queue (temporary ".…tmp" files aside). */
export function queuedFiles(spool: string): number {
  try {
    return readdirSync(join(spool, "queue")).filter((name) => !name.startsWith(".")).length;
  } catch {
    return 0;
  }
}

/** Waits until the spools' queues are empty and the Maildir's count stopped changing. */
export async function deliveryFinished(spools: readonly string[], maildir: string): Promise<void> {
  let last = -1;
  for (;;) {
    const count = maildirMessages(maildir, LOCAL.mailbox).length;
    if (spools.every((spool) => queuedFiles(spool) === 0) && count === last) return;
    last = count;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}
