// relay.outbound.relayHost (the smarthost, relay-node/src/deliver/smarthost.ts): its defaults, and the
// port/TLS mismatches refused with the field's path.
import { describe, expect, it } from "vitest";
import { ConfigError, parseConfig } from "../../core/config/load.ts";

const minimal = { hostname: "mx.example.org", domains: [{ name: "example.org", mx: ["mx.example.org"], catchAll: true }] };
const withRelayHost = (relayHost: Record<string, unknown>) => ({ ...minimal, relay: { outbound: { relayHost } } });

function problems(doc: unknown): readonly string[] {
  try {
    parseConfig(doc);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error("expected the configuration to be refused");
}

describe("relay.outbound.relayHost", () => {
  it("is absent by default: mail goes to the MX hosts", () => {
    expect(parseConfig(minimal).relay.outbound.relayHost).toBeUndefined();
  });

  it("defaults to STARTTLS on 587, AUTH PLAIN, for every domain", () => {
    expect(parseConfig(withRelayHost({ host: "SMTP.Provider.example", username: "me@example.org" })).relay.outbound.relayHost).toEqual({
      host: "smtp.provider.example",
      port: 587,
      tls: "starttls",
      username: "me@example.org",
      authMethod: "plain",
      domains: [],
    });
  });

  it("refuses a TLS mode that contradicts port 465 or 587 (RFC 8314)", () => {
    expect(problems(withRelayHost({ host: "smtp.provider.example", port: 465, username: "me" }))).toEqual([
      "relay.outbound.relayHost.tls: port 465 is implicit TLS (RFC 8314 §3.3): expected tls: implicit",
    ]);
    expect(problems(withRelayHost({ host: "smtp.provider.example", tls: "implicit", username: "me" }))).toEqual([
      "relay.outbound.relayHost.tls: port 587 is STARTTLS (RFC 6409): expected tls: starttls",
    ]);
  });

  it("needs a user name, and takes no password from the file", () => {
    expect(problems(withRelayHost({ host: "smtp.provider.example" }))).toEqual([expect.stringMatching(/^relay\.outbound\.relayHost\.username: /)]);
    expect(problems(withRelayHost({ host: "smtp.provider.example", username: "me", password: "x" }))).toEqual([
      expect.stringMatching(/^relay\.outbound\.relayHost: .*password/),
    ]);
  });
});
