// Command-line flags shared by the benchmarks.

/**
 * The default load of the SMTP benchmarks (mx, outbound), in seconds: warm-up until V8's optimizing
 * compiler is done with a Node server's hot functions, about 40 s into the load (docs/benchmarks.md,
 * "Why 40 s of warm-up"), then the measured load. Defaults of parseArgs, so strings.
 */
export const STEADY_STATE = { warmup: "40", seconds: "20" } as const;

/** A flag's value as a whole number from `min` to `max`, or an error that names the flag and the range. */
export function wholeFlagIn(flag: string, text: string, min: number, max: number): number {
  const n = Number(text);
  const range = max === Infinity ? `>= ${min}` : `from ${min} to ${max}`;
  if (!Number.isInteger(n) || n < min || n > max) throw new Error(`--${flag} wants a whole number ${range}, not ${JSON.stringify(text)}`);
  return n;
}

/** A flag's value as a whole number ≥ 1, or an error that names the flag. */
export function wholeFlag(flag: string, text: string): number {
  return wholeFlagIn(flag, text, 1, Infinity);
}

/** An --only list: comma-separated row names, each one of `rows`; or an error that names the rows there are. */
export function onlyFlag(text: string, rows: readonly string[]): Set<string> {
  const names = text
    .split(",")
    .map((name) => name.trim())
    .filter(Boolean);
  const unknown = names.filter((name) => !rows.includes(name));
  if (names.length === 0 || unknown.length > 0) throw new Error(`--only knows ${rows.join(", ")}; not ${JSON.stringify(text)}`);
  return new Set(names);
}

/**
 * A benchmark's options from its command line, or undefined once the problem and the usage have been
 * printed (the benchmark then exits with status 2).
 */
export function optionsOrUsage<T>(parse: (args: string[]) => T, args: string[], usage: string): T | undefined {
  try {
    return parse(args);
  } catch (err) {
    console.error(`${(err as Error).message}\n\n${usage}`);
    return undefined;
  }
}
