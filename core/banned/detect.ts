// What a file is by its own bytes, whatever its name or declared type says. The Microsoft formats the
// policy is about are told apart here (executables, OLE2 and OOXML Office files, OneNote, Access), and
// so are the zip-based formats (from the zip's central directory) and gzip; everything else is left to
// file-type (sindresorhus/file-type), which knows several hundred formats.
//
// Detection reads the first HEAD_BYTES of a file (a MIME part is decoded that far only). The whole
// file is decoded when the format needs it: an OLE2 directory, a zip's central directory, a PE header
// further in, or a file-type detector that reads past the head (it is then run again on the first
// LONG_HEAD_BYTES, and past those on the whole).
import type { Entry } from "@zip.js/zip.js";
import { fileTypeFromBuffer, fileTypeFromTokenizer } from "file-type";
import { EXTERNAL_FORMATS, type DetectedType, type ExternalFormat } from "./detected-type.ts";
import { bytesContent, type FileContent, type FileHead } from "./file-content.ts";
import { compoundFileType, isCompoundFile } from "./ole2.ts";
import { CONTENT_TYPES_ENTRY, ooxmlType } from "./ooxml.ts";
import { readZipEntry, zipEntries } from "./zip.ts";
import { zipSubtype, ZIP_MIMETYPE_ENTRY } from "./zip-types.ts";

/** How much of a file detection reads first: file-type reads 4100 octets to start with, and most formats are told from them. */
export const HEAD_BYTES = 8 * 1024;
/** What a file-type detector that reads past HEAD_BYTES gets next, before the whole file: images and media keep their metadata further in. */
export const LONG_HEAD_BYTES = 64 * 1024;

const EXECUTABLE_MIME = "application/x-msdownload";

function startsWith(bytes: Uint8Array, signature: readonly number[], at = 0): boolean {
  return bytes.length >= at + signature.length && signature.every((b, i) => bytes[at + i] === b);
}

function isDosExecutable(bytes: Uint8Array): boolean {
  return startsWith(bytes, [0x4d, 0x5a]) || startsWith(bytes, [0x5a, 0x4d]);
}

/**
 * MS-DOS and Windows executables. PE format (Microsoft "PE Format"): "MZ", the offset of the PE
 * signature at 0x3C, "PE\0\0", then the COFF file header whose Characteristics (offset 18) carry
 * IMAGE_FILE_DLL (0x2000) for libraries (.dll, .cpl, .ocx). DOS accepts "ZM" as well as "MZ".
 */
function executableType(bytes: Uint8Array): DetectedType | undefined {
  if (!isDosExecutable(bytes)) return undefined;
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

/** The executable type from the head, or from the whole file when its PE header lies past the head. */
function executableTypeOf(head: FileHead, content: FileContent): DetectedType | undefined {
  if (!isDosExecutable(head.bytes)) return undefined;
  const bytes = head.bytes;
  const pe = bytes.length >= 0x40 ? new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(0x3c, true) : 0;
  return executableType(head.complete || (bytes.length >= 0x40 && pe + 24 <= bytes.length) ? bytes : content.whole());
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
// RFC 1952 §2.3.1: ID1 ID2 and CM 8 (deflate), the only method defined.
const GZIP_SIGNATURE = [0x1f, 0x8b, 0x08];
// [Content_Types].xml and the mimetype entry are short; a larger one is not read (the names decide then).
const SMALL_ENTRY_MAX_BYTES = 256 * 1024;
// Office packages have tens of parts; the listing for detection stops here (opening counts them all).
const LISTED_FOR_DETECTION = 10_000;

interface ZipListing {
  names: string[];
  contentTypes: string | undefined;
  mimetype: string | undefined;
}

/** The text of a small entry, if it can be read within its bound. */
async function readSmallEntry(entry: Entry): Promise<string | undefined> {
  if (entry.directory || entry.encrypted) return undefined;
  try {
    const text = await readZipEntry(entry, SMALL_ENTRY_MAX_BYTES);
    return text && new TextDecoder().decode(text);
  } catch {
    return undefined; // a corrupt entry: the names decide
  }
}

/** The entry names of a zip (central directory order), its [Content_Types].xml and mimetype entry; undefined when it cannot be listed. */
async function zipListing(bytes: Uint8Array): Promise<ZipListing | undefined> {
  const listing: ZipListing = { names: [], contentTypes: undefined, mimetype: undefined };
  try {
    for await (const entry of zipEntries(bytes)) {
      listing.names.push(entry.filename);
      if (entry.filename === CONTENT_TYPES_ENTRY) listing.contentTypes = await readSmallEntry(entry);
      if (entry.filename === ZIP_MIMETYPE_ENTRY) listing.mimetype = await readSmallEntry(entry);
      if (listing.names.length >= LISTED_FOR_DETECTION) break;
    }
  } catch {
    return undefined;
  }
  return listing;
}

const PLAIN_ZIP: DetectedType = { label: "application/zip", extensions: ["zip"], mime: "application/zip" };

/**
 * Zip-based files: Office packages by their parts, the other formats file-type knows inside a zip
 * (OpenDocument, EPUB, JAR, APK, XPI, iWork, 3MF) by the same rules over the central directory, or a
 * plain zip. file-type is not run on a readable zip: it walks the local headers and scans for data
 * descriptors byte by byte, which costs far more than the central directory zip.js reads anyway.
 */
async function zipBasedType(bytes: Uint8Array): Promise<DetectedType> {
  const listing = await zipListing(bytes);
  if (listing === undefined) {
    // zip.js cannot read it (truncated, corrupt): file-type's reading of the local headers names it;
    // opening it will say why it cannot be read.
    const named = await fileTypeOf(bytes);
    if (named?.uninspectable) return named;
    return { ...(named ?? PLAIN_ZIP), container: "zip" };
  }
  const office = ooxmlType(listing.names, listing.contentTypes);
  if (office) return office;
  const subtype = zipSubtype(listing.names, listing.mimetype, listing.contentTypes);
  return { ...(subtype ? fileTypeResult(subtype.ext, subtype.mime) : PLAIN_ZIP), container: "zip" };
}

// Archives and images whose entries cannot be read here. No maintained reader in plain JavaScript
// that runs in workerd exists for 7z or RAR (the ports, 7z-wasm and node-unrar-js, are Emscripten
// builds that compile WebAssembly at run time, which workerd forbids), nor for the others; so they
// are recognised by their magic bytes and cannot be inspected — except 7z, RAR and xz where the
// runtime supplies an ArchiveOpener for them (the relay's runs 7-Zip in a worker thread).
const NOT_OPENED = new Set([
  "7z",
  "rar",
  "bz2",
  "xz",
  "lz",
  "lz4",
  "zst",
  "Z",
  "lzh",
  "arj",
  "ace",
  "cab",
  "cpio",
  "ar",
  "deb",
  "rpm",
  "iso",
  "dmg",
  "chm",
  "pst",
]);

const isExternalFormat = (ext: string): ext is ExternalFormat => (EXTERNAL_FORMATS as readonly string[]).includes(ext);

function fileTypeResult(ext: string, mime: string): DetectedType {
  const type: DetectedType = { label: mime, extensions: [ext], mime };
  if (ext === "gz" || ext === "tar.gz") return { ...type, extensions: ["gz"], container: "gzip" };
  if (ext === "tar") return { ...type, container: "tar" };
  const uninspectable = `${ext} files are not opened`;
  if (isExternalFormat(ext)) return { ...type, uninspectable, external: ext };
  if (NOT_OPENED.has(ext)) return { ...type, uninspectable };
  return type;
}

/** Reading past the head: the detection has to see the whole file. */
class PastTheHead extends Error {}

type Tokenizer = Parameters<typeof fileTypeFromTokenizer>[0];
interface Token<T> {
  len: number;
  get(array: Uint8Array, offset: number): T;
}

/**
 * A tokenizer (strtok3's interface, as file-type reads) over the head of a file of about `size`
 * octets: every read within the head is served, any read past it throws PastTheHead. `size` is an
 * upper bound of the real size, so a detector that would stop at the real end reads past the head
 * first, and so does one that jumps ahead (an ID3 tag, a TIFF directory): both end in a second run
 * on the whole file, which is what file-type would have seen in the first place.
 */
class HeadTokenizer implements Tokenizer {
  position = 0;
  readonly fileInfo: { size: number };
  private readonly head: Uint8Array;

  constructor(head: Uint8Array, size: number) {
    this.head = head;
    this.fileInfo = { size };
  }

  private range(buffer: Uint8Array, options?: { length?: number; position?: number }): { position: number; length: number } {
    const position = options?.position ?? this.position;
    const length = options?.length ?? buffer.length;
    if (position + length > this.head.length) throw new PastTheHead();
    return { position, length };
  }

  peekBuffer(buffer: Uint8Array, options?: { length?: number; position?: number }): Promise<number> {
    const { position, length } = this.range(buffer, options);
    buffer.set(this.head.subarray(position, position + length));
    return Promise.resolve(length);
  }

  async readBuffer(buffer: Uint8Array, options?: { length?: number; position?: number }): Promise<number> {
    const read = await this.peekBuffer(buffer, options);
    this.position = (options?.position ?? this.position) + read;
    return read;
  }

  async peekToken<T>(token: Token<T>, position: number | null = this.position): Promise<T> {
    const buffer = new Uint8Array(token.len);
    await this.peekBuffer(buffer, { position: position ?? this.position });
    return token.get(buffer, 0);
  }

  async readToken<T>(token: Token<T>, position: number = this.position): Promise<T> {
    const buffer = new Uint8Array(token.len);
    await this.readBuffer(buffer, { position });
    return token.get(buffer, 0);
  }

  peekNumber(token: Token<number>): Promise<number> {
    return this.peekToken(token);
  }

  readNumber(token: Token<number>): Promise<number> {
    return this.readToken(token);
  }

  ignore(length: number): Promise<number> {
    if (this.position + length > this.head.length) throw new PastTheHead();
    this.position += length;
    return Promise.resolve(length);
  }

  setPosition(position: number): void {
    this.position = position;
  }

  supportsRandomAccess(): boolean {
    return true;
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  abort(): Promise<void> {
    return Promise.resolve();
  }
}

function undetectable(err: unknown): DetectedType {
  const why = err instanceof Error ? err.message : String(err);
  return { label: "unrecognisable file", extensions: [], mime: "application/octet-stream", uninspectable: `its type cannot be detected (${why})` };
}

/** What file-type makes of the bytes. It should never throw; should a crafted file make it, that file is not let through unseen. */
async function fileTypeOf(bytes: Uint8Array): Promise<DetectedType | undefined> {
  let named;
  try {
    named = await fileTypeFromBuffer(bytes);
  } catch (err) {
    return undetectable(err);
  }
  return named && fileTypeResult(named.ext, named.mime);
}

/** What file-type makes of a head of a file of at most `size` octets; null when it reads past the head (or anything else went wrong on the head alone). */
async function fileTypeOfHead(head: Uint8Array, size: number): Promise<DetectedType | undefined | null> {
  let named;
  try {
    named = await fileTypeFromTokenizer(new HeadTokenizer(head, size));
  } catch {
    return null;
  }
  return named && fileTypeResult(named.ext, named.mime);
}

/**
 * What file-type makes of a file from its head; when it reads past it, from the first LONG_HEAD_BYTES
 * (the whole file when that is all of it); when it reads past those too, from the whole file. A run
 * that stays within the short head has read the same octets, of a file of the same size, as a run
 * on the long head would have: the answer is the same, without decoding the long head (a 256 KB
 * message's PDF attachment, whose type its first octets tell, is decoded 8 KiB far).
 */
async function fileTypeOfContent(head: FileHead, content: FileContent): Promise<DetectedType | undefined> {
  if (head.complete) return fileTypeOf(head.bytes);
  if (content.sizeBound > LONG_HEAD_BYTES) {
    const fromHead = await fileTypeOfHead(head.bytes, content.sizeBound);
    if (fromHead !== null) return fromHead;
  }
  const longHead = content.head(LONG_HEAD_BYTES);
  if (longHead.complete) return fileTypeOf(longHead.bytes);
  const fromLongHead = await fileTypeOfHead(longHead.bytes, content.sizeBound);
  return fromLongHead !== null ? fromLongHead : fileTypeOf(content.whole());
}

/** What a file is; undefined when no detector knows it (plain text, for one). */
export async function detectType(file: Uint8Array | FileContent): Promise<DetectedType | undefined> {
  const content = file instanceof Uint8Array ? bytesContent(file) : file;
  const head = content.head(HEAD_BYTES);
  const bytes = head.bytes;
  const known =
    executableTypeOf(head, content) ?? (isCompoundFile(bytes) ? compoundFileType(content.whole()) : undefined) ?? oneNoteType(bytes) ?? accessType(bytes);
  if (known) return known;
  if (ZIP_SIGNATURES.some((signature) => startsWith(bytes, signature))) return zipBasedType(content.whole());
  // As file-type names it (gz, or tar.gz after inflating the start): either way a gzip to open.
  if (startsWith(bytes, GZIP_SIGNATURE)) return fileTypeResult("gz", "application/gzip");
  return fileTypeOfContent(head, content);
}
