// A message's parts as the banned-content judge needs them, parsed by postal-mime. Attached messages
// (message/rfc822) stay attachments with their raw text, so that the judge can judge them like the
// message itself, under its own depth bound, whatever their Content-Disposition says.
import PostalMime from "postal-mime";
import { declaredParts, type DeclaredPart } from "./part-headers.ts";

export interface MimePart {
  filename: string | null;
  /** The declared Content-Type without parameters, in lower case. */
  mimeType: string;
  content: Uint8Array;
}

export interface ParsedMessage {
  /** The parts postal-mime reports as attachments, with their decoded content. */
  attachments: MimePart[];
  /** The declared type and names of every part, the ones rendered as body text included. */
  declared: DeclaredPart[];
}

function bytesOf(content: ArrayBuffer | Uint8Array | string): Uint8Array {
  if (typeof content === "string") return new TextEncoder().encode(content);
  return content instanceof Uint8Array ? content : new Uint8Array(content);
}

/** Parses a message; throws when postal-mime refuses it (nesting or header size over its bounds). */
export async function parseMessage(raw: Uint8Array | string): Promise<ParsedMessage> {
  const email = await PostalMime.parse(raw, { forceRfc822Attachments: true, attachmentEncoding: "arraybuffer" });
  const text = typeof raw === "string" ? raw : new TextDecoder().decode(raw);
  return {
    attachments: email.attachments.map((a) => ({ filename: a.filename, mimeType: a.mimeType.toLowerCase(), content: bytesOf(a.content) })),
    declared: declaredParts(text),
  };
}
