// The relay's own part of the session's rule: greylisting decided after rspamd's score. The rule both
// inbound paths share (actions, relaxation for role mailboxes) is core/smtp/pipeline.ts.
import type { EdgemxConfig } from "../../../core/config/schema.ts";

/**
 * Whether greylisting waits for rspamd's score (relay.rspamd.greylistScoreGate) rather than answering
 * at RCPT TO: RCPT TO cannot know the score, so gated greylisting defers after the final dot.
 */
export function greylistAfterScoring(config: EdgemxConfig): boolean {
  return config.relay.rspamd.url !== undefined && config.relay.rspamd.greylistScoreGate !== null;
}
