// Which banned-content rules a message is judged by, by its direction. The spec bans its MIME and
// file types for incoming mail; submitted mail gets the virus scan, and a banned list only where the
// postmaster configured one (judge.outboundBanned), opened within the same archive bounds.
import type { BannedConfig, OutboundBannedConfig } from "../config/schema.ts";

export type Direction = "inbound" | "outbound";

/** The rules for this direction; null when submitted mail has no banned list. */
export function bannedRulesFor(direction: Direction, judge: { banned: BannedConfig; outboundBanned: OutboundBannedConfig }): BannedConfig | null {
  if (direction === "inbound") return judge.banned;
  const { mimeTypes, extensions, uninspectable } = judge.outboundBanned;
  if (mimeTypes.length === 0 && extensions.length === 0) return null;
  return { mimeTypes, extensions, archives: { ...judge.banned.archives, uninspectable } };
}
