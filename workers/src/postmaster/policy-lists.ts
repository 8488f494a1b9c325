// The attachment policy the postmaster page announces: MIME types and file types refused as BANNED.
// The configuration schema has no field for these lists yet; the judge's attachment check will move
// them into the configuration (and this module will read them from there) when it is written.

/** MIME types refused wherever they appear in a message (the specification's list). */
export const REJECTED_MIME_TYPES: readonly string[] = ["application/x-msdownload", "application/x-msdos-program", "application/hta"];

/** File name extensions refused, also inside archives (the specification's list). */
export const REJECTED_FILE_EXTENSIONS: readonly string[] = [".exe", ".vbs", ".pif", ".scr", ".bat", ".cmd", ".com", ".cpl", ".dll", ".zip", ".js"];

/** Document families refused whatever their extension, because they may carry macros. */
export type DocumentFamily = "microsoftOffice";
export const REJECTED_DOCUMENT_FAMILIES: readonly DocumentFamily[] = ["microsoftOffice"];
