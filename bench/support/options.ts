// Command-line flags shared by the benchmarks.

/** A flag's value as a whole number ≥ 1, or an error that names the flag. */
export function wholeFlag(flag: string, text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${flag} wants a whole number >= 1, not ${JSON.stringify(text)}`);
  return n;
}
