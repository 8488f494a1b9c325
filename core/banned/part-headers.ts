// The declared type and file names of a MIME part, read from its header fields as the MIME walker of
// the conformance check (mime/mime.ts) parsed them.
//
// A mail client offers a text part named "invoice.hta" or "run.vbs" as a file to open even when it
// shows the text inline, so the names of every part are judged, not only those of attachments. The
// Content-Type (RFC 2045 §5.1) and Content-Disposition (RFC 2183 §2) parameters are decoded with
// RFC 2231 continuations and charsets and RFC 2047 encoded words (which clients put into quoted
// parameters, though RFC 2047 §5 forbids it).
import { decodeWords } from "postal-mime";
import { withoutComments } from "../mime/content-type.ts";
import type { HeaderField } from "../mime/header.ts";
import { stringOctets } from "../mime/lines.ts";

export interface DeclaredPart {
  /** The (first) Content-Type without parameters, in lower case; the part's default type without one. */
  mimeType: string;
  /** Every file name the part declares: Content-Disposition filename, Content-Type name. */
  names: string[];
  /** The types of further Content-Type fields, when the part has more than one. */
  otherTypes?: string[];
}

export interface PartHeaders extends DeclaredPart {
  /**
   * The name a mail client shows: the first Content-Disposition's filename (its RFC 2231 form first),
   * else the first Content-Type's name; null when there is none.
   */
  filename: string | null;
  /** The first Content-Disposition's value in lower case ("attachment", "inline"), "" without one. */
  disposition: string;
}

const utf8 = new TextEncoder();
const utf8Decoder = new TextDecoder();

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
      for (const octet of utf8.encode(value[i])) bytes.push(octet);
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
    for (const octet of section.encoded ? percentDecoded(value) : utf8.encode(value)) bytes.push(octet); // no spread: a value may be 256 KiB
  }
  return decodeCharset(bytes, charset);
}

const SECTION_NAME = /^([^*]+)\*(?:(\d{1,3})(\*)?)?$/;

interface Parameter {
  key: string;
  value: string;
  /** Joined from RFC 2231 sections (name*, name*0 …): it overrides a plain parameter of the same name. */
  sectioned: boolean;
}

/** The value (lower case) and parameters of a structured header field; a parameter may repeat. */
function parseField(body: string): { value: string; parameters: Parameter[] } {
  const [value = "", ...rest] = splitParameters(body);
  const parameters: Parameter[] = [];
  const sectioned = new Map<string, Section[]>();
  for (const piece of rest) {
    const eq = piece.indexOf("=");
    if (eq < 1) continue;
    const key = piece.slice(0, eq).trim().toLowerCase();
    const raw = unquote(piece.slice(eq + 1).trim());
    const section = SECTION_NAME.exec(key);
    if (!section) {
      parameters.push({ key, value: decodeWords(raw), sectioned: false });
      continue;
    }
    const name = section[1] ?? key;
    const list = sectioned.get(name) ?? [];
    list.push({ index: Number(section[2] ?? 0), value: raw, encoded: section[2] === undefined || section[3] === "*" });
    sectioned.set(name, list);
  }
  for (const [name, sections] of sectioned) parameters.push({ key: name, value: decodeWords(joinSections(sections)), sectioned: true });
  return { value: value.toLowerCase(), parameters };
}

/** A field body as text: the walker keeps one character per octet; 8-bit octets are UTF-8 (RFC 6532). */
function fieldText(value: string): string {
  for (let i = 0; i < value.length; i++) if (value.charCodeAt(i) >= 0x80) return utf8Decoder.decode(stringOctets(value));
  return value;
}

/** The parameter a client reads: the RFC 2231 form when there is one, else the first plain one. */
function pickedParameter(parameters: readonly Parameter[], key: string): string | undefined {
  const matching = parameters.filter((p) => p.key === key && p.value !== "");
  return (matching.find((p) => p.sectioned) ?? matching[0])?.value;
}

/** What a part's header fields declare; `defaultType` is its type without a Content-Type (RFC 2045 §5.2, RFC 2046 §5.1.5). */
export function readPartHeaders(fields: readonly HeaderField[], defaultType: string): PartHeaders {
  const types: string[] = [];
  const names: string[] = [];
  let disposition: string | undefined;
  let dispositionName: string | undefined;
  let typeName: string | undefined;
  let typeSeen = false;
  for (const field of fields) {
    if (field.name !== "content-type" && field.name !== "content-disposition") continue;
    const { value, parameters } = parseField(withoutComments(fieldText(field.value)));
    const isType = field.name === "content-type";
    const nameParameter = isType ? "name" : "filename";
    for (const p of parameters) if (p.key === nameParameter && p.value !== "") names.push(p.value);
    if (isType) {
      if (value !== "") types.push(value);
      if (!typeSeen) typeName = pickedParameter(parameters, "name");
      typeSeen = true;
    } else if (disposition === undefined) {
      disposition = value;
      dispositionName = pickedParameter(parameters, "filename");
    }
  }
  const [mimeType = defaultType, ...otherTypes] = types;
  return {
    mimeType,
    names,
    ...(otherTypes.length > 0 ? { otherTypes } : {}),
    filename: dispositionName ?? typeName ?? null,
    disposition: disposition ?? "",
  };
}
