// The postmaster page as a reader sees it: the Worker bundled as `wrangler deploy` bundles it, served by
// workerd (Miniflare) on loopback, read by Debian's Chromium on a phone-sized screen in English and German.
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { workerPart } from "../../core/config/worker.ts";
import { loadConfigFile } from "../../relay-node/src/config/file.ts";
import { REPLIES, REPLY_KEYS } from "../../core/smtp/replies.ts";
import { bundleWorker, startWorker, type RunningWorker } from "../harness/worker.ts";

const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));
const EXAMPLE_CONFIG = join(REPO_ROOT, "config/example.yaml");
const CHROMIUM = "/usr/bin/chromium";
const PHONE = { width: 375, height: 812 };

/**
 * The DOM the page functions below touch. They run in Chromium; this project's types are Node's, without
 * the DOM library, so Playwright's element types do not resolve here.
 */
interface PageElement {
  clientWidth: number;
  scrollWidth: number;
  ownerDocument: { defaultView: { getComputedStyle(element: PageElement, pseudoElement: string): { content: string } } | null };
}

let scratch = "";
let worker: RunningWorker | undefined;
let browser: Browser | undefined;

async function startExampleWorker(): Promise<URL> {
  const bundle = await bundleWorker(scratch);
  const configJson = JSON.stringify(workerPart(loadConfigFile(EXAMPLE_CONFIG)));
  worker = await startWorker({ bundle, configJson });
  return worker.url;
}

/** Chromium resolves the mail domain's hosts to the loopback Worker, so the page gets its real Host header. */
async function launchChromium(workerUrl: URL): Promise<Browser> {
  const loopback = workerUrl.host;
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      `--host-resolver-rules=MAP example.org ${loopback}, MAP postmaster.example.org ${loopback}, EXCLUDE localhost`,
      // Plain http on loopback: no automatic https:// upgrade attempt.
      "--disable-features=HttpsUpgrades,HttpsFirstBalancedModeAutoEnable",
    ],
  });
}

interface Reading {
  page: Page;
  context: BrowserContext;
  /** Every URL the page requested. */
  requests: string[];
  /** Console messages about refused loads (Content-Security-Policy). */
  violations: string[];
}

async function readOnPhone(url: string, locale: string): Promise<Reading> {
  if (!browser) throw new Error("the browser did not start");
  const context = await browser.newContext({ viewport: PHONE, isMobile: true, hasTouch: true, deviceScaleFactor: 2, locale });
  const page = await context.newPage();
  const requests: string[] = [];
  const violations: string[] = [];
  page.on("request", (r) => requests.push(r.url()));
  page.on("console", (m) => {
    if (/content security policy|refused to/i.test(m.text())) violations.push(m.text());
  });
  const response = await page.goto(url);
  expect(response?.status(), url).toBe(200);
  return { page, context, requests, violations };
}

const innerTexts = (page: Page, selector: string): Promise<string[]> => page.locator(selector).allInnerTexts();

async function settingsRows(page: Page): Promise<string[][]> {
  const rows = await page.locator("table.settings tbody tr").all();
  return Promise.all(rows.map((row) => row.locator("th, td").allInnerTexts()));
}

/** Nothing sticks out sideways: the document is no wider than the screen. */
async function noHorizontalOverflow(page: Page): Promise<void> {
  const { clientWidth, scrollWidth } = await page
    .locator("html")
    .evaluate((html: PageElement) => ({ clientWidth: html.clientWidth, scrollWidth: html.scrollWidth }));
  expect(clientWidth).toBe(PHONE.width);
  expect(scrollWidth).toBeLessThanOrEqual(PHONE.width);
}

async function replyExplanations(page: Page): Promise<{ key: string; reply: string; explanation: string }[]> {
  const terms = await page.locator("dl.replies dt").all();
  return Promise.all(
    terms.map(async (dt) => ({
      key: ((await dt.getAttribute("id")) ?? "").replace(/^reply-/, ""),
      reply: await dt.innerText(),
      explanation: await dt.locator("xpath=following-sibling::dd[1]").innerText(),
    })),
  );
}

beforeAll(async () => {
  // Never a skip: without the browser this test fails and says what to install.
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: install Debian's package "chromium" (apt-get install -y chromium)`);
  scratch = mkdtempSync(join(tmpdir(), "edgemx-postmaster-browser-"));
  browser = await launchChromium(await startExampleWorker());
});

afterAll(async () => {
  await browser?.close();
  await worker?.stop();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

describe("the postmaster page in Chromium on a 375 px phone screen", () => {
  it("reads in English on the postmaster host", async () => {
    const { page, context, requests, violations } = await readOnPhone("http://postmaster.example.org/", "en-US");
    try {
      expect(await page.getAttribute("html", "lang")).toBe("en");
      expect(await page.locator("h1").innerText()).toBe("Postmaster information for example.org");
      expect(await innerTexts(page, "h2")).toEqual([
        "Incoming mail",
        "Outgoing mail",
        "Mail program settings",
        "Autoconfig (Thunderbird)",
        "Autodiscover (Outlook)",
        "Spam filtering",
        "Error messages",
        "E-mail security and reporting",
      ]);
      expect(await settingsRows(page)).toEqual([
        ["Server", "mx.example.org", "mx.example.org", "mx.example.org"],
        ["STARTTLS port", "143", "587", "4190"],
        ["SSL/TLS port", "993", "465", "N/A"],
        ["Username", "username@example.org", "username@example.org", "username@example.org"],
        ["Authentication method", "Regular password (PLAIN)", "Regular password (PLAIN)", "Regular password (PLAIN)"],
      ]);
      const replies = await replyExplanations(page);
      expect(replies.map((r) => r.key)).toEqual(REPLY_KEYS);
      for (const { key, explanation } of replies) expect(explanation, key).toBe(REPLIES[key as keyof typeof REPLIES].explanation.en);
      expect(replies.find((r) => r.key === "banned")?.reply).toBe("554 5.7.0 Reject, id=XXXXX-XX – BANNED");
      expect(replies.find((r) => r.key === "dnsbl")?.reply).toBe("554 5.7.1 Service unavailable; Client host [IP] blocked using zone");
      await expect(page.locator("#mta-sts pre").last().innerText()).resolves.toBe("version: STSv1\nmode: testing\nmx: mx.example.org\nmax_age: 86401\n");
      await noHorizontalOverflow(page);
      expect(requests).toEqual(["http://postmaster.example.org/"]);
      expect(violations).toEqual([]);
      await page.screenshot({ path: join(tmpdir(), "edgemx-postmaster-en.png"), fullPage: true });
    } finally {
      await context.close();
    }
  });

  it("reads in German on <domain>/postmaster for a German browser", async () => {
    const { page, context, requests, violations } = await readOnPhone("http://example.org/postmaster", "de-DE");
    try {
      expect(await page.getAttribute("html", "lang")).toBe("de");
      expect(await page.locator("h1").innerText()).toBe("Postmaster-Informationen für example.org");
      expect(await innerTexts(page, "h2")).toEqual([
        "Eingehende E-Mails",
        "Ausgehende E-Mails",
        "Einstellungen für E-Mail-Programme",
        "Autoconfig (Thunderbird)",
        "Autodiscover (Outlook)",
        "Spamfilter",
        "Fehlermeldungen",
        "E-Mail-Sicherheit und Berichte",
      ]);
      expect(await settingsRows(page)).toEqual([
        ["Server", "mx.example.org", "mx.example.org", "mx.example.org"],
        ["STARTTLS-Port", "143", "587", "4190"],
        ["SSL/TLS-Port", "993", "465", "entfällt"],
        ["Benutzername", "benutzername@example.org", "benutzername@example.org", "benutzername@example.org"],
        ["Authentifizierungsmethode", "Passwort, normal (PLAIN)", "Passwort, normal (PLAIN)", "Passwort, normal (PLAIN)"],
      ]);
      const replies = await replyExplanations(page);
      expect(replies.map((r) => r.key)).toEqual(REPLY_KEYS);
      for (const { key, explanation } of replies) expect(explanation, key).toBe(REPLIES[key as keyof typeof REPLIES].explanation.de);
      expect(replies.find((r) => r.key === "senderDomainNotFound")?.reply).toBe("554 5.1.8 <Adresse>: Sender address rejected: Domain not found");
      await noHorizontalOverflow(page);
      expect(requests).toEqual(["http://example.org/postmaster"]);
      expect(violations).toEqual([]);
      await page.screenshot({ path: join(tmpdir(), "edgemx-postmaster-de.png"), fullPage: true });
    } finally {
      await context.close();
    }
  });

  it("switches language with the link at the top", async () => {
    const { page, context } = await readOnPhone("http://example.org/postmaster", "en-US");
    try {
      await page.getByRole("link", { name: "Diese Seite auf Deutsch lesen" }).tap();
      await page.waitForURL("http://example.org/postmaster?lang=de");
      expect(await page.getAttribute("html", "lang")).toBe("de");
      await page.getByRole("link", { name: "Read this page in English" }).tap();
      await page.waitForURL("http://example.org/postmaster?lang=en");
      expect(await page.locator("h1").innerText()).toBe("Postmaster information for example.org");
    } finally {
      await context.close();
    }
  });

  it("stacks the settings table on the phone, each value labelled with its protocol", async () => {
    const { page, context } = await readOnPhone("http://example.org/postmaster", "en-US");
    try {
      const table = await page.locator("table.settings").boundingBox();
      expect(table?.width).toBeLessThanOrEqual(PHONE.width);
      const labels = await page
        .locator("table.settings tbody tr:first-child td")
        .evaluateAll((cells: PageElement[]) => cells.map((cell) => cell.ownerDocument.defaultView?.getComputedStyle(cell, "::before").content));
      expect(labels).toEqual(['"IMAP"', '"SMTP"', '"SIEVE"']);
    } finally {
      await context.close();
    }
  });
});
