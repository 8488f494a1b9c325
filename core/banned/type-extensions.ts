// Which file names a banned MIME type covers. A file named `setup.msi` is what Windows opens as an
// installer whatever Content-Type the mail declares, so a banned type is refused by name too: by the
// extensions the mime database (the `mime` package, mime-db) lists for it. An extension may belong to
// several types (mime-db lists .exe and .msi under application/octet-stream as well as
// application/x-msdownload), so the mapping goes from the banned type to its extensions, never from
// an extension to one "main" type.
import mime from "mime";

// Types the mime database knows without (all) their extensions: Windows registers .hta with the
// content type application/hta (Microsoft, "Introduction to HTML Applications (HTAs)").
const MORE_EXTENSIONS: Readonly<Record<string, readonly string[]>> = {
  "application/hta": ["hta"],
};

/** The extensions (lower case, without the dot) of files of this MIME type. */
export function extensionsOfType(type: string): string[] {
  return [...new Set([...(mime.getAllExtensions(type) ?? []), ...(MORE_EXTENSIONS[type] ?? [])])];
}

/** Each extension that one of the banned types covers, with that type (the first one listed). */
export function bannedTypesByExtension(bannedTypes: readonly string[]): ReadonlyMap<string, string> {
  const byExtension = new Map<string, string>();
  for (const type of bannedTypes) for (const ext of extensionsOfType(type)) if (!byExtension.has(ext)) byExtension.set(ext, type);
  return byExtension;
}
