// The envelope as the verdict API receives it: validated, bounded, with a clear reason when refused.
import { z } from "zod";
import { RELAXABLE_CHECKS } from "../config/schema.ts";
import type { VerdictEnvelope } from "./types.ts";
import type { AllowHit } from "../allow/allow.ts";

// RFC 5321 §4.5.3.1: a path is at most 256 octets; a domain at most 255; recipients are bounded by the API.
const MAX_PATH = 256;
export const MAX_API_RECIPIENTS = 1000;

const address = z
  .string()
  .max(MAX_PATH)
  .regex(/^[^\s<>]+@[^\s<>@]+$/, { message: "expected an address local@domain" });

const ipAddress = z.union([z.ipv4(), z.ipv6()], { message: "expected an IPv4 or IPv6 address" });

const spare = z.array(z.enum(RELAXABLE_CHECKS)).max(RELAXABLE_CHECKS.length);
const allowEntry = z.number().int().min(0).max(10_000);
const allowValue = z.string().min(1).max(MAX_PATH);
/** A sender entry the judge matched, as the verdict returns it (Verdict.allowlisted). */
const senderHit = z.object({ entry: allowEntry, match: z.literal("sender"), value: allowValue, spare, alignedBy: z.enum(["dkim", "spf"]) }).strict();

/** The sender entries of a verdict from the API when they have their shape, else undefined. */
export function allowHitsOf(value: unknown): AllowHit[] | undefined {
  const parsed = z.array(senderHit).max(100).safeParse(value);
  return parsed.success ? parsed.data : undefined;
}

/** The relay's allowlist hits and sender entries (core/allow/); `virus` is no check it can name. */
const allowance = z
  .object({
    client: z.array(z.object({ entry: allowEntry, match: z.enum(["ip", "name", "helo"]), value: allowValue, spare }).strict()).max(100),
    senders: z.array(z.object({ entry: allowEntry, sender: allowValue, spare }).strict()).max(100),
  })
  .strict();

export const envelopeSchema = z
  .object({
    clientIp: ipAddress.optional(),
    helo: z.string().min(1).max(255).optional(),
    mailFrom: z.union([z.literal(""), address]),
    rcptTo: z.array(address).min(1).max(MAX_API_RECIPIENTS),
    tls: z.boolean().optional(),
    smtputf8: z.boolean().optional(),
    authenticatedUser: z.string().min(1).max(MAX_PATH).optional(),
    direction: z.enum(["inbound", "outbound"]).default("inbound"),
    allow: allowance.optional(),
  })
  .strict();

/** The envelope, or the reason it was refused ("rcptTo[0]: expected an address local@domain"). */
export function parseEnvelope(document: unknown): VerdictEnvelope | string {
  const result = envelopeSchema.safeParse(document);
  if (result.success) return result.data;
  const first = result.error.issues[0];
  const path =
    first?.path
      .map((p) => (typeof p === "number" ? `[${p}]` : `.${String(p)}`))
      .join("")
      .replace(/^\./, "") || "envelope";
  return `${path}: ${first?.message ?? "invalid"}`;
}
