// Office Open XML packages (ECMA-376 Part 2, Open Packaging Conventions): zip files whose
// "[Content_Types].xml" names the content type of the main part. That type tells a Word document from
// a macro-enabled template, an Excel add-in or a Visio stencil ([MS-OFFMACRO2], [MS-VSDX] §2.1);
// the folder names (word/, xl/, ppt/, visio/) and a vbaProject.bin ([MS-OFFMACRO2] §2.2.1.3) are the
// fallback when that file cannot be read.
import mime from "mime";
import type { DetectedType } from "./detected-type.ts";

export const CONTENT_TYPES_ENTRY = "[Content_Types].xml";

type Application = "Word" | "Excel" | "PowerPoint" | "Visio";

// Main-part content types, most specific first: a presentation also holds parts of the slide type.
const MAIN_PARTS: readonly (readonly [contentType: string, extension: string, application: Application])[] = [
  ["application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml", "docx", "Word"],
  ["application/vnd.ms-word.document.macroenabled.main+xml", "docm", "Word"],
  ["application/vnd.openxmlformats-officedocument.wordprocessingml.template.main+xml", "dotx", "Word"],
  ["application/vnd.ms-word.template.macroenabledtemplate.main+xml", "dotm", "Word"],
  ["application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml", "xlsx", "Excel"],
  ["application/vnd.ms-excel.sheet.macroenabled.main+xml", "xlsm", "Excel"],
  ["application/vnd.openxmlformats-officedocument.spreadsheetml.template.main+xml", "xltx", "Excel"],
  ["application/vnd.ms-excel.template.macroenabled.main+xml", "xltm", "Excel"],
  ["application/vnd.ms-excel.sheet.binary.macroenabled.main", "xlsb", "Excel"],
  ["application/vnd.ms-excel.addin.macroenabled.main+xml", "xlam", "Excel"],
  ["application/vnd.openxmlformats-officedocument.presentationml.presentation.main+xml", "pptx", "PowerPoint"],
  ["application/vnd.ms-powerpoint.presentation.macroenabled.main+xml", "pptm", "PowerPoint"],
  ["application/vnd.openxmlformats-officedocument.presentationml.template.main+xml", "potx", "PowerPoint"],
  ["application/vnd.ms-powerpoint.template.macroenabled.main+xml", "potm", "PowerPoint"],
  ["application/vnd.openxmlformats-officedocument.presentationml.slideshow.main+xml", "ppsx", "PowerPoint"],
  ["application/vnd.ms-powerpoint.slideshow.macroenabled.main+xml", "ppsm", "PowerPoint"],
  ["application/vnd.ms-powerpoint.addin.macroenabled.main+xml", "ppam", "PowerPoint"],
  ["application/vnd.ms-powerpoint.slide.macroenabled.main+xml", "sldm", "PowerPoint"],
  ["application/vnd.openxmlformats-officedocument.presentationml.slide+xml", "sldx", "PowerPoint"],
  ["application/vnd.ms-visio.drawing.main+xml", "vsdx", "Visio"],
  ["application/vnd.ms-visio.drawing.macroenabled.main+xml", "vsdm", "Visio"],
  ["application/vnd.ms-visio.stencil.main+xml", "vssx", "Visio"],
  ["application/vnd.ms-visio.stencil.macroenabled.main+xml", "vssm", "Visio"],
  ["application/vnd.ms-visio.template.main+xml", "vstx", "Visio"],
  ["application/vnd.ms-visio.template.macroenabled.main+xml", "vstm", "Visio"],
];

// The folder of each application's main part, and its plain and macro-enabled document extensions.
const FOLDERS: readonly (readonly [folder: string, application: Application, plain: string, withMacros: string])[] = [
  ["word/", "Word", "docx", "docm"],
  ["xl/", "Excel", "xlsx", "xlsm"],
  ["ppt/", "PowerPoint", "pptx", "pptm"],
  ["visio/", "Visio", "vsdx", "vsdm"],
];

const NOUNS: Record<Application, string> = { Word: "document", Excel: "workbook", PowerPoint: "presentation", Visio: "drawing" };

/** The content type named in a ContentType="…" attribute of [Content_Types].xml (ECMA-376-2 §10.1.2.2), if any matches. */
function mainPartByContentType(contentTypesXml: string): (typeof MAIN_PARTS)[number] | undefined {
  const xml = contentTypesXml.toLowerCase();
  return MAIN_PARTS.find(([type]) => xml.includes(`"${type}"`) || xml.includes(`'${type}'`));
}

function officeType(application: Application, extension: string, hasVba: boolean): DetectedType {
  return {
    label: `Office Open XML ${application} ${NOUNS[application]}${hasVba ? " with VBA macros" : ""}`,
    extensions: [extension],
    mime: mime.getType(extension) ?? "application/zip",
    container: "zip",
  };
}

/**
 * What an OOXML package is, from its entry names and the text of [Content_Types].xml (undefined when
 * it could not be read); undefined when the zip is no Office package.
 */
export function ooxmlType(entryNames: readonly string[], contentTypesXml: string | undefined): DetectedType | undefined {
  if (!entryNames.includes(CONTENT_TYPES_ENTRY)) return undefined;
  const hasVba = entryNames.some((name) => name.toLowerCase().endsWith("vbaproject.bin"));
  const byType = contentTypesXml === undefined ? undefined : mainPartByContentType(contentTypesXml);
  if (byType) return officeType(byType[2], byType[1], hasVba);
  const byFolder = FOLDERS.find(([folder]) => entryNames.some((name) => name.startsWith(folder)));
  return byFolder ? officeType(byFolder[1], hasVba ? byFolder[3] : byFolder[2], hasVba) : undefined;
}
