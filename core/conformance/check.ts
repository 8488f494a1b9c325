// RFC conformance of a message (RFC 5322, RFC 2045–2049, RFC 6532): parse the raw bytes once, with
// bounds, run every rule, and give each finding the action the configuration sets for its rule.
// Pure and linear in the size of the message: no input makes it slow or makes it throw.
import type { RfcRuleAction, RfcRuleName, RfcRules } from "../config/rfc-rules.ts";
import { parseHeaderSection, type HeaderSection } from "../mime/header.ts";
import { walkMime, type MimeTree } from "../mime/mime.ts";
import { findings, type ConformanceOptions } from "./rules.ts";

/** The message's own header section and its MIME tree: what the rules judge, and the banned-content check reads. */
export interface MessageStructure {
  header: HeaderSection;
  tree: MimeTree;
}

/** Parses a message once, with bounds, in linear time; it is not copied. */
export function messageStructure(raw: Uint8Array): MessageStructure {
  const header = parseHeaderSection(raw, 0, () => false);
  return { header, tree: walkMime(raw, header) };
}

export interface ConformanceFinding {
  rule: RfcRuleName;
  detail: string;
  action: RfcRuleAction;
}

export interface ConformanceResult {
  /** reject when a finding says so, else mark when one says so, else accept (log-only findings too). */
  action: "accept" | "reject" | "mark";
  findings: ConformanceFinding[];
}

function strongest(found: readonly ConformanceFinding[]): ConformanceResult["action"] {
  if (found.some((f) => f.action === "reject")) return "reject";
  return found.some((f) => f.action === "mark") ? "mark" : "accept";
}

/** `structure`: the message already parsed by messageStructure(), to parse it once for every check. */
export function checkConformance(
  raw: Uint8Array,
  options: ConformanceOptions,
  rules: RfcRules,
  structure: MessageStructure = messageStructure(raw),
): ConformanceResult {
  const found = findings({ raw, ...structure }, options).map((f) => ({ ...f, action: rules[f.rule] }));
  return { action: strongest(found), findings: found };
}
