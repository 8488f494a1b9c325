// The Authentication-Results header field (RFC 8601 §2.2): our authserv-id, then one resinfo per
// check ("spf=pass smtp.mailfrom=…"), or "none" when nothing was checked.

/** RFC 5322 §2.1.1: lines SHOULD stay within 78 characters. */
const FOLD_AT = 78;

/**
 * Folds a header field at its spaces (RFC 5322 §2.2.3): CRLF goes before an existing space, so
 * unfolding restores the very same text, inside comments and quoted strings too. A word longer
 * than a line stays whole.
 */
export function foldHeader(field: string): string {
  const lines: string[] = [];
  let line = "";
  for (const [index, word] of field.split(" ").entries()) {
    if (index === 0) line = word;
    else if (line.trim().length > 0 && line.length + 1 + word.length > FOLD_AT) {
      lines.push(line);
      line = ` ${word}`;
    } else line += ` ${word}`;
  }
  lines.push(line);
  return lines.join("\r\n");
}

/** A comment (RFC 5322 §3.2.2) holding free text: backslash and parentheses are escaped, line breaks dropped. */
export function headerComment(text: string): string {
  return `(${text.replace(/[\r\n]+/g, " ").replace(/[\\()]/g, (c) => `\\${c}`)})`;
}

/** The whole field, "Authentication-Results: mx.example.org; spf=pass …; dkim=…", folded, without the final CRLF. */
export function authenticationResultsHeader(authservId: string, resinfos: readonly string[]): string {
  const results = resinfos.length > 0 ? resinfos : ["none"];
  // One resinfo per line, as most receivers write it, each folded on its own.
  return [`Authentication-Results: ${authservId};`, ...results.map((resinfo, i) => foldHeader(` ${resinfo}${i < results.length - 1 ? ";" : ""}`))].join("\r\n");
}
