// Before the tests: the Debian packages whose real programs the tests drive. As root with apt it
// installs the missing ones; otherwise it names them in one line and fails.
import { installMissingPackages, type PackageNeeds } from "./debian-packages.ts";

const NEEDED: PackageNeeds = {
  chromium: "chromium",
  kzonecheck: "knot-dnssecutils",
  knotd: "knot", // the DNS test harness: authoritative for the signed test zones
  keymgr: "knot", // … and the DS records of their keys, unbound's trust anchors
  unbound: "unbound", // … the validating resolver behind the DoH bridge
  clamd: "clamav-daemon", // virus scanning (test/harness/services.ts)
  "/usr/share/clamav-testfiles/clam.exe": "clamav-testfiles", // … the files its test signatures find
  "redis-server": "redis-server", // the relays' shared state (relay.store), rspamd's statistics
  rspamd: "rspamd", // spam scoring
  swaks: "swaks", // an SMTP client the MX tests drive
  "7z": "p7zip-full", // makes the 7z and xz archives the archive tests open
  "/usr/share/perl5/IO/Socket/SSL.pm": "libio-socket-ssl-perl", // … its STARTTLS (only recommended by swaks; pulls Net::SSLeay)
  openssl: "openssl", // test certificates and the test CA
  "systemd-analyze": "systemd", // verifies the relay's unit in deploy/ (offline: no running systemd needed)
  pebble: "pebble", // the ACME (RFC 8555) test server the relay gets certificates from
  "/usr/bin/python3": "python3", // the independent DKIM/ARC verifier runs on Debian's Python …
  "/usr/lib/python3/dist-packages/dkim/__init__.py": "python3-dkim", // … python3-dkim (dkimverify, arcverify)
  "/usr/lib/python3/dist-packages/nacl/__init__.py": "python3-nacl", // … and its ed25519 support
  promtool: "prometheus", // checks the metrics' format and the alert rules (deploy/prometheus/)
  "/usr/sbin/postfix": "postfix", // a real MTA as the outbound TLS peer and as a client of our MX (test/harness/postfix.ts)
  "/usr/share/perl5/Mail/SRS.pm": "libmail-srs-perl", // Mail::SRS, the reference SRS implementation our SRS addresses are checked against
  xmllint: "libxml2-utils", // the schema check of the DMARC aggregate reports we send (test/fixtures/xml-schema.ts)
  opendkim: "opendkim", // Postfix's DKIM signer, the peer of edgemx's signing in `npm run bench -- outbound`
};

/** debconf answers given before installing: Postfix unconfigured, so the system's own instance never starts (the tests run private ones). */
const PRESEED: Record<string, string> = {
  postfix: "postfix postfix/main_mailer_type select No configuration",
};

const missing = installMissingPackages(NEEDED, "the programs the tests drive", PRESEED);
if (missing.length > 0) {
  console.error(`edgemx tests need Debian packages: apt-get install -y ${missing.join(" ")}`);
  process.exit(1);
}
