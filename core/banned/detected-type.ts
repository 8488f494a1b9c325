// What a file's own bytes say it is, as every detector in this folder reports it.

/** How the files inside a container are reached. */
export type ContainerKind = "zip" | "gzip" | "tar" | "message";

/**
 * Archive formats whose readers cannot run everywhere core runs: their files are reached only through
 * an ArchiveOpener the runtime supplies (core/banned/archive.ts); without one they cannot be inspected.
 */
export const EXTERNAL_FORMATS = ["7z", "rar", "xz"] as const;
export type ExternalFormat = (typeof EXTERNAL_FORMATS)[number];

export interface DetectedType {
  /** What the content is, for reasons and logs: "Word 97-2003 document". */
  label: string;
  /** The extensions such content is saved with; it is banned when one of them is. */
  extensions: readonly string[];
  /** Its MIME type; it is banned when that is. */
  mime: string;
  /** Set when it holds further files that are opened and judged in turn. */
  container?: ContainerKind;
  /** Set when it holds further files that cannot be reached: why not. */
  uninspectable?: string;
  /** Set when its files are reached through an ArchiveOpener for this format; `uninspectable` says why not without one. */
  external?: ExternalFormat;
}
