// The files inside an archive, unpacked under bounds shared by the whole message: entries listed,
// bytes unpacked (checked against declared sizes first, then enforced while inflating, so a lying
// header does not help). An archive that cannot be read whole — encrypted, truncated, corrupt, over a
// bound — raises UninspectableError with the reason; the judge applies the configured policy.
import type { Entry } from "@zip.js/zip.js";
import { unpackTar } from "modern-tar";
import { boundedSink } from "./bounded.ts";
import type { ContainerKind } from "./detected-type.ts";
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

/** The files in an archive of the given kind, one at a time. */
export function archiveEntries(
  kind: Exclude<ContainerKind, "message">,
  bytes: Uint8Array,
  outerName: string | null,
  budget: UnpackBudget,
): AsyncGenerator<ArchiveEntry> {
  switch (kind) {
    case "zip":
      return zipContents(bytes, budget);
    case "gzip":
      return gzipContents(bytes, outerName, budget);
    case "tar":
      return tarContents(bytes, budget);
  }
}
