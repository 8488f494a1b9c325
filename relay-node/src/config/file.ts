// Reads the configuration file (YAML or JSON) from disk and validates it against the one schema.
import { existsSync, readFileSync } from "node:fs";
import { parseDocument } from "yaml";
import { ConfigError, parseConfig } from "../../../core/config/load.ts";
import type { EdgemxConfig } from "../../../core/config/schema.ts";

/** Bound on the configuration file: a typo'd path to a huge file must not exhaust memory. */
const MAX_CONFIG_BYTES = 4 * 1024 * 1024;

/** The file the tools use: $EDGEMX_CONFIG, else ./edgemx.yaml when present, else the example. */
export function defaultConfigPath(env: NodeJS.ProcessEnv = process.env, exists: (p: string) => boolean = existsSync): string {
  if (env.EDGEMX_CONFIG) return env.EDGEMX_CONFIG;
  return exists("edgemx.yaml") ? "edgemx.yaml" : "config/example.yaml";
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

export function loadConfigFile(path: string): EdgemxConfig {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new ConfigError(path, [`(file): cannot read it (${(err as NodeJS.ErrnoException).code ?? String(err)})`]);
  }
  return parseConfig(parseConfigText(text, path), path);
}
