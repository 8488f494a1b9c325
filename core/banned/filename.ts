// What a declared file name is, as the system that saves or opens it will see it.
//
// Decisions (each guards against a known trick):
// - The last extension decides: "invoice.pdf.exe" is an .exe, "example.com.pdf" a PDF. Windows and mail
//   clients open a file by its last extension; judging the inner ones would refuse every name that
//   carries a domain ("offer-example.com.pdf").
// - Trailing dots and white space are dropped, as Windows drops them when it saves ("run.exe. " → run.exe).
// - NFKC folds compatibility forms, so full-width "ｒｕｎ．ｅｘｅ" is "run.exe".
// - Default-ignorable code points are removed: bidirectional controls such as U+202E RIGHT-TO-LEFT
//   OVERRIDE ("invoice\u202Efdp.exe" is shown as "invoiceexe.pdf"), zero-width characters, soft hyphens.
//   They change how a name looks, not what it is; the logical order is what the system uses.
// - A name is also judged as cut at its first control character, as C-string based programs read
//   "run.exe%00.pdf" (RFC 2231 percent-encoding can carry a NUL).
// - Only the last path component counts (clients keep the base name of "..\..\run.exe" or "a/b/run.exe").

const CONTROL = /\p{Cc}/u;
const INVISIBLE = /\p{Default_Ignorable_Code_Point}/gu;
const TRAILING_DOTS_AND_SPACES = /[\s.]+$/u;

/** The base name a system would store: folded, without invisible characters, path or trailing dots. */
function storedName(name: string): string {
  const folded = name.normalize("NFKC").replace(INVISIBLE, "");
  const base = folded.slice(Math.max(folded.lastIndexOf("/"), folded.lastIndexOf("\\")) + 1);
  return base.replace(TRAILING_DOTS_AND_SPACES, "").toLowerCase();
}

/** The extension of a stored name, without the dot; "" when it has none. */
function lastExtension(stored: string): string {
  const dot = stored.lastIndexOf(".");
  return dot === -1 ? "" : stored.slice(dot + 1);
}

/**
 * The extensions (lower case, without the dot) a declared name may be opened as: the last extension
 * of the name, and of the name cut at its first control character when that differs.
 */
export function judgedExtensions(name: string): string[] {
  const control = name.search(CONTROL);
  const readings = control === -1 ? [name] : [name, name.slice(0, control)];
  const extensions = readings.map((reading) => lastExtension(storedName(reading))).filter((ext) => ext !== "");
  return [...new Set(extensions)];
}

const UNPRINTABLE = /[\p{Cc}\p{Default_Ignorable_Code_Point}"\\]/gu;
const SHOWN_NAME_MAX = 120;

/** A name as it may appear, quoted, in a reason or a log line: invisible and control characters spelled out. */
export function shownName(name: string): string {
  const cut = name.length > SHOWN_NAME_MAX ? `${name.slice(0, SHOWN_NAME_MAX)}…` : name;
  const escaped = cut.replace(UNPRINTABLE, (ch) => `\\u{${(ch.codePointAt(0) ?? 0).toString(16)}}`);
  return `"${escaped}"`;
}
