// The banned-content decision (spec: rejected MIME types and file types → "554 5.7.0 Reject, id=… –
// BANNED"). Every file of a message is judged three ways, first match wins:
//   1. its declared name — the last extension as the system will read it (filename.ts), listed itself
//      or one of a listed MIME type's (setup.msi is application/x-msdownload, type-extensions.ts);
//   2. its declared Content-Type — listed, or the type of a listed extension (application/msword → .doc);
//   3. its own bytes — what it really is, so a renamed file is caught (detect.ts), by extension or type.
// Archives are then opened and each entry judged the same way (archive.ts), attached messages are
// judged like the message; whatever cannot be looked into is refused or let through by configuration.
import mime from "mime";
import type { BannedConfig } from "../config/schema.ts";
import { archiveEntries, UninspectableError, type ArchiveOpener, type UnpackBudget } from "./archive.ts";
import { detectType } from "./detect.ts";
import type { ContainerKind, DetectedType, ExternalFormat } from "./detected-type.ts";
import { bytesContent, type FileContent } from "./file-content.ts";
import { judgedExtensions, shownName } from "./filename.ts";
import { parseMessage, type MessageStructure, type ParsedMessage } from "./message.ts";
import { bannedTypesByExtension } from "./type-extensions.ts";

/** A part of the message as the verdict names it. */
export interface PartRef {
  filename: string | null;
  mimeType: string;
}

export type BannedVerdict =
  | { banned: false }
  | {
      banned: true;
      /** Where and why, e.g. 'attachment "invoice.pdf.exe": extension .exe'. */
      reason: string;
      /** The message part that carries it (an archive or attached message for nested finds). */
      part: PartRef;
    };

// Attached messages inside attached messages: at most this deep (postal-mime's default bound for the
// inline ones it parses). Archive nesting is bounded separately by the configuration.
export const MAX_MESSAGE_DEPTH = 10;

// "Any bytes at all": mime-db lists .exe and .dll for it, which says nothing about a part so declared.
const GENERIC_TYPE = "application/octet-stream";
const MESSAGE_TYPES = new Set(["message/rfc822", "message/global"]);

interface Rules {
  extensions: ReadonlySet<string>;
  mimeTypes: ReadonlySet<string>;
  /** The extensions the banned MIME types cover, each with its type. */
  typeOfExtension: ReadonlyMap<string, string>;
  archives: BannedConfig["archives"];
  budget: UnpackBudget;
  opener: ArchiveOpener | undefined;
}

interface Depth {
  archives: number;
  messages: number;
}

/** A file to judge: a message part, or an entry of an archive (no declared type). */
interface Candidate {
  name: string | null;
  declaredType: string | null;
  content: FileContent;
}

interface Finding {
  /** From the message part down to the file, e.g. ['attachment "a.tar"', '"b.exe"']. */
  where: string[];
  what: string;
}

function nameFinding(name: string, rules: Rules): string | undefined {
  const extensions = judgedExtensions(name);
  const listed = extensions.find((e) => rules.extensions.has(e));
  if (listed !== undefined) return `extension .${listed}`;
  const typed = extensions.find((e) => rules.typeOfExtension.has(e));
  return typed === undefined ? undefined : `extension .${typed} (${rules.typeOfExtension.get(typed)})`;
}

function declaredTypeFinding(type: string, rules: Rules): string | undefined {
  if (rules.mimeTypes.has(type)) return `declared type ${type}`;
  if (type === GENERIC_TYPE) return undefined;
  const ext = [...(mime.getAllExtensions(type) ?? [])].find((e) => rules.extensions.has(e));
  return ext === undefined ? undefined : `declared type ${type} (.${ext})`;
}

function contentFinding(detected: DetectedType, rules: Rules): string | undefined {
  const ext = detected.extensions.find((e) => rules.extensions.has(e));
  if (ext !== undefined) return `content is ${detected.label} (.${ext})`;
  if (rules.mimeTypes.has(detected.mime)) return `content is ${detected.label} (${detected.mime})`;
  const typed = detected.extensions.find((e) => rules.typeOfExtension.has(e));
  return typed === undefined ? undefined : `content is ${detected.label} (.${typed}, ${rules.typeOfExtension.get(typed)})`;
}

function isMessage(file: Candidate): boolean {
  return (file.declaredType !== null && MESSAGE_TYPES.has(file.declaredType)) || (file.name !== null && judgedExtensions(file.name).includes("eml"));
}

function describePart(part: { filename: string | null; mimeType: string }, noun = "attachment"): string {
  return part.filename === null ? `${noun} of type ${part.mimeType}` : `${noun} ${shownName(part.filename)}`;
}

async function judgeContainer(
  kind: ContainerKind | ExternalFormat,
  file: Candidate,
  where: string[],
  depth: Depth,
  rules: Rules,
): Promise<Finding | undefined> {
  if (kind === "message") {
    if (depth.messages >= MAX_MESSAGE_DEPTH) throw new UninspectableError(`attached messages nested deeper than ${MAX_MESSAGE_DEPTH}`);
    return (await findInMessage(file.content.whole(), where, { ...depth, messages: depth.messages + 1 }, rules))?.finding;
  }
  if (depth.archives >= rules.archives.maxDepth) throw new UninspectableError(`archives nested deeper than ${rules.archives.maxDepth}`);
  const inner = { ...depth, archives: depth.archives + 1 };
  const external = { opener: rules.opener, maxRatio: rules.archives.maxRatio };
  for await (const entry of archiveEntries(kind, file.content.whole(), file.name, rules.budget, external)) {
    const found = await judgeFile(
      { name: entry.name, declaredType: null, content: bytesContent(entry.content) },
      [...where, shownName(entry.name)],
      inner,
      rules,
    );
    if (found) return found;
  }
  return undefined;
}

/** What the files inside a container break; throws UninspectableError when they cannot be reached. */
async function findInside(file: Candidate, detected: DetectedType | undefined, where: string[], depth: Depth, rules: Rules): Promise<Finding | undefined> {
  const external = detected?.external;
  if (external !== undefined && rules.opener?.formats.has(external)) return judgeContainer(external, file, where, depth, rules);
  if (detected?.uninspectable) throw new UninspectableError(detected.uninspectable);
  const container = isMessage(file) ? "message" : detected?.container;
  return container ? judgeContainer(container, file, where, depth, rules) : undefined;
}

async function judgeFile(file: Candidate, where: string[], depth: Depth, rules: Rules): Promise<Finding | undefined> {
  const byName = file.name === null ? undefined : nameFinding(file.name, rules);
  if (byName) return { where, what: byName };
  const byType = file.declaredType === null ? undefined : declaredTypeFinding(file.declaredType, rules);
  if (byType) return { where, what: byType };
  const detected = await detectType(file.content);
  const byContent = detected && contentFinding(detected, rules);
  if (byContent) return { where, what: byContent };
  try {
    return await findInside(file, detected, where, depth, rules);
  } catch (err) {
    if (!(err instanceof UninspectableError)) throw err;
    return rules.archives.uninspectable === "reject" ? { where, what: `cannot be inspected: ${err.message}` } : undefined;
  }
}

async function findInParts(parsed: ParsedMessage, where: string[], depth: Depth, rules: Rules): Promise<{ finding: Finding; part: PartRef } | undefined> {
  for (const part of parsed.attachments) {
    const content = part.content instanceof Uint8Array ? bytesContent(part.content) : part.content;
    let finding;
    try {
      finding = await judgeFile({ name: part.filename, declaredType: part.mimeType, content }, [...where, describePart(part)], depth, rules);
    } finally {
      content.release();
    }
    if (finding) return { finding, part: { filename: part.filename, mimeType: part.mimeType } };
  }
  // Every part's declared names, those shown as text included: only what they declare can be judged.
  for (const { names, mimeType, otherTypes = [] } of parsed.declared) {
    for (const name of names) {
      const what = nameFinding(name, rules) ?? [mimeType, ...otherTypes].map((type) => declaredTypeFinding(type, rules)).find((w) => w !== undefined);
      const part = { filename: name, mimeType };
      if (what) return { finding: { where: [...where, describePart(part, "part")], what }, part };
    }
  }
  return undefined;
}

/** Refuses the parts of a message of which something could not be read, unless configured to accept it. */
function inspectable(parsed: ParsedMessage, rules: Rules): ParsedMessage {
  if (parsed.unreadable !== undefined && rules.archives.uninspectable === "reject") throw new UninspectableError(parsed.unreadable);
  return parsed;
}

async function findInMessage(raw: Uint8Array, where: string[], depth: Depth, rules: Rules) {
  return findInParts(inspectable(parseMessage(raw), rules), where, depth, rules);
}

type Lists = Pick<Rules, "extensions" | "mimeTypes" | "typeOfExtension">;

/** The lists of each configuration, built at its first message: a configuration is loaded once and not changed. */
const listsOfConfig = new WeakMap<BannedConfig, Lists>();

function listsOf(config: BannedConfig): Lists {
  let lists = listsOfConfig.get(config);
  if (lists === undefined) {
    lists = { extensions: new Set(config.extensions), mimeTypes: new Set(config.mimeTypes), typeOfExtension: bannedTypesByExtension(config.mimeTypes) };
    listsOfConfig.set(config, lists);
  }
  return lists;
}

function rulesOf(config: BannedConfig, opener: ArchiveOpener | undefined): Rules {
  const { maxTotalBytes, maxEntries } = config.archives;
  return {
    ...listsOf(config),
    archives: config.archives,
    budget: { bytesLeft: maxTotalBytes, entriesLeft: maxEntries, maxBytes: maxTotalBytes, maxEntries },
    opener,
  };
}

const TOP: Depth = { archives: 0, messages: 0 };

function verdictOf(found: { finding: Finding; part: PartRef } | undefined): BannedVerdict {
  if (!found) return { banned: false };
  return { banned: true, reason: `${found.finding.where.join(" › ")}: ${found.finding.what}`, part: found.part };
}

/** The decision over a message already parsed by parseMessage(); `opener` reads the formats core cannot (7z, RAR, xz). */
export async function findBannedParts(parsed: ParsedMessage, config: BannedConfig, opener?: ArchiveOpener): Promise<BannedVerdict> {
  const rules = rulesOf(config, opener);
  // Over the walker's bounds (multipart depth, part count, header size): the message cannot be judged whole.
  if (parsed.unreadable !== undefined && rules.archives.uninspectable === "reject") {
    return { banned: true, reason: `message: cannot be inspected: ${parsed.unreadable}`, part: { filename: null, mimeType: "message/rfc822" } };
  }
  return verdictOf(await findInParts(parsed, [], TOP, rules));
}

/**
 * The decision over a raw message (RFC 5322 bytes, or text); `structure` when the conformance check
 * has parsed the message already; `opener` for the archive formats core cannot read.
 */
export async function findBannedContent(
  raw: Uint8Array | string,
  config: BannedConfig,
  structure?: MessageStructure,
  opener?: ArchiveOpener,
): Promise<BannedVerdict> {
  const bytes = typeof raw === "string" ? new TextEncoder().encode(raw) : raw;
  return findBannedParts(parseMessage(bytes, structure), config, opener);
}
