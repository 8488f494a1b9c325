// The two MIME header fields the structure checks read: Content-Type with its boundary parameter
// (RFC 2045 §5.1) and Content-Transfer-Encoding (RFC 2045 §6.1). Loops over the characters, no regexes.

export interface ContentType {
  /** type "/" subtype in lower case; the default when the field is absent or not of that form (RFC 2045 §5.2). */
  type: string;
  /** Every boundary parameter, in order: more than one is ambiguous. */
  boundaries: string[];
}

/** RFC 2045 §5.1: tspecials, which a token may not contain (with SPACE and CTLs). */
const TSPECIALS = '()<>@,;:\\"/[]?=';

function isToken(text: string): boolean {
  if (text === "") return false;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code <= 0x20 || code >= 0x7f || TSPECIALS.includes(text[i] ?? "")) return false;
  }
  return true;
}

const isBlank = (ch: string): boolean => ch === " " || ch === "\t";

/**
 * RFC 5322 §3.2.2: a comment — "(" … ")", nested, with quoted pairs — may stand wherever folding white
 * space may, and RFC 2045 §5.1 keeps that for Content-Type; each comment becomes a space. Quoted
 * strings are kept whole. Inside a parameter value a "(" opens a comment only after white space, as
 * mail readers have it ("name=Invoice(1).pdf" is a name). An unclosed comment leaves the value as is.
 */
export function withoutComments(value: string): string {
  if (!value.includes("(")) return value;
  let out = "";
  let depth = 0;
  let quoted = false;
  let inValue = false;
  let last = "";
  for (let i = 0; i < value.length; i++) {
    const ch = value[i] ?? "";
    if (depth > 0) {
      if (ch === "\\") i++;
      else if (ch === "(") depth++;
      else if (ch === ")" && --depth === 0) out += last = " ";
      continue;
    }
    if (quoted) {
      if (ch === "\\") {
        out += ch + (value[i + 1] ?? "");
        i++;
      } else {
        out += ch;
        if (ch === '"') quoted = false;
      }
      last = ch;
      continue;
    }
    if (ch === "(" && (!inValue || isBlank(last))) {
      depth = 1;
      continue;
    }
    if (ch === '"') quoted = true;
    else if (ch === "=") inValue = true;
    else if (ch === ";") inValue = false;
    out += ch;
    last = ch;
  }
  return depth > 0 ? value : out;
}

/** Splits at the semicolons outside quoted strings (RFC 5322 §3.2.4: a backslash quotes the next character). */
function splitParameters(value: string): string[] {
  const pieces: string[] = [];
  let from = 0;
  let quoted = false;
  for (let i = 0; i < value.length; i++) {
    const ch = value[i];
    if (quoted && ch === "\\") i++;
    else if (ch === '"') quoted = !quoted;
    else if (ch === ";" && !quoted) {
      pieces.push(value.slice(from, i));
      from = i + 1;
    }
  }
  pieces.push(value.slice(from));
  return pieces;
}

/** RFC 2045 §5.1: value := token / quoted-string; a quoted string ends at its closing quote. */
function parameterValue(text: string): string {
  if (!text.startsWith('"')) return text;
  let out = "";
  for (let i = 1; i < text.length; i++) {
    const ch = text[i] ?? "";
    if (ch === '"') break;
    if (ch === "\\") i++;
    out += ch === "\\" ? (text[i] ?? "") : ch;
  }
  return out;
}

function mediaType(text: string): string | undefined {
  const type = text.trim().toLowerCase();
  const slash = type.indexOf("/");
  return slash > 0 && isToken(type.slice(0, slash)) && isToken(type.slice(slash + 1)) ? type : undefined;
}

/** Reads a Content-Type field body; `fallback` is the type a part has by default. */
export function parseContentType(value: string, fallback: string): ContentType {
  const [head = "", ...parameters] = splitParameters(withoutComments(value));
  const boundaries: string[] = [];
  for (const parameter of parameters) {
    const eq = parameter.indexOf("=");
    if (eq > 0 && parameter.slice(0, eq).trim().toLowerCase() === "boundary") boundaries.push(parameterValue(parameter.slice(eq + 1).trim()));
  }
  return { type: mediaType(head) ?? fallback, boundaries };
}

/** RFC 2045 §6.1: the mechanism is case-insensitive. */
export function parseTransferEncoding(value: string): string {
  return value.trim().toLowerCase();
}

/** RFC 2046 §5.1.1: bcharsnospace := DIGIT / ALPHA / "'" / "(" / ")" / "+" / "_" / "," / "-" / "." / "/" / ":" / "=" / "?" */
function isBcharNoSpace(code: number): boolean {
  const isAlnum = (code >= 0x30 && code <= 0x39) || (code >= 0x41 && code <= 0x5a) || (code >= 0x61 && code <= 0x7a);
  return isAlnum || "'()+_,-./:=?".includes(String.fromCharCode(code));
}

/** RFC 2046 §5.1.1: boundary := 0*69<bchars> bcharsnospace, bchars := bcharsnospace / " ". */
export function boundaryProblem(boundary: string): string | undefined {
  if (boundary.length < 1 || boundary.length > 70) return `${boundary.length} characters long, not 1 to 70`;
  for (let i = 0; i < boundary.length; i++) {
    const code = boundary.charCodeAt(i);
    if (isBcharNoSpace(code) || code === 0x20) continue;
    return code > 0x20 && code < 0x7f ? `the character "${boundary[i] ?? ""}" is not allowed` : `the octet 0x${code.toString(16)} is not allowed`;
  }
  return boundary.endsWith(" ") ? "it ends in a space" : undefined;
}
