// `npm run docs`: writes docs/configuration.md from the schema (scripts/config-reference.ts).
import { writeFileSync } from "node:fs";
import { configurationReference } from "./config-reference.ts";

const OUT = new URL("../docs/configuration.md", import.meta.url);
writeFileSync(OUT, configurationReference());
console.log("edgemx: wrote docs/configuration.md from core/config/schema.ts");
