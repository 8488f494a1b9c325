// 7-Zip's technical listing (`7zz l -slt`) read, and judged against the bounds before anything is
// extracted. The listing is the archive's own declaration: the sizes are checked here first, and the
// extraction that follows is bounded while it writes (seven-zip-thread.ts), so a lying header gains
// nothing. The shape of the listing: the archive's properties ("Type = 7z"), a line of dashes, then
// one block of "Name = value" lines per entry, blocks separated by an empty line.
import type { OpenedArchive, OpenerBounds } from "../../../core/banned/archive.ts";
import type { ExternalFormat } from "../../../core/banned/detected-type.ts";
import { shownName } from "../../../core/banned/filename.ts";

/** What the thread is asked to open. */
export interface OpenRequest {
  format: ExternalFormat;
  bytes: Uint8Array;
  bounds: OpenerBounds;
  /** 7-Zip compiled once by the parent (seven-zip.ts). */
  module: WebAssembly.Module;
}

export interface ListedEntry {
  /** Absent for the one stream of an xz (it has no name of its own). */
  path: string | undefined;
  /** Absent when the archive does not declare it. */
  size: number | undefined;
  folder: boolean;
  encrypted: boolean;
}

export interface Listing {
  /** 7-Zip's name of the format it read: 7z, Rar, Rar5, xz. */
  type: string | undefined;
  entries: ListedEntry[];
}

/** 7-Zip's type names of each format as file-type tells them apart (RAR 1.5–4 and RAR 5 are two handlers). */
const TYPES: Record<ExternalFormat, readonly string[]> = { "7z": ["7z"], rar: ["Rar", "Rar5"], xz: ["xz"] };

function properties(block: readonly string[]): Map<string, string> {
  const props = new Map<string, string>();
  for (const line of block) {
    const at = line.indexOf(" = ");
    if (at > 0) props.set(line.slice(0, at), line.slice(at + 3));
    else if (line.endsWith(" =")) props.set(line.slice(0, -2), "");
  }
  return props;
}

function entryOf(props: ReadonlyMap<string, string>): ListedEntry {
  const size = props.get("Size");
  return {
    path: props.get("Path"),
    size: size === undefined || size === "" ? undefined : Number(size),
    // 7z and zip mark folders in the attributes ("D …"), RAR with "Folder = +".
    folder: props.get("Folder") === "+" || (props.get("Attributes") ?? "").startsWith("D"),
    encrypted: props.get("Encrypted") === "+",
  };
}

/** The listing printed by `7zz l -slt`, line by line. */
export function parseListing(lines: readonly string[]): Listing {
  const separator = lines.indexOf("----------");
  const head = properties(lines.slice(0, separator === -1 ? lines.length : separator));
  const entries: ListedEntry[] = [];
  let block: string[] = [];
  for (const line of separator === -1 ? [] : [...lines.slice(separator + 1), ""]) {
    if (line.trim() !== "") {
      block.push(line);
      continue;
    }
    const props = properties(block);
    if (props.has("Path") || props.has("Size")) entries.push(entryOf(props));
    block = [];
  }
  return { type: head.get("Type"), entries };
}

/** "ok" when the listing is within the bounds and every entry can be read; else the answer to give. */
export function judgeListing(listing: Listing, request: Pick<OpenRequest, "format" | "bounds">): "ok" | OpenedArchive {
  if (listing.type === undefined || !TYPES[request.format].includes(listing.type)) {
    return { uninspectable: `the ${request.format} cannot be read (7-Zip reads it as ${listing.type ?? "nothing it knows"})` };
  }
  if (listing.entries.length > request.bounds.maxEntries) return { over: "entries" };
  let declared = 0;
  for (const entry of listing.entries) {
    const name = shownName(entry.path ?? "");
    if (entry.encrypted) return { uninspectable: `entry ${name} is encrypted` };
    if (entry.folder) continue;
    // Without a size (RAR 5 may leave it open, bzip2-like streams never give one) the bound could only be found by unpacking.
    if (entry.size === undefined || !Number.isSafeInteger(entry.size)) return { uninspectable: `entry ${name} declares no size` };
    declared += entry.size;
  }
  return declared > request.bounds.maxBytes ? { over: "bytes" } : "ok";
}
