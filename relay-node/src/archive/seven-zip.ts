// The relay's archive opener for the verdict (VerdictOptions.archiveOpener): 7z, RAR and xz read by
// 7-Zip (npm 7z-wasm, 7-Zip compiled to WebAssembly), which core cannot run — it compiles WebAssembly
// at run time and runs synchronously for as long as an archive takes. So each archive is opened in a
// worker thread of its own (seven-zip-thread.ts): the SMTP sessions go on meanwhile, a thread that
// runs past the time bound is terminated, and whatever 7-Zip allocated goes with the thread. The
// WebAssembly module is compiled once, on first use, and handed to each thread.
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { Worker } from "node:worker_threads";
import type { ArchiveOpener, OpenedArchive, OpenerBounds } from "../../../core/banned/archive.ts";
import { EXTERNAL_FORMATS, type ExternalFormat } from "../../../core/banned/detected-type.ts";
import type { OpenRequest } from "./listing.ts";

/** How long one archive may take to list and extract; a bomb of small, slow-to-decode blocks ends here. */
export const OPEN_TIMEOUT_MS = 30_000;
const THREAD = new URL("./seven-zip-thread.ts", import.meta.url);

let compiled: Promise<WebAssembly.Module> | undefined;

function sevenZipModule(): Promise<WebAssembly.Module> {
  compiled ??= readFile(createRequire(import.meta.url).resolve("7z-wasm/7zz.wasm")).then((wasm) => WebAssembly.compile(wasm));
  return compiled;
}

function inThread(request: OpenRequest, timeoutMs: number): Promise<OpenedArchive> {
  return new Promise((resolve) => {
    // Only the archive's own octets go to the thread, moved rather than copied (the view may be a part of a large message).
    const bytes = new Uint8Array(request.bytes);
    const thread = new Worker(THREAD, { workerData: { ...request, bytes }, transferList: [bytes.buffer] });
    const done = (answer: OpenedArchive): void => {
      clearTimeout(timer);
      thread.removeAllListeners();
      void thread.terminate();
      resolve(answer);
    };
    const timer = setTimeout(() => done({ uninspectable: `opening it took longer than ${timeoutMs / 1000} s` }), timeoutMs);
    thread.once("message", (answer: OpenedArchive) => done(answer));
    thread.once("error", (err: Error) => done({ uninspectable: `the ${request.format} cannot be read (${err.message})` }));
    thread.once("exit", (code) => done({ uninspectable: `the ${request.format} cannot be read (7-Zip's thread ended with ${code})` }));
  });
}

/** The opener the relay's in-process verdict is given; `timeoutMs` bounds each archive. */
export function sevenZipOpener(timeoutMs = OPEN_TIMEOUT_MS): ArchiveOpener {
  return {
    formats: new Set<ExternalFormat>(EXTERNAL_FORMATS),
    async open(format: ExternalFormat, bytes: Uint8Array, bounds: OpenerBounds): Promise<OpenedArchive> {
      return inThread({ format, bytes, bounds, module: await sevenZipModule() }, timeoutMs);
    },
  };
}
