// The common case of DKIM verification (core/dkim/verify.ts) on its own: which messages it answers at
// all. Its deps here pass every signature and every body hash it is asked about, so that only its own
// conditions decide; test/unit/dkim-verify.test.ts checks its answers against mailauth with real
// signatures and keys.
import { Buffer } from "node:buffer";
import { createPublicKey } from "node:crypto";
import { describe, expect, it, vi } from "vitest";
import { plainFields, plainTagList, verifyCommonSignature, type CommonVerifyDeps } from "../../core/dkim/verify.ts";
import { DKIM_PUBLIC_KEY_BASE64 } from "../harness/dkim-key.ts";

const BODY_HASH = "Ym9keQ==";
/** 2026-01-01T00:00:10Z, ten seconds after the t= of TAGS. */
const NOW = 1767225610_000;
const TAGS = `v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.org; s=sel; t=1767225600; h=From:To; bh=${BODY_HASH}; b=c2ln\r\n\tbmF0dXJl`;
const FIELDS = "From: Alice <alice@example.org>\r\nTo:  bob@example.net \r\n";

function message(tags = TAGS, fields = FIELDS, body = "body\r\n"): Buffer {
  return Buffer.from(`DKIM-Signature: ${tags}\r\n${fields}\r\n${body}`);
}

function deps(record = `v=DKIM1; k=rsa; p=${DKIM_PUBLIC_KEY_BASE64}`) {
  const txt = vi.fn((_name: string) => Promise.resolve([[record]]));
  const verify = vi.fn((..._args: Parameters<CommonVerifyDeps["verify"]>) => true);
  return {
    txt,
    bodyHash: () => BODY_HASH,
    publicKey: (der) => createPublicKey({ key: der, format: "der", type: "spki" }),
    verify,
    minBitLength: 1024,
    now: () => NOW,
  } satisfies CommonVerifyDeps;
}

describe("verifyCommonSignature", () => {
  it("answers a plain signature with what mailauth's result reports, and verifies RFC 6376 §3.7's data", async () => {
    const used = deps();
    expect(await verifyCommonSignature(message(), used)).toEqual({
      domain: "example.org",
      selector: "sel",
      algorithm: "rsa-sha256",
      signature: "c2lnbmF0dXJl",
      author: "alice@example.org",
    });
    expect(used.txt).toHaveBeenCalledWith("sel._domainkey.example.org");
    const [algorithm, data, , signature] = used.verify.mock.calls[0]!;
    expect(algorithm).toBe("rsa-sha256");
    // The h= fields relaxed (§3.4.2), then the signature field with b= emptied and no final CRLF.
    expect(data.toString()).toBe(
      "from:Alice <alice@example.org>\r\nto:bob@example.net\r\n" +
        `dkim-signature:v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.org; s=sel; t=1767225600; h=From:To; bh=${BODY_HASH}; b=`,
    );
    expect(signature.toString()).toBe("signature");
  });

  it("takes the h= fields from the bottom up and hashes simple fields as they are (§5.4.2, §3.4.1)", async () => {
    const used = deps();
    const tags = TAGS.replace("c=relaxed/relaxed", "c=simple/simple").replace("h=From:To", "h=from:received:received:received");
    await verifyCommonSignature(message(tags, `Received: one\r\n${FIELDS}Received: two\r\n`), used);
    const data = used.verify.mock.calls[0]![1].toString();
    expect(data).toBe(`From: Alice <alice@example.org>\r\nReceived: two\r\nReceived: one\r\nDKIM-Signature: ${tags.replace(/b=c2ln\r\n\tbmF0dXJl$/, "b=")}`);
  });

  it("answers i= of d= or a subdomain of it, an x= still ahead and unknown tags (ignored, §3.2)", async () => {
    const future = NOW / 1000 + 1;
    for (const [tags, identity] of [
      [TAGS.replace("s=sel;", "s=sel; i=@example.org;"), "@example.org"],
      [TAGS.replace("s=sel;", "s=sel; i=alice@mail.example.org;"), "alice@mail.example.org"],
      [TAGS.replace("s=sel;", `s=sel; x=${future};`), undefined],
      [TAGS.replace("s=sel;", "s=sel; darn=example.net; foo = bar baz;"), undefined],
    ] as const) {
      const pass = await verifyCommonSignature(message(tags), deps());
      expect([pass?.domain, pass?.identity]).toEqual(["example.org", identity]);
    }
  });

  it("leaves every other signature to mailauth", async () => {
    const variants: [string, string][] = [
      ["l=", TAGS.replace("s=sel;", "s=sel; l=4;")],
      ["z=", TAGS.replace("s=sel;", "s=sel; z=From:a;")],
      ["an i= of another domain", TAGS.replace("s=sel;", "s=sel; i=@example.net;")],
      ["an i= of a parent domain", TAGS.replace("d=example.org", "d=mail.example.org").replace("s=sel;", "s=sel; i=@example.org;")],
      ["an i= in dkim-quoted-printable", TAGS.replace("s=sel;", "s=sel; i=a=40b@example.org;")],
      ["an x= past", TAGS.replace("s=sel;", "s=sel; x=1767225609;")],
      ["an x= before t=", TAGS.replace("s=sel;", "s=sel; x=1767225599;")],
      ["an upper-case tag name", TAGS.replace("d=", "D=")],
      ["a tag twice", TAGS.replace("s=sel;", "s=sel; d=example.org;")],
      ["an empty tag", TAGS.replace("s=sel;", "s=sel; ;")],
      ["rsa-sha1", TAGS.replace("rsa-sha256", "rsa-sha1")],
      ["a canonicalization in capitals", TAGS.replace("c=relaxed/relaxed", "c=Relaxed/relaxed")],
      ["an unknown canonicalization", TAGS.replace("c=relaxed/relaxed", "c=relaxed/relaxed/x")],
      ["a d= in capitals", TAGS.replace("d=example.org", "d=Example.org")],
      ["a d= of one label", TAGS.replace("d=example.org", "d=org")],
      ["another query method", TAGS.replace("s=sel;", "s=sel; q=dns/other;")],
      ["a t= that is no number", TAGS.replace("t=1767225600", "t=17672256x")],
      ["an h= without From", TAGS.replace("h=From:To", "h=To")],
      ["v=2", TAGS.replace("v=1", "v=2")],
      ["no bh=", TAGS.replace(`bh=${BODY_HASH}; `, "")],
      ["another body hash", TAGS.replace(`bh=${BODY_HASH}`, "bh=b3RoZXI=")],
      ["a b= that is no base64", TAGS.replace("b=c2ln", "b=c2l*")],
    ];
    for (const [name, tags] of variants) {
      const used = deps();
      expect([name, await verifyCommonSignature(message(tags), used)]).toEqual([name, null]);
    }
  });

  it("leaves to mailauth the messages that are not plain, and what does not verify", async () => {
    const messages: [string, Buffer, CommonVerifyDeps][] = [
      ["two signatures", message(TAGS, `DKIM-Signature: ${TAGS}\r\n${FIELDS}`), deps()],
      ["an ARC set", message(TAGS, `ARC-Seal: i=1; a=rsa-sha256; cv=none; d=example.org; s=sel; b=x\r\n${FIELDS}`), deps()],
      ["two From fields", message(TAGS, `${FIELDS}From: mallory@example.org\r\n`), deps()],
      ["no From field", message(TAGS, "To: bob@example.net\r\n"), deps()],
      ["a From with a comment", message(TAGS, FIELDS.replace("Alice <", "Alice (home) <")), deps()],
      ["a line that is no field", message(TAGS, `${FIELDS}no colon here\r\n`), deps()],
      ["a field name with a space", message(TAGS, `${FIELDS}X Y: z\r\n`), deps()],
      ["a bare LF in the header", message(TAGS, FIELDS.replace("To:", "X: y\nTo:")), deps()],
      ["no body separator", Buffer.from(`DKIM-Signature: ${TAGS}\r\n${FIELDS}`), deps()],
      ["a key record for tests (t=y)", message(), deps(`v=DKIM1; k=rsa; t=y; p=${DKIM_PUBLIC_KEY_BASE64}`)],
      [
        "a key record with t=s and an i= in a subdomain",
        message(TAGS.replace("s=sel;", "s=sel; i=@mail.example.org;")),
        deps(`v=DKIM1; k=rsa; t=s; p=${DKIM_PUBLIC_KEY_BASE64}`),
      ],
      ["a key record with another tag", message(), deps(`v=DKIM1; k=rsa; g=*; p=${DKIM_PUBLIC_KEY_BASE64}`)],
      ["a key of another type", message(), deps(`v=DKIM1; k=ed25519; p=${DKIM_PUBLIC_KEY_BASE64}`)],
      ["a key that does not parse", message(), deps("v=DKIM1; k=rsa; p=AAAA")],
      ["a signature that does not verify", message(), { ...deps(), verify: () => false }],
      [
        "a failed key lookup",
        message(),
        {
          ...deps(),
          txt: () => Promise.reject(Object.assign(new Error("timeout"), { code: "ETIMEOUT" })),
        },
      ],
    ];
    for (const [name, input, used] of messages) {
      expect([name, await verifyCommonSignature(input, used)]).toEqual([name, null]);
    }
  });
});

describe("long runs of whitespace, which a backtracking expression would take quadratic time over", () => {
  it("reads a tag list with 200,000 spaces inside a value, and a From of one long name", async () => {
    const tags = `${TAGS.replace("s=sel;", `s=sel; zz=a${" ".repeat(200_000)}b;`)}`;
    expect(await verifyCommonSignature(message(tags), deps())).toMatchObject({ domain: "example.org" });
    const from = `From: ${"a ".repeat(480)}<alice@example.org>\r\nTo: bob@example.net\r\n`;
    expect(await verifyCommonSignature(message(TAGS, from), deps())).toMatchObject({ author: "alice@example.org" });
    const unterminated = `From: ${" ".repeat(990)}x\r\nTo: bob@example.net\r\n`;
    expect(await verifyCommonSignature(message(TAGS, unterminated), deps())).toBeNull();
    const tooLong = `From: ${"a ".repeat(500)}<alice@example.org>\r\nTo: bob@example.net\r\n`;
    expect(await verifyCommonSignature(message(TAGS, tooLong), deps())).toBeNull();
  });
});

describe("plain header fields and tag lists", () => {
  it("reads folded fields, and nothing that parsers read differently", () => {
    expect(plainFields("A: b\r\n c\r\nD:e")).toEqual([
      { name: "a", raw: "A: b\r\n c" },
      { name: "d", raw: "D:e" },
    ]);
    for (const head of [" A: b", "A b", ": b", "A: b\rc", "A: b\nC: d", "A: b\0"]) expect([head, plainFields(head)]).toEqual([head, null]);
  });

  it("reads tag lists of lower-case names, each once (RFC 6376 §3.2)", () => {
    expect(plainTagList(" a = 1 ;\r\n\tb=x y;")).toEqual(
      new Map([
        ["a", "1"],
        ["b", "x y"],
      ]),
    );
    for (const text of ["a=1;;b=2", "A=1", "a=1; a=2", "a", "=1", "1a=2"]) expect([text, plainTagList(text)]).toEqual([text, null]);
  });
});
