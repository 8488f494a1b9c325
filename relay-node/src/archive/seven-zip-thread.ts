// One archive opened by 7-Zip (npm 7z-wasm: 7-Zip 24.09 built for WebAssembly with Emscripten), in a
// worker thread of its own (seven-zip.ts starts it). 7-Zip runs as its command-line program over an
// in-memory file system: the archive is written there, listed (`l -slt`), judged against the bounds
// by what it declares, then extracted (`x`) — with every write counted, so an archive that lies
// about its sizes is stopped at the byte bound all the same — and the files are posted back.
import { parentPort, workerData } from "node:worker_threads";
import SevenZip, { type SevenZipModule, type SevenZipModuleOptions } from "7z-wasm";
import type { OpenedArchive } from "../../../core/banned/archive.ts";
import { judgeListing, parseListing, type OpenRequest } from "./listing.ts";

const ARCHIVE = "/archive";
const OUT = "/out";

/** A write past the byte bound: thrown from the file system, it ends 7-Zip's run. */
class OverBytes extends Error {}

interface EmscriptenNode {
  stream_ops: { write: (...args: unknown[]) => number };
}

/** 7-Zip as a module; `lines` collects what it prints. The compiled module comes from the parent, never compiled here. */
async function sevenZip(module: WebAssembly.Module, lines: string[]): Promise<SevenZipModule> {
  const options: Partial<SevenZipModuleOptions> & {
    instantiateWasm: (imports: WebAssembly.Imports, done: (instance: WebAssembly.Instance) => void) => object;
  } = {
    print: (line) => lines.push(line),
    printErr: (line) => lines.push(line),
    // End of input: a password prompt gets none, and 7-Zip gives up on the archive.
    stdin: () => null as unknown as number,
    instantiateWasm(imports, done) {
      void WebAssembly.instantiate(module, imports).then(done);
      return {};
    },
  };
  return SevenZip(options);
}

/** Runs 7-Zip with these arguments; its exit code, or the reason it stopped. */
function run(program: SevenZipModule, args: string[]): number | { thrown: unknown } {
  try {
    return program.callMain(args) as unknown as number;
  } catch (err) {
    // Emscripten's exit() and C++ exceptions end callMain by throwing; either way this run is over.
    return { thrown: err };
  }
}

/** Counts every byte written to files (the shared stream operations of the in-memory file system) and stops past `limit`. */
function boundWrites(program: SevenZipModule, limit: number): void {
  const node = program.FS.lookupPath(ARCHIVE).node as unknown as EmscriptenNode;
  const write = node.stream_ops.write;
  let written = 0;
  node.stream_ops.write = (...args: unknown[]) => {
    written += Number(args[3]);
    if (written > limit) throw new OverBytes();
    return write(...args);
  };
}

/** The files under `dir`, with their paths inside the archive; symbolic links are entries without content and are skipped. */
function collect(program: SevenZipModule, dir: string, prefix: string, into: { name: string; content: Uint8Array }[]): void {
  for (const name of program.FS.readdir(dir)) {
    if (name === "." || name === "..") continue;
    const path = `${dir}/${name}`;
    const stat = program.FS.lstat(path);
    if (program.FS.isDir(stat.mode)) collect(program, path, `${prefix}${name}/`, into);
    else if (program.FS.isFile(stat.mode)) into.push({ name: `${prefix}${name}`, content: program.FS.readFile(path) });
  }
}

const reasonOf = (lines: readonly string[]): string =>
  lines
    .map((l) => l.trim())
    .filter((l) => l.startsWith("ERROR:") || /^(Can't|Cannot|Data Error|Unexpected end|Headers Error|Unsupported)/i.test(l))
    .map((l) => l.replace(/^ERROR: (\/archive : )?/, "").replace(/^\/archive$/, ""))
    .filter((l) => l !== "")
    .join("; ");

async function open(request: OpenRequest): Promise<OpenedArchive> {
  const lines: string[] = [];
  const program = await sevenZip(request.module, lines);
  program.FS.writeFile(ARCHIVE, request.bytes);
  // -slt: one "Name = value" line per property; -sccUTF-8: names in UTF-8.
  const listed = run(program, ["l", "-slt", "-sccUTF-8", "-bd", ARCHIVE]);
  if (lines.some((l) => l.includes("Enter password"))) return { uninspectable: "the archive is encrypted" };
  if (listed !== 0) return { uninspectable: `the ${request.format} cannot be read (${reasonOf(lines) || "7-Zip could not list it"})` };
  const judged = judgeListing(parseListing(lines), request);
  if (judged !== "ok") return judged;
  lines.length = 0;
  boundWrites(program, request.bounds.maxBytes);
  const extracted = run(program, ["x", "-sccUTF-8", "-bd", "-y", `-o${OUT}`, ARCHIVE]);
  if (typeof extracted === "object" && extracted.thrown instanceof OverBytes) return { over: "bytes" };
  if (lines.some((l) => l.includes("Enter password"))) return { uninspectable: "the archive is encrypted" };
  if (extracted !== 0) return { uninspectable: `the ${request.format} cannot be read (${reasonOf(lines) || "7-Zip could not extract it"})` };
  const entries: { name: string; content: Uint8Array }[] = [];
  collect(program, OUT, "", entries);
  return { entries };
}

const port = parentPort;
if (port === null) throw new Error("seven-zip-thread.ts runs as a worker thread");
const answer = await open(workerData as OpenRequest);
port.postMessage(answer, "entries" in answer ? answer.entries.map((e) => e.content.buffer as ArrayBuffer) : []);
