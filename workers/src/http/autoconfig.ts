// Thunderbird autoconfig: GET https://autoconfig.<domain>/mail/config-v1.1.xml and
// https://<domain>/.well-known/autoconfig/mail/config-v1.1.xml, optionally with ?emailaddress=.
// The document is Mozilla's clientConfig version 1.1
// (https://wiki.mozilla.org/Thunderbird:Autoconfiguration:ConfigFileFormat).
import type { WorkerConfig, WorkerDomainConfig } from "../../../core/config/worker.ts";
import { clientSettings, configuredDomain, type ClientEndpoint, type ClientSettings } from "../../../core/clientconfig/settings.ts";
import { MAX_ADDRESS_LENGTH, parseMailAddress } from "./mail-address.ts";
import { queryValue } from "./query.ts";
import { plain } from "./respond.ts";
import { renderXml, xmlResponse, type XmlTree } from "./xml.ts";

// Thunderbird fills in the address the user typed; the design's login name is the full address.
const USERNAME_PLACEHOLDER = "%EMAILADDRESS%";

function serverElement(type: "imap" | "smtp", endpoint: ClientEndpoint): XmlTree {
  return {
    "@_type": type,
    hostname: endpoint.host,
    port: endpoint.port,
    socketType: endpoint.tls === "implicit" ? "SSL" : "STARTTLS",
    username: USERNAME_PLACEHOLDER,
    // PLAIN/LOGIN inside TLS: the relay only offers AUTH after TLS.
    authentication: "password-cleartext",
  };
}

export function autoconfigXml(settings: ClientSettings): string {
  return renderXml({
    clientConfig: {
      "@_version": "1.1",
      emailProvider: {
        "@_id": settings.domain,
        domain: settings.domain,
        displayName: settings.displayName,
        displayShortName: settings.displayShortName,
        incomingServer: settings.imap.map((e) => serverElement("imap", e)),
        outgoingServer: settings.smtp.map((e) => serverElement("smtp", e)),
      },
    },
  });
}

/**
 * Whose settings to serve. Thunderbird sends ?emailaddress= to autoconfig.<address domain>, but after
 * looking up the MX it also asks autoconfig.<MX domain> about addresses of other domains. So an address
 * of another configured domain gets that domain's settings, and one of an unconfigured domain gets the
 * settings of the host's domain: those are the servers its MX lookup led the client to, and the
 * document names the user only as %EMAILADDRESS%, so nothing is claimed about that address.
 */
function domainToServe(emailAddress: string | null, hostDomain: WorkerDomainConfig, config: WorkerConfig): WorkerDomainConfig | "invalid" {
  if (emailAddress === null) return hostDomain;
  const address = parseMailAddress(emailAddress);
  if (!address) return "invalid";
  return configuredDomain(config, address.domain) ?? hostDomain;
}

export function serveAutoconfig(request: Request, hostDomain: WorkerDomainConfig, config: WorkerConfig): Response {
  const domain = domainToServe(queryValue(new URL(request.url), "emailaddress"), hostDomain, config);
  if (domain === "invalid") {
    // The reason never repeats the input.
    return plain(400, `Bad request: emailaddress is not an e-mail address (RFC 5322 addr-spec, at most ${MAX_ADDRESS_LENGTH} characters)`);
  }
  // Short cache: a changed port or host reaches new clients within minutes.
  return xmlResponse(200, autoconfigXml(clientSettings(domain)), "max-age=300");
}
