// The SMTP core's pure decisions: the delayed-rejection / role / action rule of the session pipeline,
// the decision on a judged message, the Received header, the bare CR / bare LF / NUL detector (chunk
// boundaries included), header edits, connection bounds and the DATA reader.
import { readFileSync } from "node:fs";
import { PassThrough, Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import type { Finding } from "../../core/smtp/finding.ts";
import type { VerdictOutcome } from "../../relay-node/src/verdict/api-client.ts";
import { ConnectionCounter } from "../../relay-node/src/smtp/connections.ts";
import { BodyFaultDetector, findBodyFault, readData } from "../../relay-node/src/smtp/data.ts";
import { authservIdOf, prependFields, removeOwnAuthenticationResults } from "../../relay-node/src/smtp/headers.ts";
import { decideMessage, describeScan } from "../../relay-node/src/smtp/decision.ts";
import { actionOf, asTemporary, decideRecipient, effectOf, greylistApplies, isDelayed } from "../../core/smtp/pipeline.ts";
import { addressLiteral, receivedHeader, rfc5322Date, withProtocol, type ReceivedFacts } from "../../relay-node/src/smtp/received.ts";
import { BODY_FAULT_REPLIES, replyError, replyLine } from "../../relay-node/src/smtp/replies.ts";
import { parseConfig } from "../../core/config/load.ts";
import type { ConfigInput, EdgemxConfig } from "../../core/config/schema.ts";
import { buildReply, formatReply } from "../../core/smtp/replies.ts";
import type { Verdict } from "../../core/verdict/types.ts";
import { conformanceFile } from "../fixtures/conformance-suites.ts";

function configWith(connection: ConfigInput["connection"] = {}): EdgemxConfig {
  return parseConfig({
    hostname: "mx.example.org",
    domains: [{ name: "example.org", mx: ["mx.example.org"], mailboxes: ["alice"] }],
    roles: {
      postmaster: { relax: ["dnsbl", "fcrdns", "helo", "sender", "greylist"] },
      hostmaster: { relax: ["dnsbl", "fcrdns", "greylist"] },
      webmaster: { relax: [] },
    },
    connection,
  });
}

const config = configWith();
const ip = "192.0.2.7";

const dnsblFail: Finding = { check: "dnsbl", outcome: "fail", reply: buildReply("dnsbl", { ip, zone: "zen.example" }), detail: "listed" };
const fcrdnsFail: Finding = { check: "fcrdns", outcome: "fail", reply: buildReply("clientRejected", { host: "unknown", ip }), detail: "no PTR" };
const heloFail: Finding = { check: "helo", outcome: "fail", reply: buildReply("heloNotFound", { helo: "nowhere.test" }), detail: "nxdomain" };
const senderFail: Finding = { check: "sender", outcome: "fail", reply: buildReply("senderDomainNotFound", { address: "a@nowhere.test" }), detail: "nxdomain" };
const dnsblTemporary: Finding = {
  check: "dnsbl",
  outcome: "temporary",
  reply: buildReply("dnsTempfail", { name: "7.2.0.192.zen.example" }),
  detail: "timeout",
};
const pass = (check: Finding["check"]): Finding => ({ check, outcome: "pass", detail: "" });

describe("a finding's effect under its configured action", () => {
  it("reads each check's action from connection.*.action; the others always enforce", () => {
    const c = configWith({ dnsbl: { action: "log" }, fcrdns: { action: "tempfail" }, helo: { action: "reject" }, sender: { action: "log" } });
    expect(["dnsbl", "fcrdns", "helo", "sender", "relay", "recipient", "tls", "greylist"].map((check) => actionOf(check as Finding["check"], c))).toEqual([
      "log",
      "tempfail",
      "reject",
      "log",
      "reject",
      "reject",
      "reject",
      "reject",
    ]);
  });

  it("reject gives the check's own reply", () => {
    expect(effectOf(dnsblFail, config)).toEqual({ effect: "refuse", reply: dnsblFail.outcome === "fail" && dnsblFail.reply });
  });

  it("tempfail gives the same text as 451 with the enhanced class 4 (RFC 3463 §2)", () => {
    const effect = effectOf(dnsblFail, configWith({ dnsbl: { action: "tempfail" } }));
    expect(effect.effect === "refuse" && formatReply(effect.reply)).toBe("451 4.7.1 Service unavailable; Client host [192.0.2.7] blocked using zen.example");
  });

  it("log only records; a pass passes", () => {
    expect(effectOf(dnsblFail, configWith({ dnsbl: { action: "log" } }))).toEqual({ effect: "logged" });
    expect(effectOf(dnsblTemporary, configWith({ dnsbl: { action: "log" } }))).toEqual({ effect: "logged" });
    expect(effectOf(pass("dnsbl"), config)).toEqual({ effect: "pass" });
  });

  it("a skipped check (a fact the transport lacks) refuses nothing, whatever the action", () => {
    const skipped: Finding = { check: "dnsbl", outcome: "skipped", detail: "no client in the trace" };
    for (const action of ["reject", "tempfail", "log"] as const) expect(effectOf(skipped, configWith({ dnsbl: { action } }))).toEqual({ effect: "pass" });
  });

  it("a temporary finding is a 451 under reject and tempfail alike", () => {
    for (const action of ["reject", "tempfail"] as const) {
      const effect = effectOf(dnsblTemporary, configWith({ dnsbl: { action } }));
      expect(effect.effect === "refuse" && formatReply(effect.reply)).toBe(
        "451 4.4.3 <7.2.0.192.zen.example>: Temporary DNS lookup failure, please try again later",
      );
    }
  });

  it("asTemporary leaves 4xx alone and maps 5.x.y to 4.x.y", () => {
    expect(asTemporary({ code: 554, enhanced: "5.1.8", text: "t" })).toEqual({ code: 451, enhanced: "4.1.8", text: "t" });
    expect(asTemporary({ code: 451, enhanced: "4.7.1", text: "t" })).toEqual({ code: 451, enhanced: "4.7.1", text: "t" });
  });

  it("delays exactly the relaxable checks to RCPT TO", () => {
    expect(["dnsbl", "fcrdns", "helo", "sender"].every((check) => isDelayed(check as Finding["check"]))).toBe(true);
    expect(["relay", "recipient", "tls"].some((check) => isDelayed(check as Finding["check"]))).toBe(false);
  });
});

describe("RCPT TO with the delayed findings", () => {
  const delayed = [dnsblFail, fcrdnsFail, heloFail, senderFail];

  it("refuses an ordinary recipient with the first refusing finding (connect, HELO, MAIL FROM order)", () => {
    const decision = decideRecipient(delayed, "alice@example.org", config);
    expect(decision).toEqual({ accept: false, reply: dnsblFail.outcome === "fail" && dnsblFail.reply, check: "dnsbl" });
    const later = decideRecipient([pass("dnsbl"), pass("fcrdns"), heloFail, senderFail], "alice@example.org", config);
    expect(!later.accept && later.check).toBe("helo");
  });

  it("accepts a role mailbox whose policy relaxes every refusing check, naming what was relaxed", () => {
    expect(decideRecipient(delayed, "postmaster@example.org", config)).toEqual({ accept: true, relaxed: ["dnsbl", "fcrdns", "helo", "sender"] });
    expect(decideRecipient(delayed, "PostMaster@Example.ORG", config).accept).toBe(true);
  });

  it("relaxes only what the role's policy lists", () => {
    const decision = decideRecipient(delayed, "hostmaster@example.org", config);
    expect(!decision.accept && formatReply(decision.reply)).toBe("554 5.7.1 <nowhere.test>: Helo command rejected: Host not found");
    expect(decideRecipient(delayed, "webmaster@example.org", config).accept).toBe(false);
  });

  it("relaxes nothing for a role name at a domain that is not ours", () => {
    expect(decideRecipient(delayed, "postmaster@elsewhere.test", config).accept).toBe(false);
  });

  it("applies tempfail and log actions per check", () => {
    const c = configWith({ dnsbl: { action: "log" }, fcrdns: { action: "tempfail" } });
    const decision = decideRecipient([dnsblFail, fcrdnsFail], "alice@example.org", c);
    expect(!decision.accept && formatReply(decision.reply)).toBe("451 4.7.1 <unknown[192.0.2.7]>: Client host rejected: Access denied");
    expect(decideRecipient([dnsblFail], "alice@example.org", c)).toEqual({ accept: true, relaxed: [] });
  });

  it("gives a temporary DNS failure as 451 4.4.3 to ordinary recipients and relaxes it for roles", () => {
    const decision = decideRecipient([dnsblTemporary], "alice@example.org", config);
    expect(!decision.accept && decision.reply.code).toBe(451);
    expect(decideRecipient([dnsblTemporary], "postmaster@example.org", config).accept).toBe(true);
  });

  it("greylists ordinary recipients only, and only when enabled", () => {
    expect(greylistApplies("alice@example.org", config)).toBe(true);
    expect(greylistApplies("postmaster@example.org", config)).toBe(false);
    expect(greylistApplies("webmaster@example.org", config)).toBe(true);
    expect(greylistApplies("alice@example.org", configWith({ greylist: { enabled: false } }))).toBe(false);
  });
});

describe("the decision on a judged message", () => {
  const verdictOf = (action: Verdict["action"], reply = { code: 250, enhanced: "2.0.0", text: "Ok, id=11111-11" }): VerdictOutcome => ({
    ok: true,
    verdict: {
      action,
      reply,
      id: "11111-11",
      headers: ["Authentication-Results: mx.example.org; none"],
      marks: [],
      checks: [],
      ...(action === "accept" ? {} : { reason: "BANNED" as const }),
    },
  });
  const banned = buildReply("banned", { id: "11111-11" });

  it("accepts with the judge's header fields when both judges are content", () => {
    expect(decideMessage(verdictOf("accept"), { status: "clean" }, "22222-22")).toEqual({
      action: "accept",
      id: "11111-11",
      headers: ["Authentication-Results: mx.example.org; none"],
    });
    expect(decideMessage(verdictOf("accept"), { status: "skipped" }, "22222-22").action).toBe("accept");
  });

  it("refuses a virus first, with the message's one id", () => {
    const decision = decideMessage(verdictOf("reject", banned), { status: "infected", signature: "Eicar" }, "22222-22");
    expect(decision.action === "reject" && formatReply(decision.reply)).toBe("554 5.7.0 Reject, id=11111-11 – INFECTED");
    const unjudged = decideMessage({ ok: false, detail: "down" }, { status: "infected", signature: "Eicar" }, "22222-22");
    expect(unjudged.action === "reject" && formatReply(unjudged.reply)).toBe("554 5.7.0 Reject, id=22222-22 – INFECTED");
  });

  it("gives the judge's refusal even when the scanner is down", () => {
    const decision = decideMessage(verdictOf("reject", banned), { status: "error", detail: "refused" }, "22222-22");
    expect(decision).toEqual({ action: "reject", id: "11111-11", reply: banned, reason: "BANNED" });
  });

  it("fails closed and temporary on a scanner or judge outage (451 4.3.0)", () => {
    const scannerDown = decideMessage(verdictOf("accept"), { status: "error", detail: "refused" }, "22222-22");
    expect(scannerDown.action === "tempfail" && formatReply(scannerDown.reply)).toBe("451 4.3.0 Temporary local problem, id=11111-11, please try again later");
    const judgeDown = decideMessage({ ok: false, detail: "timeout" }, { status: "clean" }, "22222-22");
    expect(judgeDown.action === "tempfail" && formatReply(judgeDown.reply)).toBe("451 4.3.0 Temporary local problem, id=22222-22, please try again later");
  });

  it("passes on the judge's own tempfail", () => {
    const reply = buildReply("dnsTempfail", { name: "_dmarc.sender.test" });
    expect(decideMessage(verdictOf("tempfail", reply), { status: "clean" }, "22222-22")).toMatchObject({ action: "tempfail", reply });
  });

  it("describes the scan for the log line", () => {
    expect(
      [{ status: "clean" }, { status: "skipped" }, { status: "infected", signature: "Eicar" }, { status: "error", detail: "down" }].map((s) =>
        describeScan(s as never),
      ),
    ).toEqual(["clean", "skipped", "infected Eicar", "error: down"]);
  });
});

describe("the Received header (RFC 5321 §4.4)", () => {
  const facts: ReceivedFacts = {
    helo: "mail.sender.test",
    clientIp: "127.0.0.11",
    verifiedName: "mail.sender.test",
    hostname: "mx.example.org",
    protocol: "ESMTPS",
    id: "019AC6F3E2A4B7C1D9",
    recipients: ["alice@example.org"],
    tls: { version: "TLSv1.3", cipher: "TLS_AES_256_GCM_SHA384" },
    date: new Date(Date.UTC(2025, 10, 27, 18, 45, 0)),
  };

  it("names the client, us, the protocol, the id, TLS, the one recipient and the date, folded", () => {
    expect(receivedHeader(facts)).toBe(
      "Received: from mail.sender.test (mail.sender.test [127.0.0.11])\r\n" +
        "\tby mx.example.org with ESMTPS id 019AC6F3E2A4B7C1D9\r\n" +
        "\t(version=TLSv1.3 cipher=TLS_AES_256_GCM_SHA384)\r\n" +
        "\tfor <alice@example.org>; Thu, 27 Nov 2025 18:45:00 +0000",
    );
  });

  it("leaves out TLS when there was none and the recipients when there are several", () => {
    expect(receivedHeader({ ...facts, tls: null, recipients: ["a@example.org", "b@example.org"], protocol: "ESMTP" })).toBe(
      "Received: from mail.sender.test (mail.sender.test [127.0.0.11])\r\n\tby mx.example.org with ESMTP id 019AC6F3E2A4B7C1D9; Thu, 27 Nov 2025 18:45:00 +0000",
    );
  });

  it("puts the address literal where the HELO is no Domain, and no name where FCrDNS failed", () => {
    const header = receivedHeader({ ...facts, helo: "not a name(", verifiedName: null, tls: null });
    expect(header.split("\r\n")[0]).toBe("Received: from [127.0.0.11] ([127.0.0.11])");
    expect(receivedHeader({ ...facts, helo: "[127.0.0.11]" }).split("\r\n")[0]).toBe("Received: from [127.0.0.11] (mail.sender.test [127.0.0.11])");
    expect(receivedHeader({ ...facts, helo: null, clientIp: "2001:db8::1", verifiedName: null }).split("\r\n")[0]).toBe(
      "Received: from [IPv6:2001:db8::1] ([IPv6:2001:db8::1])",
    );
    expect(addressLiteral("192.0.2.1")).toBe("[192.0.2.1]");
  });

  it("names the protocol after RFC 3848 and RFC 6531 §3.7.3", () => {
    const table = [
      [{ ehlo: false, tls: false, authenticated: false, smtputf8: false }, "SMTP"],
      [{ ehlo: true, tls: false, authenticated: false, smtputf8: false }, "ESMTP"],
      [{ ehlo: true, tls: true, authenticated: false, smtputf8: false }, "ESMTPS"],
      [{ ehlo: true, tls: false, authenticated: true, smtputf8: false }, "ESMTPA"],
      [{ ehlo: true, tls: true, authenticated: true, smtputf8: false }, "ESMTPSA"],
      [{ ehlo: true, tls: false, authenticated: false, smtputf8: true }, "UTF8SMTP"],
      [{ ehlo: true, tls: true, authenticated: false, smtputf8: true }, "UTF8SMTPS"],
      [{ ehlo: true, tls: true, authenticated: true, smtputf8: true }, "UTF8SMTPSA"],
    ] as const;
    for (const [protocolFacts, name] of table) expect(withProtocol(protocolFacts)).toBe(name);
  });

  it("writes RFC 5322 §3.3 dates in UTC with one-digit days unpadded", () => {
    expect(rfc5322Date(new Date(Date.UTC(2026, 0, 5, 3, 4, 5)))).toBe("Mon, 5 Jan 2026 03:04:05 +0000");
  });
});

interface SmugglingVectors {
  sequences: { id: string; bytes: string }[];
}
const VECTORS = (JSON.parse(readFileSync(conformanceFile("smtp/smtp-smuggling-vectors.json"), "utf8")) as SmugglingVectors).sequences;

/** The fault found when `message` arrives in two chunks split at `at`. */
function faultSplitAt(message: Buffer, at: number) {
  const detector = new BodyFaultDetector();
  detector.feed(message.subarray(0, at));
  detector.feed(message.subarray(at));
  return detector.end();
}

describe("the bare CR / bare LF / NUL detector", () => {
  const clean = Buffer.from("Subject: one\r\n\r\nbody\r\n.dotted\r\n\r\n");

  it("passes CRLF-only text, empty or not", () => {
    expect(findBodyFault(clean)).toBeNull();
    expect(findBodyFault(Buffer.alloc(0))).toBeNull();
  });

  it("finds bare LF, bare CR, a CR at the very end and NUL", () => {
    expect(findBodyFault(Buffer.from("a\nb\r\n"))).toBe("bare-lf");
    expect(findBodyFault(Buffer.from("\na\r\n"))).toBe("bare-lf");
    expect(findBodyFault(Buffer.from("a\rb\r\n"))).toBe("bare-cr");
    expect(findBodyFault(Buffer.from("a\r\r\n"))).toBe("bare-cr");
    expect(findBodyFault(Buffer.from("a\r\nb\r"))).toBe("bare-cr");
    expect(findBodyFault(Buffer.from("a\0b\r\n"))).toBe("nul");
  });

  it("names the first fault of a message", () => {
    expect(findBodyFault(Buffer.from("a\rb\nc\r\n"))).toBe("bare-cr");
    expect(findBodyFault(Buffer.from("a\nb\rc\r\n"))).toBe("bare-lf");
  });

  it("judges a CR that ends a chunk by the next chunk's first octet", () => {
    const crlf = Buffer.from("ab\r\ncd\r\n");
    expect(faultSplitAt(crlf, 3)).toBeNull(); // "ab\r" | "\ncd\r\n"
    expect(faultSplitAt(Buffer.from("ab\rcd\r\n"), 3)).toBe("bare-cr"); // "ab\r" | "cd\r\n"
    expect(faultSplitAt(Buffer.from("ab\ncd\r\n"), 2)).toBe("bare-lf"); // "ab" | "\ncd\r\n"
    const detector = new BodyFaultDetector();
    detector.feed(Buffer.from("ab\r"));
    expect(detector.end()).toBe("bare-cr");
  });

  it("gives the same answer however a message is split in two", () => {
    for (const text of ["x\r\ny\r\n", "x\ry\r\n", "x\ny\r\n", "x\r\n\r", "\r\r\n\n", "x\0\r\n"]) {
      const message = Buffer.from(text);
      for (let at = 0; at <= message.length; at++) expect(faultSplitAt(message, at), `${JSON.stringify(text)} at ${at}`).toBe(findBodyFault(message));
    }
  });

  it("names the fault a byte-by-byte reading names first, for every sequence of a, CR, LF and NUL up to 6 octets", () => {
    // The reference: RFC 5321 §2.3.8's CRLF-only line ends and RFC 2045's NUL, one octet at a time.
    const reference = (bytes: Buffer) => {
      for (const [i, octet] of bytes.entries()) {
        if (octet === 0) return "nul";
        if (octet === 0x0d && bytes[i + 1] !== 0x0a) return "bare-cr";
        if (octet === 0x0a && bytes[i - 1] !== 0x0d) return "bare-lf";
      }
      return null;
    };
    const alphabet = ["a", "\r", "\n", "\0"];
    let sequences = [""];
    for (let length = 1; length <= 6; length++) {
      sequences = sequences.flatMap((prefix) => alphabet.map((octet) => prefix + octet));
      for (const text of sequences) expect(findBodyFault(Buffer.from(text)), JSON.stringify(text)).toBe(reference(Buffer.from(text)));
    }
  });

  it("refuses every smuggling vector but the dot-only one, which holds no bare octet and stays one message", () => {
    expect(VECTORS.length).toBeGreaterThanOrEqual(16);
    for (const vector of VECTORS) {
      const message = Buffer.from(
        `Subject: one\r\n\r\nbody1${vector.bytes}MAIL FROM:<x@sender.test>\r\nRCPT TO:<y@example.org>\r\nDATA\r\nsmuggled\r\n`,
        "latin1",
      );
      const expected: unknown = vector.id === "crlf_dot_only" ? null : expect.stringMatching(/^(bare-cr|bare-lf|nul)$/);
      expect(findBodyFault(message), vector.id).toEqual(expected);
      for (let at = 0; at <= message.length; at++) expect(faultSplitAt(message, at), `${vector.id} at ${at}`).toEqual(findBodyFault(message));
    }
  });

  it("has one reply per fault: 554 with 5.5.2 for bare CR/LF and 5.6.0 for NUL", () => {
    expect(formatReply(BODY_FAULT_REPLIES["bare-lf"])).toBe("554 5.5.2 Message contains bare CR or bare LF");
    expect(formatReply(BODY_FAULT_REPLIES["bare-cr"])).toBe("554 5.5.2 Message contains bare CR or bare LF");
    expect(formatReply(BODY_FAULT_REPLIES.nul)).toBe("554 5.6.0 Message contains NUL characters");
  });
});

describe("reading DATA", () => {
  it("returns the whole message when it is within the bound and clean", async () => {
    expect(await readData(Readable.from([Buffer.from("a\r"), Buffer.from("\nb\r\n")]), 100)).toEqual({
      status: "complete",
      message: Buffer.from("a\r\nb\r\n"),
    });
  });

  it("reads an oversized message to its end, keeping nothing past the bound", async () => {
    const chunks = Array.from({ length: 10 }, () => Buffer.alloc(100, 0x61));
    expect(await readData(Readable.from(chunks), 250)).toEqual({ status: "too-big", sizeBytes: 1000 });
  });

  it("reports a fault only after the whole message", async () => {
    expect(await readData(Readable.from([Buffer.from("a\nb"), Buffer.from("\r\n")]), 100)).toEqual({ status: "fault", fault: "bare-lf", sizeBytes: 5 });
  });

  it("reports a stream that ends in an error as aborted", async () => {
    const stream = new PassThrough();
    const result = readData(stream, 100);
    stream.write("partial");
    stream.destroy(new Error("Connection closed before the message was received in full"));
    expect(await result).toMatchObject({ status: "aborted" });
  });
});

describe("header edits", () => {
  const message = Buffer.from(
    "Authentication-Results: MX.example.org;\r\n spf=pass smtp.mailfrom=forged.test\r\n" +
      "Subject: hi\r\n" +
      "Authentication-Results: (comment) mx.example.org 1; dkim=pass\r\n" +
      "Authentication-Results: other.example; spf=fail\r\n" +
      "\r\n" +
      "Authentication-Results: mx.example.org; body line, not a header\r\n",
  );

  it("finds the authserv-id past comments and before the version (RFC 8601 §2.2)", () => {
    expect(authservIdOf(" mx.example.org; spf=pass")).toBe("mx.example.org");
    expect(authservIdOf(" (c (nested)) MX.Example.org 1 ; none")).toBe("mx.example.org");
    expect(authservIdOf("mx.example.org;none")).toBe("mx.example.org");
  });

  it("removes only the fields claiming our authserv-id, folded or not, and never touches the body (RFC 8601 §5)", () => {
    expect(removeOwnAuthenticationResults(message, "mx.example.org").toString()).toBe(
      "Subject: hi\r\nAuthentication-Results: other.example; spf=fail\r\n\r\nAuthentication-Results: mx.example.org; body line, not a header\r\n",
    );
  });

  it("returns the same bytes when there is nothing to remove, also for a message without a body", () => {
    const plain = Buffer.from("Subject: hi\r\n");
    expect(removeOwnAuthenticationResults(plain, "mx.example.org")).toBe(plain);
    expect(removeOwnAuthenticationResults(Buffer.from("\r\nbody\r\n"), "mx.example.org").toString()).toBe("\r\nbody\r\n");
  });

  it("prepends complete fields in order", () => {
    expect(prependFields(Buffer.from("Subject: hi\r\n\r\nb\r\n"), ["A: 1", "B: 2\r\n 3"]).toString()).toBe("A: 1\r\nB: 2\r\n 3\r\nSubject: hi\r\n\r\nb\r\n");
  });
});

describe("connection bounds", () => {
  it("admits up to the per-address and the total bound, and counts released sessions out", () => {
    const counter = new ConnectionCounter({ maxConnections: 3, maxConnectionsPerIp: 2 });
    expect(["a", "a", "a", "b", "c"].map((client) => counter.admit(client))).toEqual([
      "admitted",
      "admitted",
      "too-many-from-ip",
      "admitted",
      "too-many-total",
    ]);
    counter.release("a");
    expect(counter.admit("c")).toBe("admitted");
    counter.release("nobody");
    expect(counter.admit("d")).toBe("too-many-total");
  });
});

describe("replies handed to smtp-server", () => {
  it("carry the enhanced code first, the basic code as responseCode", () => {
    const reply = buildReply("relayDenied", { address: "x@elsewhere.test" });
    expect(replyLine(reply)).toBe("5.7.1 <x@elsewhere.test>: Relay access denied");
    expect(replyError(reply)).toMatchObject({ message: "5.7.1 <x@elsewhere.test>: Relay access denied", responseCode: 554 });
  });
});
