// Header edits on the received message, in bytes (the body is never decoded or touched). By the time
// these run, DATA has been checked: every line ends in CRLF.

const CRLF = Buffer.from("\r\n");

/** Where the header section ends: the index just past its last field's CRLF (RFC 5322 §2.1). */
function headerEnd(message: Buffer): number {
  if (message.subarray(0, 2).equals(CRLF)) return 0;
  const blank = message.indexOf("\r\n\r\n");
  return blank >= 0 ? blank + 2 : message.length;
}

/** The header fields, each with its folded continuation lines and final CRLF (RFC 5322 §2.2.3). */
function headerFields(header: Buffer): Buffer[] {
  const fields: Buffer[] = [];
  let start = 0;
  let at = 0;
  while (at < header.length) {
    const lineEnd = header.indexOf(CRLF, at);
    const next = lineEnd < 0 ? header.length : lineEnd + 2;
    const continues = next < header.length && (header[next] === 0x20 || header[next] === 0x09);
    if (!continues) {
      fields.push(header.subarray(start, next));
      start = next;
    }
    at = next;
  }
  return fields;
}

/**
 * The authserv-id of an Authentication-Results value (RFC 8601 §2.2: authserv-id [CFWS
 * authres-version] ";" …): its first word, comments dropped.
 */
export function authservIdOf(fieldValue: string): string {
  // RFC 5322 §3.2.2: comments nest; remove the innermost ones until none is left.
  let text = fieldValue;
  for (let previous = ""; previous !== text; ) {
    previous = text;
    text = text.replace(/\((?:[^()\\]|\\.)*\)/g, " ");
  }
  return (text.trim().split(/[\s;]/)[0] ?? "").toLowerCase();
}

/**
 * RFC 8601 §5: a border MTA removes Authentication-Results fields that claim its own authserv-id
 * before adding its own, so a sender cannot forge our findings. Fields of other authserv-ids stay.
 */
export function removeOwnAuthenticationResults(message: Buffer, authservId: string): Buffer {
  const end = headerEnd(message);
  const fields = headerFields(message.subarray(0, end));
  const ours = authservId.toLowerCase();
  const kept = fields.filter((field) => {
    const text = field.toString("latin1");
    const match = /^authentication-results[ \t]*:/i.exec(text);
    return !match || authservIdOf(text.slice(match[0].length).replace(/\r\n/g, "")) !== ours;
  });
  if (kept.length === fields.length) return message;
  return Buffer.concat([...kept, message.subarray(end)]);
}

/** Prepends complete header fields ("Name: value", folded, without the final CRLF) in the given order. */
export function prependFields(message: Buffer, fields: readonly string[]): Buffer {
  if (fields.length === 0) return message;
  return Buffer.concat([Buffer.from(fields.map((f) => `${f}\r\n`).join(""), "utf8"), message]);
}
