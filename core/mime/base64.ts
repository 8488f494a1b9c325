// RFC 2045 §6.8: base64 content is lines of the 65-character alphabet (A–Z a–z 0–9 + / and "=" for
// padding). Decoders skip anything else, but what one decoder skips another may not — the gap a
// scanner-evading message hides in — so anything else is reported, and so is data after the padding.
import { CR, LF } from "./lines.ts";

const EQUALS = 0x3d;

const ALPHABET = new Uint8Array(256);
for (const ch of "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/") ALPHABET[ch.charCodeAt(0)] = 1;

function octetName(octet: number): string {
  return octet > 0x20 && octet < 0x7f ? `"${String.fromCharCode(octet)}"` : `the octet 0x${octet.toString(16).padStart(2, "0")}`;
}

/** The first problem of the base64 content raw[start, end), or undefined when it is clean. */
export function base64Problem(raw: Uint8Array, start: number, end: number): string | undefined {
  let characters = 0;
  let padding = 0;
  let line = 1;
  let at = start;
  while (at < end) {
    // A run of alphabet characters (a whole line, usually) in one tight loop over the table.
    const run = at;
    while (at < end && ALPHABET[raw[at] ?? 0] === 1) at++;
    if (at > run) {
      if (padding > 0) return `line ${line} of the content: data after the "=" padding`;
      characters += at - run;
      if (at === end) break;
    }
    const octet = raw[at] ?? 0;
    if (octet === LF) line++;
    else if (octet === CR && raw[at + 1] === LF) {
      // the CR of a CRLF
    } else if (octet === EQUALS) {
      if (++padding > 2) return `line ${line} of the content: more than two "=" of padding`;
      characters++;
    } else {
      return `line ${line} of the content: ${octetName(octet)} is not in the base64 alphabet`;
    }
    at++;
  }
  return characters % 4 === 0 ? undefined : `${characters} characters, not whole groups of 4`;
}
