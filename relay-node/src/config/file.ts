// Reads the configuration file (YAML or JSON) from disk, validates it against the one schema and takes
// its relative paths from the file's folder (paths.ts). Which file a program reads: configFilePath.
import { existsSync, readFileSync, realpathSync } from "node:fs";
import { dirname, isAbsolute, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseDocument } from "yaml";
import { ConfigError, parseConfig } from "../../../core/config/load.ts";
import type { EdgemxConfig } from "../../../core/config/schema.ts";
import { resolveConfigPaths } from "./paths.ts";

/** Bound on the configuration file: a typo'd path to a huge file must not exhaust memory. */
const MAX_CONFIG_BYTES = 4 * 1024 * 1024;

/** The example shipped in the repository: what `npm start` runs in a fresh clone, and nothing else unasked. */
const EXAMPLE_CONFIG = fileURLToPath(new URL("../../../config/example.yaml", import.meta.url));

/** The command-line options of every program that reads the configuration (node:util parseArgs). */
export const CONFIG_OPTIONS = { config: { type: "string" }, example: { type: "boolean" } } as const;

/** What the command line says about the file: `--config <file>`, `--example`. */
export interface ConfigChoice {
  config?: string | undefined;
  example?: boolean | undefined;
}

/** No configuration file named, or the example named without --example: the message says what to do. */
export class ConfigChoiceError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigChoiceError";
  }
}

/**
 * Where the person typed the command: npm runs scripts in the package's folder and says where it was
 * called in INIT_CWD, so `npm run user -- --config ./edgemx.yaml` means the file they see.
 */
function invocationFolder(env: NodeJS.ProcessEnv): string {
  return env.INIT_CWD ?? process.cwd();
}

/** A named path as given when it reads the same from here, else made absolute from where it was typed. */
function asTyped(path: string, env: NodeJS.ProcessEnv): string {
  const folder = invocationFolder(env);
  return isAbsolute(path) || resolve(folder) === process.cwd() ? path : resolve(folder, path);
}

/** The example's path as a person would type it from here. */
function examplePath(): string {
  const shown = relative(process.cwd(), EXAMPLE_CONFIG);
  return shown.startsWith("..") ? EXAMPLE_CONFIG : shown;
}

/** Whether `path` is the example configuration shipped in the repository. */
export function isExampleConfig(path: string): boolean {
  try {
    return realpathSync(path) === realpathSync(EXAMPLE_CONFIG);
  } catch {
    return false; // a file that is not there is not the example; reading it says why
  }
}

/** The file named by --config, else $EDGEMX_CONFIG, else ./edgemx.yaml when present; null when none is. */
function namedConfigFile(choice: ConfigChoice, env: NodeJS.ProcessEnv, exists: (path: string) => boolean): string | null {
  if (choice.config !== undefined) return asTyped(choice.config, env);
  if (env.EDGEMX_CONFIG) return asTyped(env.EDGEMX_CONFIG, env);
  return exists("edgemx.yaml") ? "edgemx.yaml" : null;
}

/**
 * The configuration file of the relay, the command-line tools and the Worker's build: `--config <file>`,
 * else $EDGEMX_CONFIG, else ./edgemx.yaml. The example (config/example.yaml) only with `--example` (or
 * EDGEMX_EXAMPLE=1): its example.org is nobody's domain, so running on it by accident is refused, never
 * a silent fallback.
 */
export function configFilePath(choice: ConfigChoice, env: NodeJS.ProcessEnv = process.env, exists: (path: string) => boolean = existsSync): string {
  if (choice.example === true) {
    if (choice.config !== undefined) throw new ConfigChoiceError("--config and --example name two files: give one of them");
    return examplePath();
  }
  // --example's twin in the environment, for the Worker's build step, whose command line is wrangler.toml's.
  if (choice.config === undefined && env.EDGEMX_EXAMPLE === "1") {
    if (env.EDGEMX_CONFIG) throw new ConfigChoiceError("$EDGEMX_CONFIG and EDGEMX_EXAMPLE=1 name two files: set one of them");
    return examplePath();
  }
  const named = namedConfigFile(choice, env, exists);
  if (named === null) {
    throw new ConfigChoiceError(
      "no configuration file: no --config <file>, $EDGEMX_CONFIG is not set, and there is no ./edgemx.yaml. " +
        `Copy ${examplePath()} to edgemx.yaml and make it yours, or pass --example to run on the example as it is`,
    );
  }
  if (isExampleConfig(named)) {
    throw new ConfigChoiceError(
      `${named} is the example configuration (example.org is nobody's domain): copy it to edgemx.yaml and make it yours, or pass --example to run on it as it is`,
    );
  }
  return named;
}

/** `npm start`'s file: the one named as for the relay, else the example, so a fresh clone starts. */
export function startConfigPath(env: NodeJS.ProcessEnv = process.env, exists: (path: string) => boolean = existsSync): string {
  return namedConfigFile({}, env, exists) ?? examplePath();
}

/** Parses YAML text (JSON is YAML) into a plain document, reporting syntax errors with line numbers. */
export function parseConfigText(text: string, source: string): unknown {
  if (Buffer.byteLength(text) > MAX_CONFIG_BYTES) throw new ConfigError(source, [`(document): expected at most ${MAX_CONFIG_BYTES} bytes`]);
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      source,
      doc.errors.map((e) => `line ${e.linePos?.[0]?.line ?? "?"}: ${e.message.split("\n")[0]}`),
    );
  }
  return doc.toJS();
}

/** The validated configuration of the file at `path`, its relative paths taken from the file's folder. */
export function loadConfigFile(path: string): EdgemxConfig {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new ConfigError(path, [`(file): cannot read it (${(err as NodeJS.ErrnoException).code ?? String(err)})`]);
  }
  return resolveConfigPaths(parseConfig(parseConfigText(text, path), path), dirname(resolve(path)));
}
