// Validation of a configuration document: either the typed config or every bad field with its path.
import type { z } from "zod";
import { configSchema, MOVED_FIELDS, type EdgemxConfig } from "./schema.ts";
import { workerConfigSchema, type WorkerConfig } from "./worker.ts";

export class ConfigError extends Error {
  readonly problems: readonly string[];
  constructor(source: string, problems: readonly string[]) {
    super(`invalid configuration in ${source}:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    this.name = "ConfigError";
    this.problems = problems;
  }
}

/** `domains[0].mtaSts.mode` — the path of a field as a person would write it. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const key of path) {
    if (typeof key === "number") out += `[${key}]`;
    else out += out === "" ? String(key) : `.${String(key)}`;
  }
  return out === "" ? "(document)" : out;
}

function describe(issue: z.core.$ZodIssue): string {
  const where = formatPath(issue.path);
  switch (issue.code) {
    case "invalid_type":
      return `${where}: expected ${issue.expected}${/received undefined/.test(issue.message) ? " (missing)" : ""}`;
    case "unrecognized_keys":
      return `${where}: unknown field${issue.keys.length > 1 ? "s" : ""} ${issue.keys.map((k) => JSON.stringify(k)).join(", ")}`;
    case "invalid_value":
      return `${where}: expected one of ${issue.values.map((v) => JSON.stringify(v)).join(", ")}`;
    case "too_small":
      return `${where}: expected ${issue.origin === "array" ? "at least " + String(issue.minimum) + " item(s)" : issue.origin === "string" ? "a non-empty string" : "a value >= " + String(issue.minimum)}`;
    case "too_big":
      return `${where}: expected ${issue.origin === "array" ? "at most " + String(issue.maximum) + " item(s)" : issue.origin === "string" ? "at most " + String(issue.maximum) + " characters" : "a value <= " + String(issue.maximum)}`;
    default:
      return `${where}: ${issue.message}`;
  }
}

/** An unknown field that an earlier layout had is told where it went, one line per field (MOVED_FIELDS). */
function describeMoved(issue: z.core.$ZodIssue): string[] {
  if (issue.code !== "unrecognized_keys") return [describe(issue)];
  const movedTo = (key: string): string | undefined => MOVED_FIELDS[formatPath([...issue.path, key])];
  const moved = issue.keys.filter((key) => movedTo(key) !== undefined);
  const unknown = issue.keys.filter((key) => movedTo(key) === undefined);
  return [
    ...moved.map((key) => `${formatPath([...issue.path, key])}: moved to ${movedTo(key)}`),
    ...(unknown.length > 0 ? [describe({ ...issue, keys: unknown })] : []),
  ];
}

/** Validates a parsed document (from YAML or JSON) and applies the defaults. */
export function parseConfig(document: unknown, source = "configuration"): EdgemxConfig {
  const result = configSchema.safeParse(document);
  if (!result.success) throw new ConfigError(source, result.error.issues.flatMap(describeMoved));
  return result.data;
}

/** Validates the Worker's part (worker.ts): any other field of the file is refused as unknown. */
export function parseWorkerConfig(document: unknown, source = "configuration"): WorkerConfig {
  const result = workerConfigSchema.safeParse(document);
  if (!result.success) throw new ConfigError(source, result.error.issues.map(describe));
  return result.data;
}
