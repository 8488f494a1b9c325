// Lines of a raw message, found on the bytes with indexOf and plain loops: linear, whatever the input.
// RFC 5322 §2.1: lines end in CRLF. A bare LF is taken as a line end too, as MIME parsers do;
// the relay refuses bare LF in DATA before the judge sees the message (SMTP smuggling).
import { Buffer } from "node:buffer";

export const LF = 0x0a;
export const CR = 0x0d;
const SP = 0x20;
const HTAB = 0x09;

/** One line: its content is raw[start, end) without the CRLF or LF; the next line starts at `next`. */
export interface Line {
  start: number;
  end: number;
  next: number;
}

export function lineAt(raw: Uint8Array, start: number): Line {
  const lf = raw.indexOf(LF, start);
  if (lf === -1) return { start, end: raw.length, next: raw.length };
  return { start, end: lf > start && raw[lf - 1] === CR ? lf - 1 : lf, next: lf + 1 };
}

/** RFC 5322 §2.2.3: WSP (space or horizontal tab) at the start of a line folds it onto the one above. */
export function isWsp(octet: number | undefined): boolean {
  return octet === SP || octet === HTAB;
}

/** The octets as a string of the same length, one character (U+0000–U+00FF) per octet. */
export function octetString(raw: Uint8Array, start: number, end: number): string {
  // Latin-1 decoding in native code (nodejs_compat in workerd), with no spread of an argument list.
  // Not TextDecoder("latin1"): the Encoding Standard maps that label to windows-1252.
  const stop = Math.min(end, raw.length);
  if (stop <= start) return "";
  return Buffer.from(raw.buffer, raw.byteOffset + start, stop - start).toString("latin1");
}

/** The octets of a string built by octetString (each character below U+0100). */
export function stringOctets(text: string): Uint8Array {
  const octets = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) octets[i] = text.charCodeAt(i) & 0xff;
  return octets;
}

/** Message text for a finding's detail: printable US-ASCII only, at most `max` characters. */
export function shown(text: string, max = 60): string {
  let out = "";
  for (let i = 0; i < text.length && out.length < max; i++) {
    const code = text.charCodeAt(i);
    out += code >= 0x20 && code < 0x7f ? text[i] : "?";
  }
  return text.length > max ? `${out}…` : out;
}

export interface LineLengths {
  /** Lines longer than the limit. */
  over: number;
  /** The first of them: its 1-based number and length in octets. */
  first: { line: number; octets: number } | undefined;
  /** The longest of them, in octets. */
  longest: number;
}

/** The 1-based number of the line that starts at raw[start]. */
function lineNumberAt(raw: Uint8Array, start: number): number {
  let number = 1;
  for (let lf = raw.indexOf(LF); lf !== -1 && lf < start; lf = raw.indexOf(LF, lf + 1)) number++;
  return number;
}

/**
 * RFC 5322 §2.1.1: the length of every line in octets, the CRLF not counted, against `limit`.
 * Lines are not visited one by one: from a line start, the last LF within `limit` octets ends a run of
 * lines that are all short enough, so one lastIndexOf (native) skips a window of about `limit` octets.
 * Only where no LF lies within reach is a line measured.
 */
export function lineLengths(raw: Uint8Array, limit: number): LineLengths {
  const result: LineLengths = { over: 0, first: undefined, longest: 0 };
  let start = 0;
  while (raw.length - start > limit) {
    const lf = raw.lastIndexOf(LF, start + limit);
    if (lf >= start) {
      start = lf + 1;
      continue;
    }
    // No LF in raw[start, start + limit]: the line is at least limit + 1 octets, its CR perhaps included.
    const next = raw.indexOf(LF, start + limit + 1);
    const end = next === -1 ? raw.length : next;
    const octets = end - start - (raw[end - 1] === CR ? 1 : 0);
    if (octets > limit) {
      result.over++;
      result.first ??= { line: lineNumberAt(raw, start), octets };
      result.longest = Math.max(result.longest, octets);
    }
    if (next === -1) break;
    start = next + 1;
  }
  return result;
}
