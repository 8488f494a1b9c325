// clamd for the tests: Debian ships no signature database and freshclam needs the internet, so each
// run writes its own small one — EICAR, the executable inside clamav-testfiles, and a hex pattern of
// ours — and clamd loads it in about 0.1 s. Custom signatures are reported with ".UNOFFICIAL" appended.
import { createHash } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/** The EICAR anti-virus test file (68 bytes), which every scanner reports. */
export const EICAR = String.raw`X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*`;

/** The executable that every file of Debian's clamav-testfiles carries, packed, archived or encoded. */
export const CLAM_TESTFILES = "/usr/share/clamav-testfiles";
export const CLAM_EXE = join(CLAM_TESTFILES, "clam.exe");

/** Our own test signature: a body pattern matched anywhere in any file (an `.ndb` hex signature). */
export const TEST_PATTERN = "edgemx-clamd-test-pattern-7f3a9c";

/** The names clamd reports, UNOFFICIAL suffix included (custom databases are not signed by Cisco). */
export const SIGNATURES = {
  eicar: "Eicar-Test-Signature.UNOFFICIAL",
  clamExe: "Edgemx-Test-ClamExe.UNOFFICIAL",
  pattern: "Edgemx-Test-Pattern.UNOFFICIAL",
} as const;

/** Writes the `.hdb` (md5:size:name) and `.ndb` (name:target:offset:hex) databases into `dir`. */
export function writeSignatures(dir: string): void {
  const clamExe = readFileSync(CLAM_EXE);
  const md5 = (data: Uint8Array): string => createHash("md5").update(data).digest("hex");
  const eicar = Buffer.from(EICAR, "latin1");
  const hashes = [`${md5(eicar)}:${eicar.length}:Eicar-Test-Signature`, `${md5(clamExe)}:${clamExe.length}:Edgemx-Test-ClamExe`];
  writeFileSync(join(dir, "edgemx.hdb"), `${hashes.join("\n")}\n`);
  // Target type 0 (any file), offset * (anywhere).
  writeFileSync(join(dir, "edgemx.ndb"), `Edgemx-Test-Pattern:0:*:${Buffer.from(TEST_PATTERN).toString("hex")}\n`);
}

export interface ClamdSetup {
  dir: string;
  databaseDir: string;
  port: number;
  /** clamd's StreamMaxLength in bytes: a longer INSTREAM is refused. */
  streamMaxLength: number;
}

export function clamdConfig(setup: ClamdSetup): string {
  // Foreground, TCP on loopback only, no LocalSocket and no User (so no privilege change); bytecode
  // off, since the database has none and loading the engine for it costs start-up time.
  return `Foreground yes
TCPSocket ${setup.port}
TCPAddr 127.0.0.1
DatabaseDirectory ${setup.databaseDir}
TemporaryDirectory ${setup.dir}
PidFile ${join(setup.dir, "clamd.pid")}
LogTime yes
LogVerbose no
Bytecode no
SelfCheck 0
MaxThreads 4
ScanMail yes
ScanArchive yes
StreamMaxLength ${setup.streamMaxLength}
`;
}
