// The sender-ownership decision of submission: MAIL FROM and the From/Sender fields, parsed by the
// RFC 5322 grammar, must be the user's own addresses (553 5.7.1 otherwise).
import { describe, expect, it } from "vitest";
import { formatReply } from "../../core/smtp/replies.ts";
import { authorAddresses, decideAuthorFields, decideEnvelopeSender } from "../../relay-node/src/submission/sender-ownership.ts";

const OWNED = new Set(["alice@example.org", "info@example.org"]);
const message = (header: string): Uint8Array => new TextEncoder().encode(`${header}\r\nSubject: x\r\n\r\nbody\r\n`);

describe("MAIL FROM", () => {
  it("accepts an own address in any case and refuses others and the null path", () => {
    expect(decideEnvelopeSender("Alice@Example.org", OWNED)).toBeNull();
    expect(decideEnvelopeSender("info@example.org", OWNED)).toBeNull();
    expect(formatReply(decideEnvelopeSender("bob@example.org", OWNED)!)).toBe("553 5.7.1 <bob@example.org>: Sender address rejected: not owned by user");
    expect(decideEnvelopeSender("", OWNED)?.code).toBe(553);
  });
});

describe("From and Sender fields", () => {
  it("reads display names, comments, quoted strings, folding and groups by the grammar", () => {
    expect(authorAddresses(message('From: "Doe, Alice (CEO)" <alice@example.org>'))).toEqual(["alice@example.org"]);
    expect(authorAddresses(message("From: alice@example.org (Alice)"))).toEqual(["alice@example.org"]);
    expect(authorAddresses(message("From: Alice\r\n <alice@example.org>"))).toEqual(["alice@example.org"]);
    expect(authorAddresses(message("From: a@example.org, Team: b@example.org, c@example.org;\r\nSender: alice@example.org"))).toEqual([
      "a@example.org",
      "b@example.org",
      "c@example.org",
      "alice@example.org",
    ]);
  });

  it("accepts a message whose authors are all owned", () => {
    expect(decideAuthorFields(message("From: Alice <ALICE@example.org>"), OWNED)).toBeNull();
    expect(decideAuthorFields(message("From: Info <info@example.org>\r\nSender: alice@example.org"), OWNED)).toBeNull();
  });

  it("refuses a foreign From, a foreign Sender, a display name that only looks owned, and no From", () => {
    expect(formatReply(decideAuthorFields(message("From: Alice <ceo@bank.test>"), OWNED)!)).toBe(
      "553 5.7.1 <ceo@bank.test>: Sender address rejected: not owned by user",
    );
    expect(decideAuthorFields(message('From: "alice@example.org" <mallory@evil.test>'), OWNED)?.text).toContain("<mallory@evil.test>");
    expect(decideAuthorFields(message("From: alice@example.org\r\nSender: mallory@evil.test"), OWNED)?.text).toContain("<mallory@evil.test>");
    expect(decideAuthorFields(message("From: alice@example.org, mallory@evil.test"), OWNED)?.code).toBe(553);
    expect(decideAuthorFields(message("To: alice@example.org"), OWNED)?.code).toBe(553);
  });
});
