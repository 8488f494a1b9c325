// The relay's DKIM signer (relay-node/src/sign): which fields it signs, From oversigned (RFC 6376
// §5.4.2, §8.15), canonicalization, and that an independent verifier (mailauth's) accepts it and
// rejects the message once a second From is added. python3-dkim verifies it in test/integration/submission.
import { createPrivateKey, generateKeyPairSync } from "node:crypto";
import { dkimVerify } from "mailauth";
import { describe, expect, it } from "vitest";
import { dkimSignature, relaxedBody, relaxedHeader, signedHeaderList, splitMessage, type DkimKey } from "../../core/dkim/sign.ts";
import { checkSigningKey, dkimKeyEnvName, SigningKeyError } from "../../relay-node/src/sign/keys.ts";
import { DKIM_PRIVATE_KEY_PEM, DKIM_PUBLIC_KEY_BASE64 } from "../harness/dkim-key.ts";

const KEY: DkimKey = { domain: "example.org", selector: "edgemx", algorithm: "rsa-sha256", privateKey: createPrivateKey(DKIM_PRIVATE_KEY_PEM) };
const MESSAGE = Buffer.from(
  [
    "Received: by mx.example.org with ESMTPSA id 1; Thu, 1 Jan 2026 00:00:00 +0000",
    "From: Alice <alice@example.org>",
    "To: bob@example.net,",
    "  carol@example.net",
    "Cc: dave@example.net",
    "Subject: Quarterly   figures",
    "Date: Thu, 1 Jan 2026 00:00:00 +0000",
    "Message-ID: <1@example.org>",
    "X-Mailer: test",
    "MIME-Version: 1.0",
    "Content-Type: text/plain; charset=utf-8",
    "",
    "Hello  Bob, \t",
    "",
    "",
  ].join("\r\n"),
);

function resolverFor(record: string) {
  return (name: string, type: string): Promise<string[][]> => {
    if (type === "TXT" && name === "edgemx._domainkey.example.org") return Promise.resolve([[record]]);
    return Promise.reject(Object.assign(new Error("not found"), { code: "ENOTFOUND" }));
  };
}

async function verify(message: Buffer, record = `v=DKIM1; k=rsa; p=${DKIM_PUBLIC_KEY_BASE64}`): Promise<string | undefined> {
  const result = await dkimVerify(message, { resolver: resolverFor(record) });
  return result.results[0]?.status.result;
}

describe("signed header fields", () => {
  it("lists the present author, addressing and content fields, not trace or X- fields, and From once more", () => {
    const names = signedHeaderList(splitMessage(MESSAGE).fields);
    expect(names).toEqual(["from", "subject", "date", "to", "cc", "message-id", "mime-version", "content-type", "from"]);
    expect(names).not.toContain("received");
    expect(names).not.toContain("x-mailer");
  });

  it("signs a field as often as it occurs", () => {
    const fields = splitMessage(Buffer.from("To: a@x.test\r\nTo: b@x.test\r\nFrom: c@x.test\r\n\r\n")).fields;
    expect(signedHeaderList(fields)).toEqual(["from", "to", "to", "from"]);
  });

  it("puts the list, timestamp, selector and algorithm in the field", () => {
    const field = dkimSignature(MESSAGE, KEY, 1767225600);
    expect(field).toMatch(
      /^DKIM-Signature: v=1; a=rsa-sha256; c=relaxed\/relaxed; d=example\.org;\r\n\ts=edgemx; t=1767225600;\r\n\th=From:Subject:Date:To:Cc:Message-Id:Mime-Version:Content-Type:From;/,
    );
  });
});

describe("canonicalization (RFC 6376 §3.4.2, §3.4.4)", () => {
  it("relaxes a header field", () => {
    expect(relaxedHeader("SUBJECT :  a \t b \r\n\tc  ")).toBe("subject:a b c");
  });

  it("relaxes a body and keeps one final CRLF", () => {
    expect(relaxedBody(Buffer.from("a  b \t\r\n\r\n\r\n")).toString()).toBe("a b\r\n");
    expect(relaxedBody(Buffer.from("a")).toString()).toBe("a\r\n");
    expect(relaxedBody(Buffer.from("\r\n\r\n")).toString()).toBe("");
  });

  it("relaxes line by line where lines end in CRLF only: blank lines inside stay, a bare LF is part of its line", () => {
    expect(relaxedBody(Buffer.from(" \r\n")).toString()).toBe("");
    expect(relaxedBody(Buffer.from("a \t")).toString()).toBe("a\r\n");
    expect(relaxedBody(Buffer.from("a\r\n \r\n")).toString()).toBe("a\r\n");
    expect(relaxedBody(Buffer.from("a \nb \r\n")).toString()).toBe("a \nb\r\n");
    expect(relaxedBody(Buffer.from("a\t\tb  \r\n \r\nc")).toString()).toBe("a b\r\n\r\nc\r\n");
    expect(relaxedBody(Buffer.from("\r\n\r\nx")).toString()).toBe("\r\n\r\nx\r\n");
    expect(relaxedBody(Buffer.from(" a")).toString()).toBe(" a\r\n");
    expect(relaxedBody(Buffer.from(`${"\r\n".repeat(200_000)}x \r\n\r\n`)).toString()).toBe(`${"\r\n".repeat(200_000)}x\r\n`);
  });
});

describe("verification by mailauth", () => {
  const signed = Buffer.concat([Buffer.from(`${dkimSignature(MESSAGE, KEY, Math.floor(Date.now() / 1000))}\r\n`), MESSAGE]);

  it("passes for the message as signed, after whitespace changes in transit", async () => {
    expect(await verify(signed)).toBe("pass");
    expect(await verify(Buffer.from(signed.toString().replace("Subject: Quarterly   figures", "Subject:  Quarterly figures")))).toBe("pass");
  });

  it("fails once a second From is added, or the body changed", async () => {
    expect(await verify(Buffer.from(signed.toString().replace("X-Mailer: test", "X-Mailer: test\r\nFrom: ceo@bank.test")))).toBe("fail");
    // A body that no longer matches bh= is "neutral" in mailauth (RFC 6376 §6.1.3: the body hash failed).
    expect(await verify(Buffer.from(signed.toString().replace("Hello  Bob", "Hello Eve")))).not.toBe("pass");
  });

  it("signs with Ed25519 (RFC 8463)", async () => {
    const pair = generateKeyPairSync("ed25519");
    const raw = pair.publicKey.export({ format: "der", type: "spki" }).subarray(-32).toString("base64");
    const ed: DkimKey = { ...KEY, algorithm: "ed25519-sha256", privateKey: pair.privateKey };
    const signedEd = Buffer.concat([Buffer.from(`${dkimSignature(MESSAGE, ed, Math.floor(Date.now() / 1000))}\r\n`), MESSAGE]);
    expect(await verify(signedEd, `v=DKIM1; k=ed25519; p=${raw}`)).toBe("pass");
  });
});

describe("signing keys", () => {
  it("refuses RSA keys under 2048 bits and keys of the other algorithm", () => {
    const small = generateKeyPairSync("rsa", { modulusLength: 1024 }).privateKey;
    expect(() => checkSigningKey(small, "rsa", "example.org")).toThrow(SigningKeyError);
    expect(() => checkSigningKey(small, "rsa", "example.org")).toThrow(/1024 bits/);
    expect(() => checkSigningKey(KEY.privateKey, "ed25519", "example.org")).toThrow(/rsa/);
    expect(() => checkSigningKey(KEY.privateKey, "rsa", "example.org")).not.toThrow();
  });

  it("names the environment variable after the domain", () => {
    expect(dkimKeyEnvName("mail-1.example.org")).toBe("EDGEMX_DKIM_KEY_MAIL_1_EXAMPLE_ORG");
  });
});
