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

/** The value at `path` in the document, or undefined. */
function valueAt(document: unknown, path: readonly PropertyKey[]): unknown {
  let value = document;
  for (const key of path) {
    if (typeof value !== "object" || value === null) return undefined;
    value = (value as Record<PropertyKey, unknown>)[key];
  }
  return value;
}

/**
 * An unknown field that an earlier layout had is told where it went, one line per field (MOVED_FIELDS).
 * A section that is gone because all its fields moved (`relay.greylist`) is told field by field.
 */
function describeMoved(document: unknown): (issue: z.core.$ZodIssue) => string[] {
  const isGoneSection = (path: string, value: unknown): value is Record<string, unknown> =>
    typeof value === "object" &&
    value !== null &&
    !Array.isArray(value) &&
    Object.keys(value).length > 0 &&
    Object.keys(MOVED_FIELDS).some((field) => field.startsWith(`${path}.`));
  const unknownFields = (issue: z.core.$ZodIssueUnrecognizedKeys): string[] => {
    const lines: string[] = [];
    const unknown: string[] = [];
    for (const key of issue.keys) {
      const path = [...issue.path, key];
      const movedTo = MOVED_FIELDS[formatPath(path)];
      const value = valueAt(document, path);
      if (movedTo !== undefined) lines.push(`${formatPath(path)}: moved to ${movedTo}`);
      else if (isGoneSection(formatPath(path), value)) lines.push(...unknownFields({ ...issue, path, keys: Object.keys(value) }));
      else unknown.push(key);
    }
    return unknown.length > 0 ? [...lines, describe({ ...issue, keys: unknown })] : lines;
  };
  return (issue) => (issue.code === "unrecognized_keys" ? unknownFields(issue) : [describe(issue)]);
}

/** Validates a parsed document (from YAML or JSON) and applies the defaults. */
export function parseConfig(document: unknown, source = "configuration"): EdgemxConfig {
  const result = configSchema.safeParse(document);
  if (!result.success) throw new ConfigError(source, result.error.issues.flatMap(describeMoved(document)));
  return result.data;
}

/** Validates the Worker's part (worker.ts): any other field of the file is refused as unknown. */
export function parseWorkerConfig(document: unknown, source = "configuration"): WorkerConfig {
  const result = workerConfigSchema.safeParse(document);
  if (!result.success) throw new ConfigError(source, result.error.issues.map(describe));
  return result.data;
}
