// The Debian packages whose programs edgemx's tests and quickstart drive: which are missing, and
// installing them with apt-get when run as root (otherwise the caller names them in one line).
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";

/** program on PATH (or a file, by absolute path) → the Debian package that ships it */
export type PackageNeeds = Readonly<Record<string, string>>;

/** On PATH, or in the sbin folders where Debian puts daemons (not on a normal user's PATH); a path: exists. */
function present(program: string): boolean {
  if (program.startsWith("/")) return existsSync(program);
  const env = { ...process.env, PATH: `${process.env.PATH ?? ""}:/usr/sbin:/sbin` };
  return spawnSync("sh", ["-c", `command -v ${program}`], { stdio: "ignore", env }).status === 0;
}

/** The packages of `needs` whose program or file is missing, each once. */
export function missingPackages(needs: PackageNeeds): string[] {
  return [
    ...new Set(
      Object.entries(needs)
        .filter(([program]) => !present(program))
        .map(([, pkg]) => pkg),
    ),
  ];
}

/**
 * Installs the missing packages of `needs` with apt-get when this process is root and apt-get exists;
 * returns the packages still missing (all of them when it could not install), for the caller to name.
 * `preseed`: package → debconf answers (debconf-set-selections lines) given before installing it.
 */
export function installMissingPackages(needs: PackageNeeds, purpose: string, preseed: Readonly<Record<string, string>> = {}): string[] {
  const missing = missingPackages(needs);
  if (missing.length === 0 || process.getuid?.() !== 0 || !present("apt-get")) return missing;
  console.log(`edgemx: installing ${missing.join(", ")} with apt-get (${purpose})`);
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  const answers = missing.flatMap((pkg) => (preseed[pkg] === undefined ? [] : [preseed[pkg]]));
  if (answers.length > 0) execFileSync("debconf-set-selections", { input: `${answers.join("\n")}\n`, stdio: ["pipe", "inherit", "inherit"] });
  execFileSync("apt-get", ["update", "-q"], { stdio: "inherit", env });
  execFileSync("apt-get", ["install", "-y", "-q", "--no-install-recommends", ...missing], { stdio: "inherit", env });
  return missingPackages(needs);
}
