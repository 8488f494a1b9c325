import { SELF } from "cloudflare:test";
import { XMLParser } from "fast-xml-parser";
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../core/config/load.ts";
import { handleHttp } from "../../workers/src/http/routes.ts";

const ON_AUTOCONFIG_HOST = "https://autoconfig.example.org/mail/config-v1.1.xml";
const ON_APEX = "https://example.org/.well-known/autoconfig/mail/config-v1.1.xml";

interface ServerElement {
  "@_type": string;
  hostname: string;
  port: string;
  socketType: string;
  username: string;
  authentication: string;
}

interface EmailProvider {
  "@_id": string;
  domain: string;
  displayName: string;
  displayShortName: string;
  incomingServer?: ServerElement[];
  outgoingServer?: ServerElement[];
}

const parser = new XMLParser({
  ignoreAttributes: false,
  parseTagValue: false,
  isArray: (name) => name === "incomingServer" || name === "outgoingServer",
});

function parseClientConfig(text: string): { version: string; provider: EmailProvider } {
  const doc = parser.parse(text) as { clientConfig: { "@_version": string; emailProvider: EmailProvider } };
  return { version: doc.clientConfig["@_version"], provider: doc.clientConfig.emailProvider };
}

/** The servers as "type host port socketType" for compact assertions. */
function servers(list: ServerElement[] | undefined): string[] {
  return (list ?? []).map((s) => `${s["@_type"]} ${s.hostname} ${s.port} ${s.socketType}`);
}

/** A valid-looking address of the given length: 60-octet local part, domain of 60-octet labels. */
function addressOfLength(length: number): string {
  const domainLength = length - 61;
  const labels = ["b".repeat(60), "c".repeat(60), "d".repeat(60)];
  const rest = domainLength - labels.length * 61 - 3; // three labels with their dots, and "org"
  const address = `${"a".repeat(60)}@${labels.join(".")}.${"e".repeat(rest - 1)}.org`;
  expect(address.length).toBe(length);
  return address;
}

async function fetchConfig(url: string): Promise<EmailProvider> {
  const res = await SELF.fetch(url);
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toBe("application/xml; charset=utf-8");
  const { version, provider } = parseClientConfig(await res.text());
  expect(version).toBe("1.1");
  return provider;
}

function expectExampleOrg(provider: EmailProvider): void {
  expect(provider["@_id"]).toBe("example.org");
  expect(provider.domain).toBe("example.org");
  expect(provider.displayName).toBe("Example Mail");
  expect(provider.displayShortName).toBe("Example");
  expect(servers(provider.incomingServer)).toEqual(["imap mx.example.org 993 SSL", "imap mx.example.org 143 STARTTLS"]);
  expect(servers(provider.outgoingServer)).toEqual(["smtp mx.example.org 465 SSL", "smtp mx.example.org 587 STARTTLS"]);
  for (const s of [...(provider.incomingServer ?? []), ...(provider.outgoingServer ?? [])]) {
    expect(s.username).toBe("%EMAILADDRESS%");
    expect(s.authentication).toBe("password-cleartext");
  }
}

describe("Thunderbird autoconfig (clientConfig 1.1)", () => {
  it("serves the domain's IMAP and SMTP settings on autoconfig.<domain>", async () => {
    expectExampleOrg(await fetchConfig(ON_AUTOCONFIG_HOST));
  });

  it("serves the same document on <domain>/.well-known/autoconfig/", async () => {
    expectExampleOrg(await fetchConfig(ON_APEX));
  });

  it("accepts ?emailaddress= of the domain, on both hosts", async () => {
    expectExampleOrg(await fetchConfig(`${ON_AUTOCONFIG_HOST}?emailaddress=${encodeURIComponent("user@example.org")}`));
    expectExampleOrg(await fetchConfig(`${ON_APEX}?emailaddress=${encodeURIComponent("first.last+tag@EXAMPLE.org")}`));
  });

  it("accepts a quoted local part, as RFC 5321 allows", async () => {
    expectExampleOrg(await fetchConfig(`${ON_AUTOCONFIG_HOST}?emailaddress=${encodeURIComponent('"a b"@example.org')}`));
  });

  it("serves the host's domain for an address of an unconfigured domain (Thunderbird's MX-based lookup)", async () => {
    expectExampleOrg(await fetchConfig(`${ON_AUTOCONFIG_HOST}?emailaddress=${encodeURIComponent("someone@customer.example")}`));
  });

  it("matches the path case-insensitively", async () => {
    expectExampleOrg(await fetchConfig("https://autoconfig.example.org/Mail/Config-v1.1.XML"));
  });

  const invalid = [
    ["an empty value", ""],
    ["no @", "user.example.org"],
    ["markup in the local part", "a<b>@example.org"],
    ["markup after the domain", "user@example.org<script>"],
    ["an ampersand entity", "a&amp;b@example.org"],
    ["two @", "a@b@example.org"],
    ["an empty local part", "@example.org"],
    ["a leading dot", ".user@example.org"],
    ["a double dot", "us..er@example.org"],
    ["an underscore in the domain", "user@exa_mple.org"],
    ["an address literal", "user@[192.0.2.1]"],
    ["an unterminated quote", '"user@example.org'],
    ["a local part of 65 octets", `${"a".repeat(65)}@example.org`],
    ["an address of 255 octets", addressOfLength(255)],
  ] as const;

  it.each(invalid)("refuses emailaddress with %s: 400, plain reason, input not repeated", async (_what, address) => {
    const res = await SELF.fetch(`${ON_AUTOCONFIG_HOST}?emailaddress=${encodeURIComponent(address)}`);
    expect(res.status).toBe(400);
    expect(res.headers.get("content-type")).toMatch(/^text\/plain/);
    const body = await res.text();
    expect(body).toMatch(/emailaddress is not an e-mail address/);
    if (address !== "") expect(body).not.toContain(address);
  });

  it("accepts an address of exactly 254 octets", async () => {
    const address = addressOfLength(254);
    const res = await SELF.fetch(`${ON_AUTOCONFIG_HOST}?emailaddress=${encodeURIComponent(address)}`);
    expect(res.status).toBe(200);
  });

  it("reads the query key in any case", async () => {
    const res = await SELF.fetch(`${ON_AUTOCONFIG_HOST}?EmailAddress=not-an-address`);
    expect(res.status).toBe(400);
  });

  it("answers HEAD without a body and refuses POST with 405", async () => {
    const head = await SELF.fetch(ON_AUTOCONFIG_HOST, { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe("");
    const post = await SELF.fetch(ON_AUTOCONFIG_HOST, { method: "POST", body: "x" });
    expect(post.status).toBe(405);
    expect(post.headers.get("allow")).toBe("GET, HEAD");
  });

  it("gives 404 for an unconfigured domain and for the path on the wrong host", async () => {
    const host = await SELF.fetch("https://autoconfig.example.com/mail/config-v1.1.xml");
    expect(host.status).toBe(404);
    expect(await host.text()).toMatch(/not a configured mail domain/);
    const path = await SELF.fetch("https://autoconfig.example.org/.well-known/autoconfig/mail/config-v1.1.xml");
    expect(path.status).toBe(404);
    const apex = await SELF.fetch("https://example.org/mail/config-v1.1.xml");
    expect(apex.status).toBe(404);
  });
});

describe("autoconfig from other configurations", () => {
  const config = parseConfig({
    hostname: "mx.example.org",
    domains: [
      { name: "example.org", mx: ["mx.example.org"], catchAll: true },
      {
        name: "example.net",
        displayName: 'Tom & Jerry\'s <"Mail">',
        mx: ["mx1.example.net", "mx2.example.net"],
        catchAll: true,
        imap: { host: "imap.example.net", starttlsPort: null },
        smtp: { sslPort: null, starttlsPort: 2587 },
      },
    ],
  });

  async function provider(url: string): Promise<{ text: string; provider: EmailProvider }> {
    const res = await handleHttp(new Request(url), config, {});
    expect(res.status).toBe(200);
    const text = await res.text();
    return { text, provider: parseClientConfig(text).provider };
  }

  it("falls back to the domain name for the display names and to the first MX for the hosts", async () => {
    const { provider: p } = await provider("https://autoconfig.example.org/mail/config-v1.1.xml");
    expect(p.displayName).toBe("example.org");
    expect(p.displayShortName).toBe("example.org");
    expect(servers(p.incomingServer)).toEqual(["imap mx.example.org 993 SSL", "imap mx.example.org 143 STARTTLS"]);
  });

  it("leaves out a variant whose port is null and uses the configured hosts and ports", async () => {
    const { provider: p } = await provider("https://autoconfig.example.net/mail/config-v1.1.xml");
    expect(servers(p.incomingServer)).toEqual(["imap imap.example.net 993 SSL"]);
    expect(servers(p.outgoingServer)).toEqual(["smtp mx1.example.net 2587 STARTTLS"]);
  });

  it("escapes the display name", async () => {
    const { text, provider: p } = await provider("https://autoconfig.example.net/mail/config-v1.1.xml");
    expect(p.displayName).toBe('Tom & Jerry\'s <"Mail">');
    expect(text).toContain("Tom &amp; Jerry&apos;s &lt;&quot;Mail&quot;&gt;");
    expect(p.displayShortName).toBe("example.net");
  });

  it("serves another configured domain's settings for its addresses", async () => {
    const { provider: p } = await provider(`https://autoconfig.example.org/mail/config-v1.1.xml?emailaddress=${encodeURIComponent("user@Example.NET")}`);
    expect(p["@_id"]).toBe("example.net");
    expect(servers(p.incomingServer)).toEqual(["imap imap.example.net 993 SSL"]);
  });
});
