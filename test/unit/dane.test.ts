// DANE decisions (RFC 7672, RFC 6698) over certificates from a test CA made by openssl, with digests
// compared against openssl's own.
import { execFileSync } from "node:child_process";
import { createHash, X509Certificate } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { daneRequirement, tlsaMatches } from "../../core/dane/dane.ts";
import type { Lookup, TlsaRecord } from "../../core/dns/resolver.ts";
import { DANE_MX_KEY_PEM, DANE_MX_SPKI_SHA256, DANE_TA_KEY_PEM, DANE_TA_SPKI_SHA256 } from "../harness/dane-key.ts";
import { issueCertificate, makeTestCa, type IssuedCertificate, type TestCa } from "../harness/test-ca.ts";

let dir: string;
let ca: TestCa;
let leaf: IssuedCertificate;
let chain: X509Certificate[];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "edgemx-dane-"));
  ca = makeTestCa(dir);
  leaf = issueCertificate(ca, { names: ["mx.example.net"], keyPem: DANE_MX_KEY_PEM });
  chain = [new X509Certificate(leaf.certPem), new X509Certificate(ca.certPem)];
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

function tlsa(usage: number, selector: number, matchingType: number, data: Buffer): TlsaRecord {
  return { usage, selector, matchingType, data: new Uint8Array(data) };
}

const spki = (certificate: X509Certificate) => certificate.publicKey.export({ type: "spki", format: "der" });
const sha256 = (bytes: Buffer) => createHash("sha256").update(bytes).digest();
const sha512 = (bytes: Buffer) => createHash("sha512").update(bytes).digest();

describe("tlsaMatches", () => {
  it("the zones' TLSA digests are openssl's SPKI SHA-256 of the DANE test keys", () => {
    const digest = execFileSync("sh", ["-c", "openssl pkey -pubout -outform DER | sha256sum"], { input: DANE_MX_KEY_PEM, encoding: "utf8" }).split(/\s/)[0];
    expect(digest).toBe(DANE_MX_SPKI_SHA256);
    expect(sha256(spki(chain[0]!)).toString("hex")).toBe(DANE_MX_SPKI_SHA256);
    const anchorDigest = execFileSync("sh", ["-c", "openssl pkey -pubout -outform DER | sha256sum"], { input: DANE_TA_KEY_PEM, encoding: "utf8" }).split(
      /\s/,
    )[0];
    expect(anchorDigest).toBe(DANE_TA_SPKI_SHA256);
  });

  it("DANE-EE matches with every selector and matching type, whatever the names", () => {
    const server = chain[0]!;
    for (const record of [
      tlsa(3, 1, 1, sha256(spki(server))),
      tlsa(3, 0, 1, sha256(server.raw)),
      tlsa(3, 0, 0, server.raw),
      tlsa(3, 1, 2, sha512(spki(server))),
      tlsa(3, 1, 0, spki(server)),
    ]) {
      expect(tlsaMatches([record], chain, ["unrelated.example"])).toEqual({ matched: true, usage: 3 });
    }
  });

  it("DANE-TA matches the CA the server sent, when the server certificate names the MX host", () => {
    const anchor = tlsa(2, 0, 1, sha256(chain[1]!.raw));
    expect(tlsaMatches([anchor], chain, ["mx.example.net"])).toEqual({ matched: true, usage: 2 });
    expect(tlsaMatches([anchor], chain, ["other.example.net"])).toMatchObject({ matched: false, reason: expect.stringMatching(/names none/) as unknown });
    // The anchor must be above the server certificate: a TA record of the server's own certificate is no match.
    expect(tlsaMatches([tlsa(2, 0, 1, sha256(chain[0]!.raw))], chain, ["mx.example.net"]).matched).toBe(false);
  });

  it("ignores unusable records (PKIX usages, unknown selectors or matching types)", () => {
    const digest = sha256(spki(chain[0]!));
    for (const record of [tlsa(1, 1, 1, digest), tlsa(0, 1, 1, digest), tlsa(3, 2, 1, digest), tlsa(3, 1, 3, digest)]) {
      expect(tlsaMatches([record], chain, ["mx.example.net"]).matched).toBe(false);
    }
  });

  it("a different digest does not match", () => {
    expect(tlsaMatches([tlsa(3, 1, 1, Buffer.alloc(32))], chain, ["mx.example.net"]).matched).toBe(false);
  });
});

describe("daneRequirement", () => {
  const lookup = (status: Lookup<"TLSA">["status"], authenticated: boolean, answers: TlsaRecord[] = []): Lookup<"TLSA"> => ({
    status,
    answers,
    ttl: 60,
    authenticated,
    detail: "",
  });
  const record = tlsa(3, 1, 1, Buffer.alloc(32));

  it("authenticated usable records: DANE", () => expect(daneRequirement(lookup("ok", true, [record])).kind).toBe("dane"));
  it("records without AD: no DANE (RFC 7672 §2.1.1)", () => expect(daneRequirement(lookup("ok", false, [record])).kind).toBe("none"));
  it("only unusable records: TLS without authentication (§2.2)", () =>
    expect(daneRequirement(lookup("ok", true, [tlsa(1, 1, 1, Buffer.alloc(32))])).kind).toBe("encrypt-only"));
  it("bogus or failed lookups defer", () => {
    expect(daneRequirement(lookup("servfail", false)).kind).toBe("defer");
    expect(daneRequirement(lookup("timeout", false)).kind).toBe("defer");
  });
  it("no records: no DANE", () => expect(daneRequirement(lookup("nodata", true)).kind).toBe("none"));
});
