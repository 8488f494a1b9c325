import { describe, expect, it } from "vitest";
import { buildReply, formatReply, REPLIES, REPLY_KEYS, renderReply, replySafe, templateParts } from "../../core/smtp/replies.ts";
import { spoolFailureReply } from "../../relay-node/src/smtp/replies.ts";

describe("the replies table", () => {
  it("renders the specification's replies with the real values, EN DASH included", () => {
    expect(renderReply("senderDomainNotFound", { address: "alice@nowhere.invalid" })).toBe(
      "554 5.1.8 <alice@nowhere.invalid>: Sender address rejected: Domain not found",
    );
    expect(renderReply("infected", { id: "54321-07" })).toBe("554 5.7.0 Reject, id=54321-07 \u2013 INFECTED");
    expect(renderReply("banned", { id: "54321-07" })).toBe("554 5.7.0 Reject, id=54321-07 – BANNED");
    expect(renderReply("spam", { id: "54321-07" })).toBe("554 5.7.0 Reject, id=54321-07 – spam");
    expect(renderReply("clientRejected", { host: "unknown", ip: "192.0.2.1" })).toBe("554 5.7.1 <unknown[192.0.2.1]>: Client host rejected: Access denied");
    expect(renderReply("dnsbl", { ip: "192.0.2.1", zone: "zen.spamhaus.org" })).toBe(
      "554 5.7.1 Service unavailable; Client host [192.0.2.1] blocked using zen.spamhaus.org",
    );
    expect(renderReply("heloNotFound", { helo: "bogus.invalid" })).toBe("554 5.7.1 <bogus.invalid>: Helo command rejected: Host not found");
  });

  it("renders the protocol replies with RFC 5321 / RFC 3463 codes", () => {
    expect(renderReply("relayDenied", { address: "bob@example.com" })).toBe("554 5.7.1 <bob@example.com>: Relay access denied");
    // RFC 4954 §6: the exact text of 538 5.7.11.
    expect(renderReply("authBeforeTls", {})).toBe("538 5.7.11 Encryption required for requested authentication mechanism");
    // RFC 3207 §4.
    expect(renderReply("tlsRequired", {})).toBe("530 5.7.0 Must issue a STARTTLS command first");
    expect(renderReply("greylisted", { address: "carol@example.org", seconds: "300" })).toBe(
      "451 4.7.1 <carol@example.org>: Recipient address rejected: Greylisted for 300 seconds, please try again later",
    );
    expect(renderReply("tempfail", { id: "1-2" })).toMatch(/^451 4\.3\.0 .*id=1-2/);
    // RFC 5321 §4.2.2 452, RFC 3463 X.3.1 "mail system full": Postfix's reply for a full queue disk.
    expect(renderReply("insufficientStorage", {})).toBe("452 4.3.1 Insufficient system storage");
    expect(renderReply("dnsTempfail", { name: "example.com" })).toMatch(/^451 4\.4\.3 <example\.com>: /);
  });

  it("gives the structured reply a Verdict carries", () => {
    const reply = buildReply("banned", { id: "00001-01" });
    expect(reply).toEqual({ code: 554, enhanced: "5.7.0", text: "Reject, id=00001-01 – BANNED" });
    expect(formatReply(reply)).toBe("554 5.7.0 Reject, id=00001-01 – BANNED");
  });

  it("asks for exactly the values a reply needs (checked by tsc)", () => {
    // @ts-expect-error -- "banned" needs its id
    expect(renderReply("banned", {})).toBe("554 5.7.0 Reject, id= – BANNED");
    // @ts-expect-error -- "dnsbl" has no "host" placeholder
    expect(renderReply("dnsbl", { ip: "192.0.2.1", zone: "z.example", host: "x" })).not.toContain("x ");
  });

  it("keeps every reply on one line, whatever the values hold", () => {
    const forged = renderReply("heloNotFound", { helo: "evil\r\n250 OK" });
    expect(forged).toBe("554 5.7.1 <evil??250 OK>: Helo command rejected: Host not found");
    expect(replySafe("a\u0000b\u007fc\td")).toBe("a?b?c?d");
  });

  it("has consistent codes: class digits agree, permanent 5xx, temporary 4xx", () => {
    for (const key of REPLY_KEYS) {
      const { code, enhanced } = REPLIES[key];
      expect(enhanced, key).toMatch(/^[245]\.\d{1,3}\.\d{1,3}$/);
      expect(enhanced[0], key).toBe(String(code)[0]);
      // RFC 5321 §4.2.3's codes for refusals and deferrals, and 421 for a session that is closed.
      expect([421, 451, 452, 530, 538, 550, 552, 553, 554], key).toContain(code);
    }
  });

  it("explains every reply in English and German, each its own text", () => {
    for (const key of REPLY_KEYS) {
      const { en, de } = REPLIES[key].explanation;
      expect(en.length, key).toBeGreaterThan(60);
      expect(de.length, key).toBeGreaterThan(60);
      expect(de, key).not.toBe(en);
    }
    expect(REPLIES.banned.explanation.de).toMatch(/Anhang/);
    expect(REPLIES.dnsbl.explanation.en).toMatch(/blocklist/);
  });

  it("lists every key once, in the table's order", () => {
    expect(REPLY_KEYS).toEqual(Object.keys(REPLIES));
    expect(REPLY_KEYS.slice(0, 7)).toEqual(["senderDomainNotFound", "infected", "banned", "spam", "clientRejected", "dnsbl", "heloNotFound"]);
  });

  it("splits a template into literal text and placeholders", () => {
    expect(templateParts("<{host}[{ip}]>: x")).toEqual([
      { literal: "<" },
      { placeholder: "host" },
      { literal: "[" },
      { placeholder: "ip" },
      { literal: "]>: x" },
    ]);
    expect(templateParts("no placeholders")).toEqual([{ literal: "no placeholders" }]);
  });
});

describe("the reply when the spool cannot take a message", () => {
  const failure = (code: string): Error => Object.assign(new Error(code), { code });

  it("is 452 4.3.1 for a full disk or quota, 451 4.3.0 with the id for anything else", () => {
    expect(formatReply(spoolFailureReply(failure("ENOSPC"), "1-2"))).toBe("452 4.3.1 Insufficient system storage");
    expect(formatReply(spoolFailureReply(failure("EDQUOT"), "1-2"))).toBe("452 4.3.1 Insufficient system storage");
    expect(formatReply(spoolFailureReply(failure("EIO"), "1-2"))).toMatch(/^451 4\.3\.0 .*id=1-2/);
    expect(formatReply(spoolFailureReply(new Error("no code"), "1-2"))).toMatch(/^451 4\.3\.0 /);
  });
});
