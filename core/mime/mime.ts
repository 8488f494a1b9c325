// The MIME tree of a message (RFC 2046 §5.1), read in one pass over its lines. Multiparts nest on a
// stack; a line is a boundary delimiter of the innermost open multipart whose boundary it carries
// (RFC 2046 §5.1.1), and a delimiter of an outer one also ends the multiparts inside it. Each part's
// header section is read with the same bounded parser as the message's. Attached messages
// (message/rfc822) are not opened: their own format is their sender's business.
// Bounds: MAX_MULTIPART_DEPTH nested multiparts (a deeper one is left unopened), MAX_MIME_PARTS parts
// (later ones are not read), boundaries no longer than a line. Each octet is looked at once, and a line
// that begins with "--" is compared with at most MAX_MULTIPART_DEPTH boundaries: linear time.
import { Buffer } from "node:buffer";
import { parseContentType, parseTransferEncoding } from "./content-type.ts";
import { parseHeaderSection, type HeaderSection } from "./header.ts";
import { isWsp, lineAt, stringOctets, type Line } from "./lines.ts";

export const MAX_MULTIPART_DEPTH = 10;
export const MAX_MIME_PARTS = 1000;
// RFC 5322 §2.1.1: a line holds 998 octets, a close-delimiter line "--" boundary "--".
const MAX_BOUNDARY_OCTETS = 998 - 4;

const DASH = 0x2d;

export interface MimeEntity {
  /** "" for the message itself, else the part number as IMAP gives it (RFC 3501 §6.4.5): "1", "2.3" … */
  path: string;
  header: HeaderSection;
  /** type "/" subtype in lower case. */
  contentType: string;
  boundaries: string[];
  /** In lower case; undefined when the field is absent (RFC 2045 §6.1: then 7bit). */
  transferEncoding: string | undefined;
  /** Where the content of a part that is not an opened multipart lies in the raw message. */
  bodyStart: number;
  bodyEnd: number;
  multipart: MultipartLayout | undefined;
}

/** What the walk saw of a multipart it opened (one with a boundary, within the depth bound). */
export interface MultipartLayout {
  /** Delimiter lines, each one starting a body part. */
  delimiters: number;
  closed: boolean;
  /** Lines that begin with "--" and the boundary but are neither delimiter nor close-delimiter. */
  lookalikes: number;
  /** The boundary of an enclosing multipart that this one's boundary begins with. */
  clashesWith: string | undefined;
}

export interface MimeTree {
  /** The message first, then every part in the order of the message. */
  entities: MimeEntity[];
  /** Multiparts left unopened because they are nested deeper than MAX_MULTIPART_DEPTH. */
  tooDeep: string[];
  /** More than MAX_MIME_PARTS parts: the later ones were not read. */
  tooManyParts: boolean;
}

interface OpenMultipart {
  entity: MimeEntity;
  layout: MultipartLayout;
  boundary: string;
  boundaryOctets: Uint8Array;
  /** RFC 2046 §5.1.5: in a multipart/digest a part is message/rfc822 by default. */
  partDefaultType: string;
  parts: number;
}

type DelimiterKind = "delimiter" | "close" | "lookalike";

/**
 * RFC 2046 §5.1.1: delimiter := "--" boundary transport-padding, close-delimiter := "--" boundary "--"
 * transport-padding, where transport-padding is *LWSP-char. A line that only begins with "--" boundary
 * is a lookalike: the RFC forbids it inside the parts, and parsers that match on the prefix split there.
 */
function delimiterKind(raw: Uint8Array, line: Line, boundary: Uint8Array): DelimiterKind | undefined {
  let at = line.start + 2;
  if (line.end - at < boundary.length) return undefined;
  for (let i = 0; i < boundary.length; i++) if (raw[at + i] !== boundary[i]) return undefined;
  at += boundary.length;
  const close = line.end - at >= 2 && raw[at] === DASH && raw[at + 1] === DASH;
  if (close) at += 2;
  while (at < line.end && isWsp(raw[at])) at++;
  if (at < line.end) return "lookalike";
  return close ? "close" : "delimiter";
}

/** A line that begins with "--", after the line end before it. */
const DASH_LINE = Buffer.from("\n--");

/** The start of the first line at or after `from` (a line start) that begins with "--", or raw.length. */
function nextDashLine(raw: Uint8Array, from: number): number {
  if (raw[from] === DASH && raw[from + 1] === DASH) return from;
  // One native search for the three octets, through a Buffer view: content without any (base64) is
  // passed over at once. Uint8Array's indexOf takes one octet and compares in a plain loop, which
  // inside workerd cost as much as the rest of the MIME walk.
  const lf = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).indexOf(DASH_LINE, from);
  return lf === -1 ? raw.length : lf + 1;
}

/** The open multipart (as a stack index) a line is a delimiter of, the innermost first. */
function matchDelimiter(raw: Uint8Array, line: Line, open: readonly OpenMultipart[]): { index: number; kind: DelimiterKind } | undefined {
  if (line.end - line.start < 2 || raw[line.start] !== DASH || raw[line.start + 1] !== DASH) return undefined;
  let lookalike: number | undefined;
  for (let index = open.length - 1; index >= 0; index--) {
    const candidate = open[index];
    if (candidate === undefined) continue;
    const kind = delimiterKind(raw, line, candidate.boundaryOctets);
    if (kind === "delimiter" || kind === "close") return { index, kind };
    if (kind === "lookalike") lookalike ??= index;
  }
  return lookalike === undefined ? undefined : { index: lookalike, kind: "lookalike" };
}

function entityOf(path: string, header: HeaderSection, defaultType: string): MimeEntity {
  const contentType = header.fields.find((f) => f.name === "content-type");
  const transferEncoding = header.fields.find((f) => f.name === "content-transfer-encoding");
  const { type, boundaries } = contentType === undefined ? { type: defaultType, boundaries: [] } : parseContentType(contentType.value, defaultType);
  return {
    path,
    header,
    contentType: type,
    boundaries,
    transferEncoding: transferEncoding === undefined ? undefined : parseTransferEncoding(transferEncoding.value),
    bodyStart: header.bodyStart,
    bodyEnd: header.bodyStart,
    multipart: undefined,
  };
}

/** Opens a multipart entity on the stack when it can be split; false when its content is opaque. */
function openMultipart(entity: MimeEntity, open: OpenMultipart[], tree: MimeTree): boolean {
  const boundary = entity.boundaries[0];
  if (!entity.contentType.startsWith("multipart/") || boundary === undefined) return false;
  // No delimiter line of an empty boundary or of one longer than a line (RFC 5322 §2.1.1) is legible.
  if (boundary === "" || boundary.length > MAX_BOUNDARY_OCTETS) return false;
  if (open.length >= MAX_MULTIPART_DEPTH) {
    tree.tooDeep.push(entity.path);
    return false;
  }
  // RFC 2046 §5.1.1: a boundary must not contain the boundary of an enclosing multipart as a prefix.
  const clashesWith = open.find((o) => boundary.startsWith(o.boundary))?.boundary;
  const layout: MultipartLayout = { delimiters: 0, closed: false, lookalikes: 0, clashesWith };
  entity.multipart = layout;
  const partDefaultType = entity.contentType === "multipart/digest" ? "message/rfc822" : "text/plain";
  open.push({ entity, layout, boundary, boundaryOctets: stringOctets(boundary), partDefaultType, parts: 0 });
  return true;
}

/** Walks the MIME tree of a message whose own header section is `header`. */
export function walkMime(raw: Uint8Array, header: HeaderSection): MimeTree {
  const tree: MimeTree = { entities: [], tooDeep: [], tooManyParts: false };
  const open: OpenMultipart[] = [];
  const message = entityOf("", header, "text/plain"); // RFC 2045 §5.2: text/plain by default
  tree.entities.push(message);
  // The entity whose content the walk is in (not a multipart's preamble or epilogue).
  let content: MimeEntity | undefined = openMultipart(message, open, tree) ? undefined : message;
  let at = header.bodyStart;
  while (open.length > 0) {
    at = nextDashLine(raw, at);
    if (at >= raw.length) break;
    const line = lineAt(raw, at);
    at = line.next;
    const match = matchDelimiter(raw, line, open);
    if (match === undefined) continue;
    const parent = open[match.index];
    if (parent === undefined) continue;
    if (match.kind === "lookalike") {
      parent.layout.lookalikes++;
      continue;
    }
    if (content !== undefined) content.bodyEnd = line.start;
    content = undefined;
    open.length = match.index + 1; // a delimiter of an outer multipart ends the inner ones, unclosed
    if (match.kind === "close") {
      parent.layout.closed = true;
      open.pop();
      continue;
    }
    parent.layout.delimiters++;
    if (tree.entities.length > MAX_MIME_PARTS) {
      tree.tooManyParts = true;
      continue;
    }
    const partHeader = parseHeaderSection(raw, line.next, (l) => {
      const kind = matchDelimiter(raw, l, open)?.kind;
      return kind === "delimiter" || kind === "close";
    });
    parent.parts++;
    const part = entityOf(parent.entity.path === "" ? `${parent.parts}` : `${parent.entity.path}.${parent.parts}`, partHeader, parent.partDefaultType);
    tree.entities.push(part);
    content = openMultipart(part, open, tree) ? undefined : part;
    at = partHeader.bodyStart;
  }
  if (content !== undefined) content.bodyEnd = raw.length;
  return tree;
}
