// The banned-content judge inside workerd: the same modules (postal-mime, file-type, zip.js,
// modern-tar, DecompressionStream) must run at the edge as they do in the relay.
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../workers/src/config/load.ts";
import { judgeMessage } from "../../workers/src/judge/attachments/banned.ts";
import { attachment, compoundFile, gzipFile, mail, ooxmlFile, PDF, peFile, rawPart, tarFile, zipFile } from "../fixtures/banned-content.ts";

const config = parseConfig({ hostname: "mx.example.org", domains: [{ name: "example.org", mx: ["mx.example.org"] }] }).judge.banned;

describe("banned content inside workerd", () => {
  it("finds a PE renamed to .pdf inside a tar.gz, and a docx named photo.jpg", async () => {
    const tgz = await gzipFile(await tarFile([{ name: "a.pdf", data: PDF }, { name: "b.pdf", data: peFile() }]), "papers.tar");
    expect(await judgeMessage(mail([attachment("papers.tgz", "application/gzip", tgz)]), config)).toEqual({
      banned: true,
      reason: 'attachment "papers.tgz" › "papers.tar" › "b.pdf": content is Windows PE executable (.exe)',
      part: { filename: "papers.tgz", mimeType: "application/gzip" },
    });
    const docx = await ooxmlFile("application/vnd.ms-word.document.macroEnabled.main+xml", "word/document.xml", { vba: true });
    const verdict = await judgeMessage(mail([attachment("photo.jpg", "image/jpeg", docx)]), config);
    expect(verdict.banned && verdict.reason).toBe('attachment "photo.jpg": content is Office Open XML Word document with VBA macros (.docm)');
  });

  it("reads OLE2 directories, RFC 2231 names and encrypted zips", async () => {
    const doc = await judgeMessage(mail([attachment("scan.pdf", "application/pdf", compoundFile(["WordDocument"]))]), config);
    expect(doc.banned && doc.reason).toBe('attachment "scan.pdf": content is Word 97-2003 document (.doc)');
    const named = await judgeMessage(mail([rawPart(["Content-Type: application/pdf", "Content-Disposition: attachment; filename*=UTF-8''rechnung%2Eexe"], PDF)]), config);
    expect(named.banned && named.reason).toBe('attachment "rechnung.exe": extension .exe');
    const zipAllowed = { ...config, extensions: config.extensions.filter((e) => e !== "zip") };
    const encrypted = await zipFile([{ name: "secret.pdf", data: PDF }], { password: "secret" });
    const verdict = await judgeMessage(mail([attachment("docs.zip", "application/zip", encrypted)]), zipAllowed);
    expect(verdict.banned && verdict.reason).toBe('attachment "docs.zip": cannot be inspected: entry "secret.pdf" is encrypted');
  });

  it("accepts allowed content", async () => {
    const tgz = await gzipFile(await tarFile([{ name: "a.pdf", data: PDF }]));
    expect(await judgeMessage(mail([attachment("a.pdf", "application/pdf", PDF), attachment("b.tar.gz", "application/gzip", tgz)]), config)).toEqual({ banned: false });
  });
});
