import { SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../core/config/load.ts";
import { REPLIES, REPLY_KEYS } from "../../core/smtp/replies.ts";
import { negotiateLanguage, pageLanguage, parseAcceptLanguage } from "../../workers/src/postmaster/language.ts";
import { receivedByEmailRouting, renderPostmasterPage, settingsColumns } from "../../workers/src/postmaster/page.ts";

const DOMAIN_PAGE = "https://example.org/postmaster";
const POSTMASTER_HOST = "https://postmaster.example.org/";

async function page(url: string, headers: Record<string, string> = {}): Promise<{ res: Response; html: string }> {
  const res = await SELF.fetch(url, { headers });
  return { res, html: await res.text() };
}

/** What a reader sees: block elements apart, inline ones joined, entities decoded, whitespace collapsed. */
function visibleText(html: string): string {
  return html
    .replace(/<style>[\s\S]*?<\/style>/g, "")
    .replace(/<\/?(p|li|ul|ol|dt|dd|h\d|pre|tr|th|td|caption|div|section|nav|header|footer|summary|details)\b[^>]*>/g, " ")
    .replace(/<[^>]+>/g, "")
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">")
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&amp;/g, "&")
    .replace(/\s+/g, " ")
    .trim();
}

const htmlLang = (html: string): string | undefined => /<html lang="([^"]+)"/.exec(html)?.[1];

describe("postmaster page: hosts, methods, headers", () => {
  it("is served on <domain>/postmaster and on the postmaster host", async () => {
    for (const url of [DOMAIN_PAGE, POSTMASTER_HOST, "https://postmaster.example.org/postmaster", "https://EXAMPLE.org/Postmaster"]) {
      const { res, html } = await page(url);
      expect(res.status, url).toBe(200);
      expect(res.headers.get("content-type"), url).toBe("text/html; charset=utf-8");
      expect(html, url).toMatch(/^<!doctype html>\n<html lang="en">/);
      expect(html, url).toContain('<meta name="viewport" content="width=device-width, initial-scale=1">');
      expect(visibleText(html), url).toContain("Postmaster information for example.org");
    }
  });

  it("forbids every external load with its Content-Security-Policy", async () => {
    const { res } = await page(DOMAIN_PAGE);
    const csp = res.headers.get("content-security-policy") ?? "";
    expect(csp).toMatch(/(^|; )default-src 'none'(;|$)/);
    expect(csp).toMatch(/(^|; )style-src 'unsafe-inline'(;|$)/);
    expect(csp).not.toMatch(/script-src|https?:/);
    expect(res.headers.get("x-content-type-options")).toBe("nosniff");
    expect(res.headers.get("vary")).toMatch(/accept-language/i);
  });

  it("answers HEAD with the headers and no body", async () => {
    const res = await SELF.fetch(DOMAIN_PAGE, { method: "HEAD" });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/html; charset=utf-8");
    expect(await res.text()).toBe("");
  });

  it("refuses other methods with 405 and an Allow header", async () => {
    for (const url of [DOMAIN_PAGE, POSTMASTER_HOST]) {
      const res = await SELF.fetch(url, { method: "POST", body: "x" });
      expect(res.status, url).toBe(405);
      expect(res.headers.get("allow"), url).toBe("GET, HEAD");
    }
  });
});

describe("postmaster page: language", () => {
  it("speaks German for ?lang=de and English for ?lang=en, whatever Accept-Language says", async () => {
    const de = await page(`${DOMAIN_PAGE}?lang=de`, { "accept-language": "en" });
    expect(htmlLang(de.html)).toBe("de");
    expect(de.res.headers.get("content-language")).toBe("de");
    expect(visibleText(de.html)).toContain("Postmaster-Informationen für example.org");
    const en = await page(`${POSTMASTER_HOST}?lang=en`, { "accept-language": "de" });
    expect(htmlLang(en.html)).toBe("en");
  });

  it("falls back to Accept-Language for an unknown ?lang", async () => {
    expect(htmlLang((await page(`${DOMAIN_PAGE}?lang=fr`, { "accept-language": "de" })).html)).toBe("de");
    expect(htmlLang((await page(`${DOMAIN_PAGE}?lang=`)).html)).toBe("en");
  });

  it("weighs Accept-Language by q-value", async () => {
    const cases: [string, string][] = [
      ["en;q=0.3, de;q=0.9", "de"],
      ["de-DE,de;q=0.9,en;q=0.8", "de"],
      ["fr-FR, fr;q=0.9, de;q=0.5, en;q=0.4", "de"],
      ["de;q=0, en;q=0.1", "en"],
      ["fr", "en"],
      ["", "en"],
    ];
    for (const [header, lang] of cases) {
      const { html } = await page(DOMAIN_PAGE, header ? { "accept-language": header } : {});
      expect(htmlLang(html), header).toBe(lang);
    }
  });

  it("parses Accept-Language per RFC 9110 §12.5.4", () => {
    expect(parseAcceptLanguage("de-AT;q=0.8, EN ; Q=0.5,*;q=0.1")).toEqual([
      { range: "de-at", q: 0.8 },
      { range: "en", q: 0.5 },
      { range: "*", q: 0.1 },
    ]);
    // Malformed ranges and weights are skipped, not guessed at.
    expect(parseAcceptLanguage("de;q=2, en;q=abc, 12, fr;q=0.500")).toEqual([{ range: "fr", q: 0.5 }]);
    expect(negotiateLanguage("*")).toBe("en");
    expect(negotiateLanguage("de;q=0.5, *;q=0.6")).toBe("en");
    expect(negotiateLanguage("de;q=0, *")).toBe("en");
    expect(negotiateLanguage("en;q=0, *")).toBe("de");
    expect(negotiateLanguage("de;q=0.5, en;q=0.5")).toBe("de");
    expect(negotiateLanguage(null)).toBe("en");
    expect(pageLanguage(" DE ", null)).toBe("de");
    expect(pageLanguage("xx", "de")).toBe("de");
  });

  it("links to the page in the other language", async () => {
    expect((await page(DOMAIN_PAGE)).html).toContain('<a href="?lang=de" hreflang="de" lang="de">Diese Seite auf Deutsch lesen</a>');
    expect((await page(`${DOMAIN_PAGE}?lang=de`)).html).toContain('<a href="?lang=en" hreflang="en" lang="en">Read this page in English</a>');
  });
});

describe("postmaster page: content from the configuration", () => {
  it("explains every reply of the replies table with its real text, in the page's language", async () => {
    const en = visibleText((await page(DOMAIN_PAGE)).html);
    const de = visibleText((await page(`${DOMAIN_PAGE}?lang=de`)).html);
    expect(en).toContain("554 5.1.8 <address>: Sender address rejected: Domain not found");
    expect(en).toContain("554 5.7.0 Reject, id=XXXXX-XX – INFECTED");
    expect(en).toContain("554 5.7.0 Reject, id=XXXXX-XX – BANNED");
    expect(en).toContain("554 5.7.0 Reject, id=XXXXX-XX – spam");
    expect(en).toContain("554 5.7.1 <host[IP]>: Client host rejected: Access denied");
    expect(en).toContain("554 5.7.1 Service unavailable; Client host [IP] blocked using zone");
    expect(en).toContain("554 5.7.1 <name>: Helo command rejected: Host not found");
    expect(en).toContain("538 5.7.11 Encryption required for requested authentication mechanism");
    expect(de).toContain("554 5.1.8 <Adresse>: Sender address rejected: Domain not found");
    for (const key of REPLY_KEYS) {
      expect(en, key).toContain(REPLIES[key].explanation.en);
      expect(de, key).toContain(REPLIES[key].explanation.de);
      expect(en, key).not.toContain(REPLIES[key].explanation.de);
    }
  });

  it("lists the configured checks, roles and policies", async () => {
    const text = visibleText((await page(DOMAIN_PAGE)).html);
    expect(text).toContain("DNS blocklists: zen.spamhaus.org.");
    expect(text).toContain("accepted only over TLS: none configured.");
    expect(text).toContain("application/x-msdownload, application/x-msdos-program, application/hta");
    expect(text).toContain(".exe, .vbs, .pif, .scr, .bat, .cmd, .com, .cpl, .dll, .zip, .js, all Microsoft Office documents");
    expect(text).toContain("up to 50 MiB large and have up to 100 recipients");
    expect(text).toContain("hostmaster@example.org DNS blocklists, reverse DNS, greylisting");
    expect(text).toContain("noc@example.org none: every check applies");
    expect(text).toContain("carries a DKIM signature of example.org (selector 1546251274)");
    expect(text).toContain("https://autoconfig.example.org/mail/config-v1.1.xml");
    expect(text).toContain("https://autodiscover.example.org/autodiscover/autodiscover.xml");
  });

  it("shows the manual client settings table", async () => {
    const { html } = await page(DOMAIN_PAGE);
    const table = /<table class="settings">[\s\S]*?<\/table>/.exec(html)?.[0] ?? "";
    const rows = [...table.matchAll(/<tr>([\s\S]*?)<\/tr>/g)].map((m) =>
      [...(m[1] ?? "").matchAll(/<t[hd][^>]*>([\s\S]*?)<\/t[hd]>/g)].map((c) => visibleText(c[1] ?? "")),
    );
    expect(rows).toEqual([
      ["", "IMAP", "SMTP", "SIEVE"],
      ["Server", "mx.example.org", "mx.example.org", "mx.example.org"],
      ["STARTTLS port", "143", "587", "4190"],
      ["SSL/TLS port", "993", "465", "N/A"],
      ["Username", "username@example.org", "username@example.org", "username@example.org"],
      ["Authentication method", "Regular password (PLAIN)", "Regular password (PLAIN)", "Regular password (PLAIN)"],
    ]);
  });

  it("shows the published DKIM, SPF, DMARC, MTA-STS and TLS-RPT records and the MTA-STS policy", async () => {
    const text = visibleText((await page(DOMAIN_PAGE)).html);
    expect(text).toMatch(/1546251274\._domainkey\.example\.org\.\s+\d+\s+IN\s+TXT\s+"v=DKIM1; k=rsa; p=MIIB/);
    expect(text).toMatch(/example\.org\.\s+\d+\s+IN\s+TXT\s+"v=spf1 mx a:mx\.example\.org -all"/);
    expect(text).toMatch(/_dmarc\.example\.org\.\s+\d+\s+IN\s+TXT\s+"v=DMARC1; p=reject;/);
    expect(text).toMatch(/_mta-sts\.example\.org\.\s+\d+\s+IN\s+TXT\s+"v=STSv1; id=[0-9a-f]+"/);
    expect(text).toMatch(/_smtp\._tls\.example\.org\.\s+\d+\s+IN\s+TXT\s+"v=TLSRPTv1; rua=mailto:tls-reports@example\.org"/);
    expect(text).toContain("version: STSv1 mode: testing mx: mx.example.org max_age: 86401");
    expect(text).toContain("testing mode");
  });

  it("loads nothing from elsewhere: every href is the page's own, there is no src", async () => {
    for (const lang of ["en", "de"]) {
      const { html } = await page(`${DOMAIN_PAGE}?lang=${lang}`);
      expect(html).not.toMatch(/\ssrc\s*=/i);
      expect(html).not.toMatch(/<(script|link|img|iframe|object|embed|form)\b/i);
      expect(html).not.toMatch(/url\(|@import/i);
      const hrefs = [...html.matchAll(/\shref\s*=\s*"([^"]*)"/gi)].map((m) => m[1] ?? "");
      expect(hrefs.length).toBeGreaterThan(5);
      for (const href of hrefs) expect(href, href).toMatch(/^(#[a-z-]+|\?lang=(en|de))$/);
    }
  });
});

describe("postmaster page: rendering", () => {
  const base = {
    hostname: "mx.example.net",
    domains: [{ name: "example.net", mx: ["mx1.example.net", "mx2.example.net"], catchAll: true, imap: { starttlsPort: null }, sieve: { port: null } }],
  };

  it("escapes every value from the configuration and the records", () => {
    const config = parseConfig({ ...base, domains: [{ ...base.domains[0], displayName: `<script>alert("x")</script> & Co` }] });
    // Values the schema would refuse, as a crafted object would carry them.
    config.connection.dnsbl.zones = [{ zone: "<b>bl</b>.example", codes: [] }];
    config.connection.mandatoryTls.domains = ['"><img src=x>'];
    const domain = config.domains[0]!;
    const records = [{ name: "example.net.", type: "TXT", value: '"v=spf1 <i>mx</i> -all"', comment: "a </pre> comment" }];
    const html = renderPostmasterPage({ lang: "en", domain, config, records });
    expect(html).not.toMatch(/<script|<b>|<img|<i>|<\/pre> comment/);
    expect(html).toContain("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; Co");
    expect(html).toContain("&lt;b&gt;bl&lt;/b&gt;.example");
    expect(html).toContain("&quot;&gt;&lt;img src=x&gt;");
    expect(html).toContain("&quot;v=spf1 &lt;i&gt;mx&lt;/i&gt; -all&quot;");
  });

  it("shows the TLSA records for DANE once the relay's key is known", () => {
    const config = parseConfig(base);
    const tlsa = { name: "_25._tcp.mx1.example.net.", type: "TLSA", value: `3 1 1 ${"ab".repeat(32)}` };
    const text = visibleText(renderPostmasterPage({ lang: "en", domain: config.domains[0]!, config, records: [tlsa] }));
    expect(text).toMatch(/_25\._tcp\.mx1\.example\.net\.\s+\d+\s+IN\s+TLSA\s+3 1 1 (ab){32}/);
    expect(text).not.toContain("cannot be shown here yet");
  });

  it("lists what is banned from the configuration: by type, by name, archives opened, and what submitted mail may not carry", () => {
    const config = parseConfig(base);
    const en = visibleText(renderPostmasterPage({ lang: "en", domain: config.domains[0]!, config, records: [] }));
    expect(en).toContain("refused whatever type they declare: .msi (application/x-msdownload), .hta (application/hta).");
    expect(en).toContain(
      "up to 3 levels deep: zip, tar, gzip, 7z, RAR, xz. An archive that cannot be looked into (encrypted, damaged, over the size bounds) is refused.",
    );
    expect(en).toContain("7z, RAR and xz archives are opened by our MX hosts");
    expect(en).toContain("is scanned for viruses; the file types refused in incoming mail may be sent");
    expect(en).not.toContain("may not carry these types of file");

    const strict = parseConfig({
      ...base,
      relay: { verdict: { url: "https://edge.example.org/v1/verdict" } },
      judge: { banned: { archives: { uninspectable: "accept" } }, outboundBanned: { extensions: ["exe", "scr"], mimeTypes: ["application/hta"] } },
    });
    const de = visibleText(renderPostmasterPage({ lang: "de", domain: strict.domains[0]!, config: strict, records: [] }));
    expect(de).toContain(
      "bis zu 3 Ebenen tief: zip, tar, gzip. Ein Archiv, in das nicht hineingesehen werden kann (verschlüsselt, beschädigt, über den Größengrenzen), wird angenommen.",
    );
    expect(de).not.toContain("7z-, RAR- und xz-Archive");
    expect(de).toContain("dürfen diese Dateitypen nicht enthalten: .exe, .scr, .hta (application/hta), application/hta");
  });

  it("states what a domain received by Cloudflare Email Routing gets: the connection checks and greylisting, no virus scan or spam scoring", () => {
    const routedDomain = { ...base.domains[0], mx: ["route1.mx.cloudflare.net", "route2.mx.cloudflare.net"], forwardTo: "mailbox@example.com" };
    const config = parseConfig({ ...base, domains: [routedDomain], connection: { mandatoryTls: { domains: ["bank.example"] } } });
    const domain = config.domains[0]!;
    expect(receivedByEmailRouting(domain)).toBe(true);
    expect(receivedByEmailRouting(parseConfig(base).domains[0]!)).toBe(false);
    const en = visibleText(renderPostmasterPage({ lang: "en", domain, config, records: [] }));
    expect(en).toContain("Mail for example.net is received by Cloudflare Email Routing (route1.mx.cloudflare.net, route2.mx.cloudflare.net)");
    expect(en).toContain("DNS blocklists: none configured.");
    expect(en).toContain("Messages received through Cloudflare Email Routing are not scanned for viruses.");
    expect(en).not.toContain("Every message is scanned for viruses");
    expect(en).toContain("so mail from these sender domains cannot be held to TLS here: bank.example.");
    expect(en).toContain("A message may be up to 50 MiB large (Cloudflare's own limit may be lower).");
    expect(en).toContain("Messages received through Cloudflare Email Routing are not scored by a spam filter.");
    expect(en).toContain("is deferred for 300 seconds; a server that tries again after that is accepted. Networks that delivered 5 messages");
    expect(en).not.toMatch(/rspamd|ClamAV|The virus scan always applies/);

    const quiet = parseConfig({ ...base, domains: [routedDomain], connection: { greylist: { enabled: false } } });
    const de = visibleText(renderPostmasterPage({ lang: "de", domain: quiet.domains[0]!, config: quiet, records: [] }));
    expect(de).toContain("E-Mails für example.net nimmt Cloudflare Email Routing an");
    expect(de).toContain("werden nicht auf Viren geprüft");
    expect(de).toContain("bewertet kein Spamfilter.");
    expect(de).not.toMatch(/Greylisting:|auf TLS verpflichtet/);
  });

  it("says how forwarded mail leaves and which bounces come back, for a domain with an alias to another domain only", () => {
    const plain = visibleText(renderPostmasterPage({ lang: "en", domain: parseConfig(base).domains[0]!, config: parseConfig(base), records: [] }));
    expect(plain).not.toContain("forward to other domains");
    const forwarding = parseConfig({ ...base, domains: [{ ...base.domains[0], aliases: { carol: "carol@example.com" } }], relay: { srs: { maxAgeDays: 14 } } });
    const en = visibleText(renderPostmasterPage({ lang: "en", domain: forwarding.domains[0]!, config: forwarding, records: [] }));
    expect(en).toContain(
      "Some addresses of example.net forward to other domains. The forwarded message gets an SRS return address (SRS0=…@example.net) and an ARC seal of example.net, so that SPF and DMARC checks at the destination still hold. A bounce to such an address is accepted for 14 days after the forward and goes back to the original sender; a forged or older one is refused.",
    );
    const de = visibleText(renderPostmasterPage({ lang: "de", domain: forwarding.domains[0]!, config: forwarding, records: [] }));
    expect(de).toContain("Eine Fehlermeldung an eine solche Adresse nehmen wir bis 14 Tage nach der Weiterleitung an");
    expect(de).toContain("Invalid or expired forwarding return address (SRS)");
  });

  it("puts N/A for a service that is not offered and defaults hosts to the first MX", () => {
    const domain = parseConfig(base).domains[0]!;
    expect(settingsColumns(domain)).toEqual([
      { protocol: "IMAP", host: "mx1.example.net", starttlsPort: null, sslPort: 993 },
      { protocol: "SMTP", host: "mx1.example.net", starttlsPort: 587, sslPort: 465 },
      { protocol: "SIEVE", host: null, starttlsPort: null, sslPort: null },
    ]);
    const html = renderPostmasterPage({ lang: "de", domain, config: parseConfig(base), records: [] });
    expect(html).toContain('<td data-label="SIEVE">entfällt</td>');
    expect(html).toContain("Für diese Domain nicht veröffentlicht.");
    expect(html).toContain("noch nicht DKIM-signiert");
  });
});
