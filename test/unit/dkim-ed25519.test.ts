// The optional second DKIM signature (domains[].dkim.ed25519, RFC 8463): signOutbound adds it beside the
// RSA one, and two independent verifiers pass both — mailauth and Debian's python3-dkim (with PyNaCl).
import { spawnSync } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { dkimVerify } from "mailauth";
import { afterAll, describe, expect, it } from "vitest";
import { parseConfig } from "../../core/config/load.ts";
import { dkimEd25519KeyEnvName, loadDkimKeys, SigningKeyError } from "../../relay-node/src/sign/keys.ts";
import { signOutbound } from "../../relay-node/src/sign/outbound.ts";
import { DKIM_PRIVATE_KEY_PEM, DKIM_PUBLIC_KEY_BASE64 } from "../harness/dkim-key.ts";

const dir = mkdtempSync(join(tmpdir(), "edgemx-ed25519-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const pair = generateKeyPairSync("ed25519");
const ED_PUBLIC = pair.publicKey.export({ format: "der", type: "spki" }).subarray(-32).toString("base64");
const ED_PEM = pair.privateKey.export({ format: "pem", type: "pkcs8" }).toString();
const RECORDS: Record<string, string> = {
  "rsa1._domainkey.example.org": `v=DKIM1; k=rsa; p=${DKIM_PUBLIC_KEY_BASE64}`,
  "ed1._domainkey.example.org": `v=DKIM1; k=ed25519; p=${ED_PUBLIC}`,
};
const MESSAGE = Buffer.from(
  [
    "From: Alice <alice@example.org>",
    "To: bob@example.net",
    "Subject: two signatures",
    "Date: Thu, 1 Jan 2026 00:00:00 +0000",
    "Message-ID: <2@example.org>",
    "",
    "Hello Bob.",
    "",
  ].join("\r\n"),
);

function configWithKeys(ed25519: Record<string, unknown> | undefined) {
  const rsaFile = join(dir, "rsa.pem");
  writeFileSync(rsaFile, DKIM_PRIVATE_KEY_PEM);
  return parseConfig({
    hostname: "mx.example.org",
    domains: [
      {
        name: "example.org",
        mx: ["mx.example.org"],
        catchAll: true,
        dkim: { selector: "rsa1", publicKey: DKIM_PUBLIC_KEY_BASE64, privateKeyFile: rsaFile, ...(ed25519 ? { ed25519 } : {}) },
      },
    ],
  });
}

async function signedMessage(): Promise<Buffer> {
  const identity = loadDkimKeys(configWithKeys({ selector: "ed1", publicKey: ED_PUBLIC }), { [dkimEd25519KeyEnvName("example.org")]: ED_PEM }).get(
    "example.org",
  )!;
  expect(identity.ed25519?.algorithm).toBe("ed25519-sha256");
  return signOutbound(MESSAGE, identity, "mx.example.org; auth=pass smtp.auth=alice@example.org", new Date());
}

describe("the second, Ed25519 signature", () => {
  it("is made beside the RSA one and both pass mailauth's verifier", async () => {
    const signed = await signedMessage();
    expect(signed.toString().match(/^DKIM-Signature:/gm)).toHaveLength(2);
    expect(signed.toString()).toMatch(/^DKIM-Signature: v=1; a=ed25519-sha256; c=relaxed\/relaxed; d=example\.org;\r\n\ts=ed1;/m);
    const result = await dkimVerify(signed, {
      resolver: (name: string, type: string) => {
        if (type === "TXT" && RECORDS[name]) return Promise.resolve([[RECORDS[name]]]);
        return Promise.reject(Object.assign(new Error("not found"), { code: "ENOTFOUND" }));
      },
    });
    const statuses = result.results.map((r) => [r.selector, r.status.result]);
    expect(statuses).toEqual(
      expect.arrayContaining([
        ["rsa1", "pass"],
        ["ed1", "pass"],
      ]),
    );
    expect(result.results).toHaveLength(2);
  });

  it("passes python3-dkim, each signature and the ARC set", async () => {
    const signed = await signedMessage();
    const script = [
      "import sys, dkim",
      "records = {k.encode(): v.encode() for k, v in (a.split('=', 1) for a in sys.argv[1:])}",
      "dnsfunc = lambda name, timeout=5: records.get(name.rstrip(b'.'))",
      "message = sys.stdin.buffer.read()",
      "d = dkim.DKIM(message)",
      "n = len([l for l in message.split(b'\\r\\n') if l.lower().startswith(b'dkim-signature:')])",
      "print(' '.join('dkim=' + ('pass' if d.verify(idx=i, dnsfunc=dnsfunc) else 'fail') for i in range(n)))",
      "cv, _r, _reason = dkim.arc_verify(message, dnsfunc=dnsfunc)",
      "print('arc=' + cv.decode())",
    ].join("\n");
    const run = spawnSync("/usr/bin/python3", ["-c", script, ...Object.entries(RECORDS).map(([k, v]) => `${k}=${v}`)], { input: signed, encoding: "utf8" });
    expect(run.stdout.trim(), run.stderr).toBe("dkim=pass dkim=pass\narc=pass");
  });

  it("is left out when its key is absent, and refuses a key that is not Ed25519", () => {
    const withoutKey = loadDkimKeys(configWithKeys({ selector: "ed1", publicKey: ED_PUBLIC }), {}).get("example.org")!;
    expect(withoutKey.ed25519).toBeUndefined();
    expect(() =>
      loadDkimKeys(configWithKeys({ selector: "ed1", publicKey: ED_PUBLIC }), { [dkimEd25519KeyEnvName("example.org")]: DKIM_PRIVATE_KEY_PEM }),
    ).toThrow(SigningKeyError);
  });

  it("needs the 32-byte raw public key in the configuration", () => {
    expect(() => configWithKeys({ selector: "ed1", publicKey: DKIM_PUBLIC_KEY_BASE64 })).toThrow(/32-byte Ed25519/);
  });
});
