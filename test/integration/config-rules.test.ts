// The relay's process refuses a document that breaks a rule spanning fields exactly as `npm run
// config:check` does (test/unit/config-rules.test.ts): the same line, status 1, before it opens a
// spool, a database or a listener — its refusal comes from the schema, not from its components.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { BROKEN_RULES } from "../fixtures/config-rules.ts";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "edgemx-config-rules-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Should a rule not hold, the relay started on the document listens nowhere and keeps its state in `state`. */
function contained(state: string): Record<string, unknown> {
  return {
    listeners: { mx: { enabled: false }, submission: { enabled: false }, submissions: { enabled: false } },
    spool: join(state, "spool"),
    nextHop: { type: "maildir", path: join(state, "Maildir") },
    store: { type: "sqlite", path: join(state, "greylist.sqlite") },
    users: { path: join(state, "users.sqlite") },
    clamd: { enabled: false },
  };
}

describe.each(BROKEN_RULES.map((broken, i) => ({ ...broken, i })))("the rule: $rule", ({ document, problem, i }) => {
  it("stops the relay at start with config:check's line, before it opens anything", () => {
    const state = join(dir, `rule-${i}`);
    const path = join(dir, `rule-${i}.yaml`);
    const relay = { ...contained(state), ...(document.relay as Record<string, unknown> | undefined) };
    writeFileSync(path, JSON.stringify({ ...document, relay }));
    const started = spawnSync(join(ROOT, "node_modules/.bin/node"), ["relay-node/src/main.ts"], {
      cwd: ROOT,
      env: { ...process.env, EDGEMX_CONFIG: path },
      encoding: "utf8",
      timeout: 25_000,
    });
    expect(started.status).toBe(1);
    expect(started.stderr).toBe(`edgemx relay: invalid configuration in ${path}:\n  - ${problem}\n`);
    expect(existsSync(state)).toBe(false);
  }, 60_000);
});
