// RCPT TO without backscatter (core/smtp/recipient.ts): only the recipients a domain names are
// accepted, subaddresses (RFC 5233) reach their mailbox or alias, and the Maildir next hop files a
// subaddress under its mailbox. The relay wired: test/integration/forwarding.test.ts.
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../core/config/load.ts";
import type { EdgemxConfig } from "../../core/config/schema.ts";
import type { Finding } from "../../core/smtp/finding.ts";
import { formatReply } from "../../core/smtp/replies.ts";
import { checkRecipient, mailboxAddress, resolveAlias } from "../../core/smtp/recipient.ts";

const config = parseConfig({
  hostname: "mx.example.org",
  domains: [
    { name: "example.org", mx: ["mx.example.org"], mailboxes: ["alice", "mary-jane", "a+b"], aliases: { info: "alice", sales: "carol@elsewhere.test" } },
    { name: "catch.example", mx: ["mx.example.org"], mailboxes: ["one"], catchAll: true },
  ],
});

/** The configuration with relay settings a document could not have (the schema refuses it), to show the check holds anyway. */
function withRelay(base: EdgemxConfig, relay: Partial<EdgemxConfig["relay"]>, domains = base.domains): EdgemxConfig {
  return { ...base, domains, relay: { ...base.relay, ...relay } };
}

const outcome = (finding: Finding): string =>
  finding.outcome === "pass" || finding.outcome === "skipped" ? `${finding.outcome}: ${finding.detail}` : formatReply(finding.reply);

describe("subaddresses (relay.recipientDelimiter, RFC 5233)", () => {
  it("reach the mailbox or alias before the delimiter, in any case", () => {
    expect(outcome(checkRecipient("alice+news@example.org", config))).toBe("pass: example.org: subaddress of alice: mailbox alice");
    expect(outcome(checkRecipient("Alice+News+More@Example.ORG", config))).toBe("pass: example.org: subaddress of alice: mailbox alice");
    expect(outcome(checkRecipient("info+web@example.org", config))).toBe("pass: example.org: subaddress of info: alias info → alice@example.org");
    expect(resolveAlias("info+web@example.org", config)).toBe("alice@example.org");
    expect(resolveAlias("sales+eu@example.org", config)).toBe("carol@elsewhere.test");
  });

  it("keep the whole address for the next hop, which files it under the mailbox", () => {
    expect(resolveAlias("alice+news@example.org", config)).toBe("alice+news@example.org");
    expect(mailboxAddress("alice+news@example.org", config)).toBe("alice@example.org");
    expect(mailboxAddress("Alice@example.org", config)).toBe("Alice@example.org");
    expect(mailboxAddress("anyone+x@catch.example", config)).toBe("anyone@catch.example");
    expect(mailboxAddress("bob+x@elsewhere.test", config)).toBe("bob+x@elsewhere.test");
  });

  it("yield to a mailbox that has the whole name", () => {
    expect(outcome(checkRecipient("a+b@example.org", config))).toBe("pass: example.org: mailbox a+b");
    expect(mailboxAddress("a+b@example.org", config)).toBe("a+b@example.org");
    expect(outcome(checkRecipient("mary-jane@example.org", withRelay(config, { recipientDelimiter: "+-" })))).toBe("pass: example.org: mailbox mary-jane");
  });

  it("are refused where the part before the delimiter is no mailbox, or is empty", () => {
    const unknown = (address: string) => `550 5.1.1 <${address}>: Recipient address rejected: User unknown in local recipient table`;
    expect(outcome(checkRecipient("bob+news@example.org", config))).toBe(unknown("bob+news@example.org"));
    expect(outcome(checkRecipient("+alice@example.org", config))).toBe(unknown("+alice@example.org"));
    // Role mailboxes are matched by their whole name: their relaxations are per name (RFC 2142).
    expect(outcome(checkRecipient("postmaster+x@example.org", config))).toBe(unknown("postmaster+x@example.org"));
  });

  it("follow the configured delimiters, each character one, and none with an empty one", () => {
    const dashes = withRelay(config, { recipientDelimiter: "-+" });
    expect(outcome(checkRecipient("alice-news@example.org", dashes))).toBe("pass: example.org: subaddress of alice: mailbox alice");
    expect(outcome(checkRecipient("alice+news@example.org", dashes))).toBe("pass: example.org: subaddress of alice: mailbox alice");
    expect(checkRecipient("alice-news@example.org", config).outcome).toBe("fail");
    const none = withRelay(config, { recipientDelimiter: "" });
    expect(checkRecipient("alice+news@example.org", none).outcome).toBe("fail");
    expect(mailboxAddress("alice+news@example.org", none)).toBe("alice+news@example.org");
  });

  it("are configured as characters a local part may hold", () => {
    expect(parseConfig({ ...config, relay: { recipientDelimiter: "-" } }).relay.recipientDelimiter).toBe("-");
    expect(() => parseConfig({ ...config, relay: { recipientDelimiter: "x" } })).toThrow(
      /relay\.recipientDelimiter: expected characters such as \+ or - that may stand in a local part but are no letter or digit/,
    );
  });
});

describe("no backscatter", () => {
  const listsNone = [{ ...config.domains[0]!, mailboxes: [], aliases: {} }];

  it("refuses every recipient of a domain that names none, unless the callout asks the mailbox host", () => {
    const maildir = withRelay(config, { recipientCheck: true, nextHop: { type: "maildir", path: "./data/Maildir", deliverBeforeReply: true } }, listsNone);
    expect(outcome(checkRecipient("anyone@example.org", maildir))).toBe(
      "550 5.1.1 <anyone@example.org>: Recipient address rejected: User unknown in local recipient table",
    );
    const lmtp = withRelay(config, { recipientCheck: true, nextHop: { type: "lmtp", host: "127.0.0.1", port: 24 } }, listsNone);
    expect(outcome(checkRecipient("anyone@example.org", lmtp))).toBe("pass: example.org: no mailboxes listed: the mailbox host decides");
    // The role mailboxes exist whatever is listed (RFC 5321 §4.5.1).
    expect(checkRecipient("postmaster@example.org", maildir).outcome).toBe("pass");
  });

  it("is the schema's rule too: such a domain is refused with its field and the ways out", () => {
    expect(() => parseConfig({ hostname: "mx.example.org", domains: [{ name: "example.org", mx: ["mx.example.org"] }] }, "edgemx.yaml")).toThrow(
      "domains[0].mailboxes: expected the mailboxes (or aliases) of example.org, catchAll: true, or relay.recipientCheck with an lmtp or smtp nextHop to ask the mailbox host",
    );
  });
});
