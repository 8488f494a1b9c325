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

const CORPUS = new URL("../../../shared/conformance/mime/", import.meta.url);
// The folders and how many messages each holds (../shared/conformance/README.md: 23 + 20 + 32).
const FOLDERS = { malformed: 23, thirdparty: 20, mime4j: 32 } as const;
// A hang guard, not a performance threshold: each message is a few KiB.
const TIME_BOUND_MS = 2000;

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

function timed<T>(run: () => T): { value: T; ms: number } {
  const start = performance.now();
  const value = run();
  return { value, ms: performance.now() - start };
}

async function bannedOutcome(raw: Uint8Array): Promise<{ banned: boolean; ms: number }> {
  const start = performance.now();
  const verdict = await findBannedContent(raw, banned);
  return { banned: verdict.banned, ms: performance.now() - start };
}

async function postalMimeOutcome(raw: Uint8Array): Promise<{ error: string | undefined; ms: number }> {
  const start = performance.now();
  try {
    await PostalMime.parse(raw);
    return { error: undefined, ms: performance.now() - start };
  } catch (err) {
    return { error: err instanceof Error ? err.message : String(err), ms: performance.now() - start };
  }
}

describe("the MIME corpus", () => {
  it("holds the messages its README lists", () => {
    for (const [folder, count] of Object.entries(FOLDERS)) expect(messagesOf(folder), folder).toHaveLength(count);
  });

  for (const folder of Object.keys(FOLDERS)) {
    describe(folder, () => {
      it.each(messagesOf(folder))("%s: judged and parsed in bounded time, without a throw", async (file) => {
        const name = `${folder}/${file}`;
        const raw = read(name);
        const { value: result, ms } = timed(() => checkConformance(raw, { smtputf8: false }, rules));
        expect(ms).toBeLessThan(TIME_BOUND_MS);
        expect(["accept", "mark", "reject"]).toContain(result.action);
        judged.push({ name, result });

        const content = await bannedOutcome(raw);
        expect(content.ms).toBeLessThan(TIME_BOUND_MS);

        const parsed = await postalMimeOutcome(raw);
        expect(parsed.ms).toBeLessThan(TIME_BOUND_MS);
        const expectedThrow = POSTAL_MIME_THROWS[name];
        if (expectedThrow === undefined) expect(parsed.error, `postal-mime threw on ${name}`).toBeUndefined();
        else expect(parsed.error).toMatch(expectedThrow);
      });
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

  const cases: [string, () => string, RfcRuleName, "reject" | "mark"][] = [
    ["100 000 header fields", () => HEAD + "X-Filler: value\r\n".repeat(100_000) + "\r\nbody\r\n", "headerSectionSize", "reject"],
    ["a single line of 10 MiB", () => `${HEAD}\r\n${"a".repeat(10 * 1024 * 1024)}\r\n`, "lineLength", "mark"],
    ["multiparts nested 50 deep", () => nestedMultiparts(50), "mimeTreeSize", "reject"],
  ];

  it.each(cases)("%s: judged in bounded time with a finding", async (_, build, rule, action) => {
    const raw = new TextEncoder().encode(build());
    const { value: result, ms } = timed(() => checkConformance(raw, { smtputf8: false }, rules));
    expect(ms).toBeLessThan(TIME_BOUND_MS);
    expect(result.findings).toContainEqual(expect.objectContaining({ rule, action }));
    expect(result.action).toBe(action);
    expect((await bannedOutcome(raw)).ms).toBeLessThan(TIME_BOUND_MS);
    // postal-mime may refuse them (its own bounds), but must not hang on them.
    expect((await postalMimeOutcome(raw)).ms).toBeLessThan(TIME_BOUND_MS);
  });
});
