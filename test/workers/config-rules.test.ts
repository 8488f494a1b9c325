// The Worker refuses a document that breaks a rule spanning fields of its part as config:check does: its
// configuration is the parse of the same schema's Worker part (core/config/worker.ts, workers/src/index.ts),
// so each request answers 500 and the log names the field and what was expected. The relay's own
// settings are no part of it: the Worker refuses them as unknown fields. The relay's side:
// test/unit/config-rules.test.ts.
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { Env } from "../../workers/src/runtime/env.ts";
import worker from "../../workers/src/index.ts";
import { BROKEN_RULES } from "../fixtures/config-rules.ts";

const testEnv = env as Cloudflare.Env & Env;

afterEach(() => {
  vi.restoreAllMocks();
});

/** The Worker's part of a fixture document: its domains without the recipients, which stay with the relay. */
function workerDocument(document: Record<string, unknown>): Record<string, unknown> {
  const domains = document.domains as Record<string, unknown>[];
  return { ...document, domains: domains.map(({ mailboxes: _m, aliases: _a, catchAll: _c, ...published }) => published) };
}

describe.each(BROKEN_RULES.filter((broken) => broken.worker))("the rule: $rule", ({ document, problem, kept }) => {
  it("is refused by the Worker at its first request, naming the field and what was expected", async () => {
    const logged = vi.spyOn(console, "error").mockImplementation(() => {});
    const response = await worker.fetch(new Request("https://mta-sts.example.org/.well-known/mta-sts.txt"), {
      ...testEnv,
      EDGEMX_CONFIG: JSON.stringify(workerDocument(document)),
    });
    expect(response.status).toBe(500);
    expect(await response.text()).toBe("The mail gateway's configuration is invalid; see the Worker's log\n");
    expect(logged.mock.calls.map((call) => String(call[0]))).toEqual([`ConfigError: invalid configuration in the EDGEMX_CONFIG var:\n  - ${problem}`]);
  });

  it("serves the document that keeps it", async () => {
    const response = await worker.fetch(new Request("https://mta-sts.example.org/.well-known/mta-sts.txt"), {
      ...testEnv,
      EDGEMX_CONFIG: JSON.stringify(workerDocument(kept)),
    });
    expect(response.status).toBe(200);
  });
});

describe.each(BROKEN_RULES.filter((broken) => !broken.worker))("the relay's rule: $rule", ({ kept }) => {
  it("is not the Worker's: the relay's settings it is about are refused as unknown fields", async () => {
    const logged = vi.spyOn(console, "error").mockImplementation(() => {});
    const response = await worker.fetch(new Request("https://mta-sts.example.org/.well-known/mta-sts.txt"), {
      ...testEnv,
      EDGEMX_CONFIG: JSON.stringify(kept),
    });
    expect(response.status).toBe(500);
    // Every problem is a field the Worker's part does not have: the relay's settings, the domains' recipients.
    const [heading, ...problems] = logged.mock.calls
      .map((call) => String(call[0]))
      .join("\n")
      .split("\n");
    expect(heading).toBe("ConfigError: invalid configuration in the EDGEMX_CONFIG var:");
    expect(problems.length).toBeGreaterThan(0);
    for (const line of problems) expect(line).toMatch(/^ {2}- [^ ]+: unknown fields? "/);
  });
});
