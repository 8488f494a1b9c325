// XML documents the HTTP side answers with. fast-xml-parser's builder escapes every text and attribute
// value (XML 1.0 §2.4 and §3.3.3: "<", "&", ">", quotes), so no input is ever reflected as markup.
import { XMLBuilder } from "fast-xml-parser";

/** Keys starting with "@_" are attributes; arrays repeat the element; "" gives an empty element. */
export type XmlTree = { [name: string]: XmlValue };
type XmlValue = string | number | XmlTree | XmlValue[];

const builder = new XMLBuilder({ ignoreAttributes: false, attributeNamePrefix: "@_", format: true, suppressEmptyNode: true });

export function renderXml(document: XmlTree): string {
  return builder.build({ "?xml": { "@_version": "1.0", "@_encoding": "utf-8" }, ...document });
}

export function xmlResponse(status: number, body: string, cacheControl: string): Response {
  return new Response(body, {
    status,
    headers: { "content-type": "application/xml; charset=utf-8", "cache-control": cacheControl },
  });
}
