// The words of the postmaster page in English and German. `{name}` marks a slot the page fills
// with a value from the configuration (already marked up); everything else is escaped as text.
import type { RelaxableCheck } from "../../../core/config/schema.ts";
import type { Lang } from "./language.ts";
import type { DocumentFamily } from "./policy-lists.ts";

type MtaStsMode = "enforce" | "testing" | "none";
type DmarcPolicy = "none" | "quarantine" | "reject";

export interface PageText {
  /** Text of the link that switches the page to this language, written in this language. */
  readInThisLanguage: string;
  title: string;
  lead: string;
  contents: string;
  noneConfigured: string;
  notApplicable: string;
  footer: string;

  incoming: {
    heading: string;
    intro: string;
    dnsbl: string;
    virus: string;
    rfc: string;
    reverseDns: string;
    m3aawg: string;
    authentication: string;
    mandatoryTls: string;
    plausibility: string;
    forwarding: string;
    mimeTypes: string;
    fileTypes: string;
    typeExtensions: string;
    archives: string;
    archivesRelay: string;
    uninspectable: Record<"reject" | "accept", string>;
    documentFamilies: Record<DocumentFamily, string>;
    relaying: string;
    limits: string;
    /** The same facts for a domain Cloudflare Email Routing receives (its MX hosts are Cloudflare's). */
    routed: {
      intro: string;
      virus: string;
      mandatoryTls: string;
      limits: string;
    };
  };
  roles: {
    heading: string;
    intro: string;
    /** The intro for a domain received through Cloudflare Email Routing, where no virus scan runs. */
    introRouted: string;
    address: string;
    relaxed: string;
    relaxedNone: string;
    noRoles: string;
    checks: Record<RelaxableCheck, string>;
  };
  dane: {
    heading: string;
    text: string;
    noRecords: string;
  };
  outgoing: {
    heading: string;
    intro: string;
    pfs: string;
    mandatoryTls: string;
    dane: string;
    dkim: string;
    dkimMissing: string;
    arc: string;
    spf: string;
    virus: string;
    bannedTypes: string;
    ownAddresses: string;
  };
  clients: {
    heading: string;
    intro: string;
    caption: string;
    server: string;
    starttlsPort: string;
    sslPort: string;
    username: string;
    /** Stands for the user's name in "username@domain". */
    usernameLocalPart: string;
    authentication: string;
    authenticationValue: string;
    sieveNote: string;
    srv: string;
  };
  autoconfig: {
    heading: string;
    what: string;
    urls: string;
    dns: string;
  };
  autodiscover: {
    heading: string;
    what: string;
    urls: string;
    json: string;
    dns: string;
  };
  spam: {
    heading: string;
    intro: string;
    /** For a domain received through Cloudflare Email Routing without a scan endpoint (`scan: none`); greylisting follows when it is enabled. */
    introRouted: string;
    /** For a domain received through Cloudflare Email Routing whose messages the relay's scan endpoint scores (`scan.url`). */
    introRoutedScanned: string;
    greylistingRouted: string;
    greylisting: string;
    learning: string;
    spamtrap: string;
    antivirus: string;
  };
  replies: {
    heading: string;
    intro: string;
    /** How each placeholder of a reply text is shown. */
    placeholders: Record<string, string>;
  };
  security: {
    heading: string;
    published: string;
    notPublished: string;
    dkim: string;
    dkimSelector: string;
    arc: string;
    arcKey: string;
    spf: string;
    dmarc: string;
    dmarcPolicy: string;
    dmarcPolicies: Record<DmarcPolicy, string>;
    mtaSts: string;
    mtaStsPolicy: string;
    mtaStsModes: Record<MtaStsMode, string>;
    tlsRpt: string;
    allRecords: string;
  };
}

const EN: PageText = {
  readInThisLanguage: "Read this page in English",
  title: "Postmaster information for {domain}",
  lead: "How {service} handles e-mail for {domain}: the checks every message passes, the replies a sender may get, the settings for mail programs and the DNS records we publish. This page is generated from the service's live configuration.",
  contents: "Contents",
  noneConfigured: "none configured",
  notApplicable: "N/A",
  footer: "Generated from the configuration of {hostname}.",

  incoming: {
    heading: "Incoming mail",
    intro:
      "Mail for {domain} is received by {hosts}. Every message passes these checks while the sending server is still connected, so a refusal reaches the sender as an SMTP reply. We never accept a message first and bounce it later.",
    dnsbl: "The sending server's IP address is looked up on DNS blocklists: {zones}.",
    virus: "Every message is scanned for viruses and other malware.",
    rfc: "Messages must follow the Internet mail standards (RFC 5321, RFC 5322). Bare CR or LF line endings are refused, which closes the door to SMTP smuggling.",
    reverseDns: "The sending server needs a reverse DNS name (PTR) that resolves back to its IP address; addresses that look dynamic are refused.",
    m3aawg: "We follow the best practices of M3AAWG, the Messaging, Malware and Mobile Anti-Abuse Working Group.",
    authentication: "SPF records, DKIM signatures, DMARC policies and ARC seals are verified.",
    mandatoryTls: "Mail from these sender domains is accepted only over TLS: {domains}.",
    plausibility:
      "The HELO/EHLO name, the sender (MAIL FROM) and each recipient (RCPT TO) must be plausible: names must exist in the DNS and recipients must be our mailboxes.",
    forwarding:
      "Some addresses of {domain} forward to other domains. The forwarded message gets an SRS return address ({example}) and an ARC seal of {domain}, so that SPF and DMARC checks at the destination still hold. A bounce to such an address is accepted for {days} days after the forward and goes back to the original sender; a forged or older one is refused.",
    mimeTypes: "Refused MIME types: {types}.",
    fileTypes: "Refused file types: {types}.",
    typeExtensions: "Files named like the refused MIME types are refused whatever type they declare: {extensions}.",
    archives:
      "Archives are opened and every file in them is judged the same way, up to {depth} levels deep: {formats}. An archive that cannot be looked into (encrypted, damaged, over the size bounds) is {policy}.",
    archivesRelay: "7z, RAR and xz archives are opened by our MX hosts; where Cloudflare Email Routing receives the mail for us, they cannot be looked into.",
    uninspectable: { reject: "refused", accept: "accepted" },
    documentFamilies: { microsoftOffice: "all Microsoft Office documents" },
    relaying: "Mail to other domains is relayed only for users who log in with SMTP authentication over an encrypted (TLS) connection.",
    limits: "A message may be up to {size} large and have up to {recipients} recipients.",
    routed: {
      intro:
        "Mail for {domain} is received by Cloudflare Email Routing ({hosts}), which hands every message to this service before it is forwarded to the mailbox. The checks of the sending server use the address and the HELO name that Cloudflare records for it. A final refusal reaches the sender as an SMTP reply with our text; a temporary one as Cloudflare's own temporary failure, and the sending server tries again. We never accept a message first and bounce it later.",
      virus: "Messages received through Cloudflare Email Routing are not scanned for viruses.",
      mandatoryTls:
        "Cloudflare does not tell us whether a message reached it over TLS, so mail from these sender domains cannot be held to TLS here: {domains}.",
      limits: "A message may be up to {size} large (Cloudflare's own limit may be lower).",
    },
  },
  roles: {
    heading: "Role mailboxes (RFC 2142)",
    intro:
      "Mail to the role addresses of RFC 2142 must reach a person even when the sender's setup is broken, so some checks are relaxed for them. The virus scan always applies.",
    introRouted: "Mail to the role addresses of RFC 2142 must reach a person even when the sender's setup is broken, so some checks are relaxed for them.",
    address: "Address",
    relaxed: "Checks relaxed",
    relaxedNone: "none: every check applies",
    noRoles: "No role mailboxes are configured; every address gets every check.",
    checks: {
      dnsbl: "DNS blocklists",
      fcrdns: "reverse DNS",
      helo: "HELO name",
      sender: "sender address",
      spf: "SPF",
      dkim: "DKIM",
      dmarc: "DMARC",
      banned: "banned attachments",
      rfc: "RFC conformance",
      greylist: "greylisting",
      spam: "spam filter",
    },
  },
  dane: {
    heading: "DANE for incoming connections",
    text: "A sending server can verify the TLS certificate of our MX hosts with DANE (DNS-based Authentication of Named Entities, RFC 7672): the certificate's key is published as a TLSA record in DNSSEC-signed DNS, so no certificate authority has to be trusted.",
    noRecords: "The TLSA records cannot be shown here yet: this configuration does not know the relay's certificate.",
  },
  outgoing: {
    heading: "Outgoing mail",
    intro: "All mail sent through this service:",
    pfs: "travels over TLS whenever the receiving server offers it, preferring ciphers with Perfect Forward Secrecy (PFS)",
    mandatoryTls: "goes to these domains only over verified TLS: {domains}",
    dane: "checks the receiving server's certificate with DANE where the destination publishes TLSA records, and follows the destination's MTA-STS policy",
    dkim: "carries a DKIM signature of {domain} (selector {selector})",
    dkimMissing: "is not DKIM-signed yet: no key is configured for {domain}",
    arc: "carries an ARC seal",
    spf: "leaves from servers listed in the SPF record of {domain}",
    virus: "is scanned for viruses; the file types refused in incoming mail may be sent",
    bannedTypes: "may not carry these types of file: {types}",
    ownAddresses: "may only use the logged-in user's own addresses as sender",
  },
  clients: {
    heading: "Mail program settings",
    intro: "Thunderbird and Outlook find these settings on their own (see Autoconfig and Autodiscover below). To set up a mail program by hand, use:",
    caption: "Server settings for {domain}",
    server: "Server",
    starttlsPort: "STARTTLS port",
    sslPort: "SSL/TLS port",
    username: "Username",
    usernameLocalPart: "username",
    authentication: "Authentication method",
    authenticationValue: "Regular password (PLAIN)",
    sieveNote: "SIEVE is ManageSieve (RFC 5804), for filter rules that run on the server. It starts unencrypted and switches to TLS with STARTTLS.",
    srv: "Mail programs that look up SRV records (RFC 6186) find the same servers in the DNS:",
  },
  autoconfig: {
    heading: "Autoconfig (Thunderbird)",
    what: "Autoconfig lets Thunderbird and other mail programs (Thunderbird for Android, K-9 Mail, Evolution, KMail) find the server settings by themselves: you enter your name, address and password, and the program fetches an XML file that describes the servers.",
    urls: "The file is served at:",
    dns: "For this, the host autoconfig.{domain} points to this service:",
  },
  autodiscover: {
    heading: "Autodiscover (Outlook)",
    what: "Autodiscover does the same for Microsoft Outlook and other Exchange-style programs: they send the address to a well-known URL and get the server settings back.",
    urls: "Outlook asks these addresses, in this order:",
    json: "Newer Outlook versions ask for a JSON answer at:",
    dns: "For this, these DNS records point to this service:",
  },
  spam: {
    heading: "Spam filtering",
    intro: "Messages that pass the checks above are scored by the rspamd filter, which uses:",
    introRouted: "Messages received through Cloudflare Email Routing are not scored by a spam filter.",
    introRoutedScanned:
      "Messages received through Cloudflare Email Routing are scanned for viruses with ClamAV and scored by the rspamd filter of our mail servers before they are forwarded; a message scored as spam is refused.",
    greylistingRouted:
      "Greylisting: the first message from a sending network to a recipient, from a sender not seen before, is deferred for {seconds} seconds; a server that tries again after that is accepted. Networks that delivered {count} messages are no longer delayed.",
    greylisting: "greylisting: a server we have not seen before is asked to try again after a few minutes",
    learning: "a learning (Bayesian) filter trained on unwanted and wanted mail",
    spamtrap: "a spamtrap: addresses no person uses, whose mail trains the filter",
    antivirus: "virus scanning with ClamAV",
  },
  replies: {
    heading: "Error messages",
    intro:
      "When we refuse a message, the sending server gets one of the replies below; it is usually quoted in the bounce message the sender receives. Replies starting with 4 are temporary: the sending server tries again by itself. Replies starting with 5 are final.",
    placeholders: { address: "address", id: "XXXXX-XX", host: "host", ip: "IP", zone: "zone", helo: "name", name: "name" },
  },
  security: {
    heading: "E-mail security and reporting",
    published: "As published in the DNS:",
    notPublished: "Not published for this domain.",
    dkim: "DKIM (DomainKeys Identified Mail, RFC 6376) adds a cryptographic signature to every outgoing message. The receiver fetches the public key from the DNS and can tell that the message really comes from our domain and arrived unchanged.",
    dkimSelector: "Mail of {domain} is signed with the selector {selector}.",
    arc: "ARC (Authenticated Received Chain, RFC 8617) keeps authentication results intact across forwarding. A mailing list that adds a footer breaks the original DKIM signature; its ARC seal records what was verified before the change, so the next receiver can still rely on it.",
    arcKey: "ARC seals use the same selector and key as DKIM, so no further record is needed.",
    spf: "SPF (Sender Policy Framework, RFC 7208) lists in the DNS which servers may send mail for a domain. A receiver compares the sending server's IP address with that list.",
    dmarc:
      "DMARC (RFC 7489) tells receivers what to do with mail that claims to come from a domain but passes neither SPF nor DKIM for it, and where to send reports about such mail.",
    dmarcPolicy: "Policy for mail that fails: {policy}.",
    dmarcPolicies: { none: "only report it", quarantine: "treat it as suspicious (spam folder)", reject: "refuse it" },
    mtaSts:
      "MTA-STS (RFC 8461) lets a domain declare that its mail servers accept only TLS with valid certificates. Sending servers fetch the policy over HTTPS, remember it, and will not deliver over a connection that is unencrypted or cannot be verified, which defeats attackers who strip STARTTLS from the session.",
    mtaStsPolicy: "The policy, served at {url}:",
    mtaStsModes: {
      enforce: "The policy is enforced: sending servers must not deliver without valid TLS.",
      testing: "The policy is in testing mode: sending servers report failures but still deliver.",
      none: "The policy mode is none: sending servers are asked to drop an earlier policy.",
    },
    tlsRpt:
      "TLS-RPT (SMTP TLS Reporting, RFC 8460) gives sending servers an address for daily reports about failed or insecure TLS connections to our servers, so problems become visible early.",
    allRecords: "All DNS records to publish for {domain}",
  },
};

const DE: PageText = {
  readInThisLanguage: "Diese Seite auf Deutsch lesen",
  title: "Postmaster-Informationen für {domain}",
  lead: "Wie {service} E-Mails für {domain} behandelt: die Prüfungen, die jede Nachricht durchläuft, die Antworten, die ein Absender erhalten kann, die Einstellungen für E-Mail-Programme und die DNS-Einträge, die wir veröffentlichen. Diese Seite wird aus der aktuellen Konfiguration des Dienstes erzeugt.",
  contents: "Inhalt",
  noneConfigured: "keine konfiguriert",
  notApplicable: "entfällt",
  footer: "Erzeugt aus der Konfiguration von {hostname}.",

  incoming: {
    heading: "Eingehende E-Mails",
    intro:
      "E-Mails für {domain} werden von {hosts} angenommen. Jede Nachricht durchläuft diese Prüfungen, solange der sendende Server noch verbunden ist; eine Ablehnung erreicht den Absender also als SMTP-Antwort. Wir nehmen nie erst an, um später eine Fehlermeldung zurückzuschicken.",
    dnsbl: "Die IP-Adresse des sendenden Servers wird in DNS-Sperrlisten nachgeschlagen: {zones}.",
    virus: "Jede Nachricht wird auf Viren und andere Schadsoftware geprüft.",
    rfc: "Nachrichten müssen den Internet-Mail-Standards entsprechen (RFC 5321, RFC 5322). Einzelne CR- oder LF-Zeilenenden werden abgelehnt; das verhindert SMTP-Smuggling.",
    reverseDns:
      "Der sendende Server braucht einen Reverse-DNS-Namen (PTR), der wieder auf seine IP-Adresse auflöst; Adressen, die dynamisch aussehen, werden abgelehnt.",
    m3aawg: "Wir folgen den Empfehlungen der M3AAWG (Messaging, Malware and Mobile Anti-Abuse Working Group).",
    authentication: "SPF-Einträge, DKIM-Signaturen, DMARC-Richtlinien und ARC-Siegel werden geprüft.",
    mandatoryTls: "E-Mails dieser Absenderdomains nehmen wir nur über TLS an: {domains}.",
    plausibility:
      "HELO/EHLO-Name, Absender (MAIL FROM) und jeder Empfänger (RCPT TO) müssen plausibel sein: Namen müssen im DNS existieren, Empfänger müssen unsere Postfächer sein.",
    forwarding:
      "Einige Adressen von {domain} leiten an andere Domains weiter. Die weitergeleitete Nachricht erhält eine SRS-Rücklaufadresse ({example}) und ein ARC-Siegel von {domain}, damit SPF- und DMARC-Prüfungen am Ziel weiter bestehen. Eine Fehlermeldung an eine solche Adresse nehmen wir bis {days} Tage nach der Weiterleitung an und geben sie an den ursprünglichen Absender zurück; eine gefälschte oder ältere lehnen wir ab.",
    mimeTypes: "Abgelehnte MIME-Typen: {types}.",
    fileTypes: "Abgelehnte Dateitypen: {types}.",
    typeExtensions: "Dateien, die wie die abgelehnten MIME-Typen heißen, werden abgelehnt, welchen Typ sie auch angeben: {extensions}.",
    archives:
      "Archive werden geöffnet und jede Datei darin wird genauso geprüft, bis zu {depth} Ebenen tief: {formats}. Ein Archiv, in das nicht hineingesehen werden kann (verschlüsselt, beschädigt, über den Größengrenzen), wird {policy}.",
    archivesRelay:
      "7z-, RAR- und xz-Archive öffnen unsere MX-Server; wo Cloudflare Email Routing die E-Mail für uns annimmt, kann in sie nicht hineingesehen werden.",
    uninspectable: { reject: "abgelehnt", accept: "angenommen" },
    documentFamilies: { microsoftOffice: "alle Microsoft-Office-Dokumente" },
    relaying:
      "An andere Domains leiten wir E-Mails nur für Benutzer weiter, die sich per SMTP-Authentifizierung über eine verschlüsselte (TLS-)Verbindung anmelden.",
    limits: "Eine Nachricht darf bis zu {size} groß sein und bis zu {recipients} Empfänger haben.",
    routed: {
      intro:
        "E-Mails für {domain} nimmt Cloudflare Email Routing an ({hosts}) und übergibt jede Nachricht diesem Dienst, bevor sie an das Postfach weitergeleitet wird. Die Prüfungen des sendenden Servers verwenden die Adresse und den HELO-Namen, die Cloudflare für ihn festhält. Eine endgültige Ablehnung erreicht den Absender als SMTP-Antwort mit unserem Text, eine vorübergehende als Cloudflares eigener vorübergehender Fehler; der sendende Server versucht es dann erneut. Wir nehmen nie erst an, um später eine Fehlermeldung zurückzuschicken.",
      virus: "Nachrichten, die über Cloudflare Email Routing ankommen, werden nicht auf Viren geprüft.",
      mandatoryTls:
        "Cloudflare teilt uns nicht mit, ob eine Nachricht über TLS ankam; E-Mails dieser Absenderdomains können hier daher nicht auf TLS verpflichtet werden: {domains}.",
      limits: "Eine Nachricht darf bis zu {size} groß sein (Cloudflares eigene Grenze kann niedriger liegen).",
    },
  },
  roles: {
    heading: "Rollenpostfächer (RFC 2142)",
    intro:
      "E-Mails an die Rollenadressen nach RFC 2142 müssen auch dann einen Menschen erreichen, wenn die Einrichtung des Absenders fehlerhaft ist; für sie sind daher einige Prüfungen gelockert. Die Virenprüfung gilt immer.",
    introRouted:
      "E-Mails an die Rollenadressen nach RFC 2142 müssen auch dann einen Menschen erreichen, wenn die Einrichtung des Absenders fehlerhaft ist; für sie sind daher einige Prüfungen gelockert.",
    address: "Adresse",
    relaxed: "Gelockerte Prüfungen",
    relaxedNone: "keine: alle Prüfungen gelten",
    noRoles: "Es sind keine Rollenpostfächer konfiguriert; für jede Adresse gelten alle Prüfungen.",
    checks: {
      dnsbl: "DNS-Sperrlisten",
      fcrdns: "Reverse DNS",
      helo: "HELO-Name",
      sender: "Absenderadresse",
      spf: "SPF",
      dkim: "DKIM",
      dmarc: "DMARC",
      banned: "gesperrte Anhänge",
      rfc: "RFC-Konformität",
      greylist: "Greylisting",
      spam: "Spamfilter",
    },
  },
  dane: {
    heading: "DANE für eingehende Verbindungen",
    text: "Ein sendender Server kann das TLS-Zertifikat unserer MX-Server mit DANE (DNS-based Authentication of Named Entities, RFC 7672) prüfen: Der Schlüssel des Zertifikats steht als TLSA-Eintrag im DNSSEC-signierten DNS, so dass keiner Zertifizierungsstelle vertraut werden muss.",
    noRecords: "Die TLSA-Einträge können hier noch nicht angezeigt werden: Diese Konfiguration kennt das Zertifikat des Relays nicht.",
  },
  outgoing: {
    heading: "Ausgehende E-Mails",
    intro: "Alle E-Mails, die über diesen Dienst versandt werden,",
    pfs: "laufen über TLS, sobald der empfangende Server es anbietet, bevorzugt mit Verfahren mit Perfect Forward Secrecy (PFS)",
    mandatoryTls: "gehen an diese Domains nur über geprüftes TLS: {domains}",
    dane: "prüfen das Zertifikat des empfangenden Servers mit DANE, wo das Ziel TLSA-Einträge veröffentlicht, und befolgen die MTA-STS-Richtlinie des Ziels",
    dkim: "tragen eine DKIM-Signatur von {domain} (Selektor {selector})",
    dkimMissing: "sind noch nicht DKIM-signiert: Für {domain} ist kein Schlüssel konfiguriert",
    arc: "tragen ein ARC-Siegel",
    spf: "verlassen uns nur über Server, die im SPF-Eintrag von {domain} stehen",
    virus: "werden auf Viren geprüft; die Dateitypen, die eingehend abgelehnt werden, dürfen versandt werden",
    bannedTypes: "dürfen diese Dateitypen nicht enthalten: {types}",
    ownAddresses: "dürfen als Absender nur eigene Adressen des angemeldeten Benutzers tragen",
  },
  clients: {
    heading: "Einstellungen für E-Mail-Programme",
    intro:
      "Thunderbird und Outlook finden diese Einstellungen selbst (siehe Autoconfig und Autodiscover unten). Um ein E-Mail-Programm von Hand einzurichten, verwenden Sie:",
    caption: "Servereinstellungen für {domain}",
    server: "Server",
    starttlsPort: "STARTTLS-Port",
    sslPort: "SSL/TLS-Port",
    username: "Benutzername",
    usernameLocalPart: "benutzername",
    authentication: "Authentifizierungsmethode",
    authenticationValue: "Passwort, normal (PLAIN)",
    sieveNote:
      "SIEVE ist ManageSieve (RFC 5804) für Filterregeln, die auf dem Server laufen. Die Verbindung beginnt unverschlüsselt und wechselt mit STARTTLS zu TLS.",
    srv: "E-Mail-Programme, die SRV-Einträge abfragen (RFC 6186), finden dieselben Server im DNS:",
  },
  autoconfig: {
    heading: "Autoconfig (Thunderbird)",
    what: "Mit Autoconfig finden Thunderbird und andere E-Mail-Programme (Thunderbird für Android, K-9 Mail, Evolution, KMail) die Servereinstellungen selbst: Sie geben Name, Adresse und Passwort ein, und das Programm lädt eine XML-Datei, die die Server beschreibt.",
    urls: "Die Datei liegt unter:",
    dns: "Dazu zeigt der Host autoconfig.{domain} auf diesen Dienst:",
  },
  autodiscover: {
    heading: "Autodiscover (Outlook)",
    what: "Autodiscover leistet dasselbe für Microsoft Outlook und andere Programme im Exchange-Stil: Sie schicken die Adresse an eine festgelegte URL und erhalten die Servereinstellungen zurück.",
    urls: "Outlook fragt diese Adressen in dieser Reihenfolge:",
    json: "Neuere Outlook-Versionen fragen nach einer JSON-Antwort unter:",
    dns: "Dazu zeigen diese DNS-Einträge auf diesen Dienst:",
  },
  spam: {
    heading: "Spamfilter",
    intro: "Nachrichten, die die Prüfungen oben bestehen, bewertet der Filter rspamd. Er verwendet:",
    introRouted: "Nachrichten, die über Cloudflare Email Routing ankommen, bewertet kein Spamfilter.",
    introRoutedScanned:
      "Nachrichten, die über Cloudflare Email Routing ankommen, prüft ClamAV auf Viren und bewertet der Filter rspamd unserer Mailserver, bevor sie weitergeleitet werden; eine als Spam bewertete Nachricht wird abgelehnt.",
    greylistingRouted:
      "Greylisting: Die erste Nachricht eines sendenden Netzes an einen Empfänger von einem noch unbekannten Absender wird um {seconds} Sekunden zurückgestellt; ein Server, der es danach erneut versucht, wird angenommen. Netze, die {count} Nachrichten zugestellt haben, werden nicht mehr verzögert.",
    greylisting: "Greylisting: Ein Server, den wir noch nicht kennen, wird gebeten, es nach einigen Minuten erneut zu versuchen",
    learning: "einen lernenden (bayesschen) Filter, trainiert mit unerwünschten und erwünschten E-Mails",
    spamtrap: "eine Spamfalle: Adressen, die kein Mensch verwendet und deren E-Mails den Filter trainieren",
    antivirus: "Virenprüfung mit ClamAV",
  },
  replies: {
    heading: "Fehlermeldungen",
    intro:
      "Lehnen wir eine Nachricht ab, erhält der sendende Server eine der folgenden Antworten; meist steht sie in der Fehlermeldung, die der Absender zurückbekommt. Antworten, die mit 4 beginnen, sind vorübergehend: Der sendende Server versucht es selbst erneut. Antworten, die mit 5 beginnen, sind endgültig.",
    placeholders: { address: "Adresse", id: "XXXXX-XX", host: "Host", ip: "IP", zone: "Zone", helo: "Name", name: "Name" },
  },
  security: {
    heading: "E-Mail-Sicherheit und Berichte",
    published: "So im DNS veröffentlicht:",
    notPublished: "Für diese Domain nicht veröffentlicht.",
    dkim: "DKIM (DomainKeys Identified Mail, RFC 6376) versieht jede ausgehende Nachricht mit einer kryptografischen Signatur. Der Empfänger holt den öffentlichen Schlüssel aus dem DNS und kann so erkennen, dass die Nachricht wirklich von unserer Domain stammt und unverändert angekommen ist.",
    dkimSelector: "E-Mails von {domain} werden mit dem Selektor {selector} signiert.",
    arc: "ARC (Authenticated Received Chain, RFC 8617) erhält Prüfergebnisse über Weiterleitungen hinweg. Eine Mailingliste, die eine Fußzeile anfügt, bricht die ursprüngliche DKIM-Signatur; ihr ARC-Siegel hält fest, was vor der Änderung geprüft wurde, so dass sich der nächste Empfänger weiter darauf stützen kann.",
    arcKey: "ARC-Siegel verwenden denselben Selektor und Schlüssel wie DKIM; ein weiterer Eintrag ist nicht nötig.",
    spf: "SPF (Sender Policy Framework, RFC 7208) legt im DNS fest, welche Server E-Mails für eine Domain senden dürfen. Der Empfänger vergleicht die IP-Adresse des sendenden Servers mit dieser Liste.",
    dmarc:
      "DMARC (RFC 7489) sagt Empfängern, wie sie mit E-Mails umgehen sollen, die vorgeben, von einer Domain zu stammen, aber für sie weder SPF noch DKIM bestehen, und wohin Berichte über solche E-Mails gehen.",
    dmarcPolicy: "Richtlinie für E-Mails, die scheitern: {policy}.",
    dmarcPolicies: { none: "nur berichten", quarantine: "als verdächtig behandeln (Spam-Ordner)", reject: "ablehnen" },
    mtaSts:
      "Mit MTA-STS (RFC 8461) erklärt eine Domain, dass ihre Mailserver nur TLS mit gültigen Zertifikaten annehmen. Sendende Server laden die Richtlinie über HTTPS, merken sie sich und liefern nicht über eine Verbindung aus, die unverschlüsselt ist oder sich nicht prüfen lässt; das vereitelt Angreifer, die STARTTLS aus der Sitzung entfernen.",
    mtaStsPolicy: "Die Richtlinie, abrufbar unter {url}:",
    mtaStsModes: {
      enforce: "Die Richtlinie wird durchgesetzt: Sendende Server dürfen nicht ohne gültiges TLS ausliefern.",
      testing: "Die Richtlinie ist im Testmodus: Sendende Server melden Fehler, liefern aber trotzdem aus.",
      none: "Der Modus der Richtlinie ist none: Sendende Server sollen eine frühere Richtlinie verwerfen.",
    },
    tlsRpt:
      "TLS-RPT (SMTP TLS Reporting, RFC 8460) nennt sendenden Servern eine Adresse für tägliche Berichte über gescheiterte oder unsichere TLS-Verbindungen zu unseren Servern, so dass Probleme früh sichtbar werden.",
    allRecords: "Alle zu veröffentlichenden DNS-Einträge für {domain}",
  },
};

export const TEXT: Record<Lang, PageText> = { en: EN, de: DE };
