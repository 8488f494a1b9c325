// The postmaster dashboard as its owner sees it: the Worker bundled as `wrangler deploy` bundles it,
// served by workerd (Miniflare) on loopback with an in-memory D1, every public report sample handed
// over as the relay does (POST /v1/reports), then read by Debian's Chromium on a phone and on a
// desktop screen. Screenshots are written to test-output/dashboard/ on every run.
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium, type Browser, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { workerPart } from "../../core/config/worker.ts";
import { loadConfigFile } from "../../relay-node/src/config/file.ts";
import { dmarcPasses } from "../../core/dmarcrpt/aggregate.ts";
import { readReportMessage } from "../../core/reports/intake.ts";
import { bundleWorker, startWorker, type RunningWorker } from "../harness/worker.ts";
import { sampleMails } from "../fixtures/report-samples.ts";
import { withSampleDomain } from "../fixtures/report-config.ts";

const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));
const EXAMPLE_CONFIG = join(REPO_ROOT, "config/example.yaml");
const SCREENSHOTS = join(REPO_ROOT, "test-output/dashboard");
const CHROMIUM = "/usr/bin/chromium";
const PHONE = { width: 375, height: 812 };
const DESKTOP = { width: 1280, height: 900 };
const DASHBOARD_TOKEN = "browser-dashboard-token";
const REPORTS_TOKEN = "browser-reports-token";

interface PageElement {
  clientWidth: number;
  scrollWidth: number;
}

let scratch = "";
let worker: RunningWorker | undefined;
let browser: Browser | undefined;
const samples = sampleMails();

/** What the sources table must show for example.com, worked out here from the samples with the core parser. */
interface ExpectedSource {
  ip: string;
  messages: number;
  passed: number;
}

async function expectedSources(domain: string): Promise<ExpectedSource[]> {
  const seen = new Set<string>();
  const byIp = new Map<string, ExpectedSource>();
  for (const { mail } of samples) {
    for (const item of (await readReportMessage(mail)).items) {
      if (item.kind !== "dmarc-aggregate") continue;
      const { report } = item;
      const key = `${report.orgName}\n${report.email}\n${report.reportId}`;
      const about = report.policy.domain;
      // Stored once per reporter and report id, the first one in load order.
      if (seen.has(key) || !(about === domain || about.endsWith(`.${domain}`))) continue;
      seen.add(key);
      for (const record of report.records) {
        const source = byIp.get(record.sourceIp) ?? { ip: record.sourceIp, messages: 0, passed: 0 };
        source.messages += record.count;
        if (dmarcPasses(record)) source.passed += record.count;
        byIp.set(record.sourceIp, source);
      }
    }
  }
  // By volume, then by address as SQLite orders text (code units).
  return [...byIp.values()].sort((a, b) => b.messages - a.messages || (a.ip < b.ip ? -1 : a.ip > b.ip ? 1 : 0));
}

async function handOver(url: URL): Promise<{ stored: number; duplicates: number; refused: number }> {
  const totals = { stored: 0, duplicates: 0, refused: 0 };
  for (const { name, mail } of samples) {
    const res = await fetch(new URL("/v1/reports", url), {
      method: "POST",
      body: mail,
      headers: { authorization: `Bearer ${REPORTS_TOKEN}`, "edgemx-mail-from": "reports@reporter.example" },
    });
    expect(res.status, name).toBe(200);
    const outcome = (await res.json()) as typeof totals;
    totals.stored += outcome.stored;
    totals.duplicates += outcome.duplicates;
    totals.refused += outcome.refused;
  }
  return totals;
}

async function open(path: string, viewport: { width: number; height: number }, token: string | null, locale = "en-GB") {
  if (!browser || !worker) throw new Error("the browser or the Worker did not start");
  const context = await browser.newContext({
    viewport,
    isMobile: viewport.width < 500,
    deviceScaleFactor: viewport.width < 500 ? 2 : 1,
    locale,
    ...(token ? { extraHTTPHeaders: { authorization: `Bearer ${token}` } } : {}),
  });
  const page = await context.newPage();
  const requests: string[] = [];
  const violations: string[] = [];
  page.on("request", (r) => requests.push(r.url()));
  page.on("console", (m) => {
    if (/content security policy|refused to/i.test(m.text())) violations.push(m.text());
  });
  const response = await page.goto(new URL(path, worker.url).toString());
  return { page, context, requests, violations, status: response?.status() };
}

async function tableRows(page: Page, selector: string): Promise<string[][]> {
  const rows = await page.locator(`${selector} tbody tr`).all();
  return Promise.all(rows.map((row) => row.locator("th, td").allInnerTexts()));
}

async function noHorizontalOverflow(page: Page, width: number): Promise<void> {
  const { clientWidth, scrollWidth } = await page
    .locator("html")
    .evaluate((html: PageElement) => ({ clientWidth: html.clientWidth, scrollWidth: html.scrollWidth }));
  expect(clientWidth).toBe(width);
  expect(scrollWidth).toBeLessThanOrEqual(width);
}

const shown = (n: number) => n.toLocaleString("en-US");

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: install Debian's package "chromium" (apt-get install -y chromium)`);
  scratch = mkdtempSync(join(tmpdir(), "edgemx-dashboard-browser-"));
  mkdirSync(SCREENSHOTS, { recursive: true });
  const example = workerPart(loadConfigFile(EXAMPLE_CONFIG)) as Record<string, unknown>;
  worker = await startWorker({
    bundle: await bundleWorker(scratch),
    configJson: JSON.stringify(withSampleDomain(example)),
    bindings: { DASHBOARD_TOKEN, REPORTS_TOKEN },
    d1Databases: ["REPORTS_DB"],
  });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"],
  });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await worker?.stop();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

describe("the postmaster dashboard in Chromium, with every report sample handed over by the relay path", () => {
  it("takes every sample: each stored, a duplicate, or refused with its reason", async () => {
    const totals = await handOver(worker!.url);
    // Stored: 15 aggregate, 3 failure and 2 TLS reports about example.com and example.org. Duplicates:
    // nice-input.xml.gz and .zip, mail-auth's 001.xml and 004.xml (rfc9990-sample's reporter and id),
    // rpt02.json (rpt02.eml's report). Refused: 7 unreadable, 18 about domains not configured here.
    expect(totals).toEqual({ stored: 20, duplicates: 5, refused: 25 });
  });

  it("shows nothing without the token: 401 and no report data", async () => {
    const { page, context, status } = await open("/admin/example.com", DESKTOP, null);
    expect(status).toBe(401);
    const text = await page.locator("body").innerText();
    expect(text).toMatch(/^Not authorized/);
    expect(text).not.toMatch(/192\.0\.2|example\.com/);
    expect(await page.locator("table, svg").count()).toBe(0);
    await context.close();
    const wrong = await open("/admin/api/example.com/dmarc/sources", DESKTOP, "not-the-token");
    expect(wrong.status).toBe(403);
    await wrong.context.close();
  });

  for (const [label, viewport] of [
    ["phone (375 px)", PHONE],
    ["desktop (1280 px)", DESKTOP],
  ] as const) {
    it(`shows example.com's sources, counts and charts on a ${label}`, async () => {
      const { page, context, requests, violations, status } = await open("/admin/example.com", viewport, DASHBOARD_TOKEN);
      expect(status).toBe(200);
      expect(await page.locator("h1").innerText()).toBe("Reports for example.com");

      const expected = (await expectedSources("example.com")).slice(0, 25);
      const sources = await tableRows(page, "#sources-table");
      expect(sources.map(([ip, , messages, passed]) => [ip, messages, passed])).toEqual(expected.map((s) => [s.ip, shown(s.messages), shown(s.passed)]));
      // Facts read from the samples: RFC 9990's example (123 messages passing), veeam, usssa and example.net's 199.230.200.36.
      const row = (ip: string) => sources.find((r) => r[0] === ip);
      expect(row("192.0.2.123")?.slice(2, 5)).toEqual(["123", "123", "100.0 %"]);
      expect(row("199.230.200.36")?.slice(2, 5)).toEqual(["3", "0", "0.0 %"]);

      const failing = await tableRows(page, "#failing-table");
      expect(failing.find((r) => r[0] === "203.0.113.10")?.slice(2, 5)).toEqual(["2", "2", "2"]);
      // The policy this gateway publishes for example.com (withSampleDomain: p=reject).
      expect(await page.locator("#policy dl.policy").first().innerText()).toMatch(/p\s+reject/);

      // The timeline chart: one stacked bar group per reported day, drawn as inline SVG.
      const chart = page.locator("#timeline svg[role=img]");
      expect(await chart.count()).toBe(1);
      expect(await page.locator("#timeline svg rect").count()).toBeGreaterThan(5);
      expect(await page.locator("#tlsrpt svg[role=img]").count()).toBe(1);
      expect(await tableRows(page, "#tls-table")).toEqual([
        ["2020-01-01", "Google Inc.", "23", "1", "certificate-host-mismatch: 1"],
        ["2024-01-09", "Example Inc.", "0", "3", "validation-failure: 3"],
      ]);

      if (viewport === PHONE) await noHorizontalOverflow(page, PHONE.width);
      // Nothing loaded but the page itself, nothing refused by its Content-Security-Policy.
      expect(requests).toEqual([new URL("/admin/example.com", worker!.url).toString()]);
      expect(violations).toEqual([]);
      await page.screenshot({ path: join(SCREENSHOTS, `example.com-${viewport.width}.png`), fullPage: true });
      await context.close();
    });
  }

  it("is in German with ?lang=de, and lists the domains and the refused reports on /admin", async () => {
    const de = await open("/admin/example.com?lang=de", PHONE, DASHBOARD_TOKEN, "de-DE");
    expect(await de.page.locator("h1").innerText()).toBe("Berichte für example.com");
    expect(await de.page.locator("#sources-heading").innerText()).toBe("Häufigste Absenderquellen");
    await de.page.screenshot({ path: join(SCREENSHOTS, "example.com-375-de.png"), fullPage: true });
    await de.context.close();

    const index = await open("/admin", DESKTOP, DASHBOARD_TOKEN);
    const domains = await tableRows(index.page, "#domains");
    expect(domains.map((r) => r.slice(0, 2))).toEqual([
      ["example.com", "14"],
      ["example.org", "1"],
    ]);
    const refused = await tableRows(index.page, "#refusals-table");
    expect(refused).toHaveLength(25);
    expect(refused.some((r) => r.join(" ").includes("Unclosed tag 'xs:schema'"))).toBe(true);
    await index.page.screenshot({ path: join(SCREENSHOTS, "index-1280.png"), fullPage: true });
    await index.context.close();
  });
});
