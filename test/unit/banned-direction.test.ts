// Banned content per direction (inbound: the spec's list; submitted: judge.outboundBanned), banned MIME
// types matched by file name, and the contract of the archive opener core is given for 7z, RAR and xz.
import { describe, expect, it } from "vitest";
import type { ArchiveOpener, OpenedArchive, OpenerBounds } from "../../core/banned/archive.ts";
import { findBannedContent } from "../../core/banned/banned.ts";
import { bannedRulesFor } from "../../core/banned/direction.ts";
import type { ExternalFormat } from "../../core/banned/detected-type.ts";
import { bannedTypesByExtension, extensionsOfType } from "../../core/banned/type-extensions.ts";
import { parseConfig } from "../../core/config/load.ts";
import type { BannedConfig } from "../../core/config/schema.ts";
import type { VerdictEnvelope } from "../../core/verdict/types.ts";
import { verdict } from "../../core/verdict/verdict.ts";
import { attachment, compoundFile, mail, ooxmlFile, PDF, peFile, rawPart, zipFile } from "../fixtures/banned-content.ts";
import { ZoneResolver } from "../fixtures/zone-resolver.ts";

const minimal = { hostname: "mx.example.org", domains: [{ name: "example.org", mx: ["mx.example.org"], catchAll: true }] };
const defaults = parseConfig(minimal);
const inboundRules: BannedConfig = defaults.judge.banned;
const bytes = (text: string) => new TextEncoder().encode(text);

async function reasonFor(message: string, rules: BannedConfig = inboundRules, opener?: ArchiveOpener): Promise<string | undefined> {
  const verdict = await findBannedContent(message, rules, undefined, opener);
  return verdict.banned ? verdict.reason : undefined;
}

const DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document";
const docx = () => ooxmlFile(`${DOCX_TYPE}.main+xml`, "word/document.xml");

describe("banned MIME types by file name", () => {
  it("maps each of the spec's types to the extensions of its files", () => {
    expect(extensionsOfType("application/x-msdownload")).toEqual(["exe", "dll", "com", "bat", "msi"]);
    expect(extensionsOfType("application/hta")).toEqual(["hta"]);
    expect(extensionsOfType("application/x-unknown-to-anyone")).toEqual([]);
    const byExtension = bannedTypesByExtension(inboundRules.mimeTypes);
    expect(byExtension.get("msi")).toBe("application/x-msdownload");
    expect(byExtension.get("hta")).toBe("application/hta");
    expect(byExtension.has("pdf")).toBe(false);
  });

  it("refuses update.hta declared as application/octet-stream or text/html, attached or shown inline", async () => {
    const page = "<html><script>new ActiveXObject('WScript.Shell')</script></html>";
    expect(await reasonFor(mail([attachment("update.hta", "application/octet-stream", page)]))).toBe(
      'attachment "update.hta": extension .hta (application/hta)',
    );
    expect(await reasonFor(mail([attachment("update.hta", "text/html", page)]))).toBe('attachment "update.hta": extension .hta (application/hta)');
    const inline = rawPart(['Content-Type: text/html; name="update.hta"', "Content-Disposition: inline"], page);
    expect(await reasonFor(mail([inline]))).toBe('part "update.hta": extension .hta (application/hta)');
  });

  it("refuses setup.msi by its name, and a Windows Installer package renamed to .pdf by its content", async () => {
    expect(await reasonFor(mail([attachment("setup.msi", "application/octet-stream", PDF)]))).toBe(
      'attachment "setup.msi": extension .msi (application/x-msdownload)',
    );
    const installer = compoundFile(["\u0005SummaryInformation"], { rootClsid: "000C1084-0000-0000-C000-000000000046" });
    expect(await reasonFor(mail([attachment("manual.pdf", "application/pdf", installer)]))).toBe(
      'attachment "manual.pdf": content is Windows Installer package (.msi, application/x-msdownload)',
    );
  });

  it("lets .hta and .msi through when their types are not listed", async () => {
    const rules = { ...inboundRules, mimeTypes: [] };
    expect(await reasonFor(mail([attachment("update.hta", "text/html", "<html></html>")]), rules)).toBeUndefined();
    expect(await reasonFor(mail([attachment("setup.msi", "application/octet-stream", PDF)]), rules)).toBeUndefined();
  });
});

describe("banned content per direction", () => {
  it("judges inbound mail by judge.banned, submitted mail by nothing unless judge.outboundBanned lists something", () => {
    expect(bannedRulesFor("inbound", defaults.judge)).toBe(defaults.judge.banned);
    expect(bannedRulesFor("outbound", defaults.judge)).toBeNull();
    const cfg = parseConfig({ ...minimal, judge: { outboundBanned: { extensions: [".EXE", "scr"] } } });
    expect(bannedRulesFor("outbound", cfg.judge)).toEqual({
      mimeTypes: [],
      extensions: ["exe", "scr"],
      archives: { ...cfg.judge.banned.archives, uninspectable: "accept" },
    });
  });

  it("refuses a bad outboundBanned field with its path", () => {
    expect(() => parseConfig({ ...minimal, judge: { outboundBanned: { extensions: ["e x e"] } } })).toThrow(
      /judge\.outboundBanned\.extensions\[0\]: expected a file extension/,
    );
    expect(() => parseConfig({ ...minimal, judge: { outboundBanned: { uninspectable: "maybe" } } })).toThrow(/judge\.outboundBanned\.uninspectable/);
  });

  const envelope = (direction: VerdictEnvelope["direction"]): VerdictEnvelope => ({
    mailFrom: "bob@example.org",
    rcptTo: direction === "inbound" ? ["alice@example.org"] : ["carol@partner.test"],
    direction,
    ...(direction === "outbound" ? { authenticatedUser: "bob@example.org" } : { clientIp: "192.0.2.10", helo: "mail.sender.test" }),
  });
  /** mail() with the Date field a message must have (RFC 5322 §3.6). */
  const withHeaders = (message: string) => `Date: Mon, 1 Jan 2024 10:00:00 +0000\r\n${message}`;

  it("accepts a user's .docx and .zip submitted, and refuses the same message inbound as BANNED", async () => {
    const zip = await zipFile([{ name: "report.pdf", data: PDF }]);
    const raw = bytes(withHeaders(mail([attachment("offer.docx", DOCX_TYPE, await docx()), attachment("reports.zip", "application/zip", zip)])));
    const out = await verdict(raw, envelope("outbound"), defaults, new ZoneResolver());
    expect(out.action).toBe("accept");
    expect(out.checks.find((c) => c.check === "banned")).toEqual({
      check: "banned",
      outcome: "skipped",
      detail: "no banned list for submitted mail (judge.outboundBanned)",
    });
    const zone = new ZoneResolver().txt("sender.test", "v=spf1 ip4:192.0.2.10 -all");
    const inbound = await verdict(raw, envelope("inbound"), defaults, zone);
    expect(inbound.action).toBe("reject");
    expect(inbound.reason).toBe("BANNED");
    expect(inbound.reply.text).toMatch(/^Reject, id=\S+ – BANNED$/);
    expect(inbound.checks.find((c) => c.check === "banned")?.detail).toBe('attachment "offer.docx": extension .docx');
  });

  it("refuses an executable outbound where judge.outboundBanned lists it, and a .docx still passes", async () => {
    const cfg = parseConfig({ ...minimal, judge: { outboundBanned: { extensions: ["exe"], mimeTypes: ["application/hta"] } } });
    const exe = bytes(withHeaders(mail([attachment("tool.pdf", "application/pdf", peFile())])));
    const refused = await verdict(exe, envelope("outbound"), cfg, new ZoneResolver());
    expect(refused.reason).toBe("BANNED");
    expect(refused.checks.find((c) => c.check === "banned")?.detail).toBe('attachment "tool.pdf": content is Windows PE executable (.exe)');
    const hta = bytes(withHeaders(mail([attachment("update.hta", "text/html", "<html></html>")])));
    expect((await verdict(hta, envelope("outbound"), cfg, new ZoneResolver())).reason).toBe("BANNED");
    const office = bytes(withHeaders(mail([attachment("offer.docx", DOCX_TYPE, await docx())])));
    expect((await verdict(office, envelope("outbound"), cfg, new ZoneResolver())).action).toBe("accept");
  });

  it("accepts a submitted encrypted zip unless judge.outboundBanned.uninspectable says reject", async () => {
    const encrypted = await zipFile([{ name: "contract.pdf", data: PDF }], { password: "secret" });
    const raw = bytes(withHeaders(mail([attachment("contract.bin", "application/octet-stream", encrypted)])));
    const lenient = parseConfig({ ...minimal, judge: { outboundBanned: { extensions: ["exe"] } } });
    expect((await verdict(raw, envelope("outbound"), lenient, new ZoneResolver())).action).toBe("accept");
    const strict = parseConfig({ ...minimal, judge: { outboundBanned: { extensions: ["exe"], uninspectable: "reject" } } });
    const refused = await verdict(raw, envelope("outbound"), strict, new ZoneResolver());
    expect(refused.checks.find((c) => c.check === "banned")?.detail).toBe('attachment "contract.bin": cannot be inspected: entry "contract.pdf" is encrypted');
  });
});

/** An opener that answers what it was told to, and records what it was asked. */
class ScriptedOpener implements ArchiveOpener {
  readonly formats: ReadonlySet<ExternalFormat>;
  readonly asked: { format: ExternalFormat; size: number; bounds: OpenerBounds }[] = [];
  private readonly answer: (format: ExternalFormat, bytes: Uint8Array) => OpenedArchive;

  constructor(formats: ExternalFormat[], answer: (format: ExternalFormat, bytes: Uint8Array) => OpenedArchive) {
    this.formats = new Set(formats);
    this.answer = answer;
  }

  open(format: ExternalFormat, archive: Uint8Array, bounds: OpenerBounds): Promise<OpenedArchive> {
    this.asked.push({ format, size: archive.length, bounds });
    return Promise.resolve(this.answer(format, archive));
  }
}

// Magic numbers as file-type tells them apart: 7z (7-Zip's signature), RAR 5, xz (the xz file format §2.1.1.1).
const SEVEN_ZIP = new Uint8Array([0x37, 0x7a, 0xbc, 0xaf, 0x27, 0x1c, 0, 4, ...new Uint8Array(32)]);
const RAR = new Uint8Array([0x52, 0x61, 0x72, 0x21, 0x1a, 0x07, 0x01, 0x00, ...new Uint8Array(32)]);
const XZ = new Uint8Array([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00, 0x00, 0x04, ...new Uint8Array(32)]);
const zipAllowed: BannedConfig = { ...inboundRules, extensions: inboundRules.extensions.filter((e) => e !== "zip") };

describe("archives read by the runtime's opener", () => {
  it("judges the entries an opener returns, nested in zip and 7z, with the path to them", async () => {
    const inner = await zipFile([{ name: "setup.pdf", data: peFile() }]);
    const opener = new ScriptedOpener(["7z"], () => ({ entries: [{ name: "docs/inner.zip", content: inner }] }));
    expect(await reasonFor(mail([attachment("a.7z", "application/x-7z-compressed", SEVEN_ZIP)]), zipAllowed, opener)).toBe(
      'attachment "a.7z" › "docs/inner.zip" › "setup.pdf": content is Windows PE executable (.exe)',
    );
    expect(opener.asked).toEqual([{ format: "7z", size: SEVEN_ZIP.length, bounds: { maxEntries: 1000, maxBytes: 1000 * SEVEN_ZIP.length } }]);
  });

  it("names an xz's one stream as xz -d does", async () => {
    const opener = new ScriptedOpener(["xz"], () => ({ entries: [{ name: "whatever", content: PDF }] }));
    expect(await reasonFor(mail([attachment("run.exe.xz", "application/x-xz", XZ)]), inboundRules, opener)).toBe(
      'attachment "run.exe.xz" › "run.exe": extension .exe',
    );
    const exeInside = new ScriptedOpener(["xz"], () => ({ entries: [{ name: "whatever", content: peFile() }] }));
    expect(await reasonFor(mail([attachment("logs.txz", "application/x-xz", XZ)]), inboundRules, exeInside)).toBe(
      'attachment "logs.txz" › "logs.tar": content is Windows PE executable (.exe)',
    );
  });

  it("gives the bounds left and turns the opener's answer into the reason", async () => {
    const withArchives = (archives: Partial<BannedConfig["archives"]>): BannedConfig => ({
      ...inboundRules,
      archives: { ...inboundRules.archives, ...archives },
    });
    const over = (what: "entries" | "bytes") => new ScriptedOpener(["rar"], () => ({ over: what }));
    const rar = mail([attachment("a.rar", "application/vnd.rar", RAR)]);
    expect(await reasonFor(rar, withArchives({ maxEntries: 5 }), over("entries"))).toBe('attachment "a.rar": cannot be inspected: more than 5 archive entries');
    // 40 octets × 1000 is more than 10 000: the message's byte bound is the one passed.
    expect(await reasonFor(rar, withArchives({ maxTotalBytes: 10_000 }), over("bytes"))).toBe(
      'attachment "a.rar": cannot be inspected: more than 10000 bytes unpacked',
    );
    const byRatio = over("bytes");
    expect(await reasonFor(rar, withArchives({ maxRatio: 10 }), byRatio)).toBe(
      'attachment "a.rar": cannot be inspected: it unpacks to more than 10 times its size',
    );
    expect(byRatio.asked[0]?.bounds.maxBytes).toBe(400);
    const encrypted = new ScriptedOpener(["rar"], () => ({ uninspectable: "the archive is encrypted" }));
    expect(await reasonFor(rar, inboundRules, encrypted)).toBe('attachment "a.rar": cannot be inspected: the archive is encrypted');
    expect(await reasonFor(rar, withArchives({ uninspectable: "accept" }), encrypted)).toBeUndefined();
  });

  it("charges what an opener returns to the message's bounds", async () => {
    const tenFiles = new ScriptedOpener(["7z"], () => ({ entries: Array.from({ length: 10 }, (_, i) => ({ name: `p${i}.pdf`, content: PDF })) }));
    const rules: BannedConfig = { ...inboundRules, archives: { ...inboundRules.archives, maxEntries: 15 } };
    const two = mail([attachment("a.7z", "application/x-7z-compressed", SEVEN_ZIP), attachment("b.7z", "application/x-7z-compressed", SEVEN_ZIP)]);
    expect(await reasonFor(two, rules, tenFiles)).toBe('attachment "b.7z": cannot be inspected: more than 15 archive entries');
    expect(tenFiles.asked.map((a) => a.bounds.maxEntries)).toEqual([15, 5]);
  });

  it("leaves formats it does not read, and every format without an opener, uninspectable", async () => {
    const only7z = new ScriptedOpener(["7z"], () => ({ entries: [] }));
    expect(await reasonFor(mail([attachment("a.rar", "application/vnd.rar", RAR)]), inboundRules, only7z)).toBe(
      'attachment "a.rar": cannot be inspected: rar files are not opened',
    );
    expect(await reasonFor(mail([attachment("a.7z", "application/x-7z-compressed", SEVEN_ZIP)]), inboundRules, only7z)).toBeUndefined();
    expect(await reasonFor(mail([attachment("a.xz", "application/x-xz", XZ)]))).toBe('attachment "a.xz": cannot be inspected: xz files are not opened');
  });
});
