// The postmaster page: one self-contained HTML5 document, rendered from the live configuration and
// the DNS records the domain publishes. Every value from the configuration is escaped here.
import { domainsForwarding, relayJudgesInProcess, type WorkerConfig, type WorkerDomainConfig } from "../../../core/config/worker.ts";
import { clientSettings, type ClientEndpoint, type TlsMode } from "../../../core/clientconfig/settings.ts";
import { htmlEscape } from "./html.ts";
import { REPLIES, REPLY_KEYS, templateParts, type ReplyDefinition } from "../../../core/smtp/replies.ts";
import { mtaStsPolicy } from "../../../core/mtasts/published.ts";
import { toZoneText, type ZoneRecord } from "../../../core/records/records.ts";
import { TEXT, type PageText } from "./i18n.ts";
import { LANGUAGES, type Lang } from "./language.ts";
import { bannedFileTypes } from "./policy-lists.ts";
import { bannedTypesByExtension } from "../../../core/banned/type-extensions.ts";

export interface PostmasterPageInput {
  lang: Lang;
  domain: WorkerDomainConfig;
  config: WorkerConfig;
  /** domainRecords(domain, config, facts): what the page shows as published. */
  records: readonly ZoneRecord[];
}

// ---------------------------------------------------------------------------------------------
// Markup helpers: each takes text and returns escaped HTML, or takes HTML built by another helper.

const code = (text: string): string => `<code>${htmlEscape(text)}</code>`;

/** A comma-separated list of code items, or the escaped `none` text when there are none. */
const codeList = (items: readonly string[], none: string): string => (items.length > 0 ? items.map(code).join(", ") : htmlEscape(none));

/** The template escaped as text, with its `{slot}`s replaced by the given HTML. */
function fill(template: string, slots: Record<string, string> = {}): string {
  return templateParts(template)
    .map((part) => ("literal" in part ? htmlEscape(part.literal) : (slots[part.placeholder] ?? htmlEscape(`{${part.placeholder}}`))))
    .join("");
}

const paragraph = (html: string): string => `<p>${html}</p>`;
const bulleted = (items: readonly string[]): string => `<ul>${items.map((i) => `<li>${i}</li>`).join("")}</ul>`;
const numbered = (items: readonly string[]): string => `<ol>${items.map((i) => `<li>${i}</li>`).join("")}</ol>`;
const zoneText = (records: readonly ZoneRecord[]): string => `<pre>${htmlEscape(toZoneText(records))}</pre>`;

function section(id: string, heading: string, body: string): string {
  return `<section id="${id}"><h2>${htmlEscape(heading)}</h2>${body}</section>`;
}

function subsection(id: string, heading: string, body: string): string {
  return `<section id="${id}"><h3>${htmlEscape(heading)}</h3>${body}</section>`;
}

// ---------------------------------------------------------------------------------------------
// The records of the domain, by the mechanism they serve.

interface PublishedRecords {
  spf: ZoneRecord[];
  dkim: ZoneRecord[];
  dmarc: ZoneRecord[];
  mtaSts: ZoneRecord[];
  tlsRpt: ZoneRecord[];
  tlsa: ZoneRecord[];
  clientSrv: ZoneRecord[];
  autoconfig: ZoneRecord[];
  autodiscover: ZoneRecord[];
}

const isTxtStarting = (r: ZoneRecord, tag: string): boolean => r.type === "TXT" && r.value.replace(/^"/, "").startsWith(tag);

function publishedRecords(records: readonly ZoneRecord[], domain: WorkerDomainConfig): PublishedRecords {
  const under = (label: string) => (r: ZoneRecord) => r.name.toLowerCase() === `${label}.${domain.name}.`;
  const clientServices = ["_submissions._tcp", "_submission._tcp", "_imaps._tcp", "_imap._tcp", "_sieve._tcp"];
  return {
    spf: records.filter((r) => isTxtStarting(r, "v=spf1")),
    dkim: records.filter((r) => r.type === "TXT" && r.name.toLowerCase().endsWith(`._domainkey.${domain.name}.`)),
    dmarc: records.filter(under("_dmarc")),
    mtaSts: records.filter((r) => under("_mta-sts")(r) || under("mta-sts")(r)),
    tlsRpt: records.filter(under("_smtp._tls")),
    tlsa: records.filter((r) => r.type === "TLSA"),
    clientSrv: records.filter((r) => r.type === "SRV" && clientServices.some((s) => under(s)(r))),
    autoconfig: records.filter(under("autoconfig")),
    autodiscover: records.filter((r) => under("autodiscover")(r) || under("_autodiscover._tcp")(r)),
  };
}

/** The records with the "As published" lead-in, or a note that the domain publishes none of them. */
function publishedBlock(records: readonly ZoneRecord[], t: PageText): string {
  return records.length > 0 ? paragraph(htmlEscape(t.security.published)) + zoneText(records) : paragraph(htmlEscape(t.security.notPublished));
}

// ---------------------------------------------------------------------------------------------
// Sections.

function formatBytes(bytes: number, lang: Lang): string {
  const units: [string, number][] = [
    ["GiB", 1024 ** 3],
    ["MiB", 1024 ** 2],
    ["KiB", 1024],
  ];
  const [unit, size] = units.find(([, s]) => bytes >= s) ?? ["bytes", 1];
  return `${new Intl.NumberFormat(lang, { maximumFractionDigits: 1 }).format(bytes / size)} ${unit}`;
}

/** The banned extensions as the page shows them: one by one, the Office family as one phrase. */
function fileTypeList(extensions: readonly string[], t: PageText): string {
  const banned = bannedFileTypes(extensions);
  const items = [...banned.extensions.map((e) => code(`.${e}`)), ...banned.families.map((f) => htmlEscape(t.incoming.documentFamilies[f]))];
  return items.length > 0 ? items.join(", ") : htmlEscape(t.noneConfigured);
}

/** The extensions the banned MIME types cover beyond the listed extensions (setup.msi, update.hta), each with its type. */
function typeExtensionList(mimeTypes: readonly string[], extensions: readonly string[]): string[] {
  const listed = new Set(extensions);
  return [...bannedTypesByExtension(mimeTypes)].filter(([ext]) => !listed.has(ext)).map(([ext, type]) => `${code(`.${ext}`)} (${htmlEscape(type)})`);
}

/** Which archives are opened: zip, tar and gzip by every judge; 7z, RAR and xz by the relay's own (in-process) judge. */
function archiveItems(config: WorkerConfig, t: PageText): string[] {
  const ti = t.incoming;
  const { archives } = config.judge.banned;
  const relayOpens = relayJudgesInProcess(config);
  const formats = ["zip", "tar", "gzip", ...(relayOpens ? ["7z", "RAR", "xz"] : [])];
  const opened = fill(ti.archives, {
    depth: htmlEscape(String(archives.maxDepth)),
    formats: formats.map(code).join(", "),
    policy: htmlEscape(ti.uninspectable[archives.uninspectable]),
  });
  return relayOpens ? [opened, fill(ti.archivesRelay)] : [opened];
}

/**
 * Whether Cloudflare Email Routing receives the domain's mail: its MX hosts, as configured, are all
 * Cloudflare's (route1.mx.cloudflare.net …; docs/email-routing.md asks to keep `mx` in step with them).
 * Such mail reaches the Worker's email(), which runs the connection checks, greylisting and the judge,
 * the virus scan and spam scoring only through the relay's scan endpoint (`scan.url`, not `scan: none`),
 * and cannot see the session's TLS.
 */
export function receivedByEmailRouting(domain: WorkerDomainConfig): boolean {
  return domain.mx.length > 0 && domain.mx.every((host) => host.toLowerCase().replace(/\.$/, "").endsWith(".mx.cloudflare.net"));
}

/** Whether mail Email Routing hands over is scanned: a scan endpoint is configured (`scan: none` or unset: not). */
function routedMailScanned(config: WorkerConfig): boolean {
  return config.scan !== undefined && config.scan !== "none";
}

function incomingSection(input: PostmasterPageInput, t: PageText, published: PublishedRecords): string {
  const { domain, config, lang } = input;
  const { relay } = config;
  const ti = t.incoming;
  const routed = receivedByEmailRouting(domain);
  const { banned } = config.judge;
  const byTypeName = typeExtensionList(banned.mimeTypes, banned.extensions);
  const tlsDomains = config.connection.mandatoryTls.domains;
  const size = (bytes: number) => htmlEscape(formatBytes(bytes, lang));
  const checks = [
    fill(ti.dnsbl, {
      zones: codeList(
        config.connection.dnsbl.zones.map((z) => z.zone),
        t.noneConfigured,
      ),
    }),
    fill(routed && !routedMailScanned(config) ? ti.routed.virus : ti.virus),
    fill(ti.rfc),
    fill(ti.reverseDns),
    fill(ti.m3aawg),
    fill(ti.authentication),
    ...(!routed
      ? [fill(ti.mandatoryTls, { domains: codeList(tlsDomains, t.noneConfigured) })]
      : tlsDomains.length > 0
        ? [fill(ti.routed.mandatoryTls, { domains: codeList(tlsDomains, t.noneConfigured) })]
        : []),
    fill(ti.plausibility),
    ...(domainsForwarding(config).includes(domain.name)
      ? [
          fill(ti.forwarding, {
            domain: code(domain.name),
            example: code(`SRS0=…@${domain.name}`),
            days: htmlEscape(new Intl.NumberFormat(lang).format(relay.srs.maxAgeDays)),
          }),
        ]
      : []),
    fill(ti.mimeTypes, { types: codeList(banned.mimeTypes, t.noneConfigured) }),
    fill(ti.fileTypes, { types: fileTypeList(banned.extensions, t) }),
    ...(byTypeName.length > 0 ? [fill(ti.typeExtensions, { extensions: byTypeName.join(", ") })] : []),
    ...archiveItems(config, t),
    fill(ti.relaying),
    routed
      ? fill(ti.routed.limits, { size: size(config.judge.maxMessageBytes) })
      : fill(ti.limits, { size: size(relay.limits.maxMessageBytes), recipients: htmlEscape(new Intl.NumberFormat(lang).format(relay.limits.maxRecipients)) }),
  ];
  const intro = fill(routed ? ti.routed.intro : ti.intro, { domain: code(domain.name), hosts: codeList(domain.mx, t.noneConfigured) });
  return section("incoming", ti.heading, paragraph(intro) + bulleted(checks) + rolesSubsection(domain, config, t) + daneSubsection(published, t));
}

function rolesSubsection(domain: WorkerDomainConfig, config: WorkerConfig, t: PageText): string {
  const tr = t.roles;
  const roles = Object.entries(config.roles);
  if (roles.length === 0) return subsection("roles", tr.heading, paragraph(htmlEscape(tr.noRoles)));
  const rows = roles.map(([localPart, policy]) => {
    const relaxed = policy.relax.length > 0 ? policy.relax.map((c) => tr.checks[c]).join(", ") : tr.relaxedNone;
    // <wbr>: on a narrow screen the address breaks before its "@", not inside a word.
    return `<tr><td><code>${htmlEscape(localPart)}<wbr>@${htmlEscape(domain.name)}</code></td><td>${htmlEscape(relaxed)}</td></tr>`;
  });
  const table =
    `<div class="table-wrap"><table><thead><tr><th scope="col">${htmlEscape(tr.address)}</th><th scope="col">${htmlEscape(tr.relaxed)}</th></tr></thead>` +
    `<tbody>${rows.join("")}</tbody></table></div>`;
  const unscanned = receivedByEmailRouting(domain) && !routedMailScanned(config);
  return subsection("roles", tr.heading, paragraph(htmlEscape(unscanned ? tr.introRouted : tr.intro)) + table);
}

function daneSubsection(published: PublishedRecords, t: PageText): string {
  const records = published.tlsa.length > 0 ? zoneText(published.tlsa) : paragraph(htmlEscape(t.dane.noRecords));
  return subsection("dane", t.dane.heading, paragraph(htmlEscape(t.dane.text)) + records);
}

/** The file types refused in submitted mail (judge.outboundBanned), when any are. */
function outboundBannedItems(config: WorkerConfig, t: PageText): string[] {
  const { mimeTypes, extensions } = config.judge.outboundBanned;
  if (mimeTypes.length === 0 && extensions.length === 0) return [];
  const types = [...extensions.map((e) => code(`.${e}`)), ...typeExtensionList(mimeTypes, extensions), ...mimeTypes.map(code)];
  return [fill(t.outgoing.bannedTypes, { types: types.join(", ") })];
}

function outgoingSection(input: PostmasterPageInput, t: PageText): string {
  const { domain, config } = input;
  const to = t.outgoing;
  const name = code(domain.name);
  const items = [
    fill(to.pfs),
    fill(to.mandatoryTls, { domains: codeList(config.connection.mandatoryTls.domains, t.noneConfigured) }),
    fill(to.dane),
    domain.dkim ? fill(to.dkim, { domain: name, selector: code(domain.dkim.selector) }) : fill(to.dkimMissing, { domain: name }),
    fill(to.arc),
    fill(to.spf, { domain: name }),
    fill(to.virus),
    ...outboundBannedItems(config, t),
    fill(to.ownAddresses),
  ];
  return section("outgoing", to.heading, paragraph(htmlEscape(to.intro)) + bulleted(items));
}

interface SettingsColumn {
  protocol: string;
  host: string | null;
  starttlsPort: number | null;
  sslPort: number | null;
}

const portWith = (endpoints: readonly ClientEndpoint[], tls: TlsMode): number | null => endpoints.find((e) => e.tls === tls)?.port ?? null;

function endpointColumn(protocol: string, endpoints: readonly ClientEndpoint[]): SettingsColumn {
  return { protocol, host: endpoints[0]?.host ?? null, starttlsPort: portWith(endpoints, "starttls"), sslPort: portWith(endpoints, "implicit") };
}

/** The columns of the manual settings table: IMAP, SMTP submission and ManageSieve. */
export function settingsColumns(domain: WorkerDomainConfig): SettingsColumn[] {
  const settings = clientSettings(domain);
  // RFC 5804 §2.2: ManageSieve (port 4190) starts in cleartext and upgrades with STARTTLS;
  // there is no implicit-TLS ManageSieve port.
  const sieve: SettingsColumn = {
    protocol: "SIEVE",
    host: domain.sieve.port === null ? null : (domain.sieve.host ?? domain.mx[0] ?? null),
    starttlsPort: domain.sieve.port,
    sslPort: null,
  };
  return [endpointColumn("IMAP", settings.imap), endpointColumn("SMTP", settings.smtp), sieve];
}

function clientsSection(input: PostmasterPageInput, t: PageText, published: PublishedRecords): string {
  const { domain } = input;
  const tc = t.clients;
  const columns = settingsColumns(domain);
  const orNa = (value: string | number | null): string => htmlEscape(value === null ? t.notApplicable : String(value));
  const row = (label: string, cell: (c: SettingsColumn) => string): string =>
    `<tr><th scope="row">${htmlEscape(label)}</th>${columns.map((c) => `<td data-label="${htmlEscape(c.protocol)}">${cell(c)}</td>`).join("")}</tr>`;
  const table =
    `<div class="table-wrap"><table class="settings"><caption>${fill(tc.caption, { domain: htmlEscape(domain.name) })}</caption>` +
    `<thead><tr><td></td>${columns.map((c) => `<th scope="col">${htmlEscape(c.protocol)}</th>`).join("")}</tr></thead><tbody>` +
    row(tc.server, (c) => orNa(c.host)) +
    row(tc.starttlsPort, (c) => orNa(c.starttlsPort)) +
    row(tc.sslPort, (c) => orNa(c.sslPort)) +
    row(tc.username, () => `${htmlEscape(tc.usernameLocalPart)}<wbr>@${htmlEscape(domain.name)}`) +
    row(tc.authentication, () => htmlEscape(tc.authenticationValue)) +
    `</tbody></table></div>`;
  const srv = published.clientSrv.length > 0 ? paragraph(htmlEscape(tc.srv)) + zoneText(published.clientSrv) : "";
  return section("clients", tc.heading, paragraph(htmlEscape(tc.intro)) + table + paragraph(htmlEscape(tc.sieveNote)) + srv);
}

function autoconfigSection(input: PostmasterPageInput, t: PageText, published: PublishedRecords): string {
  const name = input.domain.name;
  const ta = t.autoconfig;
  const urls = [`https://autoconfig.${name}/mail/config-v1.1.xml`, `https://${name}/.well-known/autoconfig/mail/config-v1.1.xml`];
  const dns = published.autoconfig.length > 0 ? paragraph(fill(ta.dns, { domain: htmlEscape(name) })) + zoneText(published.autoconfig) : "";
  return section("autoconfig", ta.heading, paragraph(htmlEscape(ta.what)) + paragraph(htmlEscape(ta.urls)) + bulleted(urls.map(code)) + dns);
}

function autodiscoverSection(input: PostmasterPageInput, t: PageText, published: PublishedRecords): string {
  const name = input.domain.name;
  const td = t.autodiscover;
  const urls = [`https://${name}/autodiscover/autodiscover.xml`, `https://autodiscover.${name}/autodiscover/autodiscover.xml`];
  const dns = published.autodiscover.length > 0 ? paragraph(htmlEscape(td.dns)) + zoneText(published.autodiscover) : "";
  return section(
    "autodiscover",
    td.heading,
    paragraph(htmlEscape(td.what)) +
      paragraph(htmlEscape(td.urls)) +
      numbered(urls.map(code)) +
      paragraph(htmlEscape(td.json)) +
      bulleted([code(`https://${name}/autodiscover/autodiscover.json`)]) +
      dns,
  );
}

function spamSection(input: PostmasterPageInput, t: PageText): string {
  const ts = t.spam;
  if (receivedByEmailRouting(input.domain)) {
    const { greylist } = input.config.connection;
    const greylisting = fill(ts.greylistingRouted, {
      seconds: htmlEscape(new Intl.NumberFormat(input.lang).format(greylist.delaySeconds)),
      count: htmlEscape(new Intl.NumberFormat(input.lang).format(greylist.autoAllowAfter)),
    });
    const intro = routedMailScanned(input.config) ? ts.introRoutedScanned : ts.introRouted;
    return section("spam", ts.heading, paragraph(htmlEscape(intro)) + (greylist.enabled ? bulleted([greylisting]) : ""));
  }
  return section("spam", ts.heading, paragraph(htmlEscape(ts.intro)) + bulleted([ts.greylisting, ts.learning, ts.spamtrap, ts.antivirus].map(htmlEscape)));
}

/** A reply line with its placeholders shown as <var> elements. */
function replyLine(reply: ReplyDefinition, t: PageText): string {
  const body = templateParts(reply.text)
    .map((part) => ("literal" in part ? htmlEscape(part.literal) : `<var>${htmlEscape(t.replies.placeholders[part.placeholder] ?? part.placeholder)}</var>`))
    .join("");
  return `<code class="reply">${reply.code} ${htmlEscape(reply.enhanced)} ${body}</code>`;
}

function repliesSection(input: PostmasterPageInput, t: PageText): string {
  const entries = REPLY_KEYS.map((key) => {
    const reply: ReplyDefinition = REPLIES[key];
    return `<dt id="reply-${key}">${replyLine(reply, t)}</dt><dd>${htmlEscape(reply.explanation[input.lang])}</dd>`;
  });
  return section("replies", t.replies.heading, paragraph(htmlEscape(t.replies.intro)) + `<dl class="replies">${entries.join("")}</dl>`);
}

function securitySection(input: PostmasterPageInput, t: PageText, published: PublishedRecords): string {
  const { domain } = input;
  const ts = t.security;
  const name = code(domain.name);
  const policyUrl = `https://mta-sts.${domain.name}/.well-known/mta-sts.txt`;
  const dkimHow = domain.dkim ? paragraph(fill(ts.dkimSelector, { domain: name, selector: code(domain.dkim.selector) })) : "";
  const parts = [
    subsection("dkim", "DKIM", paragraph(htmlEscape(ts.dkim)) + dkimHow + publishedBlock(published.dkim, t)),
    subsection("arc", "ARC", paragraph(htmlEscape(ts.arc)) + paragraph(htmlEscape(ts.arcKey))),
    subsection("spf", "SPF", paragraph(htmlEscape(ts.spf)) + publishedBlock(published.spf, t)),
    subsection(
      "dmarc",
      "DMARC",
      paragraph(htmlEscape(ts.dmarc)) +
        paragraph(fill(ts.dmarcPolicy, { policy: htmlEscape(ts.dmarcPolicies[domain.dmarc.p]) })) +
        publishedBlock(published.dmarc, t),
    ),
    subsection(
      "mta-sts",
      "MTA-STS",
      paragraph(htmlEscape(ts.mtaSts)) +
        publishedBlock(published.mtaSts, t) +
        paragraph(fill(ts.mtaStsPolicy, { url: code(policyUrl) })) +
        `<pre>${htmlEscape(mtaStsPolicy(domain).replaceAll("\r\n", "\n"))}</pre>` +
        paragraph(htmlEscape(ts.mtaStsModes[domain.mtaSts.mode])),
    ),
    subsection("tls-rpt", "TLS-RPT", paragraph(htmlEscape(ts.tlsRpt)) + publishedBlock(published.tlsRpt, t)),
  ];
  return section("security", ts.heading, parts.join(""));
}

function recordsSection(input: PostmasterPageInput, t: PageText): string {
  const heading = fill(t.security.allRecords, { domain: htmlEscape(input.domain.name) });
  return `<section id="records"><details><summary>${heading}</summary>${zoneText(input.records)}</details></section>`;
}

// ---------------------------------------------------------------------------------------------
// The document.

const STYLE = `
:root{color-scheme:light dark;--fg:#1b1f24;--muted:#57606a;--bg:#fff;--panel:#f3f5f7;--line:#d0d7de;--accent:#0a58ca}
@media (prefers-color-scheme:dark){:root{--fg:#e6edf3;--muted:#9da7b1;--bg:#0f1419;--panel:#1a2129;--line:#30363d;--accent:#6cb6ff}}
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%;text-size-adjust:100%}
body{margin:0;background:var(--bg);color:var(--fg);font:16px/1.55 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans",sans-serif}
main{max-width:50rem;margin:0 auto;padding:1rem 1rem 3rem}
h1{font-size:1.6rem;line-height:1.25;margin:.6rem 0 .5rem;overflow-wrap:anywhere}
h2{font-size:1.3rem;margin:2rem 0 .5rem;padding-top:.5rem;border-top:1px solid var(--line)}
h3{font-size:1.08rem;margin:1.4rem 0 .4rem}
a{color:var(--accent)}
.lang{margin:.25rem 0 0;text-align:right;font-size:.95rem}
.lead{color:var(--muted)}
nav ol{display:flex;flex-wrap:wrap;gap:.25rem 1rem;padding:0;margin:.5rem 0;list-style:none;font-size:.95rem}
ul,ol{padding-left:1.3rem}
li{margin:.25rem 0}
code,pre,var{font-family:ui-monospace,"SFMono-Regular",Menlo,Consolas,"DejaVu Sans Mono",monospace;font-size:.88em}
code{overflow-wrap:anywhere}
td code{overflow-wrap:break-word}
@media (min-width:36rem){td code{white-space:nowrap}}
var{font-style:italic}
pre{background:var(--panel);border:1px solid var(--line);border-radius:6px;padding:.6rem .75rem;white-space:pre-wrap;overflow-wrap:anywhere;tab-size:2;line-height:1.45}
.table-wrap{overflow-x:auto;margin:.75rem 0}
table{border-collapse:collapse;width:100%}
caption{text-align:left;font-weight:600;padding:.25rem 0}
th,td{border:1px solid var(--line);padding:.4rem .6rem;text-align:left;vertical-align:top}
thead th,tbody th{background:var(--panel)}
dl.replies dt{margin-top:1rem;padding:.4rem .6rem;background:var(--panel);border-left:3px solid var(--accent);border-radius:3px}
dl.replies dd{margin:.35rem 0 0 .9rem}
details{margin-top:2rem;border-top:1px solid var(--line);padding-top:.75rem}
summary{cursor:pointer;font-weight:600}
footer{margin-top:2rem;color:var(--muted);font-size:.9rem}
@media (max-width:36rem){
  h1{font-size:1.35rem}
  table.settings thead{position:absolute;width:1px;height:1px;overflow:hidden;clip-path:inset(50%)}
  table.settings,table.settings caption,table.settings tbody,table.settings tr,table.settings th,table.settings td{display:block;width:100%}
  table.settings tr{margin-bottom:.75rem;border:1px solid var(--line);border-radius:6px;overflow:hidden}
  table.settings th,table.settings td{border:0;border-top:1px solid var(--line)}
  table.settings tbody th{border-top:0}
  table.settings td::before{content:attr(data-label);display:inline-block;min-width:4.5rem;font-weight:600;color:var(--muted)}
}
`;

function contentsNav(t: PageText): string {
  const entries: [string, string][] = [
    ["incoming", t.incoming.heading],
    ["outgoing", t.outgoing.heading],
    ["clients", t.clients.heading],
    ["autoconfig", t.autoconfig.heading],
    ["autodiscover", t.autodiscover.heading],
    ["spam", t.spam.heading],
    ["replies", t.replies.heading],
    ["security", t.security.heading],
  ];
  const links = entries.map(([id, label]) => `<li><a href="#${id}">${htmlEscape(label)}</a></li>`).join("");
  return `<nav aria-label="${htmlEscape(t.contents)}"><ol>${links}</ol></nav>`;
}

function languageLinks(current: Lang): string {
  return LANGUAGES.filter((lang) => lang !== current)
    .map((lang) => `<a href="?lang=${lang}" hreflang="${lang}" lang="${lang}">${htmlEscape(TEXT[lang].readInThisLanguage)}</a>`)
    .join(" · ");
}

export function renderPostmasterPage(input: PostmasterPageInput): string {
  const { lang, domain, config } = input;
  const t = TEXT[lang];
  const published = publishedRecords(input.records, domain);
  const service = clientSettings(domain).displayName;
  const title = fill(t.title, { domain: htmlEscape(domain.name) });
  const body = [
    `<header><p class="lang">${languageLinks(lang)}</p><h1>${title}</h1>`,
    `<p class="lead">${fill(t.lead, { service: `<strong>${htmlEscape(service)}</strong>`, domain: code(domain.name) })}</p>`,
    `${contentsNav(t)}</header>`,
    incomingSection(input, t, published),
    outgoingSection(input, t),
    clientsSection(input, t, published),
    autoconfigSection(input, t, published),
    autodiscoverSection(input, t, published),
    spamSection(input, t),
    repliesSection(input, t),
    securitySection(input, t, published),
    recordsSection(input, t),
    `<footer>${fill(t.footer, { hostname: code(config.hostname) })}</footer>`,
  ];
  return (
    `<!doctype html>\n<html lang="${lang}"><head><meta charset="utf-8">` +
    `<meta name="viewport" content="width=device-width, initial-scale=1">` +
    `<title>${title}</title><style>${STYLE}</style></head>` +
    `<body><main>${body.join("\n")}</main></body></html>\n`
  );
}
