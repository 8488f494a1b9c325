// docs/configuration.md is generated from the schema's types, defaults and descriptions (npm run docs):
// the committed file must be exactly what the schema generates now.
import { readFileSync } from "node:fs";
import { expect, it } from "vitest";
import { configurationReference } from "../../scripts/config-reference.ts";

it("docs/configuration.md is what the schema generates", () => {
  const committed = readFileSync(new URL("../../docs/configuration.md", import.meta.url), "utf8");
  expect(committed, "docs/configuration.md differs from core/config/schema.ts: run `npm run docs` and commit the result").toBe(configurationReference());
});
