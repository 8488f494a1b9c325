// The postmaster dashboard's pages: the list of domains, and one domain's reports. Server-rendered,
// self-contained HTML (no script; the charts are inline SVG), the style allowed by its hash alone.
// Every value from a report is escaped here: reports are written by strangers.
import { htmlEscape } from "../postmaster/html.ts";
import { LANGUAGES, type Lang } from "../postmaster/language.ts";
import { stackedBarChart } from "./chart.ts";
import { TEXT, type DashboardText } from "./i18n.ts";
import type { DomainDashboard, DomainTotals, Refusal } from "./views.ts";

// Colours told apart with the common colour blindnesses (Okabe–Ito palette).
const COLORS = { pass: "#009e73", failNone: "#e69f00", failQuarantine: "#d55e00", failReject: "#cc79a7", successful: "#009e73", failed: "#d55e00" };

export const STYLE = `
:root{color-scheme:light dark;--fg:#1b1f24;--muted:#57606a;--bg:#fff;--panel:#f3f5f7;--line:#d0d7de;--accent:#0a58ca}
@media (prefers-color-scheme:dark){:root{--fg:#e6edf3;--muted:#9da7b1;--bg:#0f1419;--panel:#1a2129;--line:#30363d;--accent:#6cb6ff}}
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%;text-size-adjust:100%}
body{margin:0;background:var(--bg);color:var(--fg);font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans",sans-serif}
main{max-width:72rem;margin:0 auto;padding:1rem 1rem 3rem}
h1{font-size:1.6rem;line-height:1.25;margin:.6rem 0 .5rem;overflow-wrap:anywhere}
h2{font-size:1.25rem;margin:2rem 0 .5rem;padding-top:.5rem;border-top:1px solid var(--line)}
a{color:var(--accent)}
.lang{margin:.25rem 0 0;text-align:right;font-size:.95rem}
.lead,.who{color:var(--muted)}
code{font-family:ui-monospace,"SFMono-Regular",Menlo,Consolas,"DejaVu Sans Mono",monospace;font-size:.88em;overflow-wrap:anywhere}
@media (min-width:36rem){td code{white-space:nowrap}}
td.ip code{white-space:nowrap;overflow-wrap:normal}
.table-wrap{overflow-x:auto;margin:.75rem 0;max-width:100%}
table{border-collapse:collapse;width:100%;font-size:.93rem}
caption{text-align:left;font-weight:600;padding:.25rem 0}
th,td{border:1px solid var(--line);padding:.35rem .5rem;text-align:left;vertical-align:top}
thead th{background:var(--panel)}
td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
figure.chart{margin:.75rem 0;color:var(--fg)}
figure.chart svg.plot{width:100%;height:auto;max-height:18rem;display:block}
ul.legend{display:flex;flex-wrap:wrap;gap:.25rem 1rem;list-style:none;padding:0;margin:.4rem 0 0;font-size:.9rem}
svg.swatch{width:.8rem;height:.8rem;margin-right:.35rem;vertical-align:-.05rem}
details{margin:.5rem 0}
summary{cursor:pointer}
dl.policy{display:grid;grid-template-columns:max-content 1fr;gap:.2rem .8rem;margin:.5rem 0}
dl.policy dt{font-weight:600}
dl.policy dd{margin:0}
`;

/** The value of a Content-Security-Policy that allows this style sheet and nothing else to load or run. */
export async function contentSecurityPolicy(): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(STYLE)));
  const hash = btoa(String.fromCharCode(...digest));
  return `default-src 'none'; style-src 'sha256-${hash}'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`;
}

function fill(template: string, slots: Record<string, string>): string {
  return htmlEscape(template).replace(/\{(\w+)\}/g, (whole, name: string) => slots[name] ?? whole);
}

const code = (text: string): string => `<code>${htmlEscape(text)}</code>`;
const num = (n: number): string => `<td class="n">${n.toLocaleString("en-US")}</td>`;
const percent = (rate: number): string => `<td class="n">${(rate * 100).toFixed(1)} %</td>`;
const cell = (text: string | null): string => `<td>${text === null || text === "" ? "—" : htmlEscape(text)}</td>`;
/** An address cell: kept on one line (the table scrolls sideways on a phone rather than split an address). */
const ipCell = (text: string | null): string => `<td class="ip">${text === null || text === "" ? "—" : code(text)}</td>`;
const isoDate = (seconds: number): string => new Date(seconds * 1000).toISOString().slice(0, 10);

function table(id: string, caption: string, headings: readonly string[], rows: readonly string[]): string {
  const head = headings.map((h) => `<th scope="col">${htmlEscape(h)}</th>`).join("");
  return `<div class="table-wrap"><table id="${id}"><caption>${htmlEscape(caption)}</caption><thead><tr>${head}</tr></thead><tbody>${rows.map((r) => `<tr>${r}</tr>`).join("")}</tbody></table></div>`;
}

function section(id: string, heading: string, body: string): string {
  return `<section id="${id}" aria-labelledby="${id}-heading"><h2 id="${id}-heading">${htmlEscape(heading)}</h2>${body}</section>`;
}

const empty = (text: string): string => `<p class="empty">${htmlEscape(text)}</p>`;

function languageLinks(current: Lang, path: string): string {
  return LANGUAGES.filter((lang) => lang !== current)
    .map((lang) => `<a href="${htmlEscape(path)}?lang=${lang}" hreflang="${lang}" lang="${lang}">${htmlEscape(TEXT[lang].readInThisLanguage)}</a>`)
    .join(" · ");
}

function document(lang: Lang, title: string, path: string, body: string): string {
  return (
    `<!doctype html>\n<html lang="${lang}"><head><meta charset="utf-8">` +
    `<meta name="viewport" content="width=device-width, initial-scale=1"><meta name="robots" content="noindex">` +
    `<title>${title}</title><style>${STYLE}</style></head>` +
    `<body><main><header><p class="lang">${languageLinks(lang, path)}</p>${body}</main></body></html>\n`
  );
}

function refusalsSection(t: DashboardText, refused: readonly Refusal[]): string {
  const rows = refused.map(
    (r) => `${cell(r.receivedAt.slice(0, 16).replace("T", " "))}${cell(r.kind)}${cell(r.sender)}${cell(r.name ?? r.subject)}${cell(r.reason)}`,
  );
  return section(
    "refusals",
    t.refusalsHeading,
    rows.length > 0 ? table("refusals-table", t.refusalsHeading, [t.received, t.kind, t.sender, t.subject, t.reason], rows) : empty(t.refusalsNone),
  );
}

export function renderIndexPage(lang: Lang, who: string, totals: readonly DomainTotals[], refused: readonly Refusal[]): string {
  const t = TEXT[lang];
  const rows = totals.map(
    (d) =>
      `<th scope="row"><a href="/admin/${encodeURIComponent(d.domain)}?lang=${lang}">${htmlEscape(d.domain)}</a></th>${num(d.reports)}${num(d.messages)}${percent(d.messages > 0 ? d.passed / d.messages : 0)}`,
  );
  const body = [
    `<h1>${htmlEscape(t.indexTitle)}</h1><p class="lead">${htmlEscape(t.indexLead)}</p>`,
    `<p class="who">${fill(t.signedInAs, { who: htmlEscape(who) })}</p></header>`,
    table("domains", t.indexTitle, [t.domain, t.reports, t.messages, t.passRate], rows),
    refusalsSection(t, refused),
    `<p>${fill(t.api, { links: `<a href="/admin/api/domains">/admin/api/domains</a>, <a href="/admin/api/refusals">/admin/api/refusals</a>` })}</p>`,
  ].join("\n");
  return document(lang, htmlEscape(t.indexTitle), "/admin", body);
}

function policySection(t: DashboardText, dash: DomainDashboard): string {
  const { configured, seen } = dash.policy;
  const tags: [string, string | null][] = [
    ["p", configured.p],
    ["sp", configured.sp],
    ["adkim", configured.adkim],
    ["aspf", configured.aspf],
    ["pct", String(configured.pct)],
    ["rua", configured.rua.join(", ")],
    ["ruf", configured.ruf.join(", ")],
  ];
  const list = (entries: [string, unknown][]) =>
    `<dl class="policy">${entries
      .filter(([, v]) => v !== null && v !== undefined && v !== "")
      .map(([k, v]) => `<dt>${htmlEscape(k)}</dt><dd>${code(String(v))}</dd>`)
      .join("")}</dl>`;
  const seenHtml = seen
    ? `<p>${fill(t.policySeen, { reporter: htmlEscape(seen.reporter), date: htmlEscape(isoDate(seen.end)) })}</p>${list(Object.entries(seen.policy))}`
    : empty(t.policySeenNone);
  return section("policy", t.policyHeading, `<p>${htmlEscape(t.policyConfigured)}</p>${list(tags)}${seenHtml}`);
}

function timelineSection(t: DashboardText, dash: DomainDashboard): string {
  if (dash.timeline.length === 0) return section("timeline", t.timelineHeading, empty(t.timelineNone));
  const days = dash.timeline.map((d) => d.day);
  const series = [
    { label: t.pass, color: COLORS.pass, values: dash.timeline.map((d) => d.pass) },
    { label: t.failNone, color: COLORS.failNone, values: dash.timeline.map((d) => d.failNone) },
    { label: t.failQuarantine, color: COLORS.failQuarantine, values: dash.timeline.map((d) => d.failQuarantine) },
    { label: t.failReject, color: COLORS.failReject, values: dash.timeline.map((d) => d.failReject) },
  ];
  const rows = dash.timeline.map((d) => `${cell(d.day)}${num(d.pass)}${num(d.failNone)}${num(d.failQuarantine)}${num(d.failReject)}`);
  return section(
    "timeline",
    t.timelineHeading,
    stackedBarChart("timeline-chart", t.timelineChart, days, series) +
      `<details><summary>${htmlEscape(t.timelineHeading)}</summary>${table("timeline-table", t.timelineHeading, [t.day, t.pass, t.failNone, t.failQuarantine, t.failReject], rows)}</details>`,
  );
}

function sourcesSection(t: DashboardText, dash: DomainDashboard): string {
  const rows = dash.sources.map(
    (s) => `${ipCell(s.ip)}${cell(s.name)}${num(s.messages)}${num(s.passed)}${percent(s.passRate)}${num(s.reporters)}${cell(s.headerFrom.join(", "))}`,
  );
  return section(
    "sources",
    t.sourcesHeading,
    rows.length > 0
      ? table("sources-table", t.sourcesHeading, [t.source, t.reverseName, t.messages, t.passed, t.passRate, t.reporters, t.headerFrom], rows)
      : empty(t.sourcesNone),
  );
}

function failingSection(t: DashboardText, dash: DomainDashboard): string {
  const rows = dash.failing.map(
    (s) =>
      `${ipCell(s.ip)}${cell(s.name)}${num(s.messages)}${num(s.dkimFailed)}${num(s.spfFailed)}${cell(s.dkimDomains.join(", "))}${cell(s.spfDomains.join(", "))}`,
  );
  return section(
    "failing",
    t.failingHeading,
    rows.length > 0
      ? table("failing-table", t.failingHeading, [t.source, t.reverseName, t.messages, t.dkimFailed, t.spfFailed, t.dkimDomains, t.spfDomains], rows)
      : empty(t.failingNone),
  );
}

function tlsSection(t: DashboardText, dash: DomainDashboard): string {
  if (dash.tls.length === 0) return section("tlsrpt", t.tlsHeading, empty(t.tlsNone));
  const days = [...new Set(dash.tls.map((d) => d.day))];
  const sum = (day: string, key: "successful" | "failed") => dash.tls.filter((d) => d.day === day).reduce((n, d) => n + d[key], 0);
  const series = [
    { label: t.successful, color: COLORS.successful, values: days.map((d) => sum(d, "successful")) },
    { label: t.failed, color: COLORS.failed, values: days.map((d) => sum(d, "failed")) },
  ];
  const rows = dash.tls.map(
    (d) =>
      `${cell(d.day)}${cell(d.reporter)}${num(d.successful)}${num(d.failed)}${cell(
        Object.entries(d.failures)
          .map(([type, n]) => `${type}: ${n}`)
          .join(", "),
      )}`,
  );
  return section(
    "tlsrpt",
    t.tlsHeading,
    stackedBarChart("tls-chart", t.tlsChart, days, series) +
      table("tls-table", t.tlsHeading, [t.day, t.reporter, t.successful, t.failed, t.failureTypes], rows),
  );
}

function failureReportsSection(t: DashboardText, dash: DomainDashboard): string {
  const rows = dash.failureReports.map(
    (f) =>
      `${cell(f.arrivalTime === null ? f.receivedAt.slice(0, 10) : isoDate(f.arrivalTime))}${cell(f.reporter)}${ipCell(f.sourceIp)}${cell(f.sourceName)}${cell(f.authFailure)}${cell(f.originalFrom)}${cell(f.subject)}`,
  );
  return section(
    "failure-reports",
    t.failureReportsHeading,
    rows.length > 0
      ? table(
          "failure-reports-table",
          t.failureReportsHeading,
          [t.arrival, t.reporter, t.source, t.reverseName, t.authFailure, t.originalFrom, t.subject],
          rows,
        )
      : empty(t.failureReportsNone),
  );
}

export function renderDomainPage(lang: Lang, who: string, dash: DomainDashboard): string {
  const t = TEXT[lang];
  const title = fill(t.title, { domain: htmlEscape(dash.domain) });
  const api = ["policy", "dmarc/timeline", "dmarc/sources", "dmarc/failing-sources", "dmarc/failure-reports", "tlsrpt"]
    .map((view) => `/admin/api/${encodeURIComponent(dash.domain)}/${view}`)
    .map((href) => `<a href="${htmlEscape(href)}">${htmlEscape(href.slice(href.lastIndexOf(dash.domain) + dash.domain.length + 1))}</a>`)
    .join(", ");
  const body = [
    `<p><a href="/admin?lang=${lang}">${htmlEscape(t.back)}</a></p><h1>${title}</h1>`,
    `<p class="lead">${fill(t.lead, { domain: code(dash.domain) })}</p><p class="who">${fill(t.signedInAs, { who: htmlEscape(who) })}</p></header>`,
    policySection(t, dash),
    timelineSection(t, dash),
    sourcesSection(t, dash),
    failingSection(t, dash),
    tlsSection(t, dash),
    failureReportsSection(t, dash),
    `<p>${fill(t.api, { links: api })}</p>`,
  ].join("\n");
  return document(lang, title, `/admin/${encodeURIComponent(dash.domain)}`, body);
}
