// Before the tests: the Debian packages whose real programs the tests drive. As root with apt it
// installs the missing ones; otherwise it names them in one line and fails.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";

/** program on PATH (or a file, by absolute path) → the Debian package that ships it */
const NEEDED: Record<string, string> = {
  chromium: "chromium",
  kzonecheck: "knot-dnssecutils",
  knotd: "knot", // the DNS test harness: authoritative for the signed test zones
  keymgr: "knot", // … and the DS records of their keys, unbound's trust anchors
  unbound: "unbound", // … the validating resolver behind the DoH bridge
  clamd: "clamav-daemon", // virus scanning (test/harness/services.ts)
  "/usr/share/clamav-testfiles/clam.exe": "clamav-testfiles", // … the files its test signatures find
  "redis-server": "redis-server", // shared greylisting state, rspamd's statistics
  rspamd: "rspamd", // spam scoring
  swaks: "swaks", // an SMTP client the MX tests drive
  "/usr/share/perl5/IO/Socket/SSL.pm": "libio-socket-ssl-perl", // … its STARTTLS (only recommended by swaks; pulls Net::SSLeay)
  openssl: "openssl", // test certificates and the test CA
  "/usr/bin/python3": "python3", // the independent DKIM/ARC verifier runs on Debian's Python …
  "/usr/lib/python3/dist-packages/dkim/__init__.py": "python3-dkim", // … python3-dkim (dkimverify, arcverify)
  "/usr/lib/python3/dist-packages/nacl/__init__.py": "python3-nacl", // … and its ed25519 support
  promtool: "prometheus", // checks the metrics' format and the alert rules (deploy/prometheus/)
};

/** On PATH, or in the sbin folders where Debian puts daemons (not on a normal user's PATH); a path: exists. */
function present(program: string): boolean {
  if (program.startsWith("/")) return existsSync(program);
  const env = { ...process.env, PATH: `${process.env.PATH ?? ""}:/usr/sbin:/sbin` };
  return spawnSync("sh", ["-c", `command -v ${program}`], { stdio: "ignore", env }).status === 0;
}

const missing = [
  ...new Set(
    Object.entries(NEEDED)
      .filter(([program]) => !present(program))
      .map(([, pkg]) => pkg),
  ),
];
if (missing.length > 0) {
  const isRoot = process.getuid?.() === 0;
  if (!isRoot || !present("apt-get")) {
    console.error(`edgemx tests need Debian packages: apt-get install -y ${missing.join(" ")}`);
    process.exit(1);
  }
  console.log(`edgemx: installing ${missing.join(", ")} with apt-get`);
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  execFileSync("apt-get", ["update", "-q"], { stdio: "inherit", env });
  execFileSync("apt-get", ["install", "-y", "-q", "--no-install-recommends", ...missing], { stdio: "inherit", env });
}
