// The alert rules shipped in deploy/prometheus/: Debian's promtool checks them and runs their unit
// tests (edgemx.rules.test.yml: each alert fires after its `for:` on the series it is for, and not on
// the ones beside it), and every edgemx_ metric they name is one the relay exposes, so renaming a
// metric without its rules fails here.
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { RelayMetrics } from "../../relay-node/src/metrics/metrics.ts";

const RULES_DIR = fileURLToPath(new URL("../../deploy/prometheus/", import.meta.url));

function promtool(args: string[]): { status: number | null; output: string } {
  const run = spawnSync("promtool", args, { cwd: RULES_DIR, encoding: "utf8", timeout: 60_000 });
  return { status: run.status, output: `${run.stdout}${run.stderr}` };
}

interface RuleFile {
  groups: { name: string; rules: { alert: string; expr: string }[] }[];
}

describe("deploy/prometheus/edgemx.rules.yml", () => {
  it("passes promtool check rules", () => {
    const check = promtool(["check", "rules", "edgemx.rules.yml"]);
    expect(check.output).toContain("SUCCESS: 5 rules found");
    expect(check.status).toBe(0);
  });

  it("passes its unit tests (promtool test rules)", () => {
    const test = promtool(["test", "rules", "edgemx.rules.test.yml"]);
    expect(test.output).toContain("SUCCESS");
    expect(test.status).toBe(0);
  });

  it("names only metrics the relay exposes, and tests every alert it has", () => {
    const rules = parse(readFileSync(`${RULES_DIR}/edgemx.rules.yml`, "utf8")) as RuleFile;
    const exposed = new Set(new RelayMetrics().registry.getMetricsAsArray().map((metric) => metric.name));
    const named = new Set(rules.groups.flatMap((group) => group.rules.flatMap((rule) => rule.expr.match(/\bedgemx_[a-z_]+/g) ?? [])));
    expect(named.size).toBeGreaterThan(0);
    for (const name of named) expect(exposed, name).toContain(name);

    const tests = parse(readFileSync(`${RULES_DIR}/edgemx.rules.test.yml`, "utf8")) as { tests: { alert_rule_test: { alertname: string }[] }[] };
    const tested = new Set(tests.tests.flatMap((t) => t.alert_rule_test.map((a) => a.alertname)));
    expect([...tested].sort()).toEqual(rules.groups.flatMap((group) => group.rules.map((rule) => rule.alert)).sort());
  });
});
