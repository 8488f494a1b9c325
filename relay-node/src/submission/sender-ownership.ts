// A submission user sends only as an address of their own — the login address or one of its aliases
// (users/store.ts) — in the envelope (MAIL FROM, RFC 5321 §4.1.1.2) and in the message's author
// fields (RFC 5322 §3.6.2: From, and Sender when present). The author fields are parsed by their
// grammar (address lists with display names, comments, groups), not matched with a pattern.
import { addressParser, type Mailbox } from "postal-mime";
import { buildReply, type SmtpReply } from "../../../core/smtp/replies.ts";
import { parseHeaderSection } from "../../../core/mime/header.ts";

export function ownsAddress(owned: ReadonlySet<string>, address: string): boolean {
  return address !== "" && owned.has(address.toLowerCase());
}

/**
 * Every mailbox address of the From and Sender fields, in order. The header section is read with the
 * judge's bounded parser; field bodies are octets, read as UTF-8 (RFC 6532 §3.2).
 */
export function authorAddresses(raw: Uint8Array): string[] {
  const header = parseHeaderSection(raw, 0, () => false);
  return header.fields
    .filter((field) => field.name === "from" || field.name === "sender")
    .flatMap((field) => addressParser(Buffer.from(field.value, "latin1").toString("utf8"), { flatten: true }))
    .filter((address): address is Mailbox => address.group === undefined)
    .map((mailbox) => mailbox.address);
}

/** MAIL FROM: null when owned, else 553 5.7.1 (the null reverse path is no user's address). */
export function decideEnvelopeSender(mailFrom: string, owned: ReadonlySet<string>): SmtpReply | null {
  return ownsAddress(owned, mailFrom) ? null : buildReply("senderNotOwned", { address: mailFrom });
}

/** The message's From and Sender: null when every mailbox is owned, else 553 naming the first that is not. */
export function decideAuthorFields(raw: Uint8Array, owned: ReadonlySet<string>): SmtpReply | null {
  const authors = authorAddresses(raw);
  // RFC 5322 §3.6: From is required; a message without an author is no user's.
  if (authors.length === 0) return buildReply("senderNotOwned", { address: "" });
  const foreign = authors.find((address) => !ownsAddress(owned, address));
  return foreign === undefined ? null : buildReply("senderNotOwned", { address: foreign });
}
