// Mail the relay writes itself (relay-node/src/sign/generated.ts): whose postmaster a DSN comes from, and
// the signatures it gets. Verification by an independent verifier: test/integration/dsn-signed.test.ts.
import { generateKeyPairSync } from "node:crypto";
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../core/config/load.ts";
import { dsnFrom, generatedMailSigner } from "../../relay-node/src/sign/generated.ts";

const config = parseConfig({
  hostname: "mx.example.org",
  domains: [
    { name: "example.org", mx: ["mx.example.org"], catchAll: true },
    { name: "Example.NET", mx: ["mx.example.org"], catchAll: true },
  ],
});

describe("dsnFrom", () => {
  it("is the postmaster of the sender's domain when it is ours, compared case-insensitively", () => {
    expect(dsnFrom(config.domains, "alice@example.net")).toBe("postmaster@example.net");
    expect(dsnFrom(config.domains, "Bob@EXAMPLE.ORG")).toBe("postmaster@example.org");
  });

  it("is the postmaster of the first domain for a sender elsewhere", () => {
    expect(dsnFrom(config.domains, "carol@sender.test")).toBe("postmaster@example.org");
  });
});

describe("generatedMailSigner", () => {
  const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey;
  const ed = generateKeyPairSync("ed25519").privateKey;
  const sign = generatedMailSigner(
    new Map([
      [
        "example.org",
        {
          key: { domain: "example.org", selector: "s1", algorithm: "rsa-sha256" as const, privateKey: rsa },
          ed25519: { domain: "example.org", selector: "s2", algorithm: "ed25519-sha256" as const, privateKey: ed },
        },
      ],
    ]),
  );
  const message = Buffer.from("From: postmaster@example.org\r\nSubject: report\r\n\r\nbody\r\n");

  it("prepends the domain's signatures, Ed25519 beside RSA where configured", () => {
    const signed = sign(message, "Example.org", new Date("2026-03-05T00:00:00Z"))!.toString("latin1");
    expect(signed.match(/^DKIM-Signature: /gm)).toHaveLength(2);
    expect(signed).toMatch(/^DKIM-Signature: v=1; a=rsa-sha256; c=relaxed\/relaxed; d=example\.org;\r\n\ts=s1; t=1772668800;/m);
    expect(signed).toMatch(/^DKIM-Signature: v=1; a=ed25519-sha256; c=relaxed\/relaxed; d=example\.org;\r\n\ts=s2;/m);
    expect(signed.endsWith(message.toString("latin1"))).toBe(true);
  });

  it("leaves a domain without a key unsigned", () => {
    expect(sign(message, "example.net", new Date())).toBeUndefined();
  });
});
