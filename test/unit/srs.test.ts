// SRS (core/srs/): the scheme's addresses made and reversed, their hash and age checked; what forwarding
// decides about the envelope sender, RCPT TO an SRS address of ours and the DSN of a forwarded copy.
// Mail::SRS, the reference implementation, reads and makes the same addresses:
// test/integration/srs-reference.test.ts.
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../core/config/load.ts";
import { formatReply } from "../../core/smtp/replies.ts";
import { dsnRecipient, forwardedSender, forwardingDomains, srsRecipient } from "../../core/srs/forwarding.ts";
import { isSrsLocalPart, srsForward, srsReverse, srsTimestamp, type SrsSecrets } from "../../core/srs/srs.ts";

const SECRETS: SrsSecrets = ["a secret of at least sixteen characters"];
const OTHER: SrsSecrets = ["the secret of somebody else entirely"];
const DAY = 86_400_000;
const NOW = new Date("2026-03-14T15:09:26Z");
const later = (days: number) => new Date(NOW.getTime() + days * DAY);

/** The local part of an address. */
const localOf = (address: string) => address.slice(0, address.lastIndexOf("@"));

describe("SRS0 (the first forwarder)", () => {
  const srs = srsForward("alice@sender.example", "forwarder.example", SECRETS, NOW);

  it("carries the sender behind a hash and the day, at the forwarder", () => {
    expect(srs).toMatch(/^SRS0=[A-Za-z0-9+/]{4}=[A-Z2-7]{2}=sender\.example=alice@forwarder\.example$/);
    expect(srs.split("=")[2]).toBe(srsTimestamp(NOW));
  });

  it("is reversed to the sender while the hash holds and it is young enough", () => {
    expect(srsReverse(localOf(srs), SECRETS, NOW, 21)).toEqual({ valid: true, address: "alice@sender.example", ageDays: 0 });
    expect(srsReverse(localOf(srs), SECRETS, later(21), 21)).toEqual({ valid: true, address: "alice@sender.example", ageDays: 21 });
  });

  it("holds when a remote MTA changed its case (RFC 5321 §2.4 allows it only for the domain)", () => {
    expect(srsReverse(localOf(srs).toUpperCase(), SECRETS, NOW, 21)).toMatchObject({ valid: true, address: "ALICE@SENDER.EXAMPLE" });
    expect(srsReverse(localOf(srs).toLowerCase(), SECRETS, NOW, 21)).toMatchObject({ valid: true, address: "alice@sender.example" });
  });

  it("expires the day after maxAgeDays", () => {
    expect(srsReverse(localOf(srs), SECRETS, later(22), 21)).toEqual({ valid: false, reason: "expired", detail: "made 22 days ago, valid for 21" });
    // A timestamp of tomorrow has wrapped around the 1024-day counter: it is about 1023 days old.
    const tomorrow = srsForward("alice@sender.example", "forwarder.example", SECRETS, later(1));
    expect(srsReverse(localOf(tomorrow), SECRETS, NOW, 21)).toMatchObject({ valid: false, reason: "expired" });
  });

  it("refuses a hash made with another secret, or one changed field", () => {
    const forged = srsForward("alice@sender.example", "forwarder.example", OTHER, NOW);
    expect(srsReverse(localOf(forged), SECRETS, NOW, 21)).toEqual({ valid: false, reason: "hash", detail: "the SRS0 hash does not hold" });
    const redirected = localOf(srs).replace("=alice", "=mallory");
    expect(srsReverse(redirected, SECRETS, NOW, 21)).toMatchObject({ valid: false, reason: "hash" });
    const [tag, hash, , ...rest] = localOf(srs).split("=");
    const renewed = [tag, hash, srsTimestamp(later(30)), ...rest].join("=");
    expect(srsReverse(renewed, SECRETS, later(30), 21)).toMatchObject({ valid: false, reason: "hash" });
  });

  it("holds under a previous secret, while new addresses use the first", () => {
    const old = srsForward("alice@sender.example", "forwarder.example", OTHER, NOW);
    const rotated: SrsSecrets = [SECRETS[0], OTHER[0]];
    expect(srsReverse(localOf(old), rotated, NOW, 21)).toMatchObject({ valid: true, address: "alice@sender.example" });
    expect(srsForward("alice@sender.example", "forwarder.example", rotated, NOW)).toBe(srs);
  });

  it("keeps a local part with = in it whole (the fields before it are fixed in number)", () => {
    const odd = srsForward("a=b@sender.example", "forwarder.example", SECRETS, NOW);
    expect(srsReverse(localOf(odd), SECRETS, NOW, 21)).toMatchObject({ valid: true, address: "a=b@sender.example" });
  });

  it("refuses what only looks like one", () => {
    expect(srsReverse("SRS0=abcd=AA=sender.example", SECRETS, NOW, 21)).toMatchObject({ valid: false, reason: "malformed" });
    expect(srsReverse("SRS0=abc", SECRETS, NOW, 21)).toMatchObject({ valid: false, reason: "malformed" });
    const [tag, hash, , ...rest] = localOf(srs).split("=");
    expect(srsReverse([tag, hash, "1!", ...rest].join("="), SECRETS, NOW, 21)).toMatchObject({ valid: false });
    expect(srsReverse("alice", SECRETS, NOW, 21)).toBeNull();
    expect(srsReverse("srs0alice", SECRETS, NOW, 21)).toBeNull();
  });

  it("knows SRS local parts in any case and with any of the three separators", () => {
    for (const local of ["SRS0=x", "srs0+x", "Srs1-x", "SRS1=x"]) expect(isSrsLocalPart(local), local).toBe(true);
    for (const local of ["SRS2=x", "SRS0x", "alice", "xSRS0=x"]) expect(isSrsLocalPart(local), local).toBe(false);
  });
});

describe("SRS1 (a forwarder of a forwarder)", () => {
  const first = srsForward("alice@sender.example", "first.example", OTHER, NOW);

  it("keeps the first forwarder's SRS0 part behind its own hash, and reverses to it", () => {
    const srs1 = srsForward(first, "forwarder.example", SECRETS, NOW);
    expect(srs1).toBe(`SRS1=${srs1.split("=")[1]}=first.example==${localOf(first).slice("SRS0=".length)}@forwarder.example`);
    expect(srsReverse(localOf(srs1), SECRETS, NOW, 21)).toEqual({ valid: true, address: first });
    // The SRS1 address carries no timestamp: the first forwarder checks the age of its own.
    expect(srsReverse(localOf(srs1), SECRETS, later(200), 21)).toEqual({ valid: true, address: first });
    expect(srsReverse(localOf(srs1), OTHER, NOW, 21)).toEqual({ valid: false, reason: "hash", detail: "the SRS1 hash does not hold" });
  });

  it("re-hashes another forwarder's SRS1, keeping the first host", () => {
    const theirs = srsForward(first, "second.example", OTHER, NOW);
    const ours = srsForward(theirs, "forwarder.example", SECRETS, NOW);
    expect(ours.replace(/^SRS1=[^=]{4}=/, "")).toBe(theirs.replace(/^SRS1=[^=]{4}=/, "").replace("@second.example", "@forwarder.example"));
    expect(srsReverse(localOf(ours), SECRETS, NOW, 21)).toEqual({ valid: true, address: first });
  });
});

describe("forwarding's decisions", () => {
  const config = parseConfig({
    hostname: "mx.example.org",
    domains: [
      {
        name: "example.org",
        mx: ["mx.example.org"],
        mailboxes: ["alice"],
        aliases: { info: "alice", carol: "carol@elsewhere.test", dave: "dave@example.net" },
      },
      { name: "example.net", mx: ["mx.example.org"], mailboxes: ["dave"] },
    ],
    relay: { srs: { maxAgeDays: 10 } },
  });

  it("rewrites the sender of a forwarded copy, but not the null sender, ours, or a quoted local part", () => {
    expect(forwardedSender("bob@sender.example", "example.org", config, SECRETS, NOW)).toBe(srsForward("bob@sender.example", "example.org", SECRETS, NOW));
    expect(forwardedSender("", "example.org", config, SECRETS, NOW)).toBe("");
    expect(forwardedSender("dave@Example.NET", "example.org", config, SECRETS, NOW)).toBe("dave@Example.NET");
    expect(forwardedSender('"bob smith"@sender.example', "example.org", config, SECRETS, NOW)).toBe('"bob smith"@sender.example');
  });

  it("names the domains whose aliases forward to another domain", () => {
    expect(forwardingDomains(config)).toEqual(new Map([["example.org", ["carol"]]]));
  });

  it("accepts RCPT TO an SRS address of ours for the sender it stands for, within relay.srs.maxAgeDays", () => {
    const srs = srsForward("bob@sender.example", "example.org", SECRETS, NOW);
    expect(srsRecipient(srs, config, SECRETS, later(3))).toEqual({
      finding: { check: "recipient", outcome: "pass", detail: "SRS address of bob@sender.example, 3 days old" },
      deliverTo: "bob@sender.example",
    });
    // At our other domain too: the hash does not cover the forwarder.
    expect(srsRecipient(srs.replace("@example.org", "@EXAMPLE.net"), config, SECRETS, NOW)?.deliverTo).toBe("bob@sender.example");
  });

  it("refuses a forged or expired one with the SRS reply, and leaves other recipients to the ordinary check", () => {
    const srs = srsForward("bob@sender.example", "example.org", SECRETS, NOW);
    const expired = srsRecipient(srs, config, SECRETS, later(11));
    expect(expired?.finding).toMatchObject({ check: "recipient", outcome: "fail", detail: "SRS address refused: made 11 days ago, valid for 10" });
    expect(expired?.finding.outcome === "fail" && formatReply(expired.finding.reply)).toBe(
      `550 5.1.1 <${srs}>: Recipient address rejected: Invalid or expired forwarding return address (SRS)`,
    );
    const forged = srsForward("bob@sender.example", "example.org", OTHER, NOW);
    expect(srsRecipient(forged, config, SECRETS, NOW)?.finding).toMatchObject({ outcome: "fail", detail: "SRS address refused: the SRS0 hash does not hold" });
    expect(srsRecipient("alice@example.org", config, SECRETS, NOW)).toBeNull();
    expect(srsRecipient(srs.replace("@example.org", "@elsewhere.test"), config, SECRETS, NOW)).toBeNull();
  });

  it("sends the DSN of a forwarded copy to the sender behind its SRS address, however old, and any other DSN as before", () => {
    const srs = srsForward("bob@sender.example", "example.org", SECRETS, NOW);
    expect(dsnRecipient(srs, config, SECRETS)).toBe("bob@sender.example");
    const forged = srsForward("bob@sender.example", "example.org", OTHER, NOW);
    expect(dsnRecipient(forged, config, SECRETS)).toBe(forged);
    expect(dsnRecipient("bob@sender.example", config, SECRETS)).toBe("bob@sender.example");
    expect(dsnRecipient("alice@example.org", config, SECRETS)).toBe("alice@example.org");
  });
});
