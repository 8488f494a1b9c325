// Each rule of the schema that spans fields is refused the same way wherever a document enters: by
// parseConfig, by `npm run config:check`, and by the relay's process at start (relay-node/src/main.ts),
// which gets its refusal from the same schema before it opens anything. The Worker's start:
// test/workers/config-rules.test.ts.
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { ConfigError, parseConfig } from "../../core/config/load.ts";
import { BROKEN_RULES } from "../fixtures/config-rules.ts";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const NODE = join(ROOT, "node_modules/.bin/node");
const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), "edgemx-config-rules-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Should a rule not hold, the relay started on the document listens nowhere and keeps its state in `dir`. */
const CONTAINED = {
  relay: {
    listeners: { mx: { enabled: false }, submission: { enabled: false }, submissions: { enabled: false } },
    spool: join(dir, "spool"),
    nextHop: { type: "maildir", path: join(dir, "Maildir") },
    greylist: { store: { type: "sqlite", path: join(dir, "greylist.sqlite") } },
    users: { path: join(dir, "users.sqlite") },
    clamd: { enabled: false },
  },
};

/** The document with `extra`'s fields added, objects merged field by field. */
function merged(document: Record<string, unknown>, extra: Record<string, unknown>): Record<string, unknown> {
  const out = { ...document };
  for (const [key, value] of Object.entries(extra)) {
    const mine = out[key];
    const bothObjects = [mine, value].every((v) => typeof v === "object" && v !== null && !Array.isArray(v));
    out[key] = bothObjects ? merged(mine as Record<string, unknown>, value as Record<string, unknown>) : value;
  }
  return out;
}

function problems(document: unknown): readonly string[] {
  try {
    parseConfig(document, "the test");
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
}

/** A program's exit status and standard error. */
async function exitOf(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ status: number | null; stderr: string }> {
  try {
    const { stderr } = await run(NODE, args, { cwd: ROOT, env: { ...process.env, ...env }, timeout: 25_000 });
    return { status: 0, stderr };
  } catch (err) {
    const failed = err as { code?: unknown; stderr?: string };
    return { status: typeof failed.code === "number" ? failed.code : null, stderr: failed.stderr ?? "" };
  }
}

describe.each(BROKEN_RULES.map((broken, i) => ({ ...broken, i })))("the rule: $rule", ({ document, problem, kept, i }) => {
  it("is refused by parseConfig, naming the field and what was expected", () => {
    expect(problems(document)).toEqual([problem]);
  });

  it("holds no more than it says: the document that keeps it is accepted", () => {
    expect(problems(kept)).toEqual([]);
  });

  it("is refused the same way by npm run config:check and by the relay at start", async () => {
    const path = join(dir, `rule-${i}.yaml`);
    writeFileSync(path, JSON.stringify(merged(document, CONTAINED)));
    const refusal = `invalid configuration in ${path}:\n  - ${problem}\n`;
    const [check, relay] = await Promise.all([
      exitOf(["relay-node/src/cli/config-check.ts", path]),
      exitOf(["relay-node/src/main.ts"], { EDGEMX_CONFIG: path }),
    ]);
    expect(check.status).toBe(1);
    expect(check.stderr).toContain(refusal);
    expect(relay.status).toBe(1);
    expect(relay.stderr).toContain(`edgemx relay: ${refusal}`);
  }, 60_000);
});
