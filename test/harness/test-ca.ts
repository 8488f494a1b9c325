// A throwaway certificate authority for outbound TLS tests, made by the real openssl in a test's temp
// folder: server certificates for given names and keys, current or long expired. Test-only: the CA
// exists for one test run and nothing else trusts it.
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { isIP } from "node:net";
import { join } from "node:path";

export interface TestCa {
  dir: string;
  certPath: string;
  keyPath: string;
  /** The CA certificate, to pass as `ca` to whatever must trust it. */
  certPem: string;
}

export interface IssuedCertificate {
  keyPem: string;
  certPem: string;
  /** The server certificate followed by the CA's, as a server sends it (RFC 8446 §4.4.2). */
  chainPem: string;
}

function openssl(args: readonly string[]): void {
  execFileSync("openssl", args, { stdio: "pipe" });
}

/** openssl's GeneralizedTime for -startdate/-enddate. */
function opensslTime(date: Date): string {
  return `${date.toISOString().replace(/[-:T]/g, "").slice(0, 14)}Z`;
}

/** A CA with a new P-256 key, or with `keyPem` (a DANE-TA anchor whose digest the zones publish). */
export function makeTestCa(dir: string, options: { keyPem?: string } = {}): TestCa {
  mkdirSync(join(dir, "issued"), { recursive: true });
  const certPath = join(dir, "ca.pem");
  const keyPath = join(dir, "ca.key");
  if (options.keyPem !== undefined) writeFileSync(keyPath, options.keyPem, { mode: 0o600 });
  const key = options.keyPem === undefined ? ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", keyPath] : ["-key", keyPath];
  openssl([
    "req",
    "-x509",
    ...key,
    "-out",
    certPath,
    "-days",
    "30",
    "-subj",
    "/CN=edgemx test CA (test only)",
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign",
  ]);
  writeFileSync(join(dir, "index.txt"), "");
  writeFileSync(join(dir, "serial"), "01\n");
  writeFileSync(
    join(dir, "ca.cnf"),
    [
      "[ca]",
      "default_ca = test_ca",
      "[test_ca]",
      `database = ${join(dir, "index.txt")}`,
      `new_certs_dir = ${join(dir, "issued")}`,
      `serial = ${join(dir, "serial")}`,
      "default_md = sha256",
      "policy = anything",
      "unique_subject = no",
      "[anything]",
      "commonName = supplied",
    ].join("\n"),
  );
  return { dir, certPath, keyPath, certPem: readFileSync(certPath, "utf8") };
}

let issued = 0;

/**
 * A server certificate from `ca` for `names` (subjectAltName dNSNames; iPAddresses for addresses), for `keyPem` or a new P-256 key;
 * `expired` makes it valid only for a day in 2020; `usage: "client"` makes a TLS client certificate (mutual TLS) instead of a server's.
 */
export function issueCertificate(
  ca: TestCa,
  options: { names: readonly string[]; keyPem?: string; expired?: boolean; usage?: "server" | "client" },
): IssuedCertificate {
  issued += 1;
  const base = join(ca.dir, `leaf-${issued}`);
  if (options.keyPem === undefined) openssl(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", `${base}.key`]);
  else writeFileSync(`${base}.key`, options.keyPem);
  openssl(["req", "-new", "-key", `${base}.key`, "-subj", `/CN=${options.names[0]}`, "-out", `${base}.csr`]);
  writeFileSync(
    `${base}.ext`,
    `[leaf]\nbasicConstraints = CA:FALSE\nextendedKeyUsage = ${options.usage === "client" ? "clientAuth" : "serverAuth"}\nsubjectAltName = ${options.names.map((name) => (isIP(name) ? `IP:${name}` : `DNS:${name}`)).join(",")}\n`,
  );
  const now = Date.now();
  const [start, end] = options.expired
    ? [new Date("2020-01-01T00:00:00Z"), new Date("2020-01-02T00:00:00Z")]
    : [new Date(now - 86_400_000), new Date(now + 2 * 86_400_000)];
  openssl([
    "ca",
    "-batch",
    "-config",
    join(ca.dir, "ca.cnf"),
    "-cert",
    ca.certPath,
    "-keyfile",
    ca.keyPath,
    "-in",
    `${base}.csr`,
    "-out",
    `${base}.pem`,
    "-notext",
    "-startdate",
    opensslTime(start),
    "-enddate",
    opensslTime(end),
    "-extfile",
    `${base}.ext`,
    "-extensions",
    "leaf",
  ]);
  const certPem = readFileSync(`${base}.pem`, "utf8");
  return { keyPem: readFileSync(`${base}.key`, "utf8"), certPem, chainPem: certPem + ca.certPem };
}
