// The scan endpoint's contract (core/scan/answer.ts) and the decision on a routed message from the
// judge's verdict and the scan's answer (core/scan/decision.ts): the relay's order, role relaxation of
// spam only, X-Edgemx-Spam, and an answer that is not one.
import { describe, expect, it } from "vitest";
import { parseScanAnswer, type ScanAnswer } from "../../core/scan/answer.ts";
import { decideScanned, spamFields, type ScanOutcome } from "../../core/scan/decision.ts";
import { buildReply } from "../../core/smtp/replies.ts";
import type { Verdict } from "../../core/verdict/types.ts";

const ID = "12345-67";
const accepted: Verdict = {
  action: "accept",
  reply: { code: 250, enhanced: "2.0.0", text: `Ok, id=${ID}` },
  id: ID,
  headers: ["X-Edgemx-Verdict: accept"],
  marks: [],
  checks: [],
};
const banned: Verdict = { ...accepted, action: "reject", reason: "BANNED", reply: buildReply("banned", { id: ID }), headers: [] };
const judgeTempfail: Verdict = { ...accepted, action: "tempfail", reason: "temporary", reply: buildReply("tempfail", { id: ID }), headers: [] };

function answered(virus: ScanAnswer["virus"], action: ScanAnswer["spam"]["action"], score = 1): ScanOutcome {
  return { status: "answered", answer: { virus, spam: { action, score, requiredScore: 15, symbols: [{ name: "MISSING_MID", score: 2.5 }] } } };
}
const clean = (action: ScanAnswer["spam"]["action"] = "no action") => answered({ status: "clean" }, action);
const infected = answered({ status: "infected", signature: "Eicar-Test-Signature" }, "no action");
const outage: ScanOutcome = { status: "error", detail: "scan endpoint https://mx.example.org:11443: answered 503" };

describe("the decision on a routed message: verdict and scan", () => {
  it("refuses a virus whatever the judge found, and whatever the recipient's role relaxes", () => {
    expect(decideScanned(banned, infected, false)).toEqual({ action: "reject", reply: buildReply("infected", { id: ID }), reason: "INFECTED" });
    expect(decideScanned(accepted, infected, true)).toMatchObject({ action: "reject", reason: "INFECTED" });
  });

  it("puts the judge's refusal before rspamd's, and rspamd's reject before an outage or the judge's tempfail", () => {
    expect(decideScanned(banned, clean("reject"), false)).toMatchObject({ action: "reject", reason: "BANNED" });
    expect(decideScanned(banned, outage, false)).toMatchObject({ action: "reject", reason: "BANNED" });
    expect(decideScanned(judgeTempfail, clean("reject"), false)).toEqual({ action: "reject", reply: buildReply("spam", { id: ID }), reason: "spam" });
  });

  it("defers a message the scan could not answer for, never accepting it", () => {
    expect(decideScanned(accepted, outage, false)).toEqual({ action: "tempfail", reply: buildReply("tempfail", { id: ID }), reason: "temporary" });
    expect(decideScanned(accepted, outage, true)).toMatchObject({ action: "tempfail" });
  });

  it("defers rspamd's soft reject with 451 4.7.1, and lets a role that relaxes spam have both refusals as marks", () => {
    expect(decideScanned(accepted, clean("soft reject"), false)).toEqual({ action: "tempfail", reply: buildReply("spamDeferred", { id: ID }), reason: "spam" });
    const relaxed = decideScanned(accepted, clean("reject"), true);
    expect(relaxed).toMatchObject({ action: "accept" });
    expect(relaxed.action === "accept" && relaxed.headers).toContain('X-Edgemx-Spam: yes; score=1.00; required=15.00; action="reject"');
  });

  it("accepts with the judge's fields, then X-Edgemx-Spam; with `scan: none` the judge's fields alone", () => {
    expect(decideScanned(accepted, clean("add header"), false)).toEqual({
      action: "accept",
      headers: ["X-Edgemx-Verdict: accept", 'X-Edgemx-Spam: yes; score=1.00; required=15.00; action="add header"', "X-Edgemx-Spam-Symbols: MISSING_MID(2.50)"],
    });
    const greylist = decideScanned(accepted, clean("greylist"), false);
    expect(greylist.action === "accept" && greylist.headers[1]).toMatch(/^X-Edgemx-Spam: no; /);
    expect(decideScanned(accepted, { status: "not configured" }, false)).toEqual({ action: "accept", headers: ["X-Edgemx-Verdict: accept"] });
  });
});

describe("X-Edgemx-Spam-Symbols", () => {
  it("is bounded, counting the symbols left out, and carries printable ASCII only", () => {
    const symbols = Array.from({ length: 150 }, (_, i) => ({ name: `SYMBOL_NUMBER_${i}`, score: 1 }));
    const fields = spamFields({ virus: { status: "clean" }, spam: { action: "add header", score: 150, requiredScore: 15, symbols } });
    const field = fields[1]!;
    expect(field.length).toBeLessThan(1000);
    expect(field).toMatch(/, \(\d+ more\)$/);
    const odd = spamFields({
      virus: { status: "clean" },
      spam: { action: "no action", score: 0, requiredScore: 15, symbols: [{ name: "BAD\r\nX-Injected: 1", score: 1 }] },
    });
    expect(odd[1]).toBe("X-Edgemx-Spam-Symbols: BAD??X-Injected:?1(1.00)");
  });
});

describe("parseScanAnswer", () => {
  it("reads the relay's answer", () => {
    const text = JSON.stringify({ virus: { status: "infected", signature: "Eicar" }, spam: { action: "reject", score: 1000, requiredScore: 15, symbols: [] } });
    expect(parseScanAnswer(text)).toEqual({
      virus: { status: "infected", signature: "Eicar" },
      spam: { action: "reject", score: 1000, requiredScore: 15, symbols: [] },
    });
  });

  it("refuses what is not an answer, naming the field: never read as clean", () => {
    expect(parseScanAnswer("<html>502 Bad Gateway</html>")).toBe("the answer is not JSON");
    expect(parseScanAnswer(JSON.stringify({ virus: { status: "clean" } }))).toMatch(/^spam: /);
    expect(parseScanAnswer(JSON.stringify({ virus: { status: "maybe" }, spam: { action: "no action", score: 0, requiredScore: 15, symbols: [] } }))).toMatch(
      /^virus(\.status)?: /,
    );
    expect(parseScanAnswer(JSON.stringify({ virus: { status: "clean" }, spam: { action: "discard", score: 0, requiredScore: 15, symbols: [] } }))).toMatch(
      /^spam\.action: /,
    );
  });
});
