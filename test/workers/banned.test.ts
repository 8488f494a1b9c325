// The banned-content judge inside workerd: the same modules (file-type, zip.js, modern-tar,
// DecompressionStream) must run at the edge as they do in the relay, and workerd's native base64
// decoder (Uint8Array.fromBase64, which Node 24 lacks) must decode as the judge's own loop does.
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../core/config/load.ts";
import { findBannedContent } from "../../core/banned/banned.ts";
import { decodeBase64, decodeBase64Lenient } from "../../core/banned/decode.ts";
import { detectType, HEAD_BYTES } from "../../core/banned/detect.ts";
import { bytesContent, type FileContent } from "../../core/banned/file-content.ts";
import { attachment, compoundFile, gzipFile, mail, ooxmlFile, PDF, peFile, rawPart, tarFile, zipFile } from "../fixtures/banned-content.ts";

const config = parseConfig({ hostname: "mx.example.org", domains: [{ name: "example.org", mx: ["mx.example.org"], catchAll: true }] }).judge.banned;

describe("banned content inside workerd", () => {
  it("finds a PE renamed to .pdf inside a tar.gz, and a docx named photo.jpg", async () => {
    const tgz = await gzipFile(
      await tarFile([
        { name: "a.pdf", data: PDF },
        { name: "b.pdf", data: peFile() },
      ]),
      "papers.tar",
    );
    expect(await findBannedContent(mail([attachment("papers.tgz", "application/gzip", tgz)]), config)).toEqual({
      banned: true,
      reason: 'attachment "papers.tgz" › "papers.tar" › "b.pdf": content is Windows PE executable (.exe)',
      part: { filename: "papers.tgz", mimeType: "application/gzip" },
    });
    const docx = await ooxmlFile("application/vnd.ms-word.document.macroEnabled.main+xml", "word/document.xml", { vba: true });
    const verdict = await findBannedContent(mail([attachment("photo.jpg", "image/jpeg", docx)]), config);
    expect(verdict.banned && verdict.reason).toBe('attachment "photo.jpg": content is Office Open XML Word document with VBA macros (.docm)');
  });

  it("reads OLE2 directories, RFC 2231 names and encrypted zips", async () => {
    const doc = await findBannedContent(mail([attachment("scan.pdf", "application/pdf", compoundFile(["WordDocument"]))]), config);
    expect(doc.banned && doc.reason).toBe('attachment "scan.pdf": content is Word 97-2003 document (.doc)');
    const named = await findBannedContent(
      mail([rawPart(["Content-Type: application/pdf", "Content-Disposition: attachment; filename*=UTF-8''rechnung%2Eexe"], PDF)]),
      config,
    );
    expect(named.banned && named.reason).toBe('attachment "rechnung.exe": extension .exe');
    const zipAllowed = { ...config, extensions: config.extensions.filter((e) => e !== "zip") };
    const encrypted = await zipFile([{ name: "secret.pdf", data: PDF }], { password: "secret" });
    const verdict = await findBannedContent(mail([attachment("docs.zip", "application/zip", encrypted)]), zipAllowed);
    expect(verdict.banned && verdict.reason).toBe('attachment "docs.zip": cannot be inspected: entry "secret.pdf" is encrypted');
  });

  it("accepts allowed content", async () => {
    const tgz = await gzipFile(await tarFile([{ name: "a.pdf", data: PDF }]));
    expect(await findBannedContent(mail([attachment("a.pdf", "application/pdf", PDF), attachment("b.tar.gz", "application/gzip", tgz)]), config)).toEqual({
      banned: false,
    });
  });
});

describe("base64 in workerd", () => {
  it("has the native decoder, and it decodes whole contents and heads as the lenient loop does", () => {
    expect(typeof (Uint8Array as unknown as { fromBase64?: unknown }).fromBase64).toBe("function");
    const data = new Uint8Array(100_000).map((_, i) => (i * 7919 + (i >> 8)) & 0xff);
    let binary = "";
    for (const octet of data) binary += String.fromCharCode(octet);
    const lines = (btoa(binary).match(/.{1,76}/g) ?? []).join("\r\n");
    const samples = [lines, `${lines}\r\n`, "QQ==\r\nQg==", "QU*JD", "QUJDREU", "QUJDR", lines.replace("\r\n", "\r\n!")];
    for (const sample of samples) {
      const encoded = new TextEncoder().encode(sample);
      expect(decodeBase64(encoded)).toEqual(decodeBase64Lenient(encoded, Infinity));
      for (const limit of [1, 3, 4096, 65_537]) expect(decodeBase64(encoded, limit)).toEqual(decodeBase64Lenient(encoded, limit));
    }
  });
});

describe("detection in workerd", () => {
  it("names a large PDF from its head through file-type, never reading the rest", async () => {
    const pdf = new Uint8Array(4 * HEAD_BYTES);
    pdf.set(PDF);
    let wholeReads = 0;
    const inner = bytesContent(pdf);
    const content: FileContent = { ...inner, whole: () => (wholeReads++, inner.whole()) };
    expect(await detectType(content)).toMatchObject({ extensions: ["pdf"] });
    expect(wholeReads).toBe(0);
  });
});
