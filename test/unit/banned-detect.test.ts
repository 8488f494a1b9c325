import CFB from "cfb";
import { fileTypeFromBuffer } from "file-type";
import { describe, expect, it } from "vitest";
import { detectType, HEAD_BYTES, LONG_HEAD_BYTES } from "../../core/banned/detect.ts";
import { bytesContent, type FileContent } from "../../core/banned/file-content.ts";
import { compoundFileType } from "../../core/banned/ole2.ts";
import { compoundFile, ooxmlFile, PDF, peFile, PNG, tarFile, zipFile, gzipFile, type FixtureFile } from "../fixtures/banned-content.ts";

/** A compound file written by SheetJS's `cfb`, an implementation independent of ours (mini stream, real tree). */
function cfbWritten(streams: Record<string, number>, rootClsid?: string): Uint8Array {
  const container = CFB.utils.cfb_new();
  for (const [path, size] of Object.entries(streams)) CFB.utils.cfb_add(container, path, new Uint8Array(size).fill(0x41));
  if (rootClsid) {
    const root = container.FileIndex[0];
    if (root) root.clsid = rootClsid;
  }
  return new Uint8Array(CFB.write(container, { type: "array" }) as ArrayLike<number>);
}

describe("executables by their bytes (PE/COFF)", () => {
  it("tells a PE executable from a PE library and a bare MS-DOS program", async () => {
    expect(await detectType(peFile("exe"))).toMatchObject({ label: "Windows PE executable", extensions: ["exe"], mime: "application/x-msdownload" });
    expect(await detectType(peFile("dll"))).toMatchObject({ label: "Windows PE library", extensions: ["dll"] });
    const dos = new Uint8Array(64);
    dos.set([0x4d, 0x5a]);
    expect(await detectType(dos)).toMatchObject({ label: "MS-DOS executable", extensions: ["exe"] });
  });
});

describe("OLE2 compound files ([MS-CFB])", () => {
  it("reads files written by an independent implementation: Word, Excel, PowerPoint, Visio, Publisher, Outlook, MSI", () => {
    expect(compoundFileType(cfbWritten({ "/WordDocument": 6000, "/1Table": 300 }))).toMatchObject({
      label: "Word 97-2003 document",
      extensions: ["doc", "dot"],
    });
    expect(compoundFileType(cfbWritten({ "/WordDocument": 100, "/Macros/VBA/dir": 100 })).label).toBe("Word 97-2003 document with VBA macros");
    expect(compoundFileType(cfbWritten({ "/Workbook": 9000 }))).toMatchObject({ label: "Excel 97-2003 workbook", extensions: ["xls", "xlt", "xla"] });
    expect(compoundFileType(cfbWritten({ "/Book": 100 })).extensions).toContain("xls");
    expect(compoundFileType(cfbWritten({ "/PowerPoint Document": 100, "/Current User": 50 })).extensions).toEqual(["ppt", "pot", "pps", "ppa"]);
    expect(compoundFileType(cfbWritten({ "/VisioDocument": 100 })).extensions).toEqual(["vsd", "vss", "vst"]);
    expect(compoundFileType(cfbWritten({ "/Quill/QuillSub/CONTENTS": 100, "/Contents": 10 })).extensions).toEqual(["pub"]);
    expect(compoundFileType(cfbWritten({ "/__properties_version1.0": 100, "/__substg1.0_0037001F": 10 }))).toMatchObject({
      extensions: ["msg"],
      uninspectable: "Outlook .msg items are not opened",
    });
    expect(compoundFileType(cfbWritten({ "/\u4840\u3f3f": 10 }, "84100C0000000000C000000000000046"))).toMatchObject({
      label: "Windows Installer package",
      extensions: ["msi"],
    });
    expect(compoundFileType(cfbWritten({ "/EncryptionInfo": 200, "/EncryptedPackage": 5000 })).label).toBe("password-protected Office document");
    expect(compoundFileType(cfbWritten({ "/Thumbs": 10 }))).toMatchObject({ label: "OLE2 compound file", extensions: ["cfb"] });
    expect(compoundFileType(cfbWritten({ "/Thumbs": 10 })).uninspectable).toBeUndefined();
  });

  it("judges by the root's children only: a Word stream inside an embedded object does not make a Word file", () => {
    expect(compoundFileType(cfbWritten({ "/Quill/QuillSub/CONTENTS": 10, "/ObjectPool/_123/WordDocument": 10 })).extensions).toEqual(["pub"]);
  });

  it("reads version 4 files (4096-byte sectors) and many directory sectors", () => {
    expect(compoundFileType(compoundFile(["WordDocument", "1Table"], { version: 4 })).extensions).toEqual(["doc", "dot"]);
    const many = Array.from({ length: 40 }, (_, i) => `Stream${i}`);
    expect(compoundFileType(compoundFile([...many, "Workbook"])).extensions).toEqual(["xls", "xlt", "xla"]);
  });

  it("finds the detection through detectType, whatever the file is named", async () => {
    expect((await detectType(compoundFile(["WordDocument"])))?.mime).toBe("application/msword");
  });

  it("says a compound file whose directory cannot be read cannot be inspected", () => {
    expect(compoundFileType(compoundFile(["WordDocument"], { loopDirectoryChain: true })).uninspectable).toBe(
      "its directory cannot be read (the directory chain loops)",
    );
    const truncated = compoundFile(["WordDocument"]).subarray(0, 1024);
    expect(compoundFileType(truncated).uninspectable).toBe("its directory cannot be read (sector 1 lies outside the file)");
    const badVersion = compoundFile(["WordDocument"]);
    badVersion[0x1a] = 7;
    expect(compoundFileType(badVersion).uninspectable).toMatch(/unknown version 7/);
  });
});

describe("Office Open XML packages", () => {
  const cases: [string, string, string][] = [
    ["application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml", "word/document.xml", "docx"],
    ["application/vnd.ms-word.document.macroEnabled.main+xml", "word/document.xml", "docm"],
    ["application/vnd.ms-word.template.macroEnabledTemplate.main+xml", "word/document.xml", "dotm"],
    ["application/vnd.ms-excel.sheet.macroEnabled.main+xml", "xl/workbook.xml", "xlsm"],
    ["application/vnd.ms-excel.sheet.binary.macroEnabled.main", "xl/workbook.bin", "xlsb"],
    ["application/vnd.ms-excel.addin.macroEnabled.main+xml", "xl/workbook.xml", "xlam"],
    ["application/vnd.openxmlformats-officedocument.presentationml.slideshow.main+xml", "ppt/presentation.xml", "ppsx"],
    ["application/vnd.ms-powerpoint.addin.macroEnabled.main+xml", "ppt/presentation.xml", "ppam"],
    ["application/vnd.openxmlformats-officedocument.presentationml.slide+xml", "ppt/slides/slide1.xml", "sldx"],
    ["application/vnd.ms-visio.drawing.macroEnabled.main+xml", "visio/document.xml", "vsdm"],
    ["application/vnd.ms-visio.stencil.main+xml", "visio/document.xml", "vssx"],
  ];
  it.each(cases)("tells %s apart (.%s)", async (contentType, mainPart, ext) => {
    const detected = await detectType(await ooxmlFile(contentType, mainPart));
    expect(detected?.extensions).toEqual([ext]);
    expect(detected?.container).toBe("zip");
  });

  it("names the macros of a package that carries a vbaProject.bin", async () => {
    const detected = await detectType(await ooxmlFile("application/vnd.ms-excel.sheet.macroEnabled.main+xml", "xl/workbook.xml", { vba: true }));
    expect(detected?.label).toBe("Office Open XML Excel workbook with VBA macros");
  });

  it("falls back to the folder names when [Content_Types].xml names no known main part", async () => {
    const detected = await detectType(await ooxmlFile("application/x-unknown+xml", "word/document.xml", { vba: true }));
    expect(detected?.extensions).toEqual(["docm"]);
  });

  it("leaves other zip-based formats to file-type, and a plain zip is a zip", async () => {
    const odt = await zipFile([
      { name: "mimetype", data: "application/vnd.oasis.opendocument.text" },
      { name: "content.xml", data: "<office:document-content/>" },
    ]);
    expect(await detectType(odt)).toMatchObject({ extensions: ["odt"], container: "zip" });
    expect(await detectType(await zipFile([{ name: "a.txt", data: "hello" }]))).toMatchObject({
      extensions: ["zip"],
      mime: "application/zip",
      container: "zip",
    });
  });
});

describe("other Microsoft formats by their headers", () => {
  it("knows OneNote sections and tables of contents by their file-type GUID ([MS-ONESTORE] §2.3.1)", async () => {
    const section = new Uint8Array(1024);
    section.set([0xe4, 0x52, 0x5c, 0x7b, 0x8c, 0xd8, 0xa7, 0x4d, 0xae, 0xb1, 0x53, 0x78, 0xd0, 0x29, 0x96, 0xd3]);
    expect(await detectType(section)).toMatchObject({ label: "OneNote section", extensions: ["one"] });
    const toc = new Uint8Array(1024);
    toc.set([0xa1, 0x2f, 0xff, 0x43, 0xd9, 0xef, 0x76, 0x4c, 0x9e, 0xe2, 0x10, 0xea, 0x57, 0x22, 0x76, 0x5f]);
    expect((await detectType(toc))?.extensions).toEqual(["onetoc2"]);
  });

  it("knows Access databases by their engine signature", async () => {
    const header = (engine: string) => {
      const bytes = new Uint8Array(2048);
      bytes.set([0, 1, 0, 0]);
      bytes.set(new TextEncoder().encode(`Standard ${engine} DB\0`), 4);
      return bytes;
    };
    expect((await detectType(header("Jet")))?.extensions).toEqual(["mdb", "mde"]);
    expect((await detectType(header("ACE")))?.extensions).toEqual(["accdb", "accde"]);
  });
});

describe("everything else through file-type", () => {
  it("names ordinary documents and marks archives as containers or as formats not opened", async () => {
    expect(await detectType(PDF)).toMatchObject({ extensions: ["pdf"], mime: "application/pdf" });
    expect(await detectType(PNG)).toMatchObject({ extensions: ["png"] });
    expect(await detectType(new TextEncoder().encode("just some text\n"))).toBeUndefined();
    expect(await detectType(await tarFile([{ name: "a.pdf", data: PDF }]))).toMatchObject({ extensions: ["tar"], container: "tar" });
    expect(await detectType(await gzipFile(PDF))).toMatchObject({ extensions: ["gz"], container: "gzip" });
    const sevenZip = new Uint8Array([0x37, 0x7a, 0xbc, 0xaf, 0x27, 0x1c, 0, 4, ...new Uint8Array(32)]);
    expect(await detectType(sevenZip)).toMatchObject({ extensions: ["7z"], uninspectable: "7z files are not opened" });
    const rar = new Uint8Array([0x52, 0x61, 0x72, 0x21, 0x1a, 0x07, 0x01, 0x00, ...new Uint8Array(32)]);
    expect(await detectType(rar)).toMatchObject({ extensions: ["rar"], uninspectable: "rar files are not opened" });
  });
});

/** Content that counts how often all of it is asked for. */
function watched(bytes: Uint8Array): { content: FileContent; wholeReads: () => number } {
  let reads = 0;
  const inner = bytesContent(bytes);
  const content: FileContent = { ...inner, whole: () => (reads++, inner.whole()) };
  return { content, wholeReads: () => reads };
}

/** `bytes` followed by zeros up to `length`. */
function padded(bytes: Uint8Array, length: number): Uint8Array {
  const out = new Uint8Array(length);
  out.set(bytes);
  return out;
}

describe("detection reads the head of a file, and all of it only when it must", () => {
  it("names a large PDF from its head: the rest is never decoded", async () => {
    const { content, wholeReads } = watched(padded(PDF, 4 * HEAD_BYTES));
    expect(await detectType(content)).toMatchObject({ extensions: ["pdf"] });
    expect(wholeReads()).toBe(0);
  });

  it("reads the whole file when the PE header lies past the head", async () => {
    const dll = padded(peFile("dll"), 2 * HEAD_BYTES);
    const pe = HEAD_BYTES + 512;
    dll.set(dll.subarray(0x80, 0x100), pe);
    new DataView(dll.buffer).setUint32(0x3c, pe, true);
    const { content, wholeReads } = watched(dll);
    expect(await detectType(content)).toMatchObject({ label: "Windows PE library", extensions: ["dll"] });
    expect(wholeReads()).toBe(1);
  });

  it("runs file-type again on the whole file when it reads past the head, and agrees with it", async () => {
    // An MP3 behind a 100 KB ID3v2 tag (ID3v2.3 §3.1: the size is synchsafe) …
    const id3Size = 100_000;
    const mp3 = new Uint8Array(10 + id3Size + 4096);
    mp3.set([0x49, 0x44, 0x33, 3, 0, 0, (id3Size >> 21) & 0x7f, (id3Size >> 14) & 0x7f, (id3Size >> 7) & 0x7f, id3Size & 0x7f]);
    for (let at = 10 + id3Size; at + 418 <= mp3.length; at += 418) mp3.set([0xff, 0xfb, 0x90, 0x00], at);
    // … and a DNG, a TIFF whose first directory (TIFF 6.0 §2) holds the DNGVersion tag, 200 KB in.
    const ifd = 200_000;
    const dng = new Uint8Array(ifd + 2 + 12 + 4);
    const view = new DataView(dng.buffer);
    dng.set([0x49, 0x49, 42, 0]);
    view.setUint32(4, ifd, true);
    view.setUint16(ifd, 1, true);
    view.setUint16(ifd + 2, 50_706, true);
    for (const bytes of [mp3, dng]) {
      const { content, wholeReads } = watched(bytes);
      const named = await fileTypeFromBuffer(bytes);
      expect(named).toBeDefined();
      expect((await detectType(content))?.extensions).toEqual([named?.ext]);
      expect(wholeReads()).toBe(1);
    }
  });
});

describe("detection of a large file reads a short head, then a longer one, before the whole", () => {
  /** The lengths of the heads asked for, and the whole reads. */
  function heads(bytes: Uint8Array): { content: FileContent; asked: number[]; wholeReads: () => number } {
    const asked: number[] = [];
    const { content: inner, wholeReads } = watched(bytes);
    return { content: { ...inner, head: (length) => (asked.push(length), inner.head(length)) }, asked, wholeReads };
  }

  it("names a PDF larger than the long head from the short head alone", async () => {
    const { content, asked, wholeReads } = heads(padded(PDF, 4 * LONG_HEAD_BYTES));
    expect(await detectType(content)).toMatchObject({ extensions: ["pdf"] });
    expect(asked).toEqual([HEAD_BYTES]);
    expect(wholeReads()).toBe(0);
  });

  it("names an MP3 behind a 20 KB ID3v2 tag from the long head, as file-type names the whole file", async () => {
    const id3Size = 20_000;
    const mp3 = new Uint8Array(10 + id3Size + 200_000);
    mp3.set([0x49, 0x44, 0x33, 3, 0, 0, (id3Size >> 21) & 0x7f, (id3Size >> 14) & 0x7f, (id3Size >> 7) & 0x7f, id3Size & 0x7f]);
    for (let at = 10 + id3Size; at + 418 <= mp3.length; at += 418) mp3.set([0xff, 0xfb, 0x90, 0x00], at);
    const { content, asked, wholeReads } = heads(mp3);
    const named = await fileTypeFromBuffer(mp3);
    expect(named).toBeDefined();
    expect((await detectType(content))?.extensions).toEqual([named?.ext]);
    expect(asked).toEqual([HEAD_BYTES, LONG_HEAD_BYTES]);
    expect(wholeReads()).toBe(0);
  });

  it("takes a file no longer than the long head whole, as file-type sees it", async () => {
    const { content, asked, wholeReads } = heads(padded(PDF, LONG_HEAD_BYTES));
    expect(await detectType(content)).toMatchObject({ extensions: ["pdf"] });
    expect(asked).toEqual([HEAD_BYTES, LONG_HEAD_BYTES]);
    expect(wholeReads()).toBe(0);
  });
});

describe("zip-based formats from the central directory, as file-type names them", () => {
  const formats: [string, FixtureFile[]][] = [
    [
      "epub",
      [
        { name: "mimetype", data: "application/epub+zip" },
        { name: "OEBPS/content.opf", data: "<package/>" },
      ],
    ],
    [
      "ods",
      [
        { name: "mimetype", data: "application/vnd.oasis.opendocument.spreadsheet" },
        { name: "content.xml", data: "<office:document-content/>" },
      ],
    ],
    [
      "jar",
      [
        { name: "META-INF/MANIFEST.MF", data: "Manifest-Version: 1.0\n" },
        { name: "a/B.class", data: "\xca\xfe" },
      ],
    ],
    [
      "xpi",
      [
        { name: "manifest.json", data: "{}" },
        { name: "META-INF/mozilla.rsa", data: "x" },
      ],
    ],
    [
      "apk",
      [
        { name: "AndroidManifest.xml", data: "x" },
        { name: "classes.dex", data: "dex\n035" },
      ],
    ],
    [
      "pages",
      [
        { name: "Index/Document.iwa", data: "x" },
        { name: "Metadata/Properties.plist", data: "x" },
      ],
    ],
    [
      "numbers",
      [
        { name: "Index/Document.iwa", data: "x" },
        { name: "Index/Tables/DataList.iwa", data: "x" },
      ],
    ],
    [
      "zip",
      [
        { name: "a.txt", data: "hello" },
        { name: "b/c.txt", data: "world" },
      ],
    ],
  ];
  it.each(formats)("%s", async (ext, files) => {
    const zip = await zipFile(files);
    expect((await fileTypeFromBuffer(zip))?.ext).toBe(ext);
    expect(await detectType(zip)).toMatchObject({ extensions: [ext], container: "zip" });
  });
});
