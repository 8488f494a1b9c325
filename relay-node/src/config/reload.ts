// The running relay's configuration. Sessions read it once, when they start (smtp/session.ts), so a
// session never sees two configurations.
import type { EdgemxConfig } from "../../../core/config/schema.ts";

/** The configuration sessions start with: the one the relay started with, until a reload replaces it. */
export class ConfigHolder {
  #current: EdgemxConfig;

  constructor(config: EdgemxConfig) {
    this.#current = config;
  }

  get current(): EdgemxConfig {
    return this.#current;
  }

  replace(next: EdgemxConfig): void {
    this.#current = next;
  }
}
