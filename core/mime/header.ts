// A bounded parser of one header section — the message's own or a MIME part's (RFC 2045 §3) — over the
// raw bytes. It reads the fields up to the first empty line (RFC 5322 §2.1), unfolds them (§2.2.3) and
// notes each line that is not a field (§2.2). Past MAX_HEADER_FIELDS fields or MAX_HEADER_BYTES bytes it
// reads no more fields but still finds where the section ends, so the body is found all the same.
import { isWsp, lineAt, octetString, shown, type Line } from "./lines.ts";

export const MAX_HEADER_FIELDS = 1000;
export const MAX_HEADER_BYTES = 256 * 1024;

const COLON = 0x3a;

export interface HeaderField {
  /** The field name in lower case (RFC 5322 §1.2.2: names are case-insensitive). */
  name: string;
  /** The unfolded field body, one character per octet. */
  value: string;
}

export interface MalformedLine {
  /** 1-based, counted from the first line of the section. */
  line: number;
  problem: string;
}

export interface HeaderSection {
  fields: HeaderField[];
  /** The first line that is not a header field, and how many there are in all. */
  firstMalformed: MalformedLine | undefined;
  malformedCount: number;
  /** More fields or bytes than the bounds: the fields after them were not read, the one under way is cut. */
  oversize: boolean;
  /** Where the section ends: the empty line, the delimiter line that ended it, or the end of the data. */
  end: number;
  /** Where the body starts: after the empty line (RFC 5322 §2.1), else at `end`. */
  bodyStart: number;
}

/** RFC 5322 §3.6.8: ftext is printable US-ASCII except ":". */
function isFtext(octet: number | undefined): boolean {
  return octet !== undefined && octet >= 33 && octet <= 126 && octet !== COLON;
}

/**
 * RFC 5322 §2.2: field-name ":"; §4.5: the obsolete syntax also allows white space before the colon,
 * and a receiver still reads it. Returns the name and where the body begins, or what is wrong.
 */
function fieldStart(raw: Uint8Array, line: Line): { name: string; bodyAt: number } | { problem: string } {
  let at = line.start;
  while (at < line.end && isFtext(raw[at])) at++;
  const nameEnd = at;
  while (at < line.end && isWsp(raw[at])) at++;
  const text = (): string => shown(octetString(raw, line.start, Math.min(line.end, line.start + 61)));
  if (nameEnd === line.start) return { problem: `"${text()}" has no field name` };
  if (raw[at] !== COLON) return { problem: `"${text()}" is not a header field: no ":" after the name` };
  return { name: octetString(raw, line.start, nameEnd).toLowerCase(), bodyAt: at + 1 };
}

function noteMalformed(section: HeaderSection, line: number, problem: string): void {
  section.malformedCount++;
  section.firstMalformed ??= { line, problem };
}

/**
 * Parses the header section that starts at `start`. `endsBefore` tells a line that ends the section
 * without being part of it (the next boundary delimiter, for a body part with no empty line).
 */
export function parseHeaderSection(raw: Uint8Array, start: number, endsBefore: (line: Line) => boolean): HeaderSection {
  const section: HeaderSection = { fields: [], firstMalformed: undefined, malformedCount: 0, oversize: false, end: raw.length, bodyStart: raw.length };
  let open: { name: string; pieces: string[] } | undefined;
  const close = (): void => {
    if (open !== undefined) section.fields.push({ name: open.name, value: open.pieces.join("") });
    open = undefined;
  };
  for (let at = start, number = 1; at < raw.length; number++) {
    const line = lineAt(raw, at);
    if (endsBefore(line)) {
      section.end = section.bodyStart = at;
      break;
    }
    if (line.end === line.start) {
      section.end = at;
      section.bodyStart = line.next;
      break;
    }
    at = line.next;
    if (section.oversize) continue;
    if (line.next - start > MAX_HEADER_BYTES) {
      section.oversize = true;
      close(); // the field under way keeps what was read of it
    } else if (isWsp(raw[line.start])) {
      // RFC 5322 §2.2.3: unfolding removes the line break before the white space; §4.2 (obs-FWS) lets
      // a continuation line hold only white space.
      if (open !== undefined) open.pieces.push(octetString(raw, line.start, line.end));
      else if (number === 1) noteMalformed(section, number, "the section begins with a continuation line");
    } else {
      close();
      const field = fieldStart(raw, line);
      if ("problem" in field) noteMalformed(section, number, field.problem);
      else if (section.fields.length >= MAX_HEADER_FIELDS) section.oversize = true;
      else open = { name: field.name, pieces: [octetString(raw, field.bodyAt, line.end)] };
    }
  }
  close();
  return section;
}
