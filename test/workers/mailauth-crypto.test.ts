// Why core/mailauth/digest-names.ts patches node:crypto, checked where it matters: inside workerd.
// mailauth hands node:crypto the DKIM algorithm name ("rsa-sha256", RFC 6376 §3.3) as the digest; if
// workerd ever takes it, the first test fails and the patch can go. If the patch stops reaching the
// node:crypto object mailauth calls, RSA signatures come out "neutral (Unknown digest)" and the others
// fail.
import crypto from "node:crypto";
import { describe, expect, it } from "vitest";
import { dkimSign, dkimVerify, dkimVerifyCommonFirst } from "../../core/mailauth/internals.ts";
import { answeredBy } from "../fixtures/dkim-judged.ts";
import { messageBytes, RFC8463_SIGNED, rfc8463Resolver } from "../fixtures/rfc8463.ts";
import { DKIM_PRIVATE_KEY_PEM, DKIM_PUBLIC_KEY_BASE64, DKIM_SELECTOR } from "../harness/dkim-key.ts";

const statuses = (rows: { selector?: string; status: { result: string; comment?: string } }[]) =>
  rows.map((row) => `${row.selector}=${row.status.result}${row.status.comment ? ` (${row.status.comment})` : ""}`);

describe("node:crypto and mailauth's digest names inside workerd", () => {
  it("workerd still refuses the DKIM names as digests: the reason for the patch holds", () => {
    expect(() => crypto.createHash("rsa-sha256")).toThrow();
    expect(() => crypto.createVerify("rsa-sha256")).toThrow();
    expect(() => crypto.createHash("RSA-SHA256")).not.toThrow();
  });

  it("verifies RFC 8463's RSA and Ed25519 signatures through the adapter", async () => {
    const result = await dkimVerify(messageBytes(RFC8463_SIGNED), { resolver: rfc8463Resolver, strict: true, minBitLength: 1024 });
    expect(statuses(result.results)).toEqual(["brisbane=pass", "test=pass"]);
  });

  it("signs with mailauth's signer (rsa-sha256) and verifies the signature", async () => {
    const text = ["From: <alice@example.org>", "To: <bob@example.net>", "Subject: workerd", "", "Hello", ""].join("\r\n");
    const key = { signingDomain: "example.org", selector: DKIM_SELECTOR, privateKey: DKIM_PRIVATE_KEY_PEM };
    const signed = await dkimSign(text, { ...key, signatureData: [key] });
    expect(signed.errors).toEqual([]);
    const resolver = (name: string): Promise<string[][]> =>
      name === `${DKIM_SELECTOR}._domainkey.example.org`
        ? Promise.resolve([[`v=DKIM1; k=rsa; p=${DKIM_PUBLIC_KEY_BASE64}`]])
        : Promise.reject(Object.assign(new Error(name), { code: "ENOTFOUND" }));
    const result = await dkimVerify(messageBytes(signed.signatures + text), { resolver, strict: true, minBitLength: 1024 });
    expect(statuses(result.results)).toEqual([`${DKIM_SELECTOR}=pass`]);
    // The judge's common case (core/dkim/verify.ts) verifies it with node:crypto itself: a pass of its own,
    // the same as mailauth's.
    const common = await dkimVerifyCommonFirst(messageBytes(signed.signatures + text), { resolver, strict: true, minBitLength: 1024 });
    expect([statuses(common.results), answeredBy(common)]).toEqual([[`${DKIM_SELECTOR}=pass`], "common case"]);
    expect(common.results[0]?.info).toBe(result.results[0]?.info);
  });
});
