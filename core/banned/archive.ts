// The files inside an archive, unpacked under bounds shared by the whole message: entries listed,
// bytes unpacked (checked against declared sizes first, then enforced while inflating, so a lying
// header does not help). An archive that cannot be read whole — encrypted, truncated, corrupt, over a
// bound — raises UninspectableError with the reason; the judge applies the configured policy.
//
// zip, tar and gzip are read here, in every runtime. 7z, RAR and xz are read by an ArchiveOpener that
// the runtime supplies (dependency injection through VerdictOptions, as the resolver is): their
// readers are WebAssembly builds that need what core does not do (compiling WebAssembly at run time,
// a thread to run in), so the relay supplies one and the Worker none.
import type { Entry } from "@zip.js/zip.js";
import { unpackTar } from "modern-tar";
import { boundedSink } from "./bounded.ts";
import type { ContainerKind, ExternalFormat } from "./detected-type.ts";
import { shownName } from "./filename.ts";
import { readZipEntry, zipEntries } from "./zip.ts";

export class UninspectableError extends Error {}

/** What may still be unpacked while judging one message. */
export interface UnpackBudget {
  bytesLeft: number;
  entriesLeft: number;
  readonly maxBytes: number;
  readonly maxEntries: number;
}

export interface ArchiveEntry {
  name: string;
  content: Uint8Array;
}

/** What an opener may unpack from one archive: it stops, and says which bound, as soon as one is passed. */
export interface OpenerBounds {
  /** Entries listed, directories included. */
  maxEntries: number;
  /** Bytes unpacked, all files together; enforced while unpacking, whatever the archive declares. */
  maxBytes: number;
}

export type OpenedArchive =
  | { entries: ArchiveEntry[] }
  /** A bound was passed: entries, bytes. */
  | { over: "entries" | "bytes" }
  /** Why its files cannot be reached: "entry \"a.pdf\" is encrypted", "the archive is encrypted", "the 7z cannot be read (…)". */
  | { uninspectable: string };

/** Reads archive formats core has no reader for; the runtime that can run one supplies it. */
export interface ArchiveOpener {
  readonly formats: ReadonlySet<ExternalFormat>;
  open(format: ExternalFormat, bytes: Uint8Array, bounds: OpenerBounds): Promise<OpenedArchive>;
}

/** An error's message; Node's DecompressionStream throws a TypeError whose message is in its cause. */
export function messageOf(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  if (err.message !== "") return err.message;
  return err.cause === undefined ? err.name : messageOf(err.cause);
}

function takeEntry(budget: UnpackBudget): void {
  budget.entriesLeft -= 1;
  if (budget.entriesLeft < 0) throw new UninspectableError(`more than ${budget.maxEntries} archive entries`);
}

const overBytes = (budget: UnpackBudget) => new UninspectableError(`more than ${budget.maxBytes} bytes unpacked`);

function takeBytes(budget: UnpackBudget, size: number): void {
  if (size > budget.bytesLeft) throw overBytes(budget);
  budget.bytesLeft -= size;
}

/** The next entry of a listing, or why the zip cannot be read. */
async function nextZipEntry(entries: AsyncGenerator<Entry>): Promise<Entry | undefined> {
  try {
    const next = await entries.next();
    return next.done ? undefined : next.value;
  } catch (err) {
    throw new UninspectableError(`the zip cannot be read (${messageOf(err)})`);
  }
}

async function* zipContents(bytes: Uint8Array, budget: UnpackBudget): AsyncGenerator<ArchiveEntry> {
  const entries = zipEntries(bytes);
  try {
    for (let entry = await nextZipEntry(entries); entry !== undefined; entry = await nextZipEntry(entries)) {
      takeEntry(budget);
      if (entry.directory) continue;
      // APPNOTE.TXT §4.4.4: general purpose bit 0 (and the strong-encryption bit 6) mark encrypted data.
      if (entry.encrypted) throw new UninspectableError(`entry ${shownName(entry.filename)} is encrypted`);
      if (entry.uncompressedSize > budget.bytesLeft) throw overBytes(budget);
      let content;
      try {
        content = await readZipEntry(entry, budget.bytesLeft);
      } catch (err) {
        throw new UninspectableError(`entry ${shownName(entry.filename)} cannot be read (${messageOf(err)})`);
      }
      if (content === undefined) throw overBytes(budget);
      takeBytes(budget, content.byteLength);
      yield { name: entry.filename, content };
    }
  } finally {
    await entries.return(undefined);
  }
}

/** RFC 1952 §2.3: the original file name (FNAME, ISO 8859-1, zero-terminated) of a gzip member, if given. */
function gzipFileName(bytes: Uint8Array): string | undefined {
  const FEXTRA = 0x04;
  const FNAME = 0x08;
  const flags = bytes[3] ?? 0;
  if ((flags & FNAME) === 0) return undefined;
  let at = 10;
  if (flags & FEXTRA) at += 2 + (bytes[10] ?? 0) + ((bytes[11] ?? 0) << 8);
  const end = bytes.indexOf(0, at);
  if (end === -1) return undefined;
  return String.fromCharCode(...bytes.subarray(at, Math.min(end, at + 1024)));
}

/** The name a gunzipped file gets without FNAME, as gzip -d names it: "a.exe.gz" → "a.exe", "b.tgz" → "b.tar". */
function gunzippedName(outerName: string | null): string {
  if (outerName === null) return "";
  return outerName.replace(/\.tgz$/i, ".tar").replace(/\.(gz|gzip|z)$/i, "");
}

async function* gzipContents(bytes: Uint8Array, outerName: string | null, budget: UnpackBudget): AsyncGenerator<ArchiveEntry> {
  takeEntry(budget);
  // The size field (RFC 1952 §2.3.1 ISIZE) is not consulted: it is the size modulo 2^32, of the last
  // member only, and the tail of a truncated file. The bound on the inflating stream is exact.
  const sink = boundedSink(budget.bytesLeft);
  try {
    // slice(): a copy backed by a plain ArrayBuffer, as a BlobPart must be.
    await new Blob([bytes.slice()]).stream().pipeThrough(new DecompressionStream("gzip")).pipeTo(sink.writable);
  } catch (err) {
    if (sink.overflowed()) throw overBytes(budget);
    throw new UninspectableError(`the gzip data cannot be read (${messageOf(err)})`);
  }
  const content = sink.bytes();
  takeBytes(budget, content.byteLength);
  yield { name: gzipFileName(bytes) ?? gunzippedName(outerName), content };
}

async function* tarContents(bytes: Uint8Array, budget: UnpackBudget): AsyncGenerator<ArchiveEntry> {
  let entries;
  try {
    // Strict: every header's checksum is verified (POSIX.1-2017 pax "ustar Interchange Format"),
    // a truncated archive is an error. Only regular files are kept; the filter runs before any data
    // is copied, so the declared sizes are charged first.
    entries = await unpackTar(bytes, {
      strict: true,
      filter: (header) => {
        if (header.type !== undefined && header.type !== "file") return false;
        takeEntry(budget);
        takeBytes(budget, header.size);
        return true;
      },
    });
  } catch (err) {
    if (err instanceof UninspectableError) throw err;
    throw new UninspectableError(`the tar cannot be read (${messageOf(err)})`);
  }
  for (const entry of entries) yield { name: entry.header.name, content: entry.data ?? new Uint8Array(0) };
}

/** The name an unpacked xz stream gets, as xz -d names it: "a.exe.xz" → "a.exe", "b.txz" → "b.tar". */
function unxzName(outerName: string | null): string {
  if (outerName === null) return "";
  return outerName.replace(/\.txz$/i, ".tar").replace(/\.xz$/i, "");
}

/**
 * The files of a 7z, RAR or xz through the runtime's opener. Besides the message's byte bound, one
 * archive may unpack at most `maxRatio` bytes per byte of itself: deflate (zip, gzip) cannot exceed
 * about 1032:1, but LZMA, PPMd and RAR's filters reach millions to one, so a small attachment could
 * otherwise claim the whole byte bound of the message.
 */
async function* externalContents(
  format: ExternalFormat,
  bytes: Uint8Array,
  outerName: string | null,
  budget: UnpackBudget,
  opener: ArchiveOpener,
  maxRatio: number,
): AsyncGenerator<ArchiveEntry> {
  const byRatio = maxRatio * bytes.length;
  const opened = await opener.open(format, bytes, { maxEntries: Math.max(budget.entriesLeft, 0), maxBytes: Math.min(budget.bytesLeft, byRatio) });
  if ("uninspectable" in opened) throw new UninspectableError(opened.uninspectable);
  if ("over" in opened) {
    if (opened.over === "entries") throw new UninspectableError(`more than ${budget.maxEntries} archive entries`);
    if (byRatio < budget.bytesLeft) throw new UninspectableError(`it unpacks to more than ${maxRatio} times its size`);
    throw overBytes(budget);
  }
  for (const entry of opened.entries) {
    takeEntry(budget);
    takeBytes(budget, entry.content.byteLength);
    // An xz holds one stream without a name: it is named as xz -d names it.
    yield format === "xz" ? { ...entry, name: unxzName(outerName) } : entry;
  }
}

/** How 7z, RAR and xz are opened where they are: the runtime's opener and the ratio bound. */
export interface ExternalOpening {
  opener: ArchiveOpener | undefined;
  maxRatio: number;
}

/** The files in an archive of the given kind, one at a time. */
export function archiveEntries(
  kind: Exclude<ContainerKind, "message"> | ExternalFormat,
  bytes: Uint8Array,
  outerName: string | null,
  budget: UnpackBudget,
  external: ExternalOpening,
): AsyncGenerator<ArchiveEntry> {
  switch (kind) {
    case "zip":
      return zipContents(bytes, budget);
    case "gzip":
      return gzipContents(bytes, outerName, budget);
    case "tar":
      return tarContents(bytes, budget);
    case "7z":
    case "rar":
    case "xz":
      if (external.opener === undefined || !external.opener.formats.has(kind)) throw new UninspectableError(`${kind} files are not opened`);
      return externalContents(kind, bytes, outerName, budget, external.opener, external.maxRatio);
  }
}
