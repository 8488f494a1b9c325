import { describe, expect, it } from "vitest";
import { judgedExtensions, shownName } from "../../core/banned/filename.ts";

describe("judgedExtensions: the extension a declared name is opened as", () => {
  it("takes the last extension, in lower case", () => {
    expect(judgedExtensions("report.PDF")).toEqual(["pdf"]);
    expect(judgedExtensions("Setup.EXE")).toEqual(["exe"]);
    expect(judgedExtensions("README")).toEqual([]);
    expect(judgedExtensions(".exe")).toEqual(["exe"]);
  });

  it("catches double extensions by their last part, and does not refuse names carrying a domain", () => {
    expect(judgedExtensions("invoice.pdf.exe")).toEqual(["exe"]);
    expect(judgedExtensions("offer-example.com.pdf")).toEqual(["pdf"]);
    expect(judgedExtensions("archive.tar.gz")).toEqual(["gz"]);
  });

  it("drops trailing dots and white space, as Windows does when it saves", () => {
    expect(judgedExtensions("invoice.exe.")).toEqual(["exe"]);
    expect(judgedExtensions("invoice.exe . .")).toEqual(["exe"]);
    expect(judgedExtensions("invoice.exe\u00a0")).toEqual(["exe"]);
    expect(judgedExtensions("invoice.exe\u3000")).toEqual(["exe"]);
  });

  it("reads the logical order behind a right-to-left override (U+202E) and ignores invisible characters", () => {
    // Shown as "invoiceexe.pdf", saved as "invoicefdp.exe".
    expect(judgedExtensions("invoice\u202Efdp.exe")).toEqual(["exe"]);
    expect(judgedExtensions("run.e\u200Bxe")).toEqual(["exe"]);
    expect(judgedExtensions("run.ex\u00ADe")).toEqual(["exe"]);
    expect(judgedExtensions("run.exe\u200E")).toEqual(["exe"]);
  });

  it("folds full-width and other compatibility forms (NFKC)", () => {
    expect(judgedExtensions("ｒｕｎ．ｅｘｅ")).toEqual(["exe"]);
    expect(judgedExtensions("run.ＶＢＳ")).toEqual(["vbs"]);
  });

  it("also reads a name as cut at its first control character", () => {
    expect(judgedExtensions("run.exe\u0000.pdf")).toEqual(["pdf", "exe"]);
    expect(judgedExtensions("run.exe\n.pdf")).toEqual(["pdf", "exe"]);
  });

  it("keeps only the last path component", () => {
    expect(judgedExtensions("..\\..\\Startup\\run.exe")).toEqual(["exe"]);
    expect(judgedExtensions("docs.exe/readme")).toEqual([]);
    expect(judgedExtensions("a/b/c.js")).toEqual(["js"]);
  });
});

describe("shownName", () => {
  it("quotes a name and spells out control and invisible characters", () => {
    expect(shownName("invoice\u202Efdp.exe")).toBe('"invoice\\u{202e}fdp.exe"');
    expect(shownName('a"b\r\n.exe')).toBe('"a\\u{22}b\\u{d}\\u{a}.exe"');
    expect(shownName("x".repeat(200))).toBe(`"${"x".repeat(120)}…"`);
  });
});
