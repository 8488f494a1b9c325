// Compound File Binary files ("OLE2", [MS-CFB]): the container of Office 97–2003 documents, Visio and
// Publisher files, Outlook .msg items and Windows Installer packages. The names of the streams and
// storages directly under the root storage tell these apart ([MS-DOC] "WordDocument", [MS-XLS]
// "Workbook", [MS-PPT] "PowerPoint Document", …); nothing else is read.
//
// Written here rather than taken from the npm `cfb` package: that one parses every stream of the file
// into memory up front, where this needs only the directory and must bound every attacker-chosen
// offset and chain; its npm releases are also no longer updated (SheetJS publishes elsewhere).
import type { DetectedType } from "./detected-type.ts";

// [MS-CFB] §2.2 Compound File Header.
const SIGNATURE = [0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1];
const HEADER_DIFAT_ENTRIES = 109;
// [MS-CFB] §2.1: special sector numbers; anything above MAXREGSECT is not a sector.
const MAXREGSECT = 0xfffffffa;
const ENDOFCHAIN = 0xfffffffe;
// [MS-CFB] §2.6.1: directory entries are 128 bytes; stream IDs above MAXREGSID are not entries.
const DIRECTORY_ENTRY_SIZE = 128;
const MAXREGSID = 0xfffffffa;
const OBJECT_STORAGE = 1;
const OBJECT_STREAM = 2;
const OBJECT_ROOT = 5;

export function isCompoundFile(bytes: Uint8Array): boolean {
  return bytes.length >= 512 && SIGNATURE.every((b, i) => bytes[i] === b);
}

class CompoundFileError extends Error {}

interface CompoundFile {
  bytes: Uint8Array;
  view: DataView;
  sectorSize: number;
  fatSectors: number[];
}

/** §2.2: sector n starts at (n + 1) × sector size, after the header. */
function sectorOffset(file: Pick<CompoundFile, "bytes" | "sectorSize">, sector: number): number {
  const offset = (sector + 1) * file.sectorSize;
  if (sector > MAXREGSECT || offset + file.sectorSize > file.bytes.length) {
    throw new CompoundFileError(`sector ${sector} lies outside the file`);
  }
  return offset;
}

/** [MS-CFB] §2.5: the FAT sector locations, from the header's 109 and then the DIFAT chain. */
function readFatSectors(bytes: Uint8Array, view: DataView, sectorSize: number): number[] {
  const count = view.getUint32(0x2c, true);
  const maxSectors = Math.floor(bytes.length / sectorSize);
  if (count > maxSectors) throw new CompoundFileError(`${count} FAT sectors in a file of ${maxSectors} sectors`);
  const locations: number[] = [];
  for (let i = 0; i < Math.min(count, HEADER_DIFAT_ENTRIES); i++) locations.push(view.getUint32(0x4c + i * 4, true));
  const perDifatSector = sectorSize / 4 - 1;
  const seen = new Set<number>();
  let difat = view.getUint32(0x44, true);
  while (locations.length < count) {
    if (difat === ENDOFCHAIN || seen.has(difat)) throw new CompoundFileError("the DIFAT chain ends early or loops");
    seen.add(difat);
    const at = sectorOffset({ bytes, sectorSize }, difat);
    for (let i = 0; i < perDifatSector && locations.length < count; i++) locations.push(view.getUint32(at + i * 4, true));
    difat = view.getUint32(at + perDifatSector * 4, true);
  }
  return locations;
}

function openCompoundFile(bytes: Uint8Array): CompoundFile {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const major = view.getUint16(0x1a, true);
  const sectorShift = view.getUint16(0x1e, true);
  // §2.2: version 3 uses 512-byte sectors, version 4 4096-byte ones; the byte order mark is 0xFFFE.
  if (view.getUint16(0x1c, true) !== 0xfffe || !((major === 3 && sectorShift === 9) || (major === 4 && sectorShift === 12))) {
    throw new CompoundFileError(`unknown version ${major} or sector shift ${sectorShift}`);
  }
  const sectorSize = 1 << sectorShift;
  return { bytes, view, sectorSize, fatSectors: readFatSectors(bytes, view, sectorSize) };
}

/** [MS-CFB] §2.3: the sector that follows `sector` in its chain. */
function nextSector(file: CompoundFile, sector: number): number {
  const perFatSector = file.sectorSize / 4;
  const fatSector = file.fatSectors[Math.floor(sector / perFatSector)];
  if (fatSector === undefined) throw new CompoundFileError(`sector ${sector} is not covered by the FAT`);
  return file.view.getUint32(sectorOffset(file, fatSector) + (sector % perFatSector) * 4, true);
}

/** §2.6: the file offsets of the directory sectors, following the chain from the header. */
function directorySectors(file: CompoundFile): number[] {
  const offsets: number[] = [];
  const seen = new Set<number>();
  for (let sector = file.view.getUint32(0x30, true); sector !== ENDOFCHAIN; sector = nextSector(file, sector)) {
    if (seen.has(sector)) throw new CompoundFileError("the directory chain loops");
    seen.add(sector);
    offsets.push(sectorOffset(file, sector));
  }
  return offsets;
}

interface DirectoryEntry {
  name: string;
  type: number;
  left: number;
  right: number;
  child: number;
  clsid: string;
}

/** A GUID as it is written, from its little-endian form (Data1, Data2, Data3, then eight bytes). */
function guid(view: DataView, at: number): string {
  const hex = (n: number, digits: number) => n.toString(16).padStart(digits, "0");
  const tail = Array.from({ length: 8 }, (_, i) => hex(view.getUint8(at + 8 + i), 2)).join("");
  return `${hex(view.getUint32(at, true), 8)}-${hex(view.getUint16(at + 4, true), 4)}-${hex(view.getUint16(at + 6, true), 4)}-${tail.slice(0, 4)}-${tail.slice(4)}`.toUpperCase();
}

function readEntry(file: CompoundFile, sectors: readonly number[], id: number): DirectoryEntry {
  const perSector = file.sectorSize / DIRECTORY_ENTRY_SIZE;
  const sector = sectors[Math.floor(id / perSector)];
  if (id > MAXREGSID || sector === undefined) throw new CompoundFileError(`directory entry ${id} does not exist`);
  const at = sector + (id % perSector) * DIRECTORY_ENTRY_SIZE;
  // §2.6.1: the name is UTF-16LE, its length in bytes includes the terminating NUL, at most 64.
  const nameBytes = file.view.getUint16(at + 0x40, true);
  const nameLength = nameBytes >= 2 && nameBytes <= 64 ? (nameBytes - 2) & ~1 : 0;
  const name = Array.from({ length: nameLength / 2 }, (_, i) => String.fromCharCode(file.view.getUint16(at + i * 2, true))).join("");
  return {
    name,
    type: file.view.getUint8(at + 0x42),
    left: file.view.getUint32(at + 0x44, true),
    right: file.view.getUint32(at + 0x48, true),
    child: file.view.getUint32(at + 0x4c, true),
    clsid: guid(file.view, at + 0x50),
  };
}

interface RootStorage {
  clsid: string;
  /** The names of the streams and storages directly under the root, upper-cased (§2.6.4 compares them so). */
  children: Set<string>;
}

/** The root entry and its children: the red-black tree under its child ID, walked with a bound against loops. */
function readRoot(bytes: Uint8Array): RootStorage {
  const file = openCompoundFile(bytes);
  const sectors = directorySectors(file);
  const root = readEntry(file, sectors, 0);
  if (root.type !== OBJECT_ROOT) throw new CompoundFileError("the first directory entry is not the root storage");
  const children = new Set<string>();
  const seen = new Set<number>();
  const pending = [root.child];
  for (let id = pending.pop(); id !== undefined; id = pending.pop()) {
    if (id > MAXREGSID) continue;
    if (seen.has(id)) throw new CompoundFileError("the directory tree loops");
    seen.add(id);
    const entry = readEntry(file, sectors, id);
    if (entry.type === OBJECT_STORAGE || entry.type === OBJECT_STREAM) children.add(entry.name.toUpperCase());
    pending.push(entry.left, entry.right);
  }
  return { clsid: root.clsid, children };
}

// Root storage CLSIDs of Windows Installer files (MSI SDK: "Installer Database", patch, transform).
const INSTALLER_CLASSES: Record<string, Omit<DetectedType, "mime">> = {
  "000C1084-0000-0000-C000-000000000046": { label: "Windows Installer package", extensions: ["msi"] },
  "000C1086-0000-0000-C000-000000000046": { label: "Windows Installer patch", extensions: ["msp"] },
  "000C1082-0000-0000-C000-000000000046": { label: "Windows Installer transform", extensions: ["mst"] },
};

const WITH_MACROS = " with VBA macros";

/** What the root's children and class say the file is. */
function classify(root: RootStorage): DetectedType {
  const has = (name: string) => root.children.has(name.toUpperCase());
  // [MS-OFFCRYPTO] §2.3.4.4 / §2.3.4.5: a password-protected OOXML file is a compound file holding
  // the encrypted package; the package (and so which application it is for) cannot be read.
  if (has("EncryptionInfo") && has("EncryptedPackage")) {
    return { label: "password-protected Office document", extensions: ["docx", "xlsx", "pptx"], mime: "application/x-cfb" };
  }
  // [MS-DOC] §2.1.1: the WordDocument stream; VBA lives in the "Macros" storage ([MS-OVBA] §2.2.1).
  if (has("WordDocument")) {
    return { label: `Word 97-2003 document${has("Macros") ? WITH_MACROS : ""}`, extensions: ["doc", "dot"], mime: "application/msword" };
  }
  // [MS-XLS] §2.1.2: the Workbook stream (BIFF8), or Book (BIFF5 and older); VBA in _VBA_PROJECT_CUR.
  if (has("Workbook") || has("Book")) {
    const macros = has("_VBA_PROJECT_CUR") ? WITH_MACROS : "";
    return { label: `Excel 97-2003 workbook${macros}`, extensions: ["xls", "xlt", "xla"], mime: "application/vnd.ms-excel" };
  }
  // [MS-PPT] §2.1.1: the PowerPoint Document stream.
  if (has("PowerPoint Document")) {
    return { label: "PowerPoint 97-2003 presentation", extensions: ["ppt", "pot", "pps", "ppa"], mime: "application/vnd.ms-powerpoint" };
  }
  // [MS-VSD] §2.1: the VisioDocument stream.
  if (has("VisioDocument")) return { label: "Visio 2003-2010 drawing", extensions: ["vsd", "vss", "vst"], mime: "application/vnd.visio" };
  // Publisher keeps its text in the "Quill" storage (Quill/QuillSub/CONTENTS); [MS-PUB] is not public.
  if (has("Quill")) return { label: "Publisher document", extensions: ["pub"], mime: "application/x-mspublisher" };
  // [MS-OXMSG] §2.4: the property stream of an Outlook item. It carries its own attachments, which
  // are not opened here.
  if (has("__properties_version1.0")) {
    return {
      label: "Outlook item",
      extensions: ["msg"],
      mime: "application/vnd.ms-outlook",
      uninspectable: "Outlook .msg items are not opened",
    };
  }
  const installer = INSTALLER_CLASSES[root.clsid];
  if (installer) return { ...installer, mime: "application/x-msi" };
  return { label: "OLE2 compound file", extensions: ["cfb"], mime: "application/x-cfb" };
}

/** What a compound file is; one whose directory cannot be read cannot be told apart, and says so. */
export function compoundFileType(bytes: Uint8Array): DetectedType {
  try {
    return classify(readRoot(bytes));
  } catch (err) {
    if (!(err instanceof CompoundFileError) && !(err instanceof RangeError)) throw err;
    return {
      label: "OLE2 compound file",
      extensions: ["cfb"],
      mime: "application/x-cfb",
      uninspectable: `its directory cannot be read (${err.message})`,
    };
  }
}
