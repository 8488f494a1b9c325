// Outlook autodiscover ("POX", [MS-OXDSCLI]): POST or GET /autodiscover/autodiscover.xml on <domain> and
// autodiscover.<domain>; and the Autodiscover v2 JSON redirect, GET /autodiscover/autodiscover.json.
//
// Whose settings: those of the domain of the requested address when it is one of the configured
// domains, whichever of our hosts was asked (Outlook follows _autodiscover._tcp SRV records, so many
// domains may share one autodiscover host). An address of any other domain gets the error response
// with ErrorCode 500 and HTTP 404: nothing is known here about that address, and a 404 sends Outlook on
// to its next discovery method instead of retrying us.
import { XMLParser, XMLValidator } from "fast-xml-parser";
import type { WorkerConfig, WorkerDomainConfig } from "../../../core/config/worker.ts";
import { clientSettings, configuredDomain, type ClientEndpoint } from "../../../core/clientconfig/settings.ts";
import { MAX_ADDRESS_LENGTH, parseMailAddress } from "./mail-address.ts";
import { queryValue } from "./query.ts";
import { readBounded } from "./respond.ts";
import { renderXml, xmlResponse, type XmlTree } from "./xml.ts";

const RESPONSE_SCHEMA_2006 = "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006";
const OUTLOOK_RESPONSE_SCHEMA_2006A = "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a";

/** Real requests are under 1 KiB; 16 KiB leaves room for any client and bounds the parser's work. */
export const AUTODISCOVER_BODY_LIMIT = 16 * 1024;

/** A refused request: the HTTP status and the [MS-OXDSCLI] Error element's content. */
interface Refusal {
  status: 400 | 404 | 413;
  // [MS-OXDSCLI] ErrorCode: 500 address not found, 600 invalid request, 601 response schema not served.
  errorCode: 500 | 600 | 601;
  message: string;
  /** Our own words only: the request's text is never repeated here. */
  debugData: string;
}

const invalidRequest = (status: 400 | 413, debugData: string): Refusal => ({ status, errorCode: 600, message: "Invalid Request", debugData });

const INVALID_ADDRESS = invalidRequest(400, `EMailAddress is not an e-mail address (RFC 5322 addr-spec, at most ${MAX_ADDRESS_LENGTH} characters)`);
const UNKNOWN_DOMAIN: Refusal = {
  status: 404,
  errorCode: 500,
  message: "The email address cannot be found",
  debugData: "the domain of the address is not served here",
};

interface Account {
  domain: WorkerDomainConfig;
  /** The login name is the full address (the design's submission and IMAP usernames). */
  loginName: string;
}

function accountFor(emailAddress: string, config: WorkerConfig): Account | Refusal {
  const address = parseMailAddress(emailAddress);
  if (!address) return INVALID_ADDRESS;
  const domain = configuredDomain(config, address.domain);
  return domain ? { domain, loginName: address.text } : UNKNOWN_DOMAIN;
}

// ---- the request (the 2006 request schema: Autodiscover/Request/{EMailAddress, AcceptableResponseSchema})

const requestParser = new XMLParser({
  ignoreAttributes: true,
  // Elements are matched by local name, prefixed or not; like other Outlook-compatible servers we do
  // not insist on the request namespace.
  removeNSPrefix: true,
  parseTagValue: false,
  trimValues: true,
  ignoreDeclaration: true,
  ignorePiTags: true,
  // A DOCTYPE never reaches the parser (see parseRequestText), so the only entities left are the five
  // predefined ones of XML 1.0 §4.6: "a&amp;b@example.org" is read as the address a&b@example.org.
  processEntities: true,
});

interface AutodiscoverRequest {
  emailAddress: string;
  acceptableResponseSchema: string | null;
}

function child(node: unknown, name: string): unknown {
  return typeof node === "object" && node !== null && !Array.isArray(node) ? (node as Record<string, unknown>)[name] : undefined;
}

/** The text of an element that occurs once and holds only text; null otherwise. */
function textOf(node: unknown): string | null {
  return typeof node === "string" ? node : null;
}

function parseRequestText(text: string): AutodiscoverRequest | Refusal {
  // Autodiscover requests never carry a DOCTYPE; refusing it rules out external entities (XXE) and
  // entity expansion ("billion laughs") before any parsing.
  if (/<!DOCTYPE/i.test(text)) return invalidRequest(400, "a DOCTYPE is not accepted");
  if (XMLValidator.validate(text) !== true) return invalidRequest(400, "the body is not well-formed XML");
  const document: unknown = requestParser.parse(text);
  if (Object.keys(document as object).join() !== "Autodiscover") return invalidRequest(400, "the root element is not Autodiscover");
  const request = child(child(document, "Autodiscover"), "Request");
  const emailAddress = textOf(child(request, "EMailAddress"));
  if (!emailAddress) return invalidRequest(400, "Autodiscover/Request/EMailAddress is missing");
  const schema = child(request, "AcceptableResponseSchema");
  if (schema !== undefined && textOf(schema) === null) return invalidRequest(400, "AcceptableResponseSchema is not a single text value");
  return { emailAddress, acceptableResponseSchema: textOf(schema) };
}

function parseRequestBody(body: Uint8Array): AutodiscoverRequest | Refusal {
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(body);
  } catch {
    return invalidRequest(400, "the body is not UTF-8");
  }
  return parseRequestText(text);
}

// ---- the responses

function protocolElement(type: "IMAP" | "SMTP", endpoint: ClientEndpoint, loginName: string | null): XmlTree {
  return {
    Type: type,
    Server: endpoint.host,
    Port: endpoint.port,
    DomainRequired: "off",
    ...(loginName === null ? {} : { LoginName: loginName }),
    // SPA is Microsoft's NTLM logon; we take PLAIN/LOGIN inside TLS.
    SPA: "off",
    SSL: "on",
    // [MS-OXDSCLI] Encryption overrides SSL. Outlook's "SSL" is TLS from the first byte (993, 465),
    // its "TLS" is STARTTLS (143, 587) — the two choices of its account dialog.
    Encryption: endpoint.tls === "implicit" ? "SSL" : "TLS",
    AuthRequired: "on",
  };
}

export function autodiscoverSettingsXml(domain: WorkerDomainConfig, loginName: string | null): string {
  const settings = clientSettings(domain);
  return renderXml({
    Autodiscover: {
      "@_xmlns": RESPONSE_SCHEMA_2006,
      Response: {
        "@_xmlns": OUTLOOK_RESPONSE_SCHEMA_2006A,
        Account: {
          AccountType: "email",
          Action: "settings",
          Protocol: [...settings.imap.map((e) => protocolElement("IMAP", e, loginName)), ...settings.smtp.map((e) => protocolElement("SMTP", e, loginName))],
        },
      },
    },
  });
}

/** The 2006 error response: Autodiscover/Response/Error with Time and Id, ErrorCode, Message, DebugData. */
export function autodiscoverErrorXml(refusal: Refusal, id: number, now: Date): string {
  return renderXml({
    Autodiscover: {
      "@_xmlns": RESPONSE_SCHEMA_2006,
      Response: {
        Error: {
          // Exchange writes the time of day, e.g. 16:56:32.6164027.
          "@_Time": now.toISOString().slice(11, 23),
          "@_Id": String(id),
          ErrorCode: refusal.errorCode,
          Message: refusal.message,
          DebugData: refusal.debugData,
        },
      },
    },
  });
}

function refuse(refusal: Refusal): Response {
  // The Id ties what the client shows to this log line.
  const id = crypto.getRandomValues(new Uint32Array(1))[0]!;
  console.warn(JSON.stringify({ msg: "autodiscover refused", id, status: refusal.status, errorCode: refusal.errorCode, reason: refusal.debugData }));
  return xmlResponse(refusal.status, autodiscoverErrorXml(refusal, id, new Date()), "no-store");
}

function isRefusal(value: object): value is Refusal {
  return "errorCode" in value;
}

/**
 * GET (no body): ?emailaddress= or ?Email= names the account, and the answer carries its LoginName;
 * without either, the settings of the host's domain are served without LoginName, which Outlook then
 * asks the user for. An address given in the query is checked as strictly as one in a POST body.
 */
function answerGet(url: URL, hostDomain: WorkerDomainConfig, config: WorkerConfig): Response {
  const emailAddress = queryValue(url, "emailaddress") ?? queryValue(url, "email");
  if (emailAddress === null) return xmlResponse(200, autodiscoverSettingsXml(hostDomain, null), "no-store");
  const account = accountFor(emailAddress, config);
  if (isRefusal(account)) return refuse(account);
  return xmlResponse(200, autodiscoverSettingsXml(account.domain, account.loginName), "no-store");
}

async function answerPost(request: Request, config: WorkerConfig): Promise<Response> {
  const body = await readBounded(request, AUTODISCOVER_BODY_LIMIT);
  if (body === null) return refuse(invalidRequest(413, `the body is larger than ${AUTODISCOVER_BODY_LIMIT} bytes`));
  const parsed = parseRequestBody(body);
  if (isRefusal(parsed)) return refuse(parsed);
  // Outlook always names the schema; a client that leaves it out gets the only one we serve.
  if (parsed.acceptableResponseSchema !== null && parsed.acceptableResponseSchema !== OUTLOOK_RESPONSE_SCHEMA_2006A) {
    return refuse({
      status: 400,
      errorCode: 601,
      message: "Provider is not available",
      debugData: `only AcceptableResponseSchema ${OUTLOOK_RESPONSE_SCHEMA_2006A} is served`,
    });
  }
  const account = accountFor(parsed.emailAddress, config);
  if (isRefusal(account)) return refuse(account);
  return xmlResponse(200, autodiscoverSettingsXml(account.domain, account.loginName), "no-store");
}

export function serveAutodiscoverXml(request: Request, hostDomain: WorkerDomainConfig, config: WorkerConfig): Promise<Response> | Response {
  return request.method === "POST" ? answerPost(request, config) : answerGet(new URL(request.url), hostDomain, config);
}

// ---- Autodiscover v2: GET /autodiscover/autodiscover.json?Email=&Protocol= (or …/v1.0/<address>?Protocol=)
// Only the AutodiscoverV1 protocol is served: it points Outlook at the POX endpoint above. The error
// code InvalidProtocol is the one Microsoft's service uses; InvalidEmail and UnknownDomain are ours.

function jsonResponse(status: number, body: Record<string, string>): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json; charset=utf-8", "cache-control": "no-store" },
  });
}

/** The address from the path form (percent-encoded by some clients) or else from ?Email=. */
function v2EmailAddress(url: URL, pathAddress: string | undefined): string | null {
  if (pathAddress === undefined) return queryValue(url, "email");
  try {
    return decodeURIComponent(pathAddress);
  } catch {
    return null;
  }
}

export function serveAutodiscoverJson(request: Request, config: WorkerConfig, pathAddress?: string): Response {
  const url = new URL(request.url);
  const protocol = queryValue(url, "protocol");
  if (protocol?.toLowerCase() !== "autodiscoverv1") {
    return jsonResponse(400, {
      ErrorCode: "InvalidProtocol",
      ErrorMessage: "The Protocol parameter must be AutodiscoverV1; no other protocol is served here.",
    });
  }
  const emailAddress = v2EmailAddress(url, pathAddress);
  const address = emailAddress === null ? null : parseMailAddress(emailAddress);
  if (!address) {
    return jsonResponse(400, {
      ErrorCode: "InvalidEmail",
      ErrorMessage: `The Email parameter must be an e-mail address of at most ${MAX_ADDRESS_LENGTH} characters.`,
    });
  }
  const domain = configuredDomain(config, address.domain);
  if (!domain) return jsonResponse(404, { ErrorCode: "UnknownDomain", ErrorMessage: "The domain of the address is not served here." });
  return jsonResponse(200, { Protocol: "AutodiscoverV1", Url: `https://autodiscover.${domain.name}/autodiscover/autodiscover.xml` });
}
