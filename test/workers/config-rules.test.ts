// The Worker refuses a document that breaks a rule spanning fields as config:check does: its
// configuration is the same schema's parse (workers/src/index.ts), so each request answers 500 and
// the log names the field and what was expected. The relay's side: test/unit/config-rules.test.ts.
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { Env } from "../../workers/src/runtime/env.ts";
import worker from "../../workers/src/index.ts";
import { BROKEN_RULES } from "../fixtures/config-rules.ts";

const testEnv = env as Cloudflare.Env & Env;

afterEach(() => {
  vi.restoreAllMocks();
});

describe.each(BROKEN_RULES)("the rule: $rule", ({ document, problem, kept }) => {
  it("is refused by the Worker at its first request, naming the field and what was expected", async () => {
    const logged = vi.spyOn(console, "error").mockImplementation(() => {});
    const response = await worker.fetch(new Request("https://mta-sts.example.org/.well-known/mta-sts.txt"), {
      ...testEnv,
      EDGEMX_CONFIG: JSON.stringify(document),
    });
    expect(response.status).toBe(500);
    expect(await response.text()).toBe("The mail gateway's configuration is invalid; see the Worker's log\n");
    expect(logged.mock.calls.map((call) => String(call[0]))).toEqual([`ConfigError: invalid configuration in the EDGEMX_CONFIG var:\n  - ${problem}`]);
  });

  it("serves the document that keeps it", async () => {
    const response = await worker.fetch(new Request("https://mta-sts.example.org/.well-known/mta-sts.txt"), {
      ...testEnv,
      EDGEMX_CONFIG: JSON.stringify(kept),
    });
    expect(response.status).toBe(200);
  });
});
