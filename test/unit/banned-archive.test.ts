import { describe, expect, it } from "vitest";
import { parseConfig } from "../../core/config/load.ts";
import type { BannedConfig } from "../../core/config/schema.ts";
import { findBannedContent } from "../../core/banned/banned.ts";
import { attachment, compoundFile, gzipFile, mail, ooxmlFile, PDF, peFile, tarFile, zipFile } from "../fixtures/banned-content.ts";

const config: BannedConfig = parseConfig({ hostname: "mx.example.org", domains: [{ name: "example.org", mx: ["mx.example.org"], catchAll: true }] }).judge
  .banned;
/** The configuration with zip allowed, so that zips are opened rather than refused on sight. */
const zipAllowed: BannedConfig = { ...config, extensions: config.extensions.filter((e) => e !== "zip") };
const withArchives = (rules: BannedConfig, archives: Partial<BannedConfig["archives"]>): BannedConfig => ({
  ...rules,
  archives: { ...rules.archives, ...archives },
});

async function reasonFor(files: Parameters<typeof attachment>[], rules: BannedConfig = config): Promise<string | undefined> {
  const verdict = await findBannedContent(mail(files.map((f) => attachment(...f))), rules);
  return verdict.banned ? verdict.reason : undefined;
}

/** Sets every stored uncompressed size of a one-entry zip (local header, data descriptor, central directory) to `size`. */
function lieAboutSize(zip: Uint8Array, size: number): Uint8Array {
  const out = zip.slice();
  const view = new DataView(out.buffer);
  for (let at = 0; at + 4 <= out.length; at++) {
    const signature = view.getUint32(at, true);
    if (signature === 0x04034b50) view.setUint32(at + 22, size, true); // APPNOTE §4.3.7 local file header
    if (signature === 0x08074b50) view.setUint32(at + 12, size, true); // §4.3.9 data descriptor
    if (signature === 0x02014b50) view.setUint32(at + 24, size, true); // §4.3.12 central directory header
  }
  return out;
}

/** gzip of `mebibytes` MiB of zeros, compressed as a stream so the test never holds the plain data. */
async function zeroBomb(mebibytes: number): Promise<Uint8Array> {
  let sent = 0;
  const zeros = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (sent++ === mebibytes) controller.close();
      else controller.enqueue(new Uint8Array(1024 * 1024));
    },
  });
  return new Uint8Array(await new Response(zeros.pipeThrough(new CompressionStream("gzip"))).arrayBuffer());
}

describe("zip is banned by itself", () => {
  it("refuses a zip by name and by content, and an encrypted or broken one all the same", async () => {
    const zip = await zipFile([{ name: "a.pdf", data: PDF }]);
    expect(await reasonFor([["docs.zip", "application/zip", zip]])).toBe('attachment "docs.zip": extension .zip');
    expect(await reasonFor([["docs.dat", "application/octet-stream", zip]])).toBe('attachment "docs.dat": content is application/zip (.zip)');
    const encrypted = await zipFile([{ name: "a.pdf", data: PDF }], { password: "secret" });
    expect(await reasonFor([["data.bin", "application/octet-stream", encrypted]])).toBe('attachment "data.bin": content is application/zip (.zip)');
    expect(await reasonFor([["data.bin", "application/octet-stream", zip.subarray(0, 60)]])).toBe('attachment "data.bin": content is application/zip (.zip)');
  });
});

describe("archives are opened and their entries judged", () => {
  it("judges tar entries by name and by content", async () => {
    const named = await tarFile([
      { name: "docs/a.pdf", data: PDF },
      { name: "bin/tool.exe", data: "x" },
    ]);
    expect(await reasonFor([["bundle.tar", "application/x-tar", named]])).toBe('attachment "bundle.tar" › "bin/tool.exe": extension .exe');
    const renamed = await tarFile([{ name: "readme.txt", data: peFile() }]);
    expect(await reasonFor([["bundle.tar", "application/x-tar", renamed]])).toBe(
      'attachment "bundle.tar" › "readme.txt": content is Windows PE executable (.exe)',
    );
  });

  it("names a gzip member by its FNAME field, or by the archive's name without .gz", async () => {
    expect(await reasonFor([["file.gz", "application/gzip", await gzipFile(PDF, "evil.exe")]])).toBe('attachment "file.gz" › "evil.exe": extension .exe');
    expect(await reasonFor([["evil.exe.gz", "application/gzip", await gzipFile(PDF)]])).toBe('attachment "evil.exe.gz" › "evil.exe": extension .exe');
    expect(await reasonFor([["blob.gz", "application/gzip", await gzipFile(compoundFile(["Workbook"]))]])).toBe(
      'attachment "blob.gz" › "blob": content is Excel 97-2003 workbook (.xls)',
    );
  });

  it("finds a zip inside a gzip inside a tar", async () => {
    const zip = await zipFile([{ name: "a.pdf", data: PDF }]);
    const tar = await tarFile([
      { name: "a.pdf", data: PDF },
      { name: "inner.gz", data: await gzipFile(zip) },
    ]);
    expect(await reasonFor([["outer.tar", "application/x-tar", tar]])).toBe('attachment "outer.tar" › "inner.gz" › "inner": content is application/zip (.zip)');
  });

  it("opens a tar.gz of PDFs and accepts it, but finds a docx renamed to .pdf in one", async () => {
    const papers = await gzipFile(
      await tarFile([
        { name: "a.pdf", data: PDF },
        { name: "b.pdf", data: PDF },
      ]),
    );
    expect(await reasonFor([["papers.tar.gz", "application/gzip", papers]])).toBeUndefined();
    const docx = await ooxmlFile("application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml", "word/document.xml");
    const hidden = await gzipFile(await tarFile([{ name: "c.pdf", data: docx }]));
    expect(await reasonFor([["papers.tgz", "application/gzip", hidden]])).toBe(
      'attachment "papers.tgz" › "papers.tar" › "c.pdf": content is Office Open XML Word document (.docx)',
    );
  });

  it("opens zip-based documents that are not banned and finds what hides in them", async () => {
    const odt = await zipFile([
      { name: "mimetype", data: "application/vnd.oasis.opendocument.text" },
      { name: "content.xml", data: "<office:document-content/>" },
      { name: "Pictures/setup.exe", data: peFile() },
    ]);
    expect(await reasonFor([["letter.odt", "application/vnd.oasis.opendocument.text", odt]])).toBe(
      'attachment "letter.odt" › "Pictures/setup.exe": extension .exe',
    );
  });

  it("opens zips when zip is not listed, and judges their entries", async () => {
    const zip = await zipFile([
      { name: "a.pdf", data: PDF },
      { name: "run.js", data: "WScript.Echo(1)" },
    ]);
    expect(await reasonFor([["docs.zip", "application/zip", zip]], zipAllowed)).toBe('attachment "docs.zip" › "run.js": extension .js');
    expect(await reasonFor([["docs.zip", "application/zip", await zipFile([{ name: "a.pdf", data: PDF }])]], zipAllowed)).toBeUndefined();
  });
});

describe("bounds: depth, size, entries", () => {
  async function nestedTars(levels: number): Promise<Uint8Array> {
    let archive = await tarFile([{ name: "a.pdf", data: PDF }]);
    for (let i = 1; i < levels; i++) archive = await tarFile([{ name: `level${i}.tar`, data: archive }]);
    return archive;
  }

  it("opens archives three deep and no deeper", async () => {
    expect(await reasonFor([["deep.tar", "application/x-tar", await nestedTars(3)]])).toBeUndefined();
    expect(await reasonFor([["deep.tar", "application/x-tar", await nestedTars(4)]])).toBe(
      'attachment "deep.tar" › "level3.tar" › "level2.tar" › "level1.tar": cannot be inspected: archives nested deeper than 3',
    );
    expect(await reasonFor([["deep.tar", "application/x-tar", await nestedTars(4)]], withArchives(config, { maxDepth: 4 }))).toBeUndefined();
  });

  it("stops a gzip bomb at the byte bound, with the default bounds, even when its size field lies", async () => {
    const bomb = await zeroBomb(120);
    expect(bomb.length).toBeLessThan(1024 * 1024);
    expect(await reasonFor([["zeros.gz", "application/gzip", bomb]])).toBe('attachment "zeros.gz": cannot be inspected: more than 104857600 bytes unpacked');
    const lying = bomb.slice();
    new DataView(lying.buffer).setUint32(lying.length - 4, 1000, true); // RFC 1952 ISIZE
    expect(await reasonFor([["zeros.gz", "application/gzip", lying]])).toBe('attachment "zeros.gz": cannot be inspected: more than 104857600 bytes unpacked');
  });

  it("stops a zip bomb by its declared size, and at the declared size when the sizes lie", async () => {
    const rules = withArchives(zipAllowed, { maxTotalBytes: 1024 * 1024 });
    const zip = await zipFile([{ name: "zeros.bin", data: new Uint8Array(3 * 1024 * 1024) }]);
    expect(zip.length).toBeLessThan(64 * 1024);
    expect(await reasonFor([["bomb.zip", "application/zip", zip]], rules)).toBe('attachment "bomb.zip": cannot be inspected: more than 1048576 bytes unpacked');
    // zip.js stops inflating past the declared size; the byte bound on the sink stays behind it.
    expect(await reasonFor([["bomb.zip", "application/zip", lieAboutSize(zip, 1000)]], rules)).toBe(
      'attachment "bomb.zip": cannot be inspected: entry "zeros.bin" cannot be read (Invalid uncompressed size)',
    );
  });

  it("shares the byte bound among all archives of the message", async () => {
    const rules = withArchives(config, { maxTotalBytes: 1024 * 1024 });
    const half = await gzipFile(new Uint8Array(600 * 1024));
    expect(await reasonFor([["one.gz", "application/gzip", half]], rules)).toBeUndefined();
    expect(
      await reasonFor(
        [
          ["one.gz", "application/gzip", half],
          ["two.gz", "application/gzip", half],
        ],
        rules,
      ),
    ).toBe('attachment "two.gz": cannot be inspected: more than 1048576 bytes unpacked');
  });

  it("counts entries", async () => {
    const files = Array.from({ length: 6 }, (_, i) => ({ name: `p${i}.pdf`, data: PDF }));
    const tar = await tarFile(files);
    expect(await reasonFor([["many.tar", "application/x-tar", tar]], withArchives(config, { maxEntries: 6 }))).toBeUndefined();
    expect(await reasonFor([["many.tar", "application/x-tar", tar]], withArchives(config, { maxEntries: 5 }))).toBe(
      'attachment "many.tar": cannot be inspected: more than 5 archive entries',
    );
    // Directories count too: a folder and five files are six entries.
    const zip = await zipFile([{ name: "d/", data: "" }, ...files.slice(0, 5).map((f) => ({ ...f, name: `d/${f.name}` }))]);
    expect(await reasonFor([["many.zip", "application/zip", zip]], withArchives(zipAllowed, { maxEntries: 5 }))).toBe(
      'attachment "many.zip": cannot be inspected: more than 5 archive entries',
    );
  });
});

describe("what cannot be inspected", () => {
  it("refuses an encrypted zip entry, a truncated zip, a corrupt tar and gzip, 7z and RAR", async () => {
    const encrypted = await zipFile([{ name: "secret.pdf", data: PDF }], { password: "secret" });
    expect(await reasonFor([["docs.zip", "application/zip", encrypted]], zipAllowed)).toBe(
      'attachment "docs.zip": cannot be inspected: entry "secret.pdf" is encrypted',
    );
    const truncated = (await zipFile([{ name: "a.pdf", data: PDF }])).subarray(0, 80);
    expect(await reasonFor([["docs.zip", "application/zip", truncated]], zipAllowed)).toBe(
      'attachment "docs.zip": cannot be inspected: the zip cannot be read (End of central directory not found)',
    );
    const tar = await tarFile([{ name: "a.pdf", data: PDF }]);
    tar[0] = 0x62; // "b.pdf": the header no longer matches its checksum
    expect(await reasonFor([["a.tar", "application/x-tar", tar]])).toBe(
      'attachment "a.tar": cannot be inspected: the tar cannot be read (Invalid tar header checksum.)',
    );
    const gz = await gzipFile(PDF);
    expect(await reasonFor([["a.gz", "application/gzip", gz.subarray(0, gz.length - 12)]])).toMatch(
      /^attachment "a\.gz": cannot be inspected: the gzip data cannot be read \(.+\)$/,
    );
    const sevenZip = new Uint8Array([0x37, 0x7a, 0xbc, 0xaf, 0x27, 0x1c, 0, 4, ...new Uint8Array(32)]);
    expect(await reasonFor([["a.7z", "application/x-7z-compressed", sevenZip]])).toBe('attachment "a.7z": cannot be inspected: 7z files are not opened');
    const rar = new Uint8Array([0x52, 0x61, 0x72, 0x21, 0x1a, 0x07, 0x01, 0x00, ...new Uint8Array(32)]);
    expect(await reasonFor([["a.rar", "application/vnd.rar", rar]])).toBe('attachment "a.rar": cannot be inspected: rar files are not opened');
  });

  it("lets them through when the configuration says accept, still judging what can be judged", async () => {
    const accept = withArchives(zipAllowed, { uninspectable: "accept" });
    const encrypted = await zipFile([{ name: "secret.pdf", data: PDF }], { password: "secret" });
    expect(await reasonFor([["docs.zip", "application/zip", encrypted]], accept)).toBeUndefined();
    const sevenZip = new Uint8Array([0x37, 0x7a, 0xbc, 0xaf, 0x27, 0x1c, 0, 4, ...new Uint8Array(32)]);
    expect(await reasonFor([["a.7z", "application/x-7z-compressed", sevenZip]], accept)).toBeUndefined();
    expect(await reasonFor([["a.exe", "application/x-7z-compressed", sevenZip]], accept)).toBe('attachment "a.exe": extension .exe');
  });
});
