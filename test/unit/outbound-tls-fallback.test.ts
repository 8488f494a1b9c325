// The pure decisions of the outbound TLS fallback (relay-node/src/deliver/remote.ts): which offer comes
// after a failed STARTTLS, how the failure is counted for TLS-RPT, and a plaintext session's verdict.
// The sessions themselves, against real Postfix peers: test/integration/outbound-postfix.test.ts.
import { describe, expect, it } from "vitest";
import { checkSessionTls, nextTlsOffer, tlsFailureCount, type TlsRequirement } from "../../relay-node/src/deliver/remote.ts";

const opportunistic: TlsRequirement = { kind: "opportunistic", reportWebpki: false };
const policies: TlsRequirement[] = [
  { kind: "dane", records: [] },
  { kind: "encrypt", reason: "TLSA records published, none usable" },
  { kind: "webpki", reason: "mta-sts" },
  { kind: "webpki", reason: "mandatory-tls" },
];
const handshake = { stage: "handshake", detail: "ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION" } as const;
const refused = { stage: "starttls-refused", detail: "454 4.7.0 TLS not available due to local problem" } as const;

describe("nextTlsOffer: the fallback after a failed STARTTLS (RFC 7435 §3)", () => {
  it("opportunistic: a failed modern handshake tries legacy TLS, then plaintext", () => {
    expect(nextTlsOffer(opportunistic, "modern", handshake)).toBe("legacy");
    expect(nextTlsOffer(opportunistic, "legacy", handshake)).toBe("none");
    expect(nextTlsOffer({ kind: "opportunistic", reportWebpki: true }, "modern", handshake)).toBe("legacy");
  });

  it("opportunistic: a refused STARTTLS goes to plaintext at once (another handshake would be refused too)", () => {
    expect(nextTlsOffer(opportunistic, "modern", refused)).toBe("none");
  });

  it("nothing after plaintext", () => {
    expect(nextTlsOffer(opportunistic, "none", handshake)).toBeUndefined();
  });

  it("never a downgrade under DANE, MTA-STS enforce or mandatory TLS (RFC 7672 §2.2, RFC 8461 §5)", () => {
    for (const requirement of policies) {
      expect(nextTlsOffer(requirement, "modern", handshake)).toBeUndefined();
      expect(nextTlsOffer(requirement, "modern", refused)).toBeUndefined();
    }
  });
});

describe("tlsFailureCount: the TLS-RPT result type of a failed STARTTLS (RFC 8460 §4.3)", () => {
  it("a refused command is starttls-not-supported, a failed handshake validation-failure, each with its detail", () => {
    expect(tlsFailureCount(refused)).toEqual({
      resultType: "starttls-not-supported",
      detail: "STARTTLS refused: 454 4.7.0 TLS not available due to local problem",
    });
    expect(tlsFailureCount(handshake)).toEqual({ resultType: "validation-failure", detail: "TLS handshake failed: ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION" });
  });
});

describe("checkSessionTls: a session without TLS", () => {
  const plaintext = { secure: false, authorized: false, authorizationError: "", chain: [] };

  it("is a failure to count but not to refuse where TLS is opportunistic", () => {
    expect(checkSessionTls(opportunistic, plaintext, ["mx.example.net"])).toEqual({
      ok: false,
      resultType: "starttls-not-supported",
      detail: "the server offered no STARTTLS",
      enforced: false,
    });
  });

  it("is refused under every policy", () => {
    for (const requirement of policies) expect(checkSessionTls(requirement, plaintext, ["mx.example.net"])).toMatchObject({ ok: false, enforced: true });
  });
});
