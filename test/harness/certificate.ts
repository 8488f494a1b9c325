// A throwaway self-signed certificate made by the real openssl, with its SPKI SHA-256 computed by openssl
// too, so tests of the TLSA digest compare against an independent implementation.
import { execFileSync } from "node:child_process";
import { join } from "node:path";

export interface TestCertificate {
  certPath: string;
  keyPath: string;
  /** `openssl x509 -pubkey | openssl pkey -pubin -outform DER | sha256sum`, in hex. */
  spkiSha256: string;
}

export function makeSelfSignedCertificate(dir: string, commonName = "mx.example.org"): TestCertificate {
  const certPath = join(dir, "cert.pem");
  const keyPath = join(dir, "key.pem");
  execFileSync(
    "openssl",
    [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:P-256",
      "-nodes",
      "-keyout",
      keyPath,
      "-out",
      certPath,
      "-days",
      "2",
      "-subj",
      `/CN=${commonName}`,
    ],
    { stdio: "pipe" },
  );
  const digestLine = execFileSync("sh", ["-c", 'openssl x509 -in "$1" -pubkey -noout | openssl pkey -pubin -outform DER | sha256sum', "sh", certPath], {
    encoding: "utf8",
  });
  return { certPath, keyPath, spkiSha256: digestLine.split(/\s/)[0]! };
}
