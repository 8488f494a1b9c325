// Every malformed and third-party message of ../shared/conformance/mime/ (Dovecot's via
// stalwartlabs/mail-parser, and Apache James mime4j's) goes through the RFC conformance judge, the
// banned-content judge (which reads the same MIME tree) and postal-mime (which other code parses
// with): none may throw or hang. A message postal-mime throws on is a finding and is listed below by
// name with the reason.
import { readdirSync, readFileSync } from "node:fs";
import PostalMime from "postal-mime";
import { afterAll, describe, expect, it } from "vitest";
import { rfcRulesSchema, type RfcRuleName } from "../../core/config/rfc-rules.ts";
import { parseConfig } from "../../core/config/load.ts";
import { findBannedContent } from "../../core/banned/banned.ts";
import { checkConformance, type ConformanceResult } from "../../core/conformance/check.ts";
import { conformanceFile } from "../fixtures/conformance-suites.ts";

const CORPUS = conformanceFile("mime/");
// The folders and how many messages each holds (../shared/conformance/README.md: 23 + 20 + 32).
const FOLDERS = { malformed: 23, thirdparty: 20, mime4j: 32 } as const;
// A hang guard, not a performance threshold: a test that runs longer fails by its timeout. Time itself is
// never asserted (a loaded machine would fail it); `npm run bench -- judge` measures it.
const HANG_GUARD_MS = 60_000;

// Messages postal-mime 4.0.0 refuses, with the reason. None of the corpus: every message parses.
const POSTAL_MIME_THROWS: Readonly<Record<string, RegExp>> = {};

const rules = rfcRulesSchema.parse({});
const banned = parseConfig({ hostname: "mx.example.org", domains: [{ name: "example.org", mx: ["mx.example.org"], catchAll: true }] }).judge.banned;
const judged: { name: string; result: ConformanceResult }[] = [];

function messagesOf(folder: string): string[] {
  // Licence texts sit beside the messages; everything else in a folder is a message.
  return readdirSync(new URL(`${folder}/`, CORPUS))
    .filter((f) => !f.startsWith("LICENSE"))
    .sort();
}

function read(name: string): Uint8Array {
  return new Uint8Array(readFileSync(new URL(name, CORPUS)));
}

/** postal-mime's parse: undefined when it parsed, else its error's message. */
async function postalMimeError(raw: Uint8Array): Promise<string | undefined> {
  try {
    await PostalMime.parse(raw);
    return undefined;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}

describe("the MIME corpus", () => {
  it("holds the messages its README lists", () => {
    for (const [folder, count] of Object.entries(FOLDERS)) expect(messagesOf(folder), folder).toHaveLength(count);
  });

  for (const folder of Object.keys(FOLDERS)) {
    describe(folder, () => {
      it.each(messagesOf(folder))(
        "%s: judged and parsed without a throw or a hang",
        async (file) => {
          const name = `${folder}/${file}`;
          const raw = read(name);
          const result = checkConformance(raw, { smtputf8: false }, rules);
          expect(["accept", "mark", "reject"]).toContain(result.action);
          judged.push({ name, result });

          expect(typeof (await findBannedContent(raw, banned)).banned).toBe("boolean");

          const error = await postalMimeError(raw);
          const expectedThrow = POSTAL_MIME_THROWS[name];
          if (expectedThrow === undefined) expect(error, `postal-mime threw on ${name}`).toBeUndefined();
          else expect(error).toMatch(expectedThrow);
        },
        HANG_GUARD_MS,
      );
    });
  }

  it("lists only messages that are in the corpus as postal-mime failures", () => {
    for (const name of Object.keys(POSTAL_MIME_THROWS)) expect(Object.keys(FOLDERS).flatMap((f) => messagesOf(f).map((m) => `${f}/${m}`))).toContain(name);
  });

  afterAll(() => {
    const byAction = { accept: 0, mark: 0, reject: 0 };
    const byRule = new Map<RfcRuleName, number>();
    for (const { result } of judged) {
      byAction[result.action]++;
      for (const f of result.findings) byRule.set(f.rule, (byRule.get(f.rule) ?? 0) + 1);
    }
    const rulesSeen = [...byRule].map(([rule, n]) => `${rule} ${n}`).join(", ");
    console.log(
      `MIME corpus: ${judged.length} messages judged — ${byAction.accept} accept, ${byAction.mark} mark, ${byAction.reject} reject; ` +
        `findings: ${rulesSeen}; postal-mime failures listed: ${Object.keys(POSTAL_MIME_THROWS).length}`,
    );
  });
});

describe("what the judge finds in the corpus", () => {
  // A few messages whose defect is known from their name or their source's test suite.
  const expected: [string, RfcRuleName | "none"][] = [
    ["mime4j/basic-plain.msg", "none"],
    ["mime4j/simple-attachment.msg", "none"],
    ["thirdparty/019.eml", "none"],
    ["mime4j/basic-plain-very-long-lines.msg", "lineLength"],
    ["mime4j/very-long-boundary.msg", "multipartBoundary"],
    ["mime4j/weird-boundary.msg", "multipartBoundary"],
    ["mime4j/boundary-name-clash.msg", "multipartBoundary"],
    ["malformed/005.eml", "multipartBoundary"],
    ["mime4j/missing-inner-boundary.msg", "multipartDelimiter"],
    ["mime4j/multipartnopart.msg", "multipartDelimiter"],
    ["mime4j/malformedHeader-nocrlfcrlf.msg", "headerSyntax"],
    ["mime4j/basic-plain-with-bad-header-separator.msg", "headerSyntax"],
    ["mime4j/obsolete.msg", "eightBitHeader"],
    ["mime4j/base64encoded-rfc822message.msg", "messageTransferEncoding"],
    ["thirdparty/004.eml", "transferEncoding"],
    ["thirdparty/002.eml", "base64Content"],
    ["malformed/019.eml", "duplicateField"],
  ];

  it.each(expected)("%s: %s", (name, rule) => {
    const found = checkConformance(read(name), { smtputf8: false }, rules).findings.map((f) => f.rule);
    if (rule === "none") expect(found).toEqual([]);
    else expect(found).toContain(rule);
  });
});

describe("generated pathological messages", () => {
  const HEAD = "From: a@example.org\r\nDate: Mon, 6 Jan 2025 10:00:00 +0000\r\nSubject: pathological\r\n";

  function nestedMultiparts(depth: number): string {
    let opening = HEAD;
    let closing = "";
    for (let i = 0; i < depth; i++) {
      opening += `Content-Type: multipart/mixed; boundary="level-${i}"\r\n\r\n--level-${i}\r\n`;
      closing = `\r\n--level-${i}--\r\n${closing}`;
    }
    return `${opening}Content-Type: text/plain\r\n\r\nthe leaf${closing}`;
  }

  // The last column: what the banned-content judge answers, which refuses what it cannot inspect (undefined: not banned).
  const cases: [string, () => string, RfcRuleName, "reject" | "mark", RegExp | undefined][] = [
    [
      "100 000 header fields",
      () => HEAD + "X-Filler: value\r\n".repeat(100_000) + "\r\nbody\r\n",
      "headerSectionSize",
      "reject",
      /cannot be inspected: a header section over 1000 fields/,
    ],
    ["a single line of 10 MiB", () => `${HEAD}\r\n${"a".repeat(10 * 1024 * 1024)}\r\n`, "lineLength", "mark", undefined],
    ["multiparts nested 50 deep", () => nestedMultiparts(50), "mimeTreeSize", "reject", /cannot be inspected: multiparts nested deeper than 10/],
  ];

  it.each(cases)(
    "%s: judged with a finding, without a hang",
    async (_, build, rule, action, bannedReason) => {
      const raw = new TextEncoder().encode(build());
      const result = checkConformance(raw, { smtputf8: false }, rules);
      expect(result.findings).toContainEqual(expect.objectContaining({ rule, action }));
      expect(result.action).toBe(action);
      const content = await findBannedContent(raw, banned);
      if (bannedReason === undefined) expect(content).toEqual({ banned: false });
      else expect(content.banned && content.reason).toMatch(bannedReason);
      // postal-mime may refuse them (its own bounds), but must not hang on them.
      await postalMimeError(raw);
    },
    HANG_GUARD_MS,
  );
});
