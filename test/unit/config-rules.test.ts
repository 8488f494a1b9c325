// Each rule of the schema that spans fields is refused the same way wherever a document enters: by
// parseConfig and by `npm run config:check`, naming the field and what was expected; a document that
// keeps the rule is accepted. The relay's start: test/integration/config-rules.test.ts; the Worker's:
// test/workers/config-rules.test.ts.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { ConfigError, parseConfig } from "../../core/config/load.ts";
import { BROKEN_RULES } from "../fixtures/config-rules.ts";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "edgemx-config-rules-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function problems(document: unknown): readonly string[] {
  try {
    parseConfig(document, "the test");
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
}

describe.each(BROKEN_RULES.map((broken, i) => ({ ...broken, i })))("the rule: $rule", ({ document, problem, kept, i }) => {
  it("is refused by parseConfig, naming the field and what was expected", () => {
    expect(problems(document)).toEqual([problem]);
  });

  it("holds no more than it says: the document that keeps it is accepted", () => {
    expect(problems(kept)).toEqual([]);
  });

  it("is refused the same way by npm run config:check", () => {
    const path = join(dir, `rule-${i}.yaml`);
    writeFileSync(path, JSON.stringify(document));
    const check = spawnSync(join(ROOT, "node_modules/.bin/node"), ["relay-node/src/cli/config-check.ts", path], {
      cwd: ROOT,
      encoding: "utf8",
      timeout: 20_000,
    });
    expect(check.status).toBe(1);
    expect(check.stderr).toBe(`invalid configuration in ${path}:\n  - ${problem}\n`);
  });
});
