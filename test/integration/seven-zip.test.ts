// The relay's archive opener (relay-node/src/archive/): 7z, RAR and xz read by 7-Zip (npm 7z-wasm) in a
// worker thread, judged by the banned-content rules. The 7z and xz archives are made here by the real
// 7z program (Debian p7zip-full); no program that writes RAR is free software, so the RAR files are
// the test fixtures two maintained npm packages ship: @codedread/bitjs (RAR 4: stored, default and
// best compression) and unrar-promise (RAR 4 with encrypted headers).
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { findBannedContent } from "../../core/banned/banned.ts";
import { parseConfig } from "../../core/config/load.ts";
import type { BannedConfig } from "../../core/config/schema.ts";
import { sevenZipOpener } from "../../relay-node/src/archive/seven-zip.ts";
import { attachment, mail, PDF, peFile } from "../fixtures/banned-content.ts";

const dir = mkdtempSync(join(tmpdir(), "edgemx-seven-zip-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const require = createRequire(import.meta.url);
// bitjs exports only its entry point (index.js, at the top of the package).
const BITJS_RAR = join(dirname(require.resolve("@codedread/bitjs")), "tests/archive-testfiles");
const UNRAR_PROMISE_RAR = join(dirname(require.resolve("unrar-promise/package.json")), "test/contents");

const rules: BannedConfig = parseConfig({ hostname: "mx.example.org", domains: [{ name: "example.org", mx: ["mx.example.org"], catchAll: true }] }).judge
  .banned;
const withArchives = (archives: Partial<BannedConfig["archives"]>): BannedConfig => ({ ...rules, archives: { ...rules.archives, ...archives } });
const opener = sevenZipOpener();

let made = 0;
/** An archive made by the 7z program from the given files (`7z a`, with extra switches). */
function sevenZip(name: string, files: Record<string, Uint8Array | string>, switches: string[] = []): Uint8Array {
  const folder = join(dir, `in-${++made}`);
  for (const [path, data] of Object.entries(files)) {
    mkdirSync(dirname(join(folder, path)), { recursive: true });
    writeFileSync(join(folder, path), data);
  }
  const archive = join(dir, `${made}-${name}`);
  execFileSync("7z", ["a", "-bd", ...switches, archive, ...Object.keys(files)], { cwd: folder, stdio: "ignore" });
  return readFileSync(archive);
}

async function reasonFor(filename: string, type: string, content: Uint8Array, banned: BannedConfig = rules): Promise<string | undefined> {
  const verdict = await findBannedContent(mail([attachment(filename, type, content)]), banned, undefined, opener);
  return verdict.banned ? verdict.reason : undefined;
}

describe("7z, made by the 7z program", () => {
  it("finds an executable hidden two levels deep (7z › 7z › .pdf that is a PE) and accepts the same archive of PDFs", async () => {
    const inner = sevenZip("inner.7z", { "setup.pdf": peFile(), "readme.pdf": PDF });
    const outer = sevenZip("outer.7z", { "docs/inner.7z": inner, "a.pdf": PDF });
    expect(await reasonFor("outer.7z", "application/x-7z-compressed", outer)).toBe(
      'attachment "outer.7z" › "docs/inner.7z" › "setup.pdf": content is Windows PE executable (.exe)',
    );
    const clean = sevenZip("clean.7z", { "docs/inner.7z": sevenZip("papers.7z", { "b.pdf": PDF }), "a.pdf": PDF });
    expect(await reasonFor("papers.7z", "application/x-7z-compressed", clean)).toBeUndefined();
  });

  it("opens a zip inside a 7z inside a tar.xz, three deep, and no deeper than the bound", async () => {
    const zip = sevenZip("tool.zip", { "run.exe": "MZ" }, ["-tzip"]);
    const middle = sevenZip("middle.7z", { "tool.zip": zip });
    const tar = sevenZip("bundle.tar", { "middle.7z": middle }, ["-ttar"]);
    const xz = sevenZip("bundle.tar.xz", { "bundle.tar": tar }, ["-txz"]);
    const path = 'attachment "bundle.tar.xz" › "bundle.tar" › "middle.7z" › "tool.zip"';
    expect(await reasonFor("bundle.tar.xz", "application/x-xz", xz)).toBe(`${path}: extension .zip`);
    const zipAllowed = { ...rules, extensions: rules.extensions.filter((e) => e !== "zip") };
    expect(await reasonFor("bundle.tar.xz", "application/x-xz", xz, zipAllowed)).toBe(`${path}: cannot be inspected: archives nested deeper than 3`);
    const fourDeep = { ...zipAllowed, archives: { ...zipAllowed.archives, maxDepth: 4 } };
    expect(await reasonFor("bundle.tar.xz", "application/x-xz", xz, fourDeep)).toBe(`${path} › "run.exe": extension .exe`);
  });

  it("refuses encrypted entries and encrypted headers with the reason, and lets them through when configured", async () => {
    const entries = sevenZip("secret.7z", { "contract.pdf": PDF }, ["-pSecret"]);
    expect(await reasonFor("secret.7z", "application/x-7z-compressed", entries)).toBe(
      'attachment "secret.7z": cannot be inspected: entry "contract.pdf" is encrypted',
    );
    const headers = sevenZip("hidden.7z", { "contract.pdf": PDF }, ["-pSecret", "-mhe=on"]);
    expect(await reasonFor("hidden.7z", "application/x-7z-compressed", headers)).toBe('attachment "hidden.7z": cannot be inspected: the archive is encrypted');
    expect(await reasonFor("hidden.7z", "application/x-7z-compressed", headers, withArchives({ uninspectable: "accept" }))).toBeUndefined();
  });

  it("bounds entries, bytes and the ratio, and refuses a truncated archive", async () => {
    const many = sevenZip("many.7z", Object.fromEntries(Array.from({ length: 6 }, (_, i) => [`p${i}.pdf`, PDF])));
    expect(await reasonFor("many.7z", "application/x-7z-compressed", many, withArchives({ maxEntries: 5 }))).toBe(
      'attachment "many.7z": cannot be inspected: more than 5 archive entries',
    );
    const zeros = sevenZip("zeros.7z", { "zeros.bin": new Uint8Array(8 * 1024 * 1024) });
    expect(zeros.length).toBeLessThan(8 * 1024);
    expect(await reasonFor("zeros.7z", "application/x-7z-compressed", zeros)).toBe(
      'attachment "zeros.7z": cannot be inspected: it unpacks to more than 1000 times its size',
    );
    expect(await reasonFor("zeros.7z", "application/x-7z-compressed", zeros, withArchives({ maxRatio: 100_000, maxTotalBytes: 1024 * 1024 }))).toBe(
      'attachment "zeros.7z": cannot be inspected: more than 1048576 bytes unpacked',
    );
    expect(await reasonFor("zeros.7z", "application/x-7z-compressed", zeros, withArchives({ maxRatio: 100_000 }))).toBeUndefined();
    expect(await reasonFor("many.7z", "application/x-7z-compressed", many.subarray(0, many.length - 40))).toMatch(
      /^attachment "many\.7z": cannot be inspected: the 7z cannot be read \(.+\)$/,
    );
  });
});

describe("RAR, from the fixtures of maintained npm packages", () => {
  it("opens stored, default and best-compressed RAR 4 archives and judges every entry", async () => {
    for (const file of ["archive-rar-store.rar", "archive-rar-default.rar", "archive-rar-smaller.rar"]) {
      const rar = readFileSync(join(BITJS_RAR, file));
      expect(await reasonFor(file, "application/vnd.rar", rar), file).toBeUndefined();
      // The entries are text, CSV and JSON; banning .json shows the JSON file was reached and named.
      expect(await reasonFor(file, "application/vnd.rar", rar, { ...rules, extensions: [...rules.extensions, "json"] }), file).toBe(
        `attachment "${file}" › "sample-3.json": extension .json`,
      );
    }
  });

  it("finds what a RAR holds two levels down: a RAR inside a 7z, its entry banned", async () => {
    const rar = readFileSync(join(UNRAR_PROMISE_RAR, "example.rar"));
    const outer = sevenZip("outer.7z", { "mail/example.rar": rar });
    expect(await reasonFor("outer.7z", "application/x-7z-compressed", outer, { ...rules, extensions: [...rules.extensions, "txt"] })).toBe(
      'attachment "outer.7z" › "mail/example.rar" › "example/foo/bar.txt": extension .txt',
    );
  });

  it("refuses a RAR with encrypted headers with the reason", async () => {
    const rar = readFileSync(join(UNRAR_PROMISE_RAR, "example-encrypted.rar"));
    expect(await reasonFor("example.rar", "application/vnd.rar", rar)).toBe('attachment "example.rar": cannot be inspected: the archive is encrypted');
  });
});

describe("xz", () => {
  it("names the stream as xz -d does and judges it", async () => {
    const xz = sevenZip("setup.exe.xz", { "setup.exe": peFile() }, ["-txz"]);
    expect(await reasonFor("report.pdf.xz", "application/x-xz", xz)).toBe('attachment "report.pdf.xz" › "report.pdf": content is Windows PE executable (.exe)');
  });
});
