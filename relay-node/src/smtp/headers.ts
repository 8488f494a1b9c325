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
  for (let previous = ""; previous !== text;) {
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
  // Most messages have no such field: one search of the header section spares splitting it.
  if (!/(?:^|\n)authentication-results[ \t]*:/i.test(message.toString("latin1", 0, end))) return message;
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

/** The name of a header field, lower-cased ("Subject: x" → "subject"). */
function fieldName(field: Buffer): string {
  const colon = field.indexOf(":");
  return (colon < 0 ? "" : field.subarray(0, colon).toString("latin1")).trim().toLowerCase();
}

/** Removes every field with one of these names (compared case-insensitively): fields we write ourselves must not be forged. */
export function removeFields(message: Buffer, names: readonly string[]): Buffer {
  const end = headerEnd(message);
  const fields = headerFields(message.subarray(0, end));
  const remove = new Set(names.map((name) => name.toLowerCase()));
  const kept = fields.filter((field) => !remove.has(fieldName(field)));
  if (kept.length === fields.length) return message;
  return Buffer.concat([...kept, message.subarray(end)]);
}

/** RFC 5322 §2.1.1: lines of at most 78 characters where the text allows it. */
const FOLD_AT = 78;

/**
 * An unstructured field (RFC 5322 §3.2.5), folded at spaces (§2.2.3). Text that is not printable
 * ASCII goes as RFC 2047 encoded-words of UTF-8 (base64, at most 75 characters each, §2).
 */
export function unstructuredField(name: string, value: string): string {
  const words = /^[\x20-\x7e]*$/.test(value) ? value.split(" ") : encodedWords(value);
  const lines: string[] = [];
  let line = `${name}:`;
  for (const word of words) {
    if (line.length + 1 + word.length > FOLD_AT && line.trim() !== `${name}:`) {
      lines.push(line);
      line = "";
    }
    line += ` ${word}`;
  }
  lines.push(line);
  return lines.join("\r\n");
}

/** RFC 2047 §2 and §5: "=?UTF-8?B?…?=" words of whole characters, each at most 75 characters. */
function encodedWords(text: string): string[] {
  const words: string[] = [];
  let chunk = "";
  // eslint-disable-next-line no-control-regex -- control characters are exactly what is replaced
  for (const char of text.replace(/[\u0000-\u001f\u007f]/g, " ")) {
    // 12 characters of "=?UTF-8?B?" and "?=" leave 63 for base64: 45 bytes of UTF-8.
    if (Buffer.byteLength(chunk + char) > 45) {
      words.push(`=?UTF-8?B?${Buffer.from(chunk).toString("base64")}?=`);
      chunk = "";
    }
    chunk += char;
  }
  if (chunk !== "") words.push(`=?UTF-8?B?${Buffer.from(chunk).toString("base64")}?=`);
  return words;
}

/** Replaces the Subject field (RFC 5322 §3.6.5) where the first one stood; the message gets one if it had none. */
export function replaceSubject(message: Buffer, subject: string): Buffer {
  const end = headerEnd(message);
  const fields = headerFields(message.subarray(0, end));
  const field = Buffer.from(`${unstructuredField("Subject", subject)}\r\n`, "utf8");
  const first = fields.findIndex((f) => fieldName(f) === "subject");
  if (first < 0) return Buffer.concat([...fields, field, message.subarray(end)]);
  const kept = fields.flatMap((f, i) => (i === first ? [field] : fieldName(f) === "subject" ? [] : [f]));
  return Buffer.concat([...kept, message.subarray(end)]);
}
