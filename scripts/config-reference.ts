// The configuration reference (docs/configuration.md) as text, made from the schema: each field's type,
// default and meaning come from core/config/schema.ts (its zod types, defaults and descriptions), and
// only the prose around the tables is written here. `npm run docs` writes it; a test fails when the
// committed file differs (test/unit/config-docs.test.ts).
import { z } from "zod";
import { configFields, configSchema } from "../core/config/schema.ts";
import { workerConfigSchema } from "../core/config/worker.ts";

interface Section {
  /** The object the section's table lists, as a path: `relay.rspamd`, `domains[]`; "" is the document. */
  path: string;
  title: string;
  before?: string;
  after?: string;
}

const INTRO = `# Configuration reference

<!-- Generated from core/config/schema.ts by \`npm run docs\`; edit the schema's descriptions, not this file. -->

edgemx reads one YAML (or JSON) file. The relay and the tools look for it in this order: \`--config <file>\`,
the path in \`$EDGEMX_CONFIG\`, then \`./edgemx.yaml\`. The example, \`config/example.yaml\`, is read only
by \`npm start\` (the quickstart) or when asked for with \`--example\`; with no file named, a program
says so and stops. Relative paths in the file (\`relay.spool\`, \`relay.users.path\`, certificates and
keys …, and the \`./data/…\` defaults) are taken from the file's own folder, wherever the program runs.
The same schema (\`core/config/schema.ts\`) validates it everywhere:

- \`npm run config:check -- <file>\` checks a file and prints each bad field with its path and what was
  expected, e.g. \`domains[0].mtaSts.mode: expected one of "enforce", "testing", "none"\`. Exit code 1.
- \`npm start\`, \`wrangler dev\` and \`wrangler deploy\` refuse a bad file the same way before anything runs.
- Rules that span fields are part of the schema too (a spamtrap address at one of our domains, the learn
  listener beside the controller, …), so \`config:check\` refuses exactly what the relay and the Worker
  would refuse at start; \`test/*/config-rules.test.ts\` try each such rule at every entry point. Only
  what needs the environment or files is left to the start: see [Checked at start](#checked-at-start).
- The running relay reads the file again on \`SIGHUP\` or \`npm run reload\`, for the sessions that start
  after it; a bad file is refused the same way and the running configuration stays. Which settings need
  a restart instead: [relay.md](relay.md#reload).
- Unknown fields are refused (a typo never silently does nothing); YAML syntax errors name the line.
- The file is bounded at 4 MiB.

The Worker gets its part of the document — see [The Worker's part](#the-workers-part) — bundled at build
time (\`scripts/worker-config.ts\`, run by wrangler's \`[build]\` step). A Worker var \`EDGEMX_CONFIG\`
holding that part as JSON overrides the bundled one (Cloudflare limits a var to 5 KB, so this suits
small setups and tests). Secrets — DKIM private keys, the verdict API token, passwords — never go into
this file: see [deploy.md](deploy.md).

In the tables, a default of "none" means the field is unset unless you set it, "required" that the
document must set it, and "–" an object whose fields have their own defaults.`;

const SECTIONS: readonly Section[] = [
  { path: "", title: "Top level" },
  {
    path: "domains[]",
    title: "`domains[]`",
    after: `The relay accepts at RCPT only the recipients a domain names: its \`mailboxes\` and \`aliases\` (and their
subaddresses, \`relay.recipientDelimiter\`), every local part with \`catchAll: true\`, or, for a domain that names
none, those the mailbox host confirms when \`relay.recipientCheck\` asks it; any other is refused (550 5.1.1), never
accepted and bounced later. A domain with none of these is refused by the schema. Role mailboxes (\`postmaster@\`,
and every local part under \`roles\`) always exist (RFC 5321 §4.5.1). An alias to another domain is forwarded
with an SRS sender and an ARC seal ([forwarding.md](forwarding.md)).`,
  },
  {
    path: "connection",
    title: "`connection`",
    before: `The checks of the sending server and its envelope. Both inbound paths run them with the same code and
the same replies: the relay in its SMTP session (stage by stage: [relay.md](relay.md), each check:
[relay-checks.md](relay-checks.md)), and the Worker's Email Routing handler all at once, with the client
that Cloudflare's trace field names ([email-routing.md](email-routing.md)).`,
    after: `\`\`\`yaml
connection:
  dnsbl:
    zones:
      # Spamhaus's Data Query Service: the key is the secret SPAMHAUS_DQS_KEY, asked as <ip>.<key>.zen.dq.spamhaus.net
      - { zone: zen.dq.spamhaus.net, codes: [127.0.0.2, 127.0.0.3, 127.0.0.4, 127.0.0.9, 127.0.0.10, 127.0.0.11], keySecret: SPAMHAUS_DQS_KEY }
  greylist: { delaySeconds: 300 }
\`\`\``,
  },
  {
    path: "relay",
    title: "`relay`",
    after: "How the relay uses each of these: [relay.md](relay.md) and [relay-checks.md](relay-checks.md).",
  },
  { path: "judge", title: "`judge`" },
  {
    path: "judge.banned",
    title: "`judge.banned`",
    before: `What the judge refuses with \`554 5.7.0 Reject, id=<id> – BANNED\`. Every attachment is judged three ways,
and the first that matches decides:

1. **its declared file name** — the last extension, as Windows would read it: \`invoice.pdf.exe\` is an
   \`.exe\`; trailing dots and spaces are dropped (\`run.exe.\`), full-width letters folded (\`ｒｕｎ．ｅｘｅ\`),
   invisible and right-to-left-override characters removed (\`invoice<U+202E>fdp.exe\` is shown as
   \`invoiceexe.pdf\` but is an \`.exe\`), and a name is also read as cut at a NUL. RFC 2231 names
   (\`filename*=UTF-8''rechnung%2Eexe\`, continued \`filename*0*=\`/\`filename*1*=\`) are decoded, and the names
   of text parts that mail readers render inline are read too;
2. **its declared Content-Type** — one of \`mimeTypes\`, or a type that stands for a listed extension
   (\`application/msword\` → \`.doc\`, \`application/zip\` → \`.zip\`; \`application/octet-stream\` stands for nothing);
3. **its own bytes** — what the file really is, whatever it is called: Windows executables (PE: \`.exe\`,
   \`.dll\`), Office 97–2003 files told apart by their OLE2 directory (Word, Excel, PowerPoint, Visio,
   Publisher; Outlook \`.msg\` and Windows Installer too), Office Open XML packages told apart by their parts
   (\`docx\`, \`docm\`, \`xlsb\`, \`ppam\`, \`vsdx\` …, macros by \`vbaProject.bin\`), OneNote, Access, and several
   hundred other formats through [file-type](https://github.com/sindresorhus/file-type). It is banned when
   one of the extensions of what it is, or its MIME type, is listed.

**How the message is read.** Its parts are those of the RFC conformance check's MIME tree (see
[rfc-conformance.md](rfc-conformance.md), "What is read"), parsed once per verdict. Every leaf part is a
file, except \`text/plain\` and \`text/html\` parts not disposed as \`attachment\`: mail readers show those as
the message text, so only their declared names and types are judged. base64 and quoted-printable are
decoded as mail readers decode them (octets outside the base64 alphabet skipped). A part is decoded
only as far as its type detection reads — the first 8 KiB, 64 KiB for the formats that keep their signs further in — and in full only when it is opened (zip,
gzip, tar, OLE2, attached message) or its format is told further in; a large attachment of an allowed
type costs a few KiB of decoding. A message beyond the tree's bounds — multiparts nested deeper than
10, more than 1000 parts, a header section over 1000 fields or 256 KiB, a multipart boundary no line can
carry — cannot be inspected whole and gets \`archives.uninspectable\` (with \`accept\`, the parts that were
read are still judged).

Archives are then opened and every entry judged the same way: gzip, tar and zip (and zip-based formats
such as OpenDocument), nested in each other up to \`archives.maxDepth\`. A zip is itself banned while
\`zip\` is listed, so it is only opened when you remove \`zip\` from \`extensions\`. Attached messages
(\`message/rfc822\`, \`message/global\`, \`.eml\` files) are judged like the message itself, up to 10 deep.

An archive that **cannot be inspected** gets \`archives.uninspectable\`: an encrypted zip entry, a truncated
or corrupt archive, one nested deeper than \`maxDepth\`, more than \`maxTotalBytes\` unpacked or \`maxEntries\`
listed in the whole message, an Outlook \`.msg\` item, an OLE2 file whose directory cannot be read, and the
formats that are recognised but not opened: 7z, RAR, bzip2, xz, lzip, LZ4, zstd, compress (\`.Z\`),
LZH, ARJ, ACE, CAB (and so OneNote \`.onepkg\`), cpio, ar/deb, RPM, ISO and DMG images, CHM, PST. No
maintained reader for 7z or RAR runs in a Worker (their ports compile WebAssembly at run time, which
workerd forbids), so they are refused by default rather than let through unseen.

Script files (\`.js\`, \`.vbs\`, \`.bat\`, \`.cmd\`) are plain text: they are caught by their name or declared
type, not by their bytes.`,
    after: `\`\`\`yaml
judge:
  banned:
    archives: { maxDepth: 4, uninspectable: reject }
\`\`\``,
  },
  {
    path: "judge.rfc",
    title: "`judge.rfc`",
    before: `What the judge does when a message breaks a rule of the message format: refuse it in the SMTP session
(\`reject\`), let it through with a mark for the spam scoring and the mailbox (\`mark\`), or only write the
finding to the log (\`log\`). Each rule and the reasoning behind its default: [rfc-conformance.md](rfc-conformance.md).`,
  },
  {
    path: "relay.rspamd",
    title: "`relay.rspamd`",
    before: `Spam scoring, the spamtrap and learning with rspamd; how they work is in [spam.md](spam.md). Scoring is
on exactly when \`url\` is set. Secrets come from the environment, never from this file:
\`EDGEMX_RSPAMD_PASSWORD\` (the controller's password, needed only from outside its \`secure_ip\`) and
\`EDGEMX_LEARN_TOKEN\` (the learn listener's bearer token, required when \`learnListener\` is set).`,
    after: `The spamtrap's blocklist lives in the state relays share (\`relay.store\`, whether or not greylisting
is enabled): a table beside greylisting's in the SQLite file, or keys \`edgemx:blocklist:<ip>\` in the
Redis.

\`\`\`yaml
relay:
  rspamd:
    url: http://127.0.0.1:11333
    controllerUrl: http://127.0.0.1:11334
    onError: tempfail
    greylistScoreGate: 4
    spamtrap:
      addresses: [never-used-7f3a@example.org]
      fuzzy: { flag: 11 }
    learnListener: { host: 127.0.0.1, port: 11380 }
\`\`\``,
  },
];

const CHECKED_AT_START = `## Checked at start

What the schema cannot know — files, the environment, addresses to listen on — is checked when the relay
starts; a failure is one line on stderr and exit status 1. The Worker's secrets are read when they are
needed: without \`VERDICT_TOKEN\` the verdict API answers 503, without \`ARC_PRIVATE_KEY\` accepted mail is
not ARC-sealed.`;

/** A field with its wrappers (optional, nullable, default, transform) taken off, and their metadata merged. */
interface Unwrapped {
  core: z.ZodType;
  meta: z.GlobalMeta;
  optional: boolean;
  nullable: boolean;
}

function unwrap(schema: z.ZodType): Unwrapped {
  let meta: z.GlobalMeta = {};
  let optional = false;
  let nullable = false;
  // The schema is built with zod's classic API, so every inner type is a classic z.ZodType too.
  let current: z.ZodType = schema;
  for (;;) {
    // The outermost metadata wins: a field's description over its type's.
    meta = { ...z.globalRegistry.get(current), ...meta };
    if (current instanceof z.ZodOptional) {
      optional = true;
      current = current.unwrap() as z.ZodType;
    } else if (current instanceof z.ZodNullable) {
      nullable = true;
      current = current.unwrap() as z.ZodType;
    } else if (current instanceof z.ZodDefault || current instanceof z.ZodPrefault) {
      current = current.unwrap() as z.ZodType;
    } else if (current instanceof z.ZodPipe) {
      current = current.in as z.ZodType; // what the document holds, before a transform
    } else {
      return { core: current, meta, optional, nullable };
    }
  }
}

const code = (text: string): string => `\`${text}\``;

function plural(noun: string): string {
  return /(s|x)$/.test(noun) ? `${noun}es` : `${noun}s`;
}

function alternatives(values: readonly string[]): string {
  const shown = values.map((v) => code(v));
  return shown.length === 1 ? shown[0]! : `${shown.slice(0, -1).join(", ")} or ${shown.at(-1)!}`;
}

const UNITS = ["bytes", "KiB", "MiB", "GiB"] as const;
function binarySize(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && value % 1024 === 0 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value} ${UNITS[unit]!}`;
}

/** A number's bounds as JSON Schema states them; the safe-integer bounds of .int() say nothing. */
function numberBounds(schema: z.ZodType, kind: string | undefined): string {
  const json = z.toJSONSchema(schema) as { minimum?: number; maximum?: number; exclusiveMinimum?: number };
  const shown = (n: number | undefined) =>
    n === undefined || Math.abs(n) >= Number.MAX_SAFE_INTEGER ? undefined : kind === "bytes" ? binarySize(n) : String(n);
  const min = shown(json.minimum);
  const max = shown(json.maximum);
  if (json.exclusiveMinimum !== undefined) return `> ${json.exclusiveMinimum}`;
  if (min !== undefined && max !== undefined) return `${min}–${max}`;
  if (min !== undefined) return `≥ ${min}`;
  return max === undefined ? "" : `≤ ${max}`;
}

function typeText(field: Unwrapped): string {
  const { core, meta } = field;
  let text: string;
  if (core instanceof z.ZodNumber) {
    const base = meta.kind ?? (core.isInt ? "integer" : "number");
    const bounds = meta.kind === "port" ? "" : numberBounds(core, meta.kind);
    text = bounds === "" ? base : `${base}, ${bounds}`;
  } else if (core instanceof z.ZodString) {
    text = meta.kind ?? (core.format === "email" ? "address" : core.format === "url" ? "URL" : "text");
  } else if (core instanceof z.ZodBoolean) {
    text = "boolean";
  } else if (core instanceof z.ZodEnum) {
    text = alternatives(core.options.map(String));
  } else if (core instanceof z.ZodLiteral) {
    text = code(String(core.value));
  } else if (core instanceof z.ZodArray) {
    const element = unwrap(core.element as z.ZodType);
    const elements = element.core instanceof z.ZodObject ? "objects" : element.core instanceof z.ZodEnum ? typeText(element) : plural(typeText(element));
    text = meta.kind ?? `list of ${elements}`;
    const atLeast = (z.toJSONSchema(core, { unrepresentable: "any", io: "input" }) as { minItems?: number }).minItems;
    if (atLeast !== undefined) text += `, ≥ ${atLeast}`;
  } else if (core instanceof z.ZodRecord) {
    const key = unwrap(core.keyType as z.ZodType);
    const value = unwrap(core.valueType as z.ZodType);
    text = `map ${typeText(key)} → ${value.core instanceof z.ZodObject ? "object" : typeText(value)}`;
  } else if (core instanceof z.ZodObject) {
    text = meta.kind ?? "object";
  } else {
    throw new Error(`the reference cannot describe a ${core.def.type} field`);
  }
  return field.nullable ? `${text} or \`null\`` : text;
}

/** A value as it would be written in YAML's flow style. */
function flow(value: unknown): string {
  if (value instanceof RegExp) return value.source;
  if (Array.isArray(value)) return `[${value.map(flow).join(", ")}]`;
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value).map(([k, v]) => `${k}: ${flow(v)}`);
    return entries.length === 0 ? "{}" : `{ ${entries.join(", ")} }`;
  }
  return String(value);
}

const DURATIONS = [
  [86400, "day"],
  [3600, "hour"],
  [60, "minute"],
] as const;
function duration(seconds: number): string | undefined {
  const [size, unit] = DURATIONS.find(([size]) => seconds >= size && seconds % size === 0) ?? [];
  if (size === undefined) return undefined;
  const count = seconds / size;
  return `${count} ${unit}${count === 1 ? "" : "s"}`;
}

/** What a default amounts to, where the number alone is hard to read: 52428800 is 50 MiB. */
function inWords(value: unknown, kind: string | undefined): string | undefined {
  if (typeof value !== "number") return undefined;
  if (kind === "bytes") return binarySize(value);
  if (kind === "seconds") return duration(value);
  return undefined;
}

function defaultText(schema: z.ZodType, field: Unwrapped): string {
  if (field.meta.defaultText !== undefined) return field.meta.defaultText;
  const parsed = schema.safeParse(undefined);
  if (!parsed.success) return "required";
  if (parsed.data === undefined) return "none";
  if (field.core instanceof z.ZodObject) return "–";
  const shown = code(flow(parsed.data));
  const words = inWords(parsed.data, field.meta.kind);
  return words === undefined ? shown : `${shown} (${words})`;
}

interface Row {
  /** The field as the table names it: its path within the section, and which option of a union. */
  field: string;
  /** Its path in the document. */
  path: string;
  type: string;
  default: string;
  meaning: string;
  checkedAtStart?: string;
}

/** The GitHub anchor of a heading. */
function anchor(title: string): string {
  return title
    .toLowerCase()
    .replace(/[^a-z0-9 -]/g, "")
    .replace(/ /g, "-");
}

/** The key of a union's options whose values are literals: `type` in `{ type: lmtp, host, port }`. */
function discriminator(options: readonly z.ZodObject[]): string {
  const keys = Object.keys(options[0]!.shape).filter((key) =>
    options.every((o) => {
      const field = (o.shape as Record<string, z.ZodType | undefined>)[key];
      return field !== undefined && unwrap(field).core instanceof z.ZodLiteral;
    }),
  );
  if (keys.length !== 1) throw new Error("the reference describes unions of objects told apart by one literal field");
  return keys[0]!;
}

function rows(object: z.ZodObject, sectionPath: string, prefix: string, sectionTitles: ReadonlyMap<string, string>, label = ""): Row[] {
  const out: Row[] = [];
  for (const [key, schema] of Object.entries(object.shape) as [string, z.ZodType][]) {
    const name = prefix === "" ? key : `${prefix}.${key}`;
    const path = sectionPath === "" ? name : `${sectionPath}.${name}`;
    const field = unwrap(schema);
    const description = field.meta.description;
    if (description === undefined) throw new Error(`${path} has no description in the schema`);
    const shownName = `${code(name)}${label}`;
    const { core } = field;
    const elementPath = `${path}[]`;
    const section = sectionTitles.get(path) ?? sectionTitles.get(elementPath);
    const seeBelow = section === undefined ? "" : `; see [${section}](#${anchor(section)})`;
    const atStart = field.meta.checkedAtStart === undefined ? {} : { checkedAtStart: field.meta.checkedAtStart };

    if (core instanceof z.ZodUnion && (core.options as readonly z.ZodType[]).some((o) => o instanceof z.ZodLiteral)) {
      // A word or an object, e.g. `scan: none` or `scan: { url, timeoutMs }`: the object's fields follow.
      const all = core.options as readonly z.ZodType[];
      const words = all.filter((o): o is z.ZodLiteral => o instanceof z.ZodLiteral).map((o) => String(o.value));
      out.push({ field: shownName, path, type: `${alternatives(words)}, or an object`, default: defaultText(schema, field), meaning: description, ...atStart });
      for (const option of all) if (option instanceof z.ZodObject) out.push(...rows(option, sectionPath, name, sectionTitles, label));
      continue;
    }
    if (core instanceof z.ZodUnion) {
      const options = core.options as readonly z.ZodObject[];
      const by = discriminator(options);
      const kinds = options.map((o) => String((unwrap(o.shape[by] as z.ZodType).core as z.ZodLiteral).value));
      out.push({
        field: shownName,
        path,
        type: `object by \`${by}\`: ${alternatives(kinds)}`,
        default: defaultText(schema, field),
        meaning: description,
        ...atStart,
      });
      for (const [i, option] of options.entries()) {
        const { [by]: _discriminator, ...fields } = option.shape;
        const optional = unwrap(option.shape[by] as z.ZodType).optional ? " or none" : "";
        out.push(...rows(z.object(fields), sectionPath, name, sectionTitles, ` (\`${by}: ${kinds[i]!}\`${optional})`));
      }
      continue;
    }
    out.push({ field: shownName, path, type: typeText(field), default: defaultText(schema, field), meaning: description + seeBelow, ...atStart });
    if (section !== undefined) continue;
    if (core instanceof z.ZodObject) out.push(...rows(core, sectionPath, name, sectionTitles, label));
    if (core instanceof z.ZodArray) {
      const element = unwrap(core.element as z.ZodType);
      if (element.core instanceof z.ZodObject) out.push(...rows(element.core, sectionPath, `${name}[]`, sectionTitles, label));
    }
    if (core instanceof z.ZodRecord) {
      const value = unwrap(core.valueType as z.ZodType);
      const key = unwrap(core.keyType as z.ZodType);
      if (value.core instanceof z.ZodObject) out.push(...rows(value.core, sectionPath, `${name}.<${key.meta.kind ?? "key"}>`, sectionTitles, label));
    }
  }
  return out;
}

/** The object schema at a section's path. */
function objectAt(path: string): z.ZodObject {
  let current: z.ZodType = configSchema;
  for (const segment of path === "" ? [] : path.split(".")) {
    const object = unwrap(current).core as z.ZodObject;
    const isList = segment.endsWith("[]");
    current = object.shape[isList ? segment.slice(0, -2) : segment] as z.ZodType;
    if (isList) current = (unwrap(current).core as z.ZodArray).element as z.ZodType;
  }
  const core = unwrap(current).core;
  if (!(core instanceof z.ZodObject)) throw new Error(`${path || "the document"} is not an object`);
  return core;
}

const cell = (text: string): string => text.replace(/\|/g, "\\|");

function table(list: readonly Row[]): string {
  return [
    "| field | type | default | meaning |",
    "| --- | --- | --- | --- |",
    ...list.map((r) => {
      const meaning = r.checkedAtStart === undefined ? r.meaning : `${r.meaning}; checked at start: ${r.checkedAtStart}`;
      return `| ${cell(r.field)} | ${cell(r.type)} | ${cell(r.default)} | ${cell(meaning)} |`;
    }),
  ].join("\n");
}

/** The object schema under a field's wrappers. */
function objectOf(schema: z.ZodType): z.ZodObject {
  const core = unwrap(schema).core;
  if (!(core instanceof z.ZodObject)) throw new Error("expected an object");
  return core;
}

/** What of the file the Worker reads, from its schema (core/config/worker.ts): its fields are listed, the others said. */
function workerPartSection(): string {
  const worker = workerConfigSchema.shape;
  const full = configFields.shape;
  const list = (names: readonly string[]): string => names.map((n) => code(n)).join(", ");
  const leftOut = (kept: z.ZodObject, whole: z.ZodObject): string[] => Object.keys(whole.shape).filter((key) => !(key in kept.shape));
  const domainKept = objectOf(worker.domains.element);
  const domainWhole = objectOf(full.domains.element);
  const dkimKept = objectOf(domainKept.shape.dkim as z.ZodType);
  const dkimWhole = objectOf(domainWhole.shape.dkim as z.ZodType);
  // A section lists its fields; inProcessJudge, a fact the build derives, is listed as it is.
  const relayFields = Object.entries(objectOf(worker.relay).shape).flatMap(([section, schema]) =>
    unwrap(schema as z.ZodType).core instanceof z.ZodObject
      ? Object.keys(objectOf(schema as z.ZodType).shape).map((field) => `relay.${section}.${field}`)
      : [`relay.${section}`],
  );
  const dkimLeftOut = [
    ...leftOut(dkimKept, dkimWhole).map((key) => `dkim.${key}`),
    ...leftOut(objectOf(dkimKept.shape.ed25519 as z.ZodType), objectOf(dkimWhole.shape.ed25519 as z.ZodType)).map((key) => `dkim.ed25519.${key}`),
  ];
  return `## The Worker's part

The Worker reads part of the file, and only that part is bundled into it (\`scripts/worker-config.ts\`):
Cloudflare stores the bundle, so the relay's settings — URLs that may carry passwords, files, stores —
stay on the relay's host. The Worker's schema (\`core/config/worker.ts\`, cut from the one schema)
refuses any other field as unknown, and the build stops when a value of the part looks like a secret
(a URL with a user name or password, a private key), naming its field.

- the top level: ${list(Object.keys(worker))};
- of each domain every field but ${list([...leftOut(domainKept, domainWhole), ...dkimLeftOut])};
- of \`reports\` every field but ${list(leftOut(objectOf(worker.reports), objectOf(full.reports)))};
- of \`relay\` only what the postmaster page tells senders: ${list(relayFields)} (whether \`relay.verdict.url\` is
  unset, without the URL).`;
}

export function configurationReference(): string {
  const sectionTitles = new Map(SECTIONS.filter((s) => s.path !== "").map((s) => [s.path, s.title]));
  const parts = [INTRO];
  const atStart: string[] = [];
  for (const section of SECTIONS) {
    const list = rows(objectAt(section.path), section.path, "", sectionTitles);
    parts.push(`## ${section.title}`);
    if (section.before !== undefined) parts.push(section.before);
    parts.push(table(list));
    if (section.after !== undefined) parts.push(section.after);
    for (const row of list) if (row.checkedAtStart !== undefined) atStart.push(`- \`${row.path}\`: ${row.checkedAtStart}`);
  }
  parts.push(workerPartSection(), CHECKED_AT_START, atStart.join("\n"));
  return `${parts.join("\n\n")}\n`;
}
