import { SELF } from "cloudflare:test";
import { XMLParser } from "fast-xml-parser";
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../core/config/load.ts";
import { handleHttp } from "../../workers/src/http/routes.ts";

const REQUEST_SCHEMA = "http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006";
const RESPONSE_SCHEMA_2006A = "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a";
const RESPONSE_SCHEMA_2006 = "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006";

const ON_APEX = "https://example.org/autodiscover/autodiscover.xml";
const ON_AUTODISCOVER_HOST = "https://autodiscover.example.org/autodiscover/autodiscover.xml";

/** An Outlook request; `address` is inserted as XML text, so tests choose its escaping themselves. */
function outlookRequest(address: string, schema = RESPONSE_SCHEMA_2006A): string {
  return `<?xml version="1.0" encoding="utf-8"?>
<Autodiscover xmlns="${REQUEST_SCHEMA}">
  <Request>
    <EMailAddress>${address}</EMailAddress>
    <AcceptableResponseSchema>${schema}</AcceptableResponseSchema>
  </Request>
</Autodiscover>`;
}

interface ProtocolElement {
  Type: string;
  Server: string;
  Port: string;
  DomainRequired: string;
  LoginName?: string;
  SPA: string;
  SSL: string;
  Encryption: string;
  AuthRequired: string;
}

const parser = new XMLParser({ ignoreAttributes: false, parseTagValue: false, isArray: (name) => name === "Protocol" });

interface Settings {
  envelopeNs: string;
  responseNs: string;
  accountType: string;
  action: string;
  protocols: ProtocolElement[];
}

function parseSettings(text: string): Settings {
  const doc = parser.parse(text) as {
    Autodiscover: {
      "@_xmlns": string;
      Response: { "@_xmlns": string; Account: { AccountType: string; Action: string; Protocol: ProtocolElement[] } };
    };
  };
  const response = doc.Autodiscover.Response;
  return {
    envelopeNs: doc.Autodiscover["@_xmlns"],
    responseNs: response["@_xmlns"],
    accountType: response.Account.AccountType,
    action: response.Account.Action,
    protocols: response.Account.Protocol,
  };
}

interface ErrorElement {
  "@_Time": string;
  "@_Id": string;
  ErrorCode: string;
  Message: string;
  DebugData: string;
}

function parseError(text: string): { envelopeNs: string; error: ErrorElement } {
  const doc = parser.parse(text) as { Autodiscover: { "@_xmlns": string; Response: { Error: ErrorElement } } };
  return { envelopeNs: doc.Autodiscover["@_xmlns"], error: doc.Autodiscover.Response.Error };
}

/** The protocols as "TYPE server port Encryption" for compact assertions. */
function endpoints(settings: Settings): string[] {
  return settings.protocols.map((p) => `${p.Type} ${p.Server} ${p.Port} ${p.Encryption}`);
}

const EXAMPLE_ORG_ENDPOINTS = ["IMAP mx.example.org 993 SSL", "IMAP mx.example.org 143 TLS", "SMTP mx.example.org 465 SSL", "SMTP mx.example.org 587 TLS"];

async function post(url: string, body: BodyInit, headers: Record<string, string> = { "content-type": "text/xml" }): Promise<Response> {
  return SELF.fetch(url, { method: "POST", body, headers });
}

async function expectSettings(res: Response): Promise<{ text: string; settings: Settings }> {
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toBe("application/xml; charset=utf-8");
  const text = await res.text();
  const settings = parseSettings(text);
  expect(settings.envelopeNs).toBe(RESPONSE_SCHEMA_2006);
  expect(settings.responseNs).toBe(RESPONSE_SCHEMA_2006A);
  expect(settings.accountType).toBe("email");
  expect(settings.action).toBe("settings");
  return { text, settings };
}

async function expectError(res: Response, status: number, errorCode: string): Promise<{ text: string; error: ErrorElement }> {
  expect(res.status).toBe(status);
  expect(res.headers.get("content-type")).toBe("application/xml; charset=utf-8");
  const text = await res.text();
  const { envelopeNs, error } = parseError(text);
  expect(envelopeNs).toBe(RESPONSE_SCHEMA_2006);
  expect(error.ErrorCode).toBe(errorCode);
  expect(error["@_Time"]).toMatch(/^\d\d:\d\d:\d\d\.\d{3}$/);
  expect(error["@_Id"]).toMatch(/^\d+$/);
  expect(error.Message).not.toBe("");
  expect(error.DebugData).not.toBe("");
  return { text, error };
}

describe("Outlook autodiscover POST (2006 request, 2006a response)", () => {
  it.each([ON_APEX, ON_AUTODISCOVER_HOST])("answers with IMAP and SMTP settings on %s", async (url) => {
    const { settings } = await expectSettings(await post(url, outlookRequest("user@example.org")));
    expect(endpoints(settings)).toEqual(EXAMPLE_ORG_ENDPOINTS);
    for (const p of settings.protocols) {
      expect(p.LoginName).toBe("user@example.org");
      expect(p.DomainRequired).toBe("off");
      expect(p.SPA).toBe("off");
      expect(p.SSL).toBe("on");
      expect(p.AuthRequired).toBe("on");
    }
  });

  it("matches the path case-insensitively, as Outlook sends /Autodiscover/Autodiscover.xml", async () => {
    const res = await post("https://autodiscover.example.org/AutoDiscover/AutoDiscover.xml", outlookRequest("user@example.org"));
    const { settings } = await expectSettings(res);
    expect(endpoints(settings)).toEqual(EXAMPLE_ORG_ENDPOINTS);
  });

  it("reads prefixed elements and lower-cases the address's domain in LoginName", async () => {
    const body = `<a:Autodiscover xmlns:a="${REQUEST_SCHEMA}"><a:Request><a:EMailAddress> First.Last@Example.ORG </a:EMailAddress>
      <a:AcceptableResponseSchema>${RESPONSE_SCHEMA_2006A}</a:AcceptableResponseSchema></a:Request></a:Autodiscover>`;
    const { settings } = await expectSettings(await post(ON_APEX, body));
    expect(settings.protocols.map((p) => p.LoginName)).toEqual(Array(4).fill("First.Last@example.org"));
  });

  it("serves a request without AcceptableResponseSchema with the only schema it has", async () => {
    const body = `<Autodiscover xmlns="${REQUEST_SCHEMA}"><Request><EMailAddress>user@example.org</EMailAddress></Request></Autodiscover>`;
    await expectSettings(await post(ON_APEX, body));
  });

  it("escapes an ampersand in the address instead of reflecting it raw", async () => {
    const { text, settings } = await expectSettings(await post(ON_APEX, outlookRequest("o&amp;neil@example.org")));
    expect(settings.protocols[0]?.LoginName).toBe("o&neil@example.org");
    expect(text).toContain("<LoginName>o&amp;neil@example.org</LoginName>");
    expect(text).not.toContain("o&neil");
  });

  it("escapes markup characters of a quoted local part", async () => {
    const { text, settings } = await expectSettings(await post(ON_APEX, outlookRequest("&quot;a&lt;b&gt;&quot;@example.org")));
    expect(settings.protocols[0]?.LoginName).toBe('"a<b>"@example.org');
    expect(text).not.toContain("<b>");
  });

  it("refuses raw markup in the address: the body is not well-formed (400, ErrorCode 600)", async () => {
    const { text, error } = await expectError(await post(ON_APEX, outlookRequest("a<b>@example.org")), 400, "600");
    expect(error.DebugData).toMatch(/well-formed/);
    expect(text).not.toContain("<b>");
  });

  it.each([
    ["escaped markup", "a&lt;b&gt;@example.org"],
    ["markup in CDATA", "<![CDATA[a<b>@example.org]]>"],
    ["an undefined entity", "a&foo;@example.org"],
    ["a character reference", "a&#60;b@example.org"],
    ["no @", "user.example.org"],
    ["two addresses", "a@example.org, b@example.org"],
    ["an address over 254 octets", `${"a".repeat(64)}@${"b".repeat(63)}.${"c".repeat(63)}.${"d".repeat(63)}.org`],
  ])("refuses an invalid address (%s) with 400 and ErrorCode 600, not reflecting it", async (_what, address) => {
    const { text, error } = await expectError(await post(ON_AUTODISCOVER_HOST, outlookRequest(address)), 400, "600");
    expect(error.DebugData).toMatch(/not an e-mail address/);
    expect(text).not.toContain("<b>");
    expect(text).not.toContain("example.org");
  });

  it.each([
    ["an empty body", ""],
    ["plain text", "user@example.org"],
    ["JSON", '{"EMailAddress":"user@example.org"}'],
    ["an unclosed element", `<Autodiscover xmlns="${REQUEST_SCHEMA}"><Request><EMailAddress>user@example.org</Request></Autodiscover>`],
    ["another root element", `<Request><EMailAddress>user@example.org</EMailAddress></Request>`],
    ["two root elements", `${outlookRequest("user@example.org").replace(/^<\?xml[^>]*>/, "")}<Autodiscover/>`],
    [
      "no EMailAddress",
      `<Autodiscover xmlns="${REQUEST_SCHEMA}"><Request><AcceptableResponseSchema>${RESPONSE_SCHEMA_2006A}</AcceptableResponseSchema></Request></Autodiscover>`,
    ],
    ["an empty EMailAddress", outlookRequest("")],
    ["two EMailAddress elements", outlookRequest("a@example.org</EMailAddress><EMailAddress>b@example.org")],
    ["an EMailAddress with child elements", outlookRequest("<x>user@example.org</x>")],
  ])("refuses a malformed request (%s) with 400 and ErrorCode 600", async (_what, body) => {
    await expectError(await post(ON_APEX, body), 400, "600");
  });

  it("refuses a body that is not UTF-8", async () => {
    const bytes = new TextEncoder().encode(outlookRequest("user@example.org"));
    const broken = new Uint8Array([...bytes.slice(0, 10), 0xff, 0xfe, ...bytes.slice(10)]);
    const { error } = await expectError(await post(ON_APEX, broken), 400, "600");
    expect(error.DebugData).toMatch(/UTF-8/);
  });

  it("refuses a DOCTYPE before parsing: no entity expansion, no external entities", async () => {
    const laughs = `<?xml version="1.0"?>
<!DOCTYPE Autodiscover [
  <!ENTITY lol "lol">
  <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
  <!ENTITY addr "user@example.org">
]>
<Autodiscover xmlns="${REQUEST_SCHEMA}"><Request><EMailAddress>&addr;</EMailAddress><AcceptableResponseSchema>&lol2;</AcceptableResponseSchema></Request></Autodiscover>`;
    const { text, error } = await expectError(await post(ON_APEX, laughs), 400, "600");
    expect(error.DebugData).toMatch(/DOCTYPE/);
    expect(text).not.toContain("lol");
    const xxe = `<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]>${outlookRequest("&x;@example.org").replace(/^<\?xml[^>]*>/, "")}`;
    await expectError(await post(ON_APEX, xxe), 400, "600");
  });

  it("refuses another AcceptableResponseSchema with 400 and ErrorCode 601", async () => {
    const mobilesync = "http://schemas.microsoft.com/exchange/autodiscover/mobilesync/responseschema/2006";
    const { error } = await expectError(await post(ON_APEX, outlookRequest("user@example.org", mobilesync)), 400, "601");
    expect(error.DebugData).toContain(RESPONSE_SCHEMA_2006A);
  });

  it("refuses an address of an unconfigured domain with 404 and ErrorCode 500", async () => {
    const { text } = await expectError(await post(ON_AUTODISCOVER_HOST, outlookRequest("user@example.com")), 404, "500");
    expect(text).not.toContain("user@example.com");
  });

  it("refuses a body over 16 KiB with 413, by Content-Length", async () => {
    const padded = outlookRequest("user@example.org").replace("<Request>", `<!--${"x".repeat(16 * 1024)}--><Request>`);
    await expectError(await post(ON_APEX, padded), 413, "600");
  });

  it("refuses a streamed body over 16 KiB with 413, without a Content-Length", async () => {
    const chunk = new TextEncoder().encode(" ".repeat(1024));
    let sent = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent++ < 40) controller.enqueue(chunk);
        else controller.close();
      },
    });
    const res = await handleHttp(new Request(ON_APEX, { method: "POST", body: stream }), exampleConfig(), {});
    await expectError(res, 413, "600");
  });

  it("accepts a body of exactly 16 KiB", async () => {
    const base = outlookRequest("user@example.org");
    const padded = base.replace("<Request>", `<!--${"x".repeat(16 * 1024 - base.length - 7)}--><Request>`);
    expect(new TextEncoder().encode(padded).byteLength).toBe(16 * 1024);
    await expectSettings(await post(ON_APEX, padded));
  });

  it("refuses other methods with 405 and an Allow header", async () => {
    const res = await SELF.fetch(ON_AUTODISCOVER_HOST, { method: "PUT", body: outlookRequest("user@example.org") });
    expect(res.status).toBe(405);
    expect(res.headers.get("allow")?.split(", ").sort()).toEqual(["GET", "HEAD", "POST"]);
  });

  it("gives a plain 404 for an unconfigured host", async () => {
    const res = await post("https://autodiscover.example.com/autodiscover/autodiscover.xml", outlookRequest("user@example.com"));
    expect(res.status).toBe(404);
    expect(await res.text()).toMatch(/not a configured mail domain/);
  });
});

describe("Outlook autodiscover GET", () => {
  it("serves the host domain's settings without LoginName when no address is given", async () => {
    const { settings } = await expectSettings(await SELF.fetch(ON_AUTODISCOVER_HOST));
    expect(endpoints(settings)).toEqual(EXAMPLE_ORG_ENDPOINTS);
    expect(settings.protocols.every((p) => p.LoginName === undefined)).toBe(true);
  });

  it.each(["Email", "emailaddress", "EMAILADDRESS"])("takes the LoginName from ?%s=", async (key) => {
    const { settings } = await expectSettings(await SELF.fetch(`${ON_APEX}?${key}=${encodeURIComponent("user@example.org")}`));
    expect(settings.protocols.map((p) => p.LoginName)).toEqual(Array(4).fill("user@example.org"));
  });

  it("refuses an invalid address in the query with 400 and an unknown domain with 404", async () => {
    const invalid = await expectError(await SELF.fetch(`${ON_APEX}?Email=${encodeURIComponent("a<b>@example.org")}`), 400, "600");
    expect(invalid.text).not.toContain("<b>");
    await expectError(await SELF.fetch(`${ON_APEX}?Email=${encodeURIComponent("user@example.com")}`), 404, "500");
  });

  it("answers HEAD without a body", async () => {
    const res = await SELF.fetch(ON_APEX, { method: "HEAD" });
    expect(res.status).toBe(200);
    expect(await res.text()).toBe("");
  });
});

function exampleConfig() {
  return parseConfig({ hostname: "mx.example.org", domains: [{ name: "example.org", mx: ["mx.example.org"], catchAll: true }] });
}

describe("autodiscover with several domains", () => {
  const config = parseConfig({
    hostname: "mx.example.org",
    domains: [
      { name: "example.org", mx: ["mx.example.org"], catchAll: true },
      { name: "example.net", mx: ["mx.example.net"], catchAll: true, imap: { host: "imap.example.net", starttlsPort: null }, smtp: { sslPort: null } },
    ],
  });

  it("serves the settings of the address's configured domain, whichever host was asked", async () => {
    const req = new Request(ON_AUTODISCOVER_HOST, { method: "POST", body: outlookRequest("user@example.net") });
    const { settings } = await expectSettings(await handleHttp(req, config, {}));
    expect(endpoints(settings)).toEqual(["IMAP imap.example.net 993 SSL", "SMTP mx.example.net 587 TLS"]);
    expect(settings.protocols.map((p) => p.LoginName)).toEqual(["user@example.net", "user@example.net"]);
  });
});

describe("Autodiscover v2 (autodiscover.json)", () => {
  const V1_URL = { Protocol: "AutodiscoverV1", Url: "https://autodiscover.example.org/autodiscover/autodiscover.xml" };

  async function json(res: Response, status: number): Promise<Record<string, string>> {
    expect(res.status).toBe(status);
    expect(res.headers.get("content-type")).toBe("application/json; charset=utf-8");
    return await res.json<Record<string, string>>();
  }

  it.each(["https://example.org", "https://autodiscover.example.org"])("points AutodiscoverV1 at the XML endpoint on %s", async (origin) => {
    const res = await SELF.fetch(
      `${origin}/autodiscover/autodiscover.json?Email=${encodeURIComponent("user@example.org")}&Protocol=AutodiscoverV1&RedirectCount=1`,
    );
    expect(await json(res, 200)).toEqual(V1_URL);
  });

  it("reads the query keys and the protocol in any case, and the path case-insensitively", async () => {
    const res = await SELF.fetch("https://example.org/AutoDiscover/AutoDiscover.json?email=user@example.org&protocol=autodiscoverv1");
    expect(await json(res, 200)).toEqual(V1_URL);
  });

  it("accepts the address in the path form …/v1.0/<address>, encoded or not", async () => {
    for (const address of ["user@example.org", encodeURIComponent("user@example.org")]) {
      const res = await SELF.fetch(`https://autodiscover.example.org/autodiscover/autodiscover.json/v1.0/${address}?Protocol=AutodiscoverV1`);
      expect(await json(res, 200)).toEqual(V1_URL);
    }
  });

  it.each([
    ["another protocol", "Protocol=Ews"],
    ["ActiveSync", "Protocol=ActiveSync"],
    ["no protocol", ""],
  ])("refuses %s with 400 InvalidProtocol", async (_what, query) => {
    const res = await SELF.fetch(`https://example.org/autodiscover/autodiscover.json?Email=user@example.org&${query}`);
    const body = await json(res, 400);
    expect(body["ErrorCode"]).toBe("InvalidProtocol");
    expect(body["ErrorMessage"]).toMatch(/AutodiscoverV1/);
  });

  it.each([
    ["no Email", ""],
    ["an empty Email", "Email="],
    ["an invalid Email", `Email=${encodeURIComponent('a<b>"@example.org')}`],
  ])("refuses %s with 400 InvalidEmail, not reflecting it", async (_what, query) => {
    const res = await SELF.fetch(`https://example.org/autodiscover/autodiscover.json?Protocol=AutodiscoverV1&${query}`);
    const text = JSON.stringify(await json(res, 400));
    expect(text).toContain('"ErrorCode":"InvalidEmail"');
    expect(text).not.toContain("<b>");
  });

  it("refuses a malformed percent-encoding in the path form with 400", async () => {
    const res = await SELF.fetch("https://example.org/autodiscover/autodiscover.json/v1.0/user%E0%A4%A@example.org?Protocol=AutodiscoverV1");
    expect((await json(res, 400))["ErrorCode"]).toBe("InvalidEmail");
  });

  it("refuses an address of an unconfigured domain with 404", async () => {
    const res = await SELF.fetch("https://example.org/autodiscover/autodiscover.json?Email=user@example.com&Protocol=AutodiscoverV1");
    expect((await json(res, 404))["ErrorCode"]).toBe("UnknownDomain");
  });

  it("refuses POST with 405", async () => {
    const res = await SELF.fetch("https://example.org/autodiscover/autodiscover.json?Email=user@example.org&Protocol=AutodiscoverV1", {
      method: "POST",
      body: "{}",
    });
    expect(res.status).toBe(405);
    expect(res.headers.get("allow")).toBe("GET, HEAD");
  });

  it("is not served on the autoconfig host", async () => {
    const res = await SELF.fetch("https://autoconfig.example.org/autodiscover/autodiscover.json?Email=user@example.org&Protocol=AutodiscoverV1");
    expect(res.status).toBe(404);
  });
});
