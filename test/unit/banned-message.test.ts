import { describe, expect, it } from "vitest";
import { parseConfig } from "../../core/config/load.ts";
import { BANNED_EXTENSIONS_DEFAULT, type BannedConfig } from "../../core/config/schema.ts";
import { findBannedContent, findBannedParts, MAX_MESSAGE_DEPTH } from "../../core/banned/banned.ts";
import { attachedMessage, attachment, compoundFile, mail, ooxmlFile, PDF, peFile, PNG, rawPart, tarFile, zipFile } from "../fixtures/banned-content.ts";

const minimal = { hostname: "mx.example.org", domains: [{ name: "example.org", mx: ["mx.example.org"], catchAll: true }] };
const config: BannedConfig = parseConfig(minimal).judge.banned;
const DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml";

async function reasonFor(message: string, rules: BannedConfig = config): Promise<string | undefined> {
  const verdict = await findBannedContent(message, rules);
  return verdict.banned ? verdict.reason : undefined;
}

describe("judge.banned configuration", () => {
  it("defaults to the specification's MIME types and file types, every Office extension spelled out", () => {
    expect(config.mimeTypes).toEqual(["application/x-msdownload", "application/x-msdos-program", "application/hta"]);
    for (const ext of ["exe", "vbs", "pif", "scr", "bat", "cmd", "com", "cpl", "dll", "zip", "js"]) expect(config.extensions).toContain(ext);
    for (const ext of ["doc", "docm", "dotx", "xlsb", "xlam", "pptm", "ppsx", "sldm", "accdb", "mdb", "vsdx", "vstm", "pub", "one", "onepkg"]) {
      expect(config.extensions).toContain(ext);
    }
    expect(config.extensions).toEqual([...BANNED_EXTENSIONS_DEFAULT]);
    expect(config.archives).toEqual({ maxDepth: 3, maxTotalBytes: 100 * 1024 * 1024, maxEntries: 1000, maxRatio: 1000, uninspectable: "reject" });
  });

  it("normalises extensions and MIME types and refuses bad ones with the path", () => {
    const custom = parseConfig({ ...minimal, judge: { banned: { extensions: [".EXE", "Msi"], mimeTypes: ["Application/X-MSDownload"] } } }).judge.banned;
    expect(custom.extensions).toEqual(["exe", "msi"]);
    expect(custom.mimeTypes).toEqual(["application/x-msdownload"]);
    expect(() => parseConfig({ ...minimal, judge: { banned: { extensions: ["e x e"] } } })).toThrow(
      /judge\.banned\.extensions\[0\]: expected a file extension/,
    );
    expect(() => parseConfig({ ...minimal, judge: { banned: { archives: { uninspectable: "maybe" } } } })).toThrow(/judge\.banned\.archives\.uninspectable/);
    expect(() => parseConfig({ ...minimal, judge: { banned: { typo: 1 } } })).toThrow(/judge\.banned: unknown field "typo"/);
  });
});

describe("banned by the declared file name", () => {
  it("refuses a listed extension and names the part", async () => {
    const verdict = await findBannedContent(mail([attachment("setup.exe", "application/octet-stream", "not really a program")]), config);
    expect(verdict).toEqual({
      banned: true,
      reason: 'attachment "setup.exe": extension .exe',
      part: { filename: "setup.exe", mimeType: "application/octet-stream" },
    });
  });

  it("catches a double extension and an Office extension", async () => {
    expect(await reasonFor(mail([attachment("invoice.pdf.exe", "application/pdf", PDF)]))).toBe('attachment "invoice.pdf.exe": extension .exe');
    expect(await reasonFor(mail([attachment("Quarterly.XLSM", "application/octet-stream", "x")]))).toBe('attachment "Quarterly.XLSM": extension .xlsm');
  });

  it("decodes RFC 2231 parameters: a percent-encoded dot and continued sections", async () => {
    const encoded = rawPart(["Content-Type: application/pdf", "Content-Disposition: attachment; filename*=UTF-8''rechnung%2Eexe"], PDF);
    expect(await reasonFor(mail([encoded]))).toBe('attachment "rechnung.exe": extension .exe');
    const continued = rawPart(
      [
        "Content-Type: application/pdf",
        "Content-Disposition: attachment;",
        " filename*0*=UTF-8''Rechnung%20M%C3%A4rz;",
        " filename*1*=%2Ev;",
        " filename*2=bs",
      ],
      PDF,
    );
    expect(await reasonFor(mail([continued]))).toBe('attachment "Rechnung März.vbs": extension .vbs');
  });

  it("reads the name of a text part that the parser renders as body text", async () => {
    const script = { headers: ['Content-Type: text/plain; name="run.vbs"', "Content-Disposition: inline"], body: 'MsgBox "hi"' };
    const verdict = await findBannedContent(mail([script]), config);
    expect(verdict).toEqual({ banned: true, reason: 'part "run.vbs": extension .vbs', part: { filename: "run.vbs", mimeType: "text/plain" } });
    const hta = { headers: ['Content-Type: text/html; name="=?UTF-8?B?aW52b2ljZS5odGE=?="'], body: "<html><hta:application/></html>" };
    const rules = { ...config, extensions: [...config.extensions, "hta"] };
    expect(await reasonFor(mail([hta]), rules)).toBe('part "invoice.hta": extension .hta');
  });

  it("judges every name a part declares, not only the one the parser picks", async () => {
    const twoNames = rawPart(['Content-Type: application/pdf; name="invoice.exe"', 'Content-Disposition: attachment; filename="invoice.pdf"'], PDF);
    expect(await reasonFor(mail([twoNames]))).toBe('part "invoice.exe": extension .exe');
  });

  it("spells out a right-to-left override in the reason", async () => {
    expect(await reasonFor(mail([attachment("invoice\u202Efdp.exe", "application/pdf", PDF)]))).toBe('attachment "invoice\\u{202e}fdp.exe": extension .exe');
  });
});

describe("banned by the declared Content-Type", () => {
  it("refuses the listed MIME types", async () => {
    expect(await reasonFor(mail([attachment("data.bin", "application/x-msdownload", "text")]))).toBe(
      'attachment "data.bin": declared type application/x-msdownload',
    );
    expect(await reasonFor(mail([attachment("page.txt", "application/hta", "text")]))).toBe('attachment "page.txt": declared type application/hta');
    expect(await reasonFor(mail([rawPart(["Content-Type: Application/X-MSDOS-Program"], "text")]))).toBe(
      "attachment of type application/x-msdos-program: declared type application/x-msdos-program",
    );
  });

  it("refuses a type that stands for a listed extension, but not application/octet-stream", async () => {
    expect(await reasonFor(mail([rawPart(["Content-Type: application/msword"], "plain words")]))).toBe(
      "attachment of type application/msword: declared type application/msword (.doc)",
    );
    expect(await reasonFor(mail([rawPart(["Content-Type: application/octet-stream"], "plain words")]))).toBeUndefined();
  });
});

describe("banned by what the content is", () => {
  it("catches a PE executable named report.pdf", async () => {
    expect(await reasonFor(mail([attachment("report.pdf", "application/pdf", peFile())]))).toBe(
      'attachment "report.pdf": content is Windows PE executable (.exe)',
    );
    expect(await reasonFor(mail([attachment("library.png", "image/png", peFile("dll"))]))).toBe(
      'attachment "library.png": content is Windows PE library (.dll)',
    );
  });

  it("catches Office documents under other names", async () => {
    const docx = await ooxmlFile(DOCX, "word/document.xml");
    expect(await reasonFor(mail([attachment("photo.jpg", "image/jpeg", docx)]))).toBe(
      'attachment "photo.jpg": content is Office Open XML Word document (.docx)',
    );
    expect(await reasonFor(mail([attachment("scan.pdf", "application/pdf", compoundFile(["WordDocument", "1Table"]))]))).toBe(
      'attachment "scan.pdf": content is Word 97-2003 document (.doc)',
    );
  });

  it("bans by the detected MIME type when only that is listed", async () => {
    const rules = { ...config, extensions: ["zip"] };
    expect(await reasonFor(mail([attachment("tool.txt", "text/plain", peFile())]), rules)).toBe(
      'attachment "tool.txt": content is Windows PE executable (application/x-msdownload)',
    );
  });
});

describe("attached messages are judged like the message", () => {
  const inner = mail([attachment("payload.exe", "application/octet-stream", peFile())], "inner-boundary");

  it("finds an executable in an attached message/rfc822", async () => {
    const verdict = await findBannedContent(mail([attachedMessage(inner, "forwarded.eml")]), config);
    expect(verdict).toEqual({
      banned: true,
      reason: 'attachment "forwarded.eml" › attachment "payload.exe": extension .exe',
      part: { filename: "forwarded.eml", mimeType: "message/rfc822" },
    });
  });

  it("finds it in a message attached to an attached message, and inline-disposed ones too", async () => {
    const middle = mail([attachedMessage(inner)], "middle-boundary");
    expect(await reasonFor(mail([attachedMessage(middle)]))).toBe(
      'attachment of type message/rfc822 › attachment of type message/rfc822 › attachment "payload.exe": extension .exe',
    );
    const inlineMessage = { headers: ["Content-Type: message/rfc822", "Content-Disposition: inline"], body: inner };
    expect(await reasonFor(mail([inlineMessage]))).toBe('attachment of type message/rfc822 › attachment "payload.exe": extension .exe');
  });

  it("opens an .eml file sent as application/octet-stream", async () => {
    expect(await reasonFor(mail([attachment("note.eml", "application/octet-stream", inner)]))).toBe(
      'attachment "note.eml" › attachment "payload.exe": extension .exe',
    );
  });

  it(`cannot inspect messages nested deeper than ${MAX_MESSAGE_DEPTH}`, async () => {
    let message = mail([attachment("a.pdf", "application/pdf", PDF)], "b0");
    for (let depth = 1; depth <= MAX_MESSAGE_DEPTH + 1; depth++) message = mail([attachedMessage(message)], `b${depth}`);
    expect(await reasonFor(message)).toMatch(new RegExp(`: cannot be inspected: attached messages nested deeper than ${MAX_MESSAGE_DEPTH}$`));
    expect(await reasonFor(message, { ...config, archives: { ...config.archives, uninspectable: "accept" } })).toBeUndefined();
  });
});

describe("allowed content passes", () => {
  it("accepts PDF, PNG, text and a tar of PDFs", async () => {
    const tar = await tarFile([
      { name: "a.pdf", data: PDF },
      { name: "b/c.pdf", data: PDF },
    ]);
    const message = mail([
      attachment("report.pdf", "application/pdf", PDF),
      attachment("logo.png", "image/png", PNG),
      attachment("notes.txt", "text/plain", "plain words"),
      attachment("papers.tar", "application/x-tar", tar),
    ]);
    expect(await findBannedContent(message, config)).toEqual({ banned: false });
  });

  it("accepts a plain message without attachments", async () => {
    expect(await findBannedContent("From: a@example.net\r\nSubject: hi\r\n\r\nhello\r\n", config)).toEqual({ banned: false });
  });

  it("accepts what the configuration no longer lists", async () => {
    const message = mail([attachment("setup.exe", "application/octet-stream", peFile())]);
    expect(await findBannedContent(message, { ...config, extensions: ["vbs"], mimeTypes: [] })).toEqual({ banned: false });
  });
});

describe("the MIME tree is the conformance check's, read as mail readers read the parts", () => {
  const exe = attachment("setup.exe", "application/octet-stream", peFile());
  const accept: BannedConfig = { ...config, archives: { ...config.archives, uninspectable: "accept" } };

  it("splits a multipart whose Content-Type carries comments (RFC 5322 §3.2.2)", async () => {
    const message = mail([exe], "b-1").replace(
      'Content-Type: multipart/mixed; boundary="b-1"',
      "Content-Type: multipart/mixed (with a comment); boundary=b-1 (the boundary)",
    );
    expect(await reasonFor(message)).toBe('attachment "setup.exe": extension .exe');
  });

  it("decodes base64 as mail readers do: junk skipped, padding inside the content", async () => {
    // Lines each encoded on their own, so that many end in "=" padding, and a "*" in every third.
    const pe = peFile();
    const lines: string[] = [];
    for (let at = 0, i = 0; at < pe.length; i++) {
      const take = i % 4 === 0 ? 50 : 57;
      const line = btoa(String.fromCharCode(...pe.subarray(at, at + take)));
      lines.push(i % 3 === 0 ? `${line.slice(0, 8)}*${line.slice(8)}` : line);
      at += take;
    }
    expect(lines.some((line) => line.endsWith("="))).toBe(true);
    const part = { headers: ['Content-Type: application/pdf; name="a.pdf"', "Content-Transfer-Encoding: base64"], body: lines.join("\r\n") };
    expect(await reasonFor(mail([part]))).toBe('attachment "a.pdf": content is Windows PE executable (.exe)');
  });

  it("decodes quoted-printable content before sniffing it", async () => {
    const body =
      Array.from(peFile(), (octet) => `=${octet.toString(16).padStart(2, "0").toUpperCase()}`)
        .join("")
        .match(/.{1,72}/g)
        ?.join("=\r\n") ?? "";
    const part = { headers: ['Content-Type: image/png; name="a.png"', "Content-Transfer-Encoding: quoted-printable"], body };
    expect(await reasonFor(mail([part]))).toBe('attachment "a.png": content is Windows PE executable (.exe)');
  });

  it("cannot inspect a message whose multiparts nest deeper than the walker reads, unless told to accept it", async () => {
    let message = mail([exe], "n0");
    for (let depth = 1; depth <= 11; depth++)
      message =
        message.replace(
          /^(From:[\s\S]*?)(MIME-Version: 1\.0\r\n)(Content-Type: [^\r]*)\r\n\r\n/,
          `$1$2Content-Type: multipart/mixed; boundary="n${depth}"\r\n\r\n--n${depth}\r\n$3\r\n\r\n`,
        ) + `--n${depth}--\r\n`;
    expect(await findBannedContent(message, config)).toEqual({
      banned: true,
      reason: "message: cannot be inspected: multiparts nested deeper than 10",
      part: { filename: null, mimeType: "message/rfc822" },
    });
    expect(await findBannedContent(message, accept)).toEqual({ banned: false });
    const alsoOnTop = message.replace("--n11\r\n", `--n11\r\n${exe.headers.join("\r\n")}\r\n\r\n${String(exe.body)}\r\n--n11\r\n`);
    expect(await reasonFor(alsoOnTop, accept)).toBe('attachment "setup.exe": extension .exe');
  });

  it("cannot inspect a multipart whose boundary no delimiter line can carry", async () => {
    const long = "x".repeat(1000);
    const message = mail([exe], long);
    expect(await reasonFor(message)).toBe("message: cannot be inspected: the boundary of the message cannot be used");
  });
});

describe("findBannedParts", () => {
  it("decides over parts parsed elsewhere", async () => {
    const parsed = {
      attachments: [{ filename: "a.pdf", mimeType: "application/pdf", content: await zipFile([{ name: "x.txt", data: "x" }]) }],
      declared: [],
    };
    expect(await findBannedParts(parsed, config)).toEqual({
      banned: true,
      reason: 'attachment "a.pdf": content is application/zip (.zip)',
      part: { filename: "a.pdf", mimeType: "application/pdf" },
    });
  });
});
