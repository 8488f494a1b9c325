// Where a benchmark keeps the servers' queues and mailboxes. By default a fresh ext4 file system with a
// journal, on a loop device over a sparse image, made for the run and unmounted after it — the kind
// of file system a mail spool lives on. The alternative, the machine's temp folder, depends on what
// that file system is and on what happened on it minutes before: on an ext4 without a journal (this
// project's CI machine), creating an inode first walks past every inode deleted in the last one to
// six minutes (the kernel's recently_deleted(), which only runs without a journal), so any server
// that creates files — Postfix, Haraka's durable queue, edgemx — paid up to ~0.6 ms more per file
// after an earlier run had deleted its thousands of files (docs/benchmarks.md, mx, round 3).
import { execFileSync } from "node:child_process";
import { closeSync, ftruncateSync, mkdtempSync, openSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { findProgram } from "../../test/harness/process.ts";

export type ScratchChoice = "ext4-journal" | "tmp";

const SCRATCH_CHOICES: readonly ScratchChoice[] = ["ext4-journal", "tmp"];

/** The value of a benchmark's --fs flag, or an error that names the choices. */
export function scratchChoice(text: string): ScratchChoice {
  const choice = SCRATCH_CHOICES.find((name) => name === text);
  if (choice === undefined) throw new Error(`--fs knows ${SCRATCH_CHOICES.join(", ")}; not ${JSON.stringify(text)}`);
  return choice;
}

export interface ScratchDir {
  dir: string;
  /** What the folder is, for the notes under the table. */
  fileSystem: string;
  /** Unmounts and deletes it (or, with keep, leaves it and says where it is). */
  remove(keep: boolean): void;
}

/** The image's size: sparse, so only what the servers write takes disk space. */
const IMAGE_BYTES = 8 * 1024 ** 3;

/** Why a journaled scratch file system cannot be made here, or undefined when it can. */
function journalUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return "mounting a loop device needs root";
  const missing = ["mkfs.ext4", "mount", "umount"].filter((program) => findProgram(program) === undefined);
  return missing.length > 0 ? `${missing.join(", ")} not installed` : undefined;
}

function tempScratch(prefix: string, why: string): ScratchDir {
  const dir = mkdtempSync(`${tmpdir()}/${prefix}`);
  const fileSystem = `the temp folder ${tmpdir()}${why ? ` (${why})` : ""}`;
  return {
    dir,
    fileSystem,
    remove(keep) {
      if (keep) console.error(`kept ${dir}`);
      else rmSync(dir, { recursive: true, force: true });
    },
  };
}

function journaledScratch(prefix: string, imageBytes = IMAGE_BYTES, mkfsOptions: readonly string[] = []): ScratchDir {
  const dir = mkdtempSync(`${tmpdir()}/${prefix}`);
  const image = `${dir}.img`;
  const fd = openSync(image, "wx", 0o600);
  try {
    ftruncateSync(fd, imageBytes);
  } finally {
    closeSync(fd);
  }
  try {
    execFileSync(findProgram("mkfs.ext4")!, ["-q", "-F", "-L", "edgemx-bench", ...mkfsOptions, image], { stdio: "pipe" });
    execFileSync(findProgram("mount")!, ["-o", "loop", image, dir], { stdio: "pipe" });
  } catch (err) {
    rmSync(image, { force: true });
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    dir,
    fileSystem: "a fresh ext4 file system with a journal (mkfs.ext4 defaults), on a loop device over a sparse image in the temp folder",
    remove(keep) {
      if (keep) {
        console.error(`kept ${dir} (still mounted from ${image}; umount it, then delete both)`);
        return;
      }
      try {
        execFileSync(findProgram("umount")!, [dir], { stdio: "pipe" });
      } catch {
        // a process still has a file open there: detach it now, the kernel finishes when it closes
        execFileSync(findProgram("umount")!, ["-l", dir], { stdio: "pipe" });
      }
      rmSync(image, { force: true });
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * A small ext4 file system of its own, `bytes` large, with no blocks reserved for root (-m 0): one that
 * a test can fill to the last block (the fault suite's disk full, test/faults/). Needs root; throws
 * with the reason where it cannot be made, since no other folder can stand in for it.
 */
export function smallFileSystem(prefix: string, bytes: number): ScratchDir {
  const unavailable = journalUnavailable();
  if (unavailable !== undefined) throw new Error(`no small file system of our own: ${unavailable}`);
  return journaledScratch(prefix, bytes, ["-m", "0"]);
}

/** A scratch folder on the file system asked for, or on the temp folder with the reason when that cannot be had. */
export function scratchDir(prefix: string, choice: ScratchChoice): ScratchDir {
  if (choice === "tmp") return tempScratch(prefix, "");
  const unavailable = journalUnavailable();
  if (unavailable !== undefined) return tempScratch(prefix, `no journaled scratch file system: ${unavailable}`);
  try {
    return journaledScratch(prefix);
  } catch (err) {
    return tempScratch(prefix, `no journaled scratch file system: ${(err as Error).message.split("\n")[0]}`);
  }
}
