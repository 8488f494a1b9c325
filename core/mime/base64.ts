// RFC 2045 §6.8: base64 content is lines of the 65-character alphabet (A–Z a–z 0–9 + / and "=" for
// padding). Decoders skip anything else, but what one decoder skips another may not — the gap a
// scanner-evading message hides in — so anything else is reported, and so is data after the padding.
import { Buffer } from "node:buffer";
import { CR, LF } from "./lines.ts";

/** Uint8Array.fromBase64 (ES2026, TC39 proposal-arraybuffer-base64): workerd has it, Node 24 not yet. */
export type FromBase64 = (text: string) => Uint8Array;
export const nativeFromBase64: FromBase64 | undefined = (Uint8Array as unknown as { fromBase64?: FromBase64 }).fromBase64;

const EQUALS = 0x3d;

const ALPHABET = new Uint8Array(256);
for (const ch of "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/") ALPHABET[ch.charCodeAt(0)] = 1;

function octetName(octet: number): string {
  return octet > 0x20 && octet < 0x7f ? `"${String.fromCharCode(octet)}"` : `the octet 0x${octet.toString(16).padStart(2, "0")}`;
}

// What fromBase64 skips besides line breaks: the rest of ASCII white space (Infra standard: TAB, LF,
// FF, CR, SPACE), which §6.8 content may not hold; a CR only as the first half of a CRLF.
const SPACE = Buffer.from(" ");
const HTAB = Buffer.from("\t");
const FORM_FEED = Buffer.from("\f");
const BARE_CR = /\r(?!\n)/;
/**
 * The largest content the native decoder judges. It holds the content as text and decoded, about
 * 1.75 times its size, where the loop holds nothing: over a 25 MB message it raised workerd's peak
 * memory for one verdict from 72 to 96 MiB. Larger content is judged by the loop.
 */
const NATIVE_MAX_BYTES = 1024 * 1024;

/**
 * True when the native decoder shows raw[start, end) clean by base64Problem's rules; false when it
 * cannot tell (the content may be clean all the same). fromBase64 (its default "loose" handling of the
 * last group) refuses any octet outside the alphabet and white space, "=" anywhere but in the last
 * group, and a lone character at the end, as the rules do; it also takes a last group of 2 or 3
 * characters without padding (1 or 2 octets), which they do not. Inside workerd the three searches,
 * the latin1 text, the regex and the decoder take about half the CPU of the loop (256 KB).
 */
function cleanByNativeDecoder(fromBase64: FromBase64, raw: Uint8Array, start: number, end: number): boolean {
  const content = Buffer.from(raw.buffer, raw.byteOffset + start, end - start);
  if (content.indexOf(SPACE) !== -1 || content.indexOf(HTAB) !== -1 || content.indexOf(FORM_FEED) !== -1) return false;
  const text = content.toString("latin1");
  if (BARE_CR.test(text)) return false;
  let decoded: Uint8Array;
  try {
    decoded = fromBase64(text);
  } catch {
    return false;
  }
  // Whole groups of 4 make a multiple of 3 octets; fewer octets come from a padded last group or an unpadded short one.
  return decoded.length % 3 === 0 || text.lastIndexOf("=") !== -1;
}

/**
 * The first problem of the base64 content raw[start, end), or undefined when it is clean.
 * `fromBase64`: a native decoder that clears clean content of up to NATIVE_MAX_BYTES at once (the
 * loop still names a problem); the runtime's by default, null for the loop alone.
 */
export function base64Problem(raw: Uint8Array, start: number, end: number, fromBase64: FromBase64 | null = nativeFromBase64 ?? null): string | undefined {
  if (fromBase64 !== null && end - start <= NATIVE_MAX_BYTES && cleanByNativeDecoder(fromBase64, raw, start, end)) return undefined;
  return base64LoopProblem(raw, start, end);
}

/** base64Problem() in a loop over the octets. */
function base64LoopProblem(raw: Uint8Array, start: number, end: number): string | undefined {
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
