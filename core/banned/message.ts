// A message's parts as the banned-content judge needs them, read by the conformance check's bounded
// MIME walker (mime/header.ts, mime/mime.ts): both checks see the same tree, found in linear time over
// the raw bytes, which are not copied. A part's content is a view of its encoded body, decoded only as
// far as the judge reads it (file-content.ts).
//
// Which parts are files follows the mail readers (postal-mime's rules, which the judge used before):
// every leaf part is one, except text/plain and text/html not disposed as "attachment", which are
// shown as the message text and judged by their declared names and types only. Attached messages
// (message/rfc822) are files too, judged like the message itself, whatever their disposition.
import { MAX_HEADER_BYTES, MAX_HEADER_FIELDS } from "../mime/header.ts";
import { messageStructure, type MessageStructure } from "../conformance/check.ts";
import { CR, LF } from "../mime/lines.ts";
import { MAX_MIME_PARTS, MAX_MULTIPART_DEPTH, type MimeEntity, type MimeTree } from "../mime/mime.ts";
import { transferMechanism } from "./decode.ts";
import { encodedContent, type FileContent } from "./file-content.ts";
import { readPartHeaders, type DeclaredPart } from "./part-headers.ts";

export type { MessageStructure } from "../conformance/check.ts";

export interface MimePart {
  filename: string | null;
  /** The declared Content-Type without parameters, in lower case. */
  mimeType: string;
  /** The decoded content, or the part's body to decode on demand. */
  content: Uint8Array | FileContent;
}

export interface ParsedMessage {
  /** The parts a mail reader offers as files. */
  attachments: MimePart[];
  /** The declared type and names of every part, the ones shown as text and the multiparts included. */
  declared: DeclaredPart[];
  /** What part of the message could not be read, if any: the parts that could are listed all the same. */
  unreadable?: string;
}

const INLINE_TEXT = new Set(["text/plain", "text/html"]);

/** A part's body without the line break before the delimiter that ends it (RFC 2046 §5.1.1: it belongs to the delimiter). */
function bodyOf(raw: Uint8Array, entity: MimeEntity): Uint8Array {
  let end = entity.bodyEnd;
  if (end < raw.length && end > entity.bodyStart && raw[end - 1] === LF) {
    end--;
    if (end > entity.bodyStart && raw[end - 1] === CR) end--;
  }
  return raw.subarray(entity.bodyStart, end);
}

function unreadableParts(tree: MimeTree, unusableBoundary: string | undefined): string | undefined {
  if (tree.tooDeep.length > 0) return `multiparts nested deeper than ${MAX_MULTIPART_DEPTH}`;
  if (tree.tooManyParts) return `more than ${MAX_MIME_PARTS} MIME parts`;
  if (tree.entities.some((e) => e.header.oversize)) return `a header section over ${MAX_HEADER_FIELDS} fields or ${MAX_HEADER_BYTES} bytes`;
  return unusableBoundary;
}

/** The parts of a message; `structure` when the conformance check has parsed it already. */
export function parseMessage(raw: Uint8Array, structure: MessageStructure = messageStructure(raw)): ParsedMessage {
  const attachments: MimePart[] = [];
  const declared: DeclaredPart[] = [];
  let unusableBoundary: string | undefined;
  for (const entity of structure.tree.entities) {
    const { filename, disposition, ...part } = readPartHeaders(entity.header.fields, entity.contentType);
    declared.push(part);
    if (entity.multipart !== undefined) continue; // its parts follow
    if (part.mimeType.startsWith("multipart/")) {
      // A multipart the walker could not split: without a boundary no reader can either (and shows
      // nothing of it); with one it is too deep (reported above) or one no delimiter line can carry.
      if (entity.boundaries.length > 0 && !structure.tree.tooDeep.includes(entity.path)) {
        unusableBoundary ??= `the boundary of ${entity.path === "" ? "the message" : `part ${entity.path}`} cannot be used`;
      }
      continue;
    }
    if (INLINE_TEXT.has(part.mimeType) && disposition !== "attachment") continue;
    const encoding = entity.header.fields.find((f) => f.name === "content-transfer-encoding")?.value;
    attachments.push({ filename, mimeType: part.mimeType, content: encodedContent(transferMechanism(encoding), bodyOf(raw, entity)) });
  }
  const unreadable = unreadableParts(structure.tree, unusableBoundary);
  return { attachments, declared, ...(unreadable === undefined ? {} : { unreadable }) };
}
