import { describe, expect, it } from "vitest";
import { ConfigError, parseConfig } from "../../core/config/load.ts";
import { rfcRulesSchema, type RfcRuleName, type RfcRules } from "../../core/config/rfc-rules.ts";
import { checkConformance, type ConformanceResult } from "../../core/conformance/check.ts";

const minimal = { hostname: "mx.example.org", domains: [{ name: "example.org", mx: ["mx.example.org"], catchAll: true }] };
const defaults: RfcRules = rfcRulesSchema.parse({});
const latin1 = (text: string): Uint8Array => Uint8Array.from(text, (c) => c.charCodeAt(0));
const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text);

const FROM = "From: Alice <alice@example.org>";
const DATE = "Date: Mon, 6 Jan 2025 10:00:00 +0000";
const BASIC = [FROM, "To: bob@example.net", "Subject: hello", DATE, "Message-ID: <1@example.org>"];

/** A message from header lines and body lines, CRLF line ends; `encode` picks how characters become octets. */
function mail(header: readonly string[], body: readonly string[] = ["Hello."], encode = latin1): Uint8Array {
  return encode([...header, "", ...body].join("\r\n") + "\r\n");
}

/** A multipart/mixed message around the given part blocks (each: header lines, "", content lines). */
function multipart(parts: readonly (readonly string[])[], boundary = "b1", extraHeader: readonly string[] = []): Uint8Array {
  const body = ["preamble", ...parts.flatMap((p) => [`--${boundary}`, ...p]), `--${boundary}--`, "epilogue"];
  return mail([...BASIC, "MIME-Version: 1.0", `Content-Type: multipart/mixed; boundary="${boundary}"`, ...extraHeader], body);
}

const TEXT_PART = ["Content-Type: text/plain; charset=us-ascii", "", "text"];

function check(raw: Uint8Array, rules: RfcRules = defaults, smtputf8 = false): ConformanceResult {
  return checkConformance(raw, { smtputf8 }, rules);
}

function rulesOf(result: ConformanceResult): RfcRuleName[] {
  return result.findings.map((f) => f.rule);
}

function detailOf(result: ConformanceResult, rule: RfcRuleName): string {
  return result.findings.find((f) => f.rule === rule)?.detail ?? "";
}

describe("judge.rfc configuration", () => {
  it("defaults each rule to what a strict but practical postmaster sets", () => {
    expect(parseConfig(minimal).judge.rfc).toEqual({
      missingFrom: "reject",
      duplicateFrom: "reject",
      missingDate: "mark",
      duplicateField: "reject",
      headerSyntax: "reject",
      headerSectionSize: "reject",
      eightBitHeader: "mark",
      lineLength: "mark",
      multipartBoundary: "reject",
      multipartDelimiter: "mark",
      mimeTreeSize: "reject",
      transferEncoding: "reject",
      multipartTransferEncoding: "reject",
      messageTransferEncoding: "mark",
      base64Content: "mark",
    });
  });

  it("takes an action per rule and refuses unknown rules and actions with the path", () => {
    expect(parseConfig({ ...minimal, judge: { rfc: { lineLength: "reject", missingFrom: "log" } } }).judge.rfc).toMatchObject({
      lineLength: "reject",
      missingFrom: "log",
      duplicateFrom: "reject",
    });
    const refused = (rfc: unknown): readonly string[] => {
      try {
        parseConfig({ ...minimal, judge: { rfc } });
      } catch (err) {
        if (err instanceof ConfigError) return err.problems;
      }
      return [];
    };
    expect(refused({ lineLength: "tempfail" })).toEqual(['judge.rfc.lineLength: expected one of "reject", "mark", "log"']);
    expect(refused({ duplicateTo: "reject" })).toEqual(['judge.rfc: unknown field "duplicateTo"']);
  });
});

describe("a conforming message", () => {
  it("is accepted without findings, with CRLF or bare LF line ends", () => {
    expect(check(mail(BASIC))).toEqual({ action: "accept", findings: [] });
    expect(check(utf8([...BASIC, "", "Hello."].join("\n")))).toEqual({ action: "accept", findings: [] });
  });

  it("is accepted as multipart with base64 and quoted-printable parts and a nested alternative", () => {
    const raw = multipart([
      [
        'Content-Type: multipart/alternative; boundary="b2"',
        "Content-Transfer-Encoding: 7bit",
        "",
        "--b2",
        ...TEXT_PART,
        "--b2",
        "Content-Type: text/html",
        "Content-Transfer-Encoding: quoted-printable",
        "",
        "<p>caf=C3=A9</p>",
        "--b2--",
      ],
      ["Content-Type: application/pdf; name=a.pdf", "Content-Transfer-Encoding: BASE64", "", "JVBERi0xLjQK", "JVBERi0=", ""],
      ["Content-Type: message/rfc822", "Content-Transfer-Encoding: 8bit", "", FROM, "Subject: inner", "", "inner body"],
    ]);
    expect(check(raw)).toEqual({ action: "accept", findings: [] });
  });

  it("accepts the obsolete syntax RFC 5322 §4 asks receivers to read: white space before the colon, blank continuations", () => {
    const raw = mail([FROM, DATE, "Subject   :  folded", "   ", "\tacross lines", "X-Empty:"]);
    expect(check(raw)).toEqual({ action: "accept", findings: [] });
  });
});

describe("RFC 5322 §3.6: From and Date", () => {
  it("rejects a message without From", () => {
    const result = check(mail([DATE, "Subject: x"]));
    expect(result.action).toBe("reject");
    expect(result.findings).toEqual([{ rule: "missingFrom", detail: "no From field (RFC 5322 §3.6: exactly one)", action: "reject" }]);
  });

  it("rejects two From fields, whatever their case", () => {
    const result = check(mail([FROM, "from: Mallory <ceo@example.org>", DATE]));
    expect(result.action).toBe("reject");
    expect(result.findings).toEqual([{ rule: "duplicateFrom", detail: "2 From fields (RFC 5322 §3.6: exactly one)", action: "reject" }]);
  });

  it("marks a message without Date", () => {
    const result = check(mail([FROM, "Subject: x"]));
    expect(result).toEqual({ action: "mark", findings: [{ rule: "missingDate", detail: "no Date field (RFC 5322 §3.6: exactly one)", action: "mark" }] });
  });

  it("accepts when the rules are set to log, keeping the findings", () => {
    const result = check(mail(["From: a@example.org", "From: b@example.org"]), { ...defaults, duplicateFrom: "log", missingDate: "log" });
    expect(result.action).toBe("accept");
    expect(result.findings.map((f) => [f.rule, f.action])).toEqual([
      ["duplicateFrom", "log"],
      ["missingDate", "log"],
    ]);
  });
});

describe("RFC 5322 §3.6: single-instance fields", () => {
  it("rejects a repeated Subject, To, Message-ID … and names each", () => {
    const result = check(mail([...BASIC, "Subject: second", "TO: carol@example.net", "Cc: x@example.net"]));
    expect(result.action).toBe("reject");
    expect(rulesOf(result)).toEqual(["duplicateField"]);
    expect(detailOf(result, "duplicateField")).toBe("2 To fields, 2 Subject fields (RFC 5322 §3.6: at most one each)");
  });

  it("counts a repeated Date and leaves fields that may repeat alone", () => {
    expect(detailOf(check(mail([...BASIC, DATE])), "duplicateField")).toMatch(/^2 Date fields/);
    const repeatable = mail([...BASIC, "Received: from a", "Received: from b", "Comments: one", "Comments: two", "Keywords: a", "Keywords: b"]);
    expect(check(repeatable).findings).toEqual([]);
  });

  it("marks instead when so configured", () => {
    expect(check(mail([...BASIC, "Reply-To: a@example.org", "Reply-To: b@example.org"]), { ...defaults, duplicateField: "mark" }).action).toBe("mark");
  });
});

describe("RFC 5322 §2.2: header field syntax", () => {
  it("rejects a header line without a colon, naming the line", () => {
    const result = check(mail([FROM, DATE, "This is not a field", "Subject: x"]));
    expect(result.action).toBe("reject");
    expect(detailOf(result, "headerSyntax")).toBe('line 3: "This is not a field" is not a header field: no ":" after the name (RFC 5322 §2.2)');
  });

  it("rejects an empty field name, a control character or 8-bit octet in a name, an mbox From_ line", () => {
    expect(detailOf(check(mail([FROM, DATE, ": no name"])), "headerSyntax")).toMatch(/^line 3: ": no name" has no field name/);
    expect(rulesOf(check(mail([FROM, DATE, "X-A\u0001b: v"])))).toEqual(["headerSyntax"]);
    expect(rulesOf(check(mail([FROM, DATE, "X-Caf\u00e9: v"])))).toEqual(["headerSyntax", "eightBitHeader"]);
    expect(rulesOf(check(mail(["From alice@example.org Mon Jan  6 10:00:00 2025", FROM, DATE])))).toEqual(["headerSyntax"]);
  });

  it("rejects a section that begins with a continuation line, and counts every bad line", () => {
    expect(detailOf(check(mail([" folded", FROM, DATE])), "headerSyntax")).toBe("line 1: the section begins with a continuation line (RFC 5322 §2.2)");
    expect(detailOf(check(mail([FROM, DATE, "bad one", "bad two"])), "headerSyntax")).toMatch(/\(2 such lines\)/);
  });

  it("judges the header sections of MIME parts too", () => {
    const result = check(multipart([["Content-Type: text/plain", "not a header", "", "text"]]));
    expect(detailOf(result, "headerSyntax")).toBe('part 1, header line 2: "not a header" is not a header field: no ":" after the name (RFC 5322 §2.2)');
  });

  it("logs only when so configured", () => {
    const result = check(mail([FROM, DATE, "garbage"]), { ...defaults, headerSyntax: "log" });
    expect(result.action).toBe("accept");
    expect(result.findings).toHaveLength(1);
  });
});

describe("header section bounds", () => {
  it("rejects more than 1000 fields and reads no further", () => {
    const filler = Array.from({ length: 1001 }, (_, i) => `X-Filler-${i}: v`);
    const result = check(mail([FROM, DATE, ...filler]));
    expect(rulesOf(result)).toEqual(["headerSectionSize"]);
    expect(result.action).toBe("reject");
    // Fields after the bound are not read: a From there is not seen.
    expect(rulesOf(check(mail([DATE, ...filler, FROM])))).toEqual(["missingFrom", "headerSectionSize"]);
  });

  it("rejects a header section over 256 KiB, and one of a MIME part", () => {
    const big = Array.from({ length: 300 }, () => `X-Big: ${"a".repeat(900)}`);
    expect(rulesOf(check(mail([FROM, DATE, ...big])))).toEqual(["headerSectionSize"]);
    expect(detailOf(check(multipart([[...big, "", "x"]])), "headerSectionSize")).toMatch(/^the header section of part 1 is over/);
    // A field folded past the bound still counts, cut where the bound is.
    expect(rulesOf(check(mail([FROM, DATE.replace("Date:", "Date:\r\n"), ...big.map((l) => ` ${l}`)])))).toEqual(["headerSectionSize"]);
  });
});

describe("RFC 6532 §3: 8-bit octets in the header", () => {
  const subject = "Subject: Grüße";
  it("marks raw 8-bit header octets without SMTPUTF8", () => {
    const result = check(mail([FROM, DATE, subject], ["x"], utf8));
    expect(result.action).toBe("mark");
    expect(detailOf(result, "eightBitHeader")).toBe("8-bit octet 0xc3 in line 3 of the header without SMTPUTF8 (RFC 6532 §3)");
  });

  it("accepts UTF-8 header octets under SMTPUTF8 but not other 8-bit octets", () => {
    expect(check(mail([FROM, DATE, subject], ["x"], utf8), defaults, true).findings).toEqual([]);
    const latin1Subject = check(mail([FROM, DATE, subject], ["x"], latin1), defaults, true);
    expect(detailOf(latin1Subject, "eightBitHeader")).toBe("8-bit octets in the header that are not UTF-8 (RFC 6532 §3.2)");
  });

  it("does not look at 8-bit octets of the body", () => {
    expect(check(mail(BASIC, ["Grüße"], utf8)).findings).toEqual([]);
  });
});

describe("RFC 5322 §2.1.1: line length", () => {
  it("marks a line over 998 octets, CRLF not counted, in the header or the body", () => {
    expect(check(mail(BASIC, ["a".repeat(998)])).findings).toEqual([]);
    const result = check(mail(BASIC, ["short", "a".repeat(999), "b".repeat(2000)]));
    expect(result.action).toBe("mark");
    expect(detailOf(result, "lineLength")).toBe("line 8 is 999 octets long; 2 lines in all, the longest 2000 (RFC 5322 §2.1.1: at most 998)");
    expect(rulesOf(check(mail([...BASIC, `X-Long: ${"a".repeat(1000)}`])))).toEqual(["lineLength"]);
  });

  it("rejects when so configured", () => {
    expect(check(mail(BASIC, ["a".repeat(1500)]), { ...defaults, lineLength: "reject" }).action).toBe("reject");
  });
});

describe("RFC 2046 §5.1.1: multipart boundaries", () => {
  it("rejects a multipart without a boundary parameter", () => {
    const result = check(mail([...BASIC, "Content-Type: multipart/mixed"], ["--x", "", "text", "--x--"]));
    expect(result.action).toBe("reject");
    expect(detailOf(result, "multipartBoundary")).toBe("the message is multipart/mixed without a boundary parameter (RFC 2046 §5.1.1)");
  });

  it("rejects a boundary of more than 70 characters, with a character outside bchars or ending in a space", () => {
    expect(detailOf(check(multipart([TEXT_PART], "b".repeat(71))), "multipartBoundary")).toMatch(/71 characters long, not 1 to 70/);
    expect(check(multipart([TEXT_PART], "b".repeat(70))).findings).toEqual([]);
    expect(detailOf(check(multipart([TEXT_PART], "a;b")), "multipartBoundary")).toMatch(/the character ";" is not allowed/);
    expect(detailOf(check(multipart([TEXT_PART], "ab ")), "multipartBoundary")).toMatch(/it ends in a space/);
    expect(check(multipart([TEXT_PART], "a b'()+_,-./:=?")).findings).toEqual([]);
  });

  it("rejects two boundary parameters and a nested boundary that begins with an enclosing one", () => {
    const twice = mail([...BASIC, 'Content-Type: multipart/mixed; boundary="a"; boundary="b"'], ["--a", "", "x", "--a--"]);
    expect(detailOf(check(twice), "multipartBoundary")).toBe("the message has 2 boundary parameters (RFC 2045 §5.1)");
    const prefixed = multipart([['Content-Type: multipart/alternative; boundary="b1-inner"', "", "--b1-inner", ...TEXT_PART, "--b1-inner--"]]);
    expect(detailOf(check(prefixed), "multipartBoundary")).toBe('the boundary "b1-inner" of part 1 begins with the enclosing boundary "b1" (RFC 2046 §5.1.1)');
    const repeated = multipart([['Content-Type: multipart/alternative; boundary="b1"', "", "--b1", ...TEXT_PART, "--b1--"]]);
    expect(detailOf(check(repeated), "multipartBoundary")).toBe('part 1 repeats the boundary "b1" of an enclosing multipart (RFC 2046 §5.1.1)');
  });

  it("marks instead when so configured", () => {
    expect(check(multipart([TEXT_PART], "b".repeat(80)), { ...defaults, multipartBoundary: "mark" }).action).toBe("mark");
  });
});

describe("RFC 2046 §5.1.1: delimiter lines", () => {
  it("marks a multipart without a close-delimiter", () => {
    const raw = mail([...BASIC, 'Content-Type: multipart/mixed; boundary="b1"'], ["--b1", ...TEXT_PART]);
    const result = check(raw);
    expect(result).toEqual({
      action: "mark",
      findings: [{ rule: "multipartDelimiter", detail: "the message has no close-delimiter (RFC 2046 §5.1.1)", action: "mark" }],
    });
  });

  it("marks a multipart with no body part at all", () => {
    const raw = mail([...BASIC, 'Content-Type: multipart/mixed; boundary="b1"'], ["just text"]);
    expect(detailOf(check(raw), "multipartDelimiter")).toBe("the message has no body part: no delimiter line (RFC 2046 §5.1.1) (and 1 more)");
  });

  it("marks an inner multipart ended by the outer delimiter, and a line that only looks like a delimiter", () => {
    const unclosed = multipart([['Content-Type: multipart/alternative; boundary="in"', "", "--in", ...TEXT_PART], TEXT_PART]);
    expect(detailOf(check(unclosed), "multipartDelimiter")).toBe("part 1 has no close-delimiter (RFC 2046 §5.1.1)");
    const lookalike = multipart([["Content-Type: text/plain", "", "--b1 is not a delimiter", "--b1x"]]);
    expect(detailOf(check(lookalike), "multipartDelimiter")).toBe("the message has 2 line(s) that begin with its delimiter but are none (RFC 2046 §5.1.1)");
  });

  it("accepts transport padding after a delimiter (RFC 2046 §5.1.1)", () => {
    const raw = mail([...BASIC, 'Content-Type: multipart/mixed; boundary="b1"'], ["--b1 \t", ...TEXT_PART, "--b1-- "]);
    expect(check(raw).findings).toEqual([]);
  });
});

describe("MIME tree bounds", () => {
  function nested(depth: number): Uint8Array {
    const opening = Array.from({ length: depth }, (_, i) => [`--n${i}x`, `Content-Type: multipart/mixed; boundary="n${i + 1}x"`, ""]).flat();
    const closing = Array.from({ length: depth }, (_, i) => `--n${depth - i}x--`);
    return mail([...BASIC, 'Content-Type: multipart/mixed; boundary="n0x"'], [...opening, `--n${depth}x`, ...TEXT_PART, ...closing, "--n0x--"]);
  }

  it("reads multiparts nested 10 deep and rejects deeper ones", () => {
    expect(check(nested(9)).findings).toEqual([]);
    const result = check(nested(10));
    expect(result.action).toBe("reject");
    expect(detailOf(result, "mimeTreeSize")).toBe("a multipart is nested deeper than 10 (at part 1.1.1.1.1.1.1.1.1.1); not read");
  });

  it("rejects more than 1000 parts", () => {
    const parts = Array.from({ length: 1001 }, () => TEXT_PART);
    expect(rulesOf(check(multipart(parts.slice(0, 1000))))).toEqual([]);
    expect(detailOf(check(multipart(parts)), "mimeTreeSize")).toBe("more than 1000 MIME parts; the rest were not read");
  });
});

describe("RFC 2045 §6: Content-Transfer-Encoding", () => {
  it("rejects a mechanism that is not one of the five", () => {
    const result = check(mail([...BASIC, "Content-Transfer-Encoding: x-uuencode"]));
    expect(result.action).toBe("reject");
    expect(detailOf(result, "transferEncoding")).toBe('the message has Content-Transfer-Encoding "x-uuencode" (RFC 2045 §6.1)');
    expect(detailOf(check(multipart([["Content-Transfer-Encoding: 6bit", "", "x"]])), "transferEncoding")).toMatch(/^part 1 has/);
  });

  it("accepts the five in any case", () => {
    for (const cte of ["7bit", "8BIT", "Binary", "quoted-printable", " base64 "]) {
      expect(check(mail([...BASIC, `Content-Transfer-Encoding: ${cte}`], ["aGVsbG8="])).findings).toEqual([]);
    }
  });

  it("rejects a multipart encoded other than 7bit, 8bit or binary (RFC 2045 §6.4)", () => {
    const result = check(multipart([TEXT_PART], "b1", ["Content-Transfer-Encoding: base64"]));
    expect(result.action).toBe("reject");
    expect(detailOf(result, "multipartTransferEncoding")).toBe(
      'the message is multipart/mixed with Content-Transfer-Encoding "base64" (RFC 2045 §6.4: 7bit, 8bit or binary only)',
    );
  });

  it("marks a message/rfc822 part encoded other than 7bit, 8bit or binary (RFC 2046 §5.2.1)", () => {
    const result = check(multipart([["Content-Type: message/rfc822", "Content-Transfer-Encoding: base64", "", "RnJvbTogYUBiCgp4Cg=="]]));
    expect(result).toEqual({
      action: "mark",
      findings: [
        {
          rule: "messageTransferEncoding",
          detail: 'part 1 is message/rfc822 with Content-Transfer-Encoding "base64" (RFC 2046 §5.2.1: 7bit, 8bit or binary only)',
          action: "mark",
        },
      ],
    });
  });

  it("takes a part of a multipart/digest as message/rfc822 by default (RFC 2046 §5.1.5)", () => {
    const raw = mail([...BASIC, 'Content-Type: multipart/digest; boundary="d"'], ["--d", "Content-Transfer-Encoding: quoted-printable", "", "x", "--d--"]);
    expect(rulesOf(check(raw))).toEqual(["messageTransferEncoding"]);
  });
});

describe("RFC 2045 §6.8: base64 content", () => {
  const part = (lines: readonly string[]): Uint8Array =>
    multipart([["Content-Type: application/octet-stream", "Content-Transfer-Encoding: base64", "", ...lines]]);

  it("accepts clean base64 across lines, with padding", () => {
    expect(check(part(["QUJD", "REVGRw=="])).findings).toEqual([]);
  });

  it("marks characters outside the alphabet, data after padding and broken 4-character groups", () => {
    expect(detailOf(check(part(["QUJD", "RE VG"])), "base64Content")).toBe(
      "part 1: line 2 of the content: the octet 0x20 is not in the base64 alphabet (RFC 2045 §6.8)",
    );
    expect(detailOf(check(part(["QUI=", "QUJD"])), "base64Content")).toBe('part 1: line 2 of the content: data after the "=" padding (RFC 2045 §6.8)');
    expect(detailOf(check(part(["QUJ==="])), "base64Content")).toBe('part 1: line 1 of the content: more than two "=" of padding (RFC 2045 §6.8)');
    expect(detailOf(check(part(["QUJDR"])), "base64Content")).toBe("part 1: 5 characters, not whole groups of 4 (RFC 2045 §6.8)");
    expect(check(part(["QUJD!"])).action).toBe("mark");
  });

  it("checks a single-part message's body too", () => {
    expect(rulesOf(check(mail([...BASIC, "Content-Transfer-Encoding: base64"], ["not base64!"])))).toEqual(["base64Content"]);
  });
});

describe("the action", () => {
  it("is reject over mark over accept, each finding with its own action", () => {
    const result = check(mail(["Subject: a", "Subject: b"], ["a".repeat(1000)]));
    expect(result.action).toBe("reject");
    expect(result.findings.map((f) => [f.rule, f.action])).toEqual([
      ["missingFrom", "reject"],
      ["missingDate", "mark"],
      ["duplicateField", "reject"],
      ["lineLength", "mark"],
    ]);
    const allLogged = Object.fromEntries(Object.keys(defaults).map((k) => [k, "log"])) as RfcRules;
    expect(check(mail(["Subject: a", "Subject: b"], ["a".repeat(1000)]), allLogged).action).toBe("accept");
  });

  it("never throws on empty or headless input", () => {
    expect(rulesOf(check(new Uint8Array()))).toEqual(["missingFrom", "missingDate"]);
    expect(rulesOf(check(utf8("\r\n\r\nbody")))).toEqual(["missingFrom", "missingDate"]);
    expect(rulesOf(check(utf8("\r")))).toEqual(["missingFrom", "missingDate", "headerSyntax"]);
  });
});
