// How the postmaster page names the banned file types of the configuration (judge.banned): the
// Microsoft Office extensions collapse into one phrase when all of them are banned, as the spec says.
import { BANNED_EXTENSIONS_DEFAULT } from "../../../core/config/schema.ts";

/** The spec's own short list; every other default extension is a Microsoft Office format. */
const SPEC_EXTENSIONS = new Set(["exe", "vbs", "pif", "scr", "bat", "cmd", "com", "cpl", "dll", "zip", "js"]);
export const OFFICE_EXTENSIONS: readonly string[] = BANNED_EXTENSIONS_DEFAULT.filter((e) => !SPEC_EXTENSIONS.has(e));

export type DocumentFamily = "microsoftOffice";

export interface BannedFileTypes {
  /** Extensions shown one by one, without the leading dot. */
  extensions: string[];
  /** Families shown as a phrase because every one of their extensions is banned. */
  families: DocumentFamily[];
}

export function bannedFileTypes(configured: readonly string[]): BannedFileTypes {
  const banned = new Set(configured);
  const allOffice = OFFICE_EXTENSIONS.every((e) => banned.has(e));
  return {
    extensions: configured.filter((e) => !(allOffice && OFFICE_EXTENSIONS.includes(e))),
    families: allOffice ? ["microsoftOffice"] : [],
  };
}
