// The pure parts of forwarding (relay-node/src/forward/, core/arc/seal.ts): which spool entries an
// accepted message becomes, what the ARC seal of a forwarded copy takes from the verdict, and the SRS
// secret read from the environment. Wired against real servers: test/integration/forwarding.test.ts.
import { describe, expect, it } from "vitest";
import { forwardSealInputs } from "../../core/arc/seal.ts";
import { parseConfig } from "../../core/config/load.ts";
import { srsReverse, type SrsSecrets } from "../../core/srs/srs.ts";
import { spoolCopies, srsSecretsFrom } from "../../relay-node/src/forward/forwarding.ts";

const SECRETS: SrsSecrets = ["a secret of at least sixteen characters"];
const NOW = new Date("2026-03-14T15:09:26Z");
const config = parseConfig({
  hostname: "mx.example.org",
  domains: [
    { name: "example.org", mx: ["mx.example.org"], mailboxes: ["alice"], aliases: { carol: "carol@elsewhere.test", info: "alice" } },
    { name: "example.net", mx: ["mx.example.org"], mailboxes: ["dave"], aliases: { carol: "carol@elsewhere.test", erin: "erin@other.test" } },
  ],
});

describe("spoolCopies", () => {
  it("keeps our recipients with the sender as given, and gives each forwarding domain its copy with an SRS sender", () => {
    const copies = spoolCopies(
      "bob@sender.test",
      [
        { address: "alice@example.org", deliverTo: "alice@example.org" },
        { address: "carol@example.org", deliverTo: "carol@elsewhere.test" },
        { address: "info@example.org", deliverTo: "alice@example.org" },
        { address: "erin@example.net", deliverTo: "erin@other.test" },
        { address: "carol@example.net", deliverTo: "carol@elsewhere.test" },
      ],
      config,
      SECRETS,
      NOW,
    );
    expect(copies.map(({ rcptTo, forwarder }) => ({ rcptTo, forwarder }))).toEqual([
      { rcptTo: ["alice@example.org"], forwarder: null },
      { rcptTo: ["carol@elsewhere.test"], forwarder: "example.org" },
      { rcptTo: ["erin@other.test"], forwarder: "example.net" },
    ]);
    expect(copies[0]!.mailFrom).toBe("bob@sender.test");
    for (const copy of copies.slice(1)) {
      expect(copy.mailFrom).toMatch(new RegExp(`^SRS0=.{4}=..=sender\\.test=bob@${copy.forwarder!.replace(".", "\\.")}$`));
      expect(srsReverse(copy.mailFrom.slice(0, copy.mailFrom.lastIndexOf("@")), SECRETS, NOW, 21)).toMatchObject({ address: "bob@sender.test" });
    }
  });

  it("is one entry, as before, when nothing is forwarded; the null sender stays null when something is", () => {
    expect(spoolCopies("bob@sender.test", [{ address: "alice@example.org", deliverTo: "alice@example.org" }], config, SECRETS, NOW)).toEqual([
      { mailFrom: "bob@sender.test", rcptTo: ["alice@example.org"], forwarder: null },
    ]);
    expect(spoolCopies("", [{ address: "carol@example.org", deliverTo: "carol@elsewhere.test" }], config, SECRETS, NOW)).toEqual([
      { mailFrom: "", rcptTo: ["carol@elsewhere.test"], forwarder: "example.org" },
    ]);
  });
});

describe("forwardSealInputs", () => {
  const ar = "Authentication-Results: mx.example.org;\r\n spf=pass smtp.mailfrom=sender.test";

  it("takes our Authentication-Results as the ARC-Authentication-Results, and the judge's ARC result as cv", () => {
    expect(forwardSealInputs({ headers: [ar, "X-Edgemx-Verdict: accept; id=1-1"], checks: [] })).toEqual({
      authResults: "mx.example.org;\r\n spf=pass smtp.mailfrom=sender.test",
      cv: "none",
    });
    expect(forwardSealInputs({ headers: [ar], checks: [{ check: "arc", outcome: "pass" }] })?.cv).toBe("pass");
    expect(forwardSealInputs({ headers: [ar], checks: [{ check: "arc", outcome: "fail" }] })?.cv).toBe("fail");
  });

  it("has nothing to seal when the judge sealed already (judge.arcSeal), or without our Authentication-Results", () => {
    expect(forwardSealInputs({ headers: ["ARC-Seal: i=1; cv=none; d=example.org", ar], checks: [] })).toBeNull();
    expect(forwardSealInputs({ headers: ["X-Edgemx-Verdict: accept; id=1-1"], checks: [] })).toBeNull();
  });
});

describe("srsSecretsFrom", () => {
  const forwarding = new Map([["example.org", ["carol"]]]);

  it("reads the secret, and the previous one beside it", () => {
    expect(srsSecretsFrom({ EDGEMX_SRS_SECRET: SECRETS[0] }, forwarding)).toEqual(SECRETS);
    expect(srsSecretsFrom({ EDGEMX_SRS_SECRET: SECRETS[0], EDGEMX_SRS_PREVIOUS_SECRET: "the one before, sixteen+" }, forwarding)).toEqual([
      SECRETS[0],
      "the one before, sixteen+",
    ]);
  });

  it("is off without a secret where nothing forwards, and refuses to start without one where something does", () => {
    expect(srsSecretsFrom({}, new Map())).toBeNull();
    expect(() => srsSecretsFrom({}, forwarding)).toThrow(
      "carol@example.org forward to another domain, but EDGEMX_SRS_SECRET (the secret of their SRS addresses, docs/forwarding.md) is not in the environment",
    );
  });

  it("refuses a short secret", () => {
    expect(() => srsSecretsFrom({ EDGEMX_SRS_SECRET: "short" }, new Map())).toThrow("EDGEMX_SRS_SECRET has 5 characters; SRS needs a secret of at least 16");
    expect(() => srsSecretsFrom({ EDGEMX_SRS_SECRET: SECRETS[0], EDGEMX_SRS_PREVIOUS_SECRET: "old" }, forwarding)).toThrow(/EDGEMX_SRS_PREVIOUS_SECRET has 3/);
  });
});
