// The declared type and file names of every MIME part, read from the header blocks themselves.
//
// postal-mime turns text/plain and text/html parts that are not marked "attachment" into the body
// and does not report their names, yet a mail client still offers a part named "invoice.hta" or
// "run.vbs" as a file to open. So these names are read here: the header blocks of the MIME tree are
// the message's own and the one after each boundary delimiter line (RFC 2046 §5.1.1) of a multipart
// declared in an earlier block; their Content-Type (RFC 2045 §5.1) and Content-Disposition (RFC 2183
// §2) parameters are decoded with RFC 2231 continuations and charsets and RFC 2047 encoded words
// (which clients put into quoted parameters, though RFC 2047 §5 forbids it). Parts of an attached
// message are read when that message is judged in turn.
import { decodeWords } from "postal-mime";

export interface DeclaredPart {
  /** The Content-Type without parameters, in lower case. */
  mimeType: string;
  /** Every file name the part declares: Content-Disposition filename, Content-Type name. */
  names: string[];
}

const utf8 = new TextEncoder();

function* lines(text: string): Generator<string> {
  let at = 0;
  while (at < text.length) {
    const end = text.indexOf("\n", at);
    const stop = end === -1 ? text.length : end;
    yield text.slice(at, stop > at && text[stop - 1] === "\r" ? stop - 1 : stop);
    at = stop + 1;
  }
}

/** Splits "a; b=c; d=\"e;f\"" at the semicolons outside quoted strings (RFC 5322 §3.2.4). */
function splitParameters(value: string): string[] {
  const pieces: string[] = [];
  let current = "";
  let quoted = false;
  for (let i = 0; i < value.length; i++) {
    const ch = value[i] ?? "";
    if (quoted && ch === "\\") {
      current += ch + (value[i + 1] ?? "");
      i++;
    } else if (ch === '"') {
      quoted = !quoted;
      current += ch;
    } else if (ch === ";" && !quoted) {
      pieces.push(current);
      current = "";
    } else {
      current += ch;
    }
  }
  pieces.push(current);
  return pieces.map((p) => p.trim());
}

function unquote(value: string): string {
  return value.length >= 2 && value.startsWith('"') && value.endsWith('"') ? value.slice(1, -1).replace(/\\(.)/g, "$1") : value;
}

/** RFC 2231 §4: percent-encoded octets; other characters stand for themselves. */
function percentDecoded(value: string): number[] {
  const bytes: number[] = [];
  for (let i = 0; i < value.length; i++) {
    const hex = value.slice(i + 1, i + 3);
    if (value[i] === "%" && /^[0-9a-f]{2}$/i.test(hex)) {
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else {
      bytes.push(...utf8.encode(value[i]));
    }
  }
  return bytes;
}

function decodeCharset(bytes: number[], charset: string): string {
  try {
    return new TextDecoder(charset || "utf-8").decode(new Uint8Array(bytes));
  } catch {
    return new TextDecoder().decode(new Uint8Array(bytes)); // an unknown charset: UTF-8 keeps ASCII extensions readable
  }
}

interface Section {
  index: number;
  value: string;
  encoded: boolean;
}

/** RFC 2231 §3–§4: joins name*0, name*1* … (and name*) into one value, decoding the encoded ones. */
function joinSections(sections: Section[]): string {
  sections.sort((a, b) => a.index - b.index);
  let charset = "";
  const bytes: number[] = [];
  for (const section of sections) {
    let value = section.value;
    const declared = section.index === 0 && section.encoded ? /^([^']*)'[^']*'(.*)$/s.exec(value) : null;
    if (declared) {
      charset = declared[1] ?? "";
      value = declared[2] ?? "";
    }
    bytes.push(...(section.encoded ? percentDecoded(value) : utf8.encode(value)));
  }
  return decodeCharset(bytes, charset);
}

const SECTION_NAME = /^([^*]+)\*(?:(\d{1,3})(\*)?)?$/;

/** The value (lower case) and parameters of a structured header field; a parameter may repeat. */
function parseField(body: string): { value: string; parameters: [string, string][] } {
  const [value = "", ...rest] = splitParameters(body);
  const parameters: [string, string][] = [];
  const sectioned = new Map<string, Section[]>();
  for (const piece of rest) {
    const eq = piece.indexOf("=");
    if (eq < 1) continue;
    const key = piece.slice(0, eq).trim().toLowerCase();
    const raw = unquote(piece.slice(eq + 1).trim());
    const section = SECTION_NAME.exec(key);
    if (!section) {
      parameters.push([key, decodeWords(raw)]);
      continue;
    }
    const name = section[1] ?? key;
    const list = sectioned.get(name) ?? [];
    list.push({ index: Number(section[2] ?? 0), value: raw, encoded: section[2] === undefined || section[3] === "*" });
    sectioned.set(name, list);
  }
  for (const [name, sections] of sectioned) parameters.push([name, joinSections(sections)]);
  return { value: value.toLowerCase(), parameters };
}

function readPart(fields: readonly string[], boundaries: Set<string>): DeclaredPart {
  const part: DeclaredPart = { mimeType: "text/plain", names: [] };
  for (const field of fields) {
    const colon = field.indexOf(":");
    const name = field.slice(0, Math.max(colon, 0)).trim().toLowerCase();
    if (name !== "content-type" && name !== "content-disposition") continue;
    const { value, parameters } = parseField(field.slice(colon + 1));
    const nameParameter = name === "content-type" ? "name" : "filename";
    for (const [key, parameter] of parameters) {
      if (key === nameParameter && parameter !== "") part.names.push(parameter);
      if (name === "content-type" && key === "boundary" && value.startsWith("multipart/")) boundaries.add(parameter);
    }
    if (name === "content-type" && value !== "") part.mimeType = value;
  }
  return part;
}

/** The declared type and names of every part of a message's MIME tree (not of attached messages). */
export function declaredParts(message: string): DeclaredPart[] {
  const parts: DeclaredPart[] = [];
  const boundaries = new Set<string>();
  let fields: string[] | undefined = [];
  for (const line of lines(message)) {
    if (fields === undefined) {
      // RFC 2046 §5.1.1: "--" boundary, optionally followed by white space; "--" boundary "--" closes.
      if (line.startsWith("--") && boundaries.has(line.slice(2).replace(/[ \t]+$/, ""))) fields = [];
    } else if (line === "") {
      parts.push(readPart(fields, boundaries));
      fields = undefined;
    } else if ((line.startsWith(" ") || line.startsWith("\t")) && fields.length > 0) {
      fields[fields.length - 1] += line; // RFC 5322 §2.2.3: unfolding
    } else {
      fields.push(line);
    }
  }
  if (fields !== undefined && fields.length > 0) parts.push(readPart(fields, boundaries));
  return parts;
}
