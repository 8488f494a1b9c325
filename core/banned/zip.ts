// Zip files through zip.js (@zip.js/zip.js): it reads the central directory (APPNOTE.TXT §4.3.12),
// tells encrypted entries apart (general purpose bit 0, §4.4.4), inflates with the platform's
// DecompressionStream in workerd and Node alike, and in "strict" mode refuses an archive whose local
// headers disagree with its central directory — the classic trick to show a scanner other files than
// the unzip tool sees.
import { Uint8ArrayReader, ZipReader, type Entry, type FileEntry } from "@zip.js/zip.js";
import { boundedSink } from "./bounded.ts";

const READER_OPTIONS = { useWebWorkers: false, strictness: "strict", checkSignature: true } as const;

/**
 * The entries of a zip file, directories included, one at a time from the central directory (so a
 * listing of a million entries is never held at once); throws when the zip cannot be read.
 */
export async function* zipEntries(bytes: Uint8Array): AsyncGenerator<Entry> {
  const reader = new ZipReader(new Uint8ArrayReader(bytes), READER_OPTIONS);
  try {
    yield* reader.getEntriesGenerator();
  } finally {
    await reader.close();
  }
}

/**
 * The content of an entry, or undefined when it inflates to more than `limit` bytes (whatever size
 * the entry declares). Throws when the entry is corrupt, encrypted or its CRC-32 does not match.
 */
export async function readZipEntry(entry: FileEntry, limit: number): Promise<Uint8Array | undefined> {
  const sink = boundedSink(limit);
  try {
    await entry.getData(sink.writable, READER_OPTIONS);
  } catch (err) {
    if (sink.overflowed()) return undefined;
    throw err;
  }
  return sink.bytes();
}
