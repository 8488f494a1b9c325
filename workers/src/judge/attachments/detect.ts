// What a file is by its own bytes, whatever its name or declared type says. The Microsoft formats the
// policy is about are told apart here (executables, OLE2 and OOXML Office files, OneNote, Access);
// everything else is left to file-type (sindresorhus/file-type), which knows several hundred formats.
import type { Entry } from "@zip.js/zip.js";
import { fileTypeFromBuffer } from "file-type";
import type { DetectedType } from "./detected-type.ts";
import { compoundFileType, isCompoundFile } from "./ole2.ts";
import { CONTENT_TYPES_ENTRY, ooxmlType } from "./ooxml.ts";
import { readZipEntry, zipEntries } from "./zip.ts";

const EXECUTABLE_MIME = "application/x-msdownload";

function startsWith(bytes: Uint8Array, signature: readonly number[], at = 0): boolean {
  return bytes.length >= at + signature.length && signature.every((b, i) => bytes[at + i] === b);
}

/**
 * MS-DOS and Windows executables. PE format (Microsoft "PE Format"): "MZ", the offset of the PE
 * signature at 0x3C, "PE\0\0", then the COFF file header whose Characteristics (offset 18) carry
 * IMAGE_FILE_DLL (0x2000) for libraries (.dll, .cpl, .ocx). DOS accepts "ZM" as well as "MZ".
 */
function executableType(bytes: Uint8Array): DetectedType | undefined {
  if (!startsWith(bytes, [0x4d, 0x5a]) && !startsWith(bytes, [0x5a, 0x4d])) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const pe = bytes.length >= 0x40 ? view.getUint32(0x3c, true) : 0;
  if (pe >= 0x40 && pe + 24 <= bytes.length && startsWith(bytes, [0x50, 0x45, 0, 0], pe)) {
    const isDll = (view.getUint16(pe + 4 + 18, true) & 0x2000) !== 0;
    return isDll
      ? { label: "Windows PE library", extensions: ["dll"], mime: EXECUTABLE_MIME }
      : { label: "Windows PE executable", extensions: ["exe"], mime: EXECUTABLE_MIME };
  }
  return { label: "MS-DOS executable", extensions: ["exe"], mime: EXECUTABLE_MIME };
}

// [MS-ONESTORE] §2.3.1: the header's guidFileType, a GUID in its little-endian byte order.
const ONENOTE_SECTION = [0xe4, 0x52, 0x5c, 0x7b, 0x8c, 0xd8, 0xa7, 0x4d, 0xae, 0xb1, 0x53, 0x78, 0xd0, 0x29, 0x96, 0xd3];
const ONENOTE_TOC = [0xa1, 0x2f, 0xff, 0x43, 0xd9, 0xef, 0x76, 0x4c, 0x9e, 0xe2, 0x10, 0xea, 0x57, 0x22, 0x76, 0x5f];

function oneNoteType(bytes: Uint8Array): DetectedType | undefined {
  if (startsWith(bytes, ONENOTE_SECTION)) return { label: "OneNote section", extensions: ["one"], mime: "application/onenote" };
  if (startsWith(bytes, ONENOTE_TOC)) return { label: "OneNote table of contents", extensions: ["onetoc2"], mime: "application/onenote" };
  return undefined;
}

// Access databases begin with 00 01 00 00 and the engine's name: Jet (.mdb, Access 97–2003) or
// ACE (.accdb, Access 2007 and later).
const ascii = (text: string) => Array.from(text, (ch) => ch.charCodeAt(0));
const JET = [0, 1, 0, 0, ...ascii("Standard Jet DB")];
const ACE = [0, 1, 0, 0, ...ascii("Standard ACE DB")];

function accessType(bytes: Uint8Array): DetectedType | undefined {
  if (startsWith(bytes, JET)) return { label: "Access 97-2003 database", extensions: ["mdb", "mde"], mime: "application/x-msaccess" };
  if (startsWith(bytes, ACE)) return { label: "Access database", extensions: ["accdb", "accde"], mime: "application/x-msaccess" };
  return undefined;
}

// APPNOTE.TXT §4.3.7, §4.3.16, §8.5.3: local file header, end of central directory (an empty zip),
// spanning marker.
const ZIP_SIGNATURES = [
  [0x50, 0x4b, 0x03, 0x04],
  [0x50, 0x4b, 0x05, 0x06],
  [0x50, 0x4b, 0x07, 0x08],
];
// [Content_Types].xml is a short list; a larger one is not read (the folder names decide then).
const CONTENT_TYPES_MAX_BYTES = 256 * 1024;
// Office packages have tens of parts; the listing for detection stops here (opening counts them all).
const LISTED_FOR_DETECTION = 10_000;

interface ZipListing {
  names: string[];
  contentTypes: string | undefined;
}

/** The text of [Content_Types].xml, if it can be read within its bound. */
async function readContentTypes(entry: Entry): Promise<string | undefined> {
  if (entry.directory || entry.encrypted) return undefined;
  try {
    const xml = await readZipEntry(entry, CONTENT_TYPES_MAX_BYTES);
    return xml && new TextDecoder().decode(xml);
  } catch {
    return undefined; // a corrupt entry: the folder names decide
  }
}

/** The entry names of a zip and its [Content_Types].xml; undefined when it cannot be listed. */
async function zipListing(bytes: Uint8Array): Promise<ZipListing | undefined> {
  const listing: ZipListing = { names: [], contentTypes: undefined };
  try {
    for await (const entry of zipEntries(bytes)) {
      listing.names.push(entry.filename);
      if (entry.filename === CONTENT_TYPES_ENTRY) listing.contentTypes = await readContentTypes(entry);
      if (listing.names.length >= LISTED_FOR_DETECTION) break;
    }
  } catch {
    return undefined; // file-type still names it below; opening it will say why it cannot be read
  }
  return listing;
}

/** Zip-based files: Office packages by their parts, then what file-type names (OpenDocument, EPUB, JAR …) or plain zip. */
async function zipBasedType(bytes: Uint8Array): Promise<DetectedType> {
  const listing = await zipListing(bytes);
  const office = listing && ooxmlType(listing.names, listing.contentTypes);
  if (office) return office;
  const named = await fileTypeOf(bytes);
  if (named?.uninspectable) return named;
  return { ...(named ?? { label: "application/zip", extensions: ["zip"], mime: "application/zip" }), container: "zip" };
}

// Archives and images whose entries cannot be read here. No maintained reader in plain JavaScript
// that runs in workerd exists for 7z or RAR (the ports, 7z-wasm and node-unrar-js, are Emscripten
// builds that compile WebAssembly at run time, which workerd forbids), nor for the others; so they
// are recognised by their magic bytes and cannot be inspected.
const NOT_OPENED = new Set(["7z", "rar", "bz2", "xz", "lz", "lz4", "zst", "Z", "lzh", "arj", "ace", "cab", "cpio", "ar", "deb", "rpm", "iso", "dmg", "chm", "pst"]);

function fileTypeResult(ext: string, mime: string): DetectedType {
  const type: DetectedType = { label: mime, extensions: [ext], mime };
  if (ext === "gz" || ext === "tar.gz") return { ...type, extensions: ["gz"], container: "gzip" };
  if (ext === "tar") return { ...type, container: "tar" };
  if (NOT_OPENED.has(ext)) return { ...type, uninspectable: `${ext} files are not opened` };
  return type;
}

/** What file-type makes of the bytes. It should never throw; should a crafted file make it, that file is not let through unseen. */
async function fileTypeOf(bytes: Uint8Array): Promise<DetectedType | undefined> {
  let named;
  try {
    named = await fileTypeFromBuffer(bytes);
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    return { label: "unrecognisable file", extensions: [], mime: "application/octet-stream", uninspectable: `its type cannot be detected (${why})` };
  }
  return named && fileTypeResult(named.ext, named.mime);
}

/** What the bytes are; undefined when no detector knows them (plain text, for one). */
export async function detectType(bytes: Uint8Array): Promise<DetectedType | undefined> {
  const known = executableType(bytes) ?? (isCompoundFile(bytes) ? compoundFileType(bytes) : undefined) ?? oneNoteType(bytes) ?? accessType(bytes);
  if (known) return known;
  if (ZIP_SIGNATURES.some((signature) => startsWith(bytes, signature))) return zipBasedType(bytes);
  return fileTypeOf(bytes);
}
