// How the postmaster page names the banned file types of the configuration (judge.banned): the
// Microsoft Office extensions collapse into one phrase when all of them are banned, as the spec says.
import { BANNED_EXTENSION_GROUPS } from "../../../core/config/schema.ts";

/** Every default extension beside the spec's own short list: each is a Microsoft Office format. */
const { specification: _specList, ...officeGroups } = BANNED_EXTENSION_GROUPS;
export const OFFICE_EXTENSIONS: readonly string[] = Object.values(officeGroups).flat();

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
