// Values from the configuration in the page's HTML: HTML text and attribute values take the escapes of
// XML 1.0 §2.4 (character data) and §3.3.3 (attribute values) for the five markup characters.
export function htmlEscape(text: string): string {
  return text.replace(/[<>&'"]/g, (c) => ({ "<": "&lt;", ">": "&gt;", "&": "&amp;", "'": "&apos;", '"': "&quot;" })[c] ?? c);
}
