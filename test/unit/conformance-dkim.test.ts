// DKIM conformance of the judge's own checks (mailauth-checks.ts: mailauth's verifier in strict mode,
// with RFC 8301's rules) on two corpora, each with its DNS data as the only DNS:
// - the Mail::DKIM corpus: MANIFEST.tsv gives Mail::DKIM's verdict per message (pass, fail or
//   invalid: the best of its signatures), FAKE_DNS.dat the key records. The messages named *dk_*
//   carry DomainKeys signatures (RFC 4870, historic, never DKIM): a DKIM verifier must see them as
//   unsigned, so they are checked for exactly that (dkim=none) and kept out of the DKIM count;
// - the RFC 8463 samples: its A.3 message (ed25519 and RSA) and real-world messages, every signature
//   of which must pass.
import { Buffer } from "node:buffer";
import { readdirSync, readFileSync } from "node:fs";
import type { DKIMResult } from "mailauth";
import { dkimVerify as mailauthDkimVerify } from "mailauth";
import { describe, expect, it } from "vitest";
import { mailauthResolver } from "../../core/dns/mailauth.ts";
import { DKIM_VERIFY_OPTIONS, runChecks } from "../../core/authentication/mailauth-checks.ts";
import { dkimVerifyCommonFirst } from "../../core/mailauth/internals.ts";
import { answeredBy, judgedDkim } from "../fixtures/dkim-judged.ts";
import type { CaseOutcome } from "../fixtures/conformance.ts";
import { conformanceReport } from "../fixtures/conformance.ts";
import { ZoneResolver } from "../fixtures/zone-resolver.ts";
import { CONFORMANCE } from "../fixtures/conformance-suites.ts";

const CORPUS = new URL("dkim/mail-dkim-corpus/", CONFORMANCE);
const RFC8463 = new URL("dkim/rfc8463/", CONFORMANCE);

type DkimRow = Pick<DKIMResult, "signingDomain" | "selector" | "status">;

/** Line ends as on the wire (RFC 5322 §2.1): some files of the corpora have bare LF. */
const crlf = (text: string): string => text.replace(/\r?\n/g, "\r\n");

/** FAKE_DNS.dat: "name TXT-data" per line, or NXDOMAIN, ~~Query timed out~~, ~~SERVFAIL~~. */
function fakeDns(text: string): ZoneResolver {
  const zone = new ZoneResolver();
  for (const line of text.split("\n")) {
    const match = /^(\S+)\s+(.*?)\s*$/.exec(line);
    if (match === null || /^\s*[#;]/.test(line)) continue;
    const [, name = "", data = ""] = match;
    if (data === "NXDOMAIN") continue;
    if (data === "~~Query timed out~~") zone.fail(name, "timeout");
    else if (data === "~~SERVFAIL~~") zone.fail(name, "servfail");
    else zone.txt(name, data.replace(/^"(.*)"$/, "$1"));
  }
  return zone;
}

async function dkimResults(message: string, zone: ZoneResolver): Promise<DkimRow[]> {
  const { dkim } = await runChecks(Buffer.from(crlf(message)), { mailFrom: "" }, "mx.example.org", mailauthResolver(zone));
  return dkim.results.filter((row) => row.signingDomain !== undefined);
}

/**
 * Mail::DKIM's words for one signature: pass; fail, it did not verify (mailauth's default mode says
 * neutral for a body hash that does not match, RFC 8601 §2.7.1 and Mail::DKIM say fail); invalid,
 * it could not be checked.
 */
function mailDkimWord(row: DkimRow): string {
  if (row.status.result === "pass" || row.status.result === "fail") return row.status.result;
  return row.status.comment === "body hash did not verify" ? "fail" : "invalid";
}

/** Mail::DKIM's verdict on a message: its best signature (pass, then fail, then invalid), none without one. */
function messageVerdict(rows: readonly DkimRow[]): string {
  const words = rows.map(mailDkimWord);
  return ["pass", "fail", "invalid"].find((word) => words.includes(word)) ?? "none";
}

const describeRows = (rows: readonly DkimRow[]): string =>
  rows
    .map(
      (row) =>
        `${row.signingDomain}/${row.selector}=${row.status.result}${row.status.comment ? ` (${row.status.comment})` : ""}${row.status.policy?.["dkim-rules"] ? ` policy.dkim-rules=${row.status.policy["dkim-rules"]}` : ""}`,
    )
    .join(", ") || "no DKIM signature";

const isDomainKeys = (file: string): boolean => /(^|_)dk_/.test(file);

function manifest(): [file: string, expected: string][] {
  return readFileSync(new URL("MANIFEST.tsv", CORPUS), "utf8")
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map((line) => line.split("\t") as [string, string]);
}

// Why the judge's verdict differs from Mail::DKIM's. The corpus dates from the DKIM drafts and
// RFC 4871; the judge verifies as RFC 6376 and RFC 8301 (2018) say.
const DRAFT_00 =
  "draft-ietf-dkim-base-00 signature without the v= and bh= tags RFC 6376 §3.5 requires: invalid (Mail::DKIM's own test skips these as pre-standard)";
const NO_VERSION = "pre-RFC 4871 draft signature without the v= tag RFC 6376 §3.5 requires: invalid before its signature is checked";
const VERSION_05 = "v=0.5, a draft version: RFC 6376 §3.5 and §6.1.1 take only v=1, so the signature is invalid";
const SHA1_512 = "rsa-sha1 signature with a 512-bit key: RFC 8301 §3.1 (rsa-sha1) and §3.2 (keys under 1024 bits) make it invalid, dkim=policy";
const SHA1 = "rsa-sha1 signature: RFC 8301 §3.1 makes it invalid, dkim=policy";
const BODY_FIRST = (key: string) =>
  `its body hash does not match either, and mailauth compares that before it fetches the key (${key}): a permanent fail rather than an unusable key`;

/** Corpus messages the judge does not judge as Mail::DKIM does, each with the reason. */
const CORPUS_EXPECTED_FAILURES: Record<string, string> = {
  "good_ietf00_1.txt": DRAFT_00,
  "good_ietf00_2.txt": DRAFT_00,
  "good_ietf00_3.txt": DRAFT_00,
  "good_ietf00_4.txt": DRAFT_00,
  "good_ietf00_5.txt": DRAFT_00,
  "mine_ietf01_1.txt": NO_VERSION,
  "mine_ietf01_2.txt": NO_VERSION,
  "mine_ietf01_3.txt": NO_VERSION,
  "mine_ietf01_4.txt": NO_VERSION,
  "good_ietf01_1.txt": NO_VERSION,
  "good_ietf01_2.txt": NO_VERSION,
  "bad_ietf01_1.txt": NO_VERSION,
  "bad_ietf01_2.txt": NO_VERSION,
  "bad_ietf01_3.txt": NO_VERSION,
  "bad_1.txt": NO_VERSION,
  "multiple_1.txt": `all four signatures: ${NO_VERSION}`,
  "mine_ietf05_1.txt": VERSION_05,
  "no_body_1.txt": VERSION_05,
  "no_body_2.txt": VERSION_05,
  "no_body_3.txt": VERSION_05,
  "good_rfc4871_3.txt": SHA1_512,
  "good_rfc4871_4.txt": SHA1_512,
  "good_1878523.txt": SHA1_512,
  "good_qp_1.txt": SHA1_512,
  "good_qp_2.txt": SHA1_512,
  "good_qp_3.txt": SHA1_512,
  "goodkey_1.txt": SHA1_512,
  "goodkey_2.txt": SHA1_512,
  "goodkey_3.txt": SHA1_512,
  "goodkey_4.txt": SHA1_512,
  "good_83176.txt": SHA1,
  "multiple_2.txt": "its signatures are rsa-sha1 (RFC 8301 §3.1), or carry an unknown canonicalization or algorithm: none is valid",
  "badkey_14.txt": BODY_FIRST("that lookup times out"),
  "badkey_15.txt": BODY_FIRST("that lookup answers SERVFAIL"),
  "badkey1_ed25519.txt": BODY_FIRST("the key has the wrong length"),
  "badkey4_ed25519.txt": BODY_FIRST("there is no key record"),
  "badkey5_ed25519.txt": BODY_FIRST("the key record is empty"),
};

/** RFC 8463 samples with a signature that does not pass, each with the reason. */
const RFC8463_EXPECTED_FAILURES: Record<string, string> = {
  "005.txt": "the signature expired (x=1667930064, November 2022); RFC 6376 §3.5 lets verifiers treat an expired signature as invalid, and mailauth does",
};

describe("DKIM conformance (the judge's verifier: mailauth in strict mode, RFC 8301)", () => {
  it("Mail::DKIM corpus", async () => {
    const zone = fakeDns(readFileSync(new URL("FAKE_DNS.dat", CORPUS), "utf8"));
    const cases = manifest().filter(([file]) => !isDomainKeys(file));
    const outcomes: CaseOutcome[] = await Promise.all(
      cases.map(async ([file, expected]) => {
        const rows = await dkimResults(readFileSync(new URL(file, CORPUS), "utf8"), zone);
        const got = messageVerdict(rows);
        return { name: file, failure: got === expected ? undefined : `got ${got}, expected ${expected}: ${describeRows(rows)}` };
      }),
    );
    expect(outcomes).toHaveLength(62);
    const report = conformanceReport("DKIM Mail::DKIM corpus", outcomes, CORPUS_EXPECTED_FAILURES);
    expect(report.unexpectedFailures).toEqual([]);
    expect(report.unexpectedPasses).toEqual([]);
  });

  it("Mail::DKIM corpus, DomainKeys messages: unsigned as far as DKIM goes", async () => {
    const zone = fakeDns(readFileSync(new URL("FAKE_DNS.dat", CORPUS), "utf8"));
    const files = manifest()
      .map(([file]) => file)
      .filter(isDomainKeys);
    const verdicts = await Promise.all(files.map(async (file) => [file, messageVerdict(await dkimResults(readFileSync(new URL(file, CORPUS), "utf8"), zone))]));
    console.log(`DKIM Mail::DKIM corpus, DomainKeys (RFC 4870) messages: ${verdicts.length}, each judged unsigned (dkim=none), not counted as DKIM cases`);
    expect(verdicts).toHaveLength(17);
    expect(verdicts.filter(([, verdict]) => verdict !== "none")).toEqual([]);
  });

  it("RFC 8463 samples", async () => {
    const files = readdirSync(RFC8463)
      .filter((file) => /^\d+\.txt$/.test(file))
      .sort();
    const outcomes: CaseOutcome[] = await Promise.all(
      files.map(async (file) => {
        // Each file: key records ("name TXT-data" per line), a blank line, the message.
        const text = readFileSync(new URL(file, RFC8463), "utf8");
        const split = text.search(/\r?\n\r?\n/);
        const rows = await dkimResults(text.slice(text.indexOf("\n", split + 1) + 1), fakeDns(text.slice(0, split)));
        const allPass = rows.length > 0 && rows.every((row) => row.status.result === "pass");
        return { name: file, failure: allPass ? undefined : describeRows(rows) };
      }),
    );
    expect(outcomes).toHaveLength(6);
    const report = conformanceReport("DKIM RFC 8463 samples", outcomes, RFC8463_EXPECTED_FAILURES);
    expect(report.unexpectedFailures).toEqual([]);
    expect(report.unexpectedPasses).toEqual([]);
  });

  it("every message of both corpora: the judge's common case reads as mailauth's verifier does", async () => {
    const corpus = fakeDns(readFileSync(new URL("FAKE_DNS.dat", CORPUS), "utf8"));
    const messages: [name: string, message: string, zone: ZoneResolver][] = manifest().map(([file]) => [
      file,
      readFileSync(new URL(file, CORPUS), "utf8"),
      corpus,
    ]);
    for (const file of readdirSync(RFC8463).filter((name) => /^\d+\.txt$/.test(name))) {
      const text = readFileSync(new URL(file, RFC8463), "utf8");
      const split = text.search(/\r?\n\r?\n/);
      messages.push([`rfc8463/${file}`, text.slice(text.indexOf("\n", split + 1) + 1), fakeDns(text.slice(0, split))]);
    }
    const answered: string[] = [];
    for (const [name, text, zone] of messages) {
      const input = Buffer.from(crlf(text));
      const options = { resolver: mailauthResolver(zone), sender: "", ...DKIM_VERIFY_OPTIONS };
      const ours = await dkimVerifyCommonFirst(input, options);
      expect([name, judgedDkim(ours)]).toEqual([name, judgedDkim(await mailauthDkimVerify(input, options))]);
      if (answeredBy(ours) === "common case") answered.push(name);
    }
    console.log(`DKIM corpora: the common case answered ${answered.length} of ${messages.length} messages (${answered.join(", ")}), mailauth the rest`);
    expect(messages).toHaveLength(85);
    expect(answered.length).toBeGreaterThan(0);
  });
});
