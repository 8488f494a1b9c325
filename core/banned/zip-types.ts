// The formats file-type (sindresorhus/file-type 22, source/detectors/zip.js) recognises inside a zip,
// by the same rules, but over the entry names of the central directory that zip.js has read already
// instead of file-type's walk over the local headers (which scans the data of every entry written with
// a data descriptor byte by byte). As in file-type, the first entry that decides, in archive order,
// decides: "META-INF/mozilla.rsa" (XPI), "META-INF/MANIFEST.MF" (JAR), a classes.dex (APK), the
// "mimetype" entry (OpenDocument, EPUB: its content names the type), [Content_Types].xml (Office Open
// XML, 3MF: the main part's content type); iWork documents by their Index/ entries. Office packages
// proper are told apart before this, in ooxml.ts.

export const ZIP_MIMETYPE_ENTRY = "mimetype";
const CONTENT_TYPES_ENTRY = "[Content_Types].xml";

export interface ZipSubtype {
  ext: string;
  mime: string;
}

// file-type's getFileTypeFromMimeType: the types a "mimetype" entry or a main part may name.
const BY_MIME_TYPE: Readonly<Record<string, ZipSubtype>> = {
  "application/epub+zip": { ext: "epub", mime: "application/epub+zip" },
  "application/vnd.oasis.opendocument.text": { ext: "odt", mime: "application/vnd.oasis.opendocument.text" },
  "application/vnd.oasis.opendocument.text-template": { ext: "ott", mime: "application/vnd.oasis.opendocument.text-template" },
  "application/vnd.oasis.opendocument.spreadsheet": { ext: "ods", mime: "application/vnd.oasis.opendocument.spreadsheet" },
  "application/vnd.oasis.opendocument.spreadsheet-template": { ext: "ots", mime: "application/vnd.oasis.opendocument.spreadsheet-template" },
  "application/vnd.oasis.opendocument.presentation": { ext: "odp", mime: "application/vnd.oasis.opendocument.presentation" },
  "application/vnd.oasis.opendocument.presentation-template": { ext: "otp", mime: "application/vnd.oasis.opendocument.presentation-template" },
  "application/vnd.oasis.opendocument.graphics": { ext: "odg", mime: "application/vnd.oasis.opendocument.graphics" },
  "application/vnd.oasis.opendocument.graphics-template": { ext: "otg", mime: "application/vnd.oasis.opendocument.graphics-template" },
  "application/vnd.openxmlformats-officedocument.presentationml.slideshow": {
    ext: "ppsx",
    mime: "application/vnd.openxmlformats-officedocument.presentationml.slideshow",
  },
  "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {
    ext: "xlsx",
    mime: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
  },
  "application/vnd.ms-excel.sheet.macroenabled": { ext: "xlsm", mime: "application/vnd.ms-excel.sheet.macroenabled.12" },
  "application/vnd.openxmlformats-officedocument.spreadsheetml.template": {
    ext: "xltx",
    mime: "application/vnd.openxmlformats-officedocument.spreadsheetml.template",
  },
  "application/vnd.ms-excel.template.macroenabled": { ext: "xltm", mime: "application/vnd.ms-excel.template.macroenabled.12" },
  "application/vnd.ms-powerpoint.slideshow.macroenabled": { ext: "ppsm", mime: "application/vnd.ms-powerpoint.slideshow.macroenabled.12" },
  "application/vnd.openxmlformats-officedocument.wordprocessingml.document": {
    ext: "docx",
    mime: "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
  },
  "application/vnd.ms-word.document.macroenabled": { ext: "docm", mime: "application/vnd.ms-word.document.macroenabled.12" },
  "application/vnd.openxmlformats-officedocument.wordprocessingml.template": {
    ext: "dotx",
    mime: "application/vnd.openxmlformats-officedocument.wordprocessingml.template",
  },
  "application/vnd.ms-word.template.macroenabledtemplate": { ext: "dotm", mime: "application/vnd.ms-word.template.macroenabled.12" },
  "application/vnd.openxmlformats-officedocument.presentationml.template": {
    ext: "potx",
    mime: "application/vnd.openxmlformats-officedocument.presentationml.template",
  },
  "application/vnd.ms-powerpoint.template.macroenabled": { ext: "potm", mime: "application/vnd.ms-powerpoint.template.macroenabled.12" },
  "application/vnd.openxmlformats-officedocument.presentationml.presentation": {
    ext: "pptx",
    mime: "application/vnd.openxmlformats-officedocument.presentationml.presentation",
  },
  "application/vnd.ms-powerpoint.presentation.macroenabled": { ext: "pptm", mime: "application/vnd.ms-powerpoint.presentation.macroenabled.12" },
  "application/vnd.ms-visio.drawing": { ext: "vsdx", mime: "application/vnd.visio" },
  "application/vnd.ms-package.3dmanufacturing-3dmodel+xml": { ext: "3mf", mime: "model/3mf" },
};

const THREE_MF_TYPE = "application/vnd.ms-package.3dmanufacturing-3dmodel+xml";

function byMimeType(mimeType: string | undefined): ZipSubtype | undefined {
  return mimeType === undefined ? undefined : BY_MIME_TYPE[mimeType.trim().toLowerCase()];
}

/** file-type's reading of [Content_Types].xml: the type before the first '.main+xml"', else 3MF's. */
function byContentTypes(xml: string | undefined): ZipSubtype | undefined {
  if (xml === undefined) return undefined;
  const end = xml.indexOf('.main+xml"');
  if (end === -1) return xml.includes(`ContentType="${THREE_MF_TYPE}"`) ? byMimeType(THREE_MF_TYPE) : undefined;
  const before = xml.slice(0, end);
  return byMimeType(before.slice(before.lastIndexOf('"') + 1));
}

interface IWork {
  document: boolean;
  masterSlide: boolean;
  tables: boolean;
}

function iWorkType(seen: IWork): ZipSubtype | undefined {
  if (!seen.document) return undefined;
  if (seen.masterSlide) return { ext: "key", mime: "application/vnd.apple.keynote" };
  if (seen.tables) return { ext: "numbers", mime: "application/vnd.apple.numbers" };
  return { ext: "pages", mime: "application/vnd.apple.pages" };
}

/**
 * The zip-based format of a zip with these entries (in archive order), the text of its mimetype entry
 * and of its [Content_Types].xml (undefined when absent or unreadable); undefined for a plain zip.
 */
export function zipSubtype(names: readonly string[], mimetype: string | undefined, contentTypes: string | undefined): ZipSubtype | undefined {
  const iWork: IWork = { document: false, masterSlide: false, tables: false };
  for (const name of names) {
    if (name === "Index/Document.iwa") iWork.document = true;
    if (name.startsWith("Index/MasterSlide")) iWork.masterSlide = true;
    if (name.startsWith("Index/Tables/")) iWork.tables = true;
    if (iWork.document && (iWork.masterSlide || iWork.tables)) return iWorkType(iWork);
    switch (name) {
      case "META-INF/mozilla.rsa":
        return { ext: "xpi", mime: "application/x-xpinstall" };
      case "META-INF/MANIFEST.MF":
        return { ext: "jar", mime: "application/java-archive" };
      // An entry too large or unreadable to decide is passed over, as file-type passes it over.
      case ZIP_MIMETYPE_ENTRY:
        if (mimetype !== undefined) return byMimeType(mimetype) ?? iWorkType(iWork);
        break;
      case CONTENT_TYPES_ENTRY:
        if (contentTypes !== undefined) return byContentTypes(contentTypes) ?? iWorkType(iWork);
        break;
      default:
        if (/classes\d*\.dex/.test(name)) return { ext: "apk", mime: "application/vnd.android.package-archive" };
    }
  }
  return iWorkType(iWork);
}
