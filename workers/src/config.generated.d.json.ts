// The type of config.generated.json, which the Worker's build step (scripts/worker-config.ts) writes and
// git does not track. TypeScript reads this declaration in its place (allowArbitraryExtensions), so a
// fresh clone typechecks and lints before any build; wrangler's bundler reads the JSON itself.
import type { RecordFacts } from "../../core/records/records.ts";

declare const bundle: {
  /** The configuration document, validated by the Worker at its first request. */
  config: unknown;
  facts: RecordFacts;
};
export default bundle;
