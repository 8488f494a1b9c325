// The SMTP replies edgemx gives, as data: code, enhanced status (RFC 3463), text with placeholders,
// and what each means for the sender in English and German. The judge, the relay and the postmaster
// page all read this one table, so a reply is worded the same wherever it is given or explained.
//
// The first seven texts are the specification's, character for character (note the EN DASH "–");
// the others follow RFC 5321, RFC 3207, RFC 4954 and common MTA practice.

export interface ReplyExplanation {
  en: string;
  de: string;
}

export interface ReplyDefinition {
  /** RFC 5321 §4.2 basic reply code. */
  code: number;
  /** RFC 3463 enhanced status code, class matching the basic code's first digit. */
  enhanced: string;
  /** The reply text; `{name}` marks a placeholder for a real value. */
  text: string;
  /** What happened and what the sender can do about it. */
  explanation: ReplyExplanation;
}

export const REPLIES = {
  senderDomainNotFound: {
    code: 554,
    enhanced: "5.1.8",
    text: "<{address}>: Sender address rejected: Domain not found",
    explanation: {
      en: "The domain in your envelope sender address (MAIL FROM) has no address or mail exchanger in the DNS, so no reply or bounce could ever reach it. Check the spelling of the sender address and that the domain's DNS records are published, then send again.",
      de: "Die Domain Ihrer Absenderadresse (MAIL FROM) hat im DNS weder eine Adresse noch einen Mailserver; Antworten oder Fehlermeldungen könnten sie nie erreichen. Prüfen Sie die Schreibweise der Absenderadresse und ob die DNS-Einträge der Domain veröffentlicht sind, und senden Sie dann erneut.",
    },
  },
  infected: {
    code: 554,
    enhanced: "5.7.0",
    text: "Reject, id={id} – INFECTED",
    explanation: {
      en: "Our virus scanner found malware in the message, so it was refused. Scan the sending computer and the attachments with an up-to-date antivirus program before sending again. Quote the id when you contact us.",
      de: "Unser Virenscanner hat in der Nachricht Schadsoftware gefunden; sie wurde deshalb abgelehnt. Prüfen Sie den sendenden Rechner und die Anhänge mit einem aktuellen Virenschutzprogramm, bevor Sie erneut senden. Nennen Sie die ID aus der Antwort, wenn Sie uns kontaktieren.",
    },
  },
  banned: {
    code: 554,
    enhanced: "5.7.0",
    text: "Reject, id={id} – BANNED",
    explanation: {
      en: "The message carries an attachment whose file or content type we do not accept, because such files often carry malware. Send the content in a format without active content, such as a plain PDF. Renaming, zipping or nesting the file does not help: the real type is detected.",
      de: "Die Nachricht enthält einen Anhang, dessen Datei- oder Inhaltstyp wir nicht annehmen, weil solche Dateien häufig Schadsoftware transportieren. Senden Sie den Inhalt in einem Format ohne aktive Inhalte, etwa als einfaches PDF. Umbenennen, Packen oder Verschachteln hilft nicht: Der tatsächliche Typ wird erkannt.",
    },
  },
  spam: {
    code: 554,
    enhanced: "5.7.0",
    text: "Reject, id={id} – spam",
    explanation: {
      en: "Our content filter scored the message as unsolicited bulk mail. If it is a legitimate message, contact the postmaster by another route and quote the id, so we can look at the decision.",
      de: "Unser Inhaltsfilter hat die Nachricht als unerwünschte Massen-E-Mail bewertet. Handelt es sich um eine legitime Nachricht, wenden Sie sich auf anderem Weg an den Postmaster und nennen Sie die ID aus der Antwort, damit wir die Entscheidung prüfen können.",
    },
  },
  clientRejected: {
    code: 554,
    enhanced: "5.7.1",
    text: "<{host}[{ip}]>: Client host rejected: Access denied",
    explanation: {
      en: "The server that connected to us may not deliver mail here directly: its IP address has no matching reverse DNS name (PTR), or the name looks like a dynamic or dial-up address. Publish a PTR record whose name resolves back to the same address, or send through your provider's mail server.",
      de: "Der Server, der sich mit uns verbunden hat, darf hier nicht direkt einliefern: Seine IP-Adresse hat keinen passenden Reverse-DNS-Namen (PTR), oder der Name deutet auf eine dynamische oder Einwahl-Adresse hin. Veröffentlichen Sie einen PTR-Eintrag, dessen Name wieder auf dieselbe Adresse auflöst, oder senden Sie über den Mailserver Ihres Providers.",
    },
  },
  dnsbl: {
    code: 554,
    enhanced: "5.7.1",
    text: "Service unavailable; Client host [{ip}] blocked using {zone}",
    explanation: {
      en: "The IP address of the sending server is listed on the DNS blocklist named in the reply, usually because spam or malware was seen coming from it. Find out why on the blocklist operator's website and have the address removed there; we cannot lift the listing.",
      de: "Die IP-Adresse des sendenden Servers steht auf der in der Antwort genannten DNS-Sperrliste, meist weil von ihr Spam oder Schadsoftware ausging. Klären Sie den Grund auf der Website des Listenbetreibers und lassen Sie die Adresse dort austragen; wir können den Eintrag nicht aufheben.",
    },
  },
  heloNotFound: {
    code: 554,
    enhanced: "5.7.1",
    text: "<{helo}>: Helo command rejected: Host not found",
    explanation: {
      en: "The name your server announced in HELO or EHLO does not exist in the DNS. Configure the server to greet with its own fully qualified host name, one that resolves to its address.",
      de: "Der Name, mit dem sich Ihr Server per HELO oder EHLO vorgestellt hat, existiert im DNS nicht. Stellen Sie den Server so ein, dass er sich mit seinem vollständigen Hostnamen meldet, der auf seine Adresse auflöst.",
    },
  },
  relayDenied: {
    code: 554,
    enhanced: "5.7.1",
    text: "<{address}>: Relay access denied",
    explanation: {
      en: "We accept mail from the internet only for our own domains. To send to other domains, log in on the submission port (587 or 465) with your full address and password over TLS.",
      de: "Aus dem Internet nehmen wir nur E-Mails für unsere eigenen Domains an. Um an andere Domains zu senden, melden Sie sich am Einlieferungs-Port (587 oder 465) über TLS mit Ihrer vollständigen Adresse und Ihrem Passwort an.",
    },
  },
  unknownRecipient: {
    // RFC 5321 §3.3 (550: no such mailbox), RFC 3463 §3.2 5.1.1 "bad destination mailbox address".
    code: 550,
    enhanced: "5.1.1",
    text: "<{address}>: Recipient address rejected: User unknown in local recipient table",
    explanation: {
      en: "The domain is ours, but it has no mailbox under the address in the reply. Check the spelling of the part before the @ — a typing error is the usual cause — or ask the person for their current address. Nothing was delivered to this address; other recipients of the same message are not affected.",
      de: "Die Domain gehört zu uns, unter der Adresse in der Antwort gibt es dort aber kein Postfach. Prüfen Sie die Schreibweise des Teils vor dem @ – meist ist es ein Tippfehler – oder fragen Sie die Person nach ihrer aktuellen Adresse. An diese Adresse wurde nichts zugestellt; andere Empfänger derselben Nachricht sind davon nicht betroffen.",
    },
  },
  srsInvalid: {
    // A return address our forwarding made (SRS, docs/forwarding.md) whose hash does not hold or whose
    // time ran out: no such mailbox, RFC 5321 §3.3 550 and RFC 3463 §3.2 5.1.1, as for an unknown user.
    code: 550,
    enhanced: "5.1.1",
    text: "<{address}>: Recipient address rejected: Invalid or expired forwarding return address (SRS)",
    explanation: {
      en: "The address begins with SRS0= or SRS1=: it is the return address our forwarding gave a forwarded message, so that a bounce reaches its original sender. It is accepted only when its signature holds and for a limited number of days after the forward. This one is forged, damaged or too old, so nothing was delivered. If you are bouncing a message we forwarded long ago, write to the original sender directly instead.",
      de: "Die Adresse beginnt mit SRS0= oder SRS1=: Es ist die Rücklaufadresse, die unsere Weiterleitung einer weitergeleiteten Nachricht gegeben hat, damit eine Fehlermeldung den ursprünglichen Absender erreicht. Sie wird nur angenommen, wenn ihre Signatur stimmt, und nur für eine begrenzte Zahl von Tagen nach der Weiterleitung. Diese ist gefälscht, beschädigt oder zu alt; es wurde nichts zugestellt. Wenn Sie eine lange zurückliegende Weiterleitung zurückweisen, schreiben Sie stattdessen direkt an den ursprünglichen Absender.",
    },
  },
  authBeforeTls: {
    code: 538,
    enhanced: "5.7.11",
    text: "Encryption required for requested authentication mechanism",
    explanation: {
      en: "Your mail program tried to log in before the connection was encrypted; we never take passwords in clear text. Set the connection security to STARTTLS on port 587 or SSL/TLS on port 465.",
      de: "Ihr E-Mail-Programm wollte sich anmelden, bevor die Verbindung verschlüsselt war; Passwörter nehmen wir nie im Klartext an. Stellen Sie die Verbindungssicherheit auf STARTTLS an Port 587 oder SSL/TLS an Port 465.",
    },
  },
  authRequired: {
    // RFC 4954 §6: 530 5.7.0, the submission server takes no mail before AUTH.
    code: 530,
    enhanced: "5.7.0",
    text: "Authentication required",
    explanation: {
      en: "The submission port only takes mail from logged-in users. Turn on SMTP authentication in your mail program, with your full e-mail address as the user name.",
      de: "Der Einlieferungs-Port nimmt nur E-Mails angemeldeter Benutzer an. Schalten Sie in Ihrem E-Mail-Programm die SMTP-Authentifizierung ein, mit Ihrer vollständigen E-Mail-Adresse als Benutzernamen.",
    },
  },
  senderNotOwned: {
    // RFC 3463 §3.8 5.7.1 "delivery not authorized": the address is not one of the logged-in user's.
    code: 553,
    enhanced: "5.7.1",
    text: "<{address}>: Sender address rejected: not owned by user",
    explanation: {
      en: "You may send only as one of your own addresses — your login address or one of its aliases — both in the envelope (MAIL FROM) and in the From header. Choose your own address as the sender, or ask the postmaster to add the address as an alias of your account.",
      de: "Sie dürfen nur unter Ihren eigenen Adressen senden – Ihrer Anmeldeadresse oder einem ihrer Aliase –, im Umschlag (MAIL FROM) wie im From-Header. Wählen Sie Ihre eigene Adresse als Absender, oder bitten Sie den Postmaster, die Adresse als Alias Ihres Kontos einzutragen.",
    },
  },
  tlsRequired: {
    code: 530,
    enhanced: "5.7.0",
    text: "Must issue a STARTTLS command first",
    explanation: {
      en: "Mail from your domain is accepted only over an encrypted connection, and your server sent without STARTTLS. Enable STARTTLS for outgoing mail on your server.",
      de: "E-Mails Ihrer Domain nehmen wir nur über eine verschlüsselte Verbindung an, Ihr Server hat aber ohne STARTTLS gesendet. Aktivieren Sie STARTTLS für ausgehende E-Mails auf Ihrem Server.",
    },
  },
  greylisted: {
    code: 451,
    enhanced: "4.7.1",
    text: "<{address}>: Recipient address rejected: Greylisted for {seconds} seconds, please try again later",
    explanation: {
      en: "This is a deliberate, temporary delay for a combination of sending network, sender and recipient we have not seen before; the reply says how many seconds remain. A standards-compliant server tries again on its own and is accepted once the wait is over; you need not do anything. Networks that delivered several messages are no longer delayed.",
      de: "Das ist eine absichtliche, vorübergehende Verzögerung für eine Kombination aus sendendem Netz, Absender und Empfänger, die wir noch nicht kennen; die Antwort nennt die verbleibenden Sekunden. Ein standardkonformer Server versucht es von selbst erneut und wird nach Ablauf der Wartezeit angenommen; Sie müssen nichts tun. Netze, die bereits mehrere Nachrichten zugestellt haben, werden nicht mehr verzögert.",
    },
  },
  spamDeferred: {
    // rspamd's "soft reject" action; RFC 3463 §3.8 4.7.1, delivery not authorized for now.
    code: 451,
    enhanced: "4.7.1",
    text: "Deferred, id={id} – suspected spam, please try again later",
    explanation: {
      en: "Our content filter found the message doubtful and asked your server to send it again later, for example because the sender sent very many messages in a short time. A standards-compliant server retries on its own. If the message keeps being deferred, contact the postmaster by another route and quote the id.",
      de: "Unser Inhaltsfilter hielt die Nachricht für zweifelhaft und hat Ihren Server gebeten, sie später erneut zu senden, etwa weil der Absender in kurzer Zeit sehr viele Nachrichten verschickt hat. Ein standardkonformer Server wiederholt den Versand von selbst. Wird die Nachricht dauerhaft zurückgestellt, wenden Sie sich auf anderem Weg an den Postmaster und nennen Sie die ID.",
    },
  },
  tempfail: {
    code: 451,
    enhanced: "4.3.0",
    text: "Temporary local problem, id={id}, please try again later",
    explanation: {
      en: "A check could not finish because one of our services (such as the virus scanner) was briefly unavailable. Nothing was accepted or lost; your server will retry on its own.",
      de: "Eine Prüfung konnte nicht abgeschlossen werden, weil einer unserer Dienste (etwa der Virenscanner) kurz nicht verfügbar war. Es wurde nichts angenommen und nichts verloren; Ihr Server versucht es von selbst erneut.",
    },
  },
  insufficientStorage: {
    // RFC 5321 §4.2.2/§4.2.3: 452 "insufficient system storage"; RFC 3463 §3.4 4.3.1 "mail system
    // full". Postfix's words for the same state (its queue_minfree).
    code: 452,
    enhanced: "4.3.1",
    text: "Insufficient system storage",
    explanation: {
      en: "Our mail queue's disk is full for the moment, so we could not store your message safely and did not accept it. Nothing was lost; a standards-compliant server retries on its own, and the message is accepted once space is free again.",
      de: "Der Datenträger unserer Mail-Warteschlange ist im Moment voll; wir konnten Ihre Nachricht deshalb nicht sicher speichern und haben sie nicht angenommen. Es ist nichts verloren gegangen; ein standardkonformer Server versucht es von selbst erneut, und die Nachricht wird angenommen, sobald wieder Platz frei ist.",
    },
  },
  dnsTempfail: {
    code: 451,
    enhanced: "4.4.3",
    text: "<{name}>: Temporary DNS lookup failure, please try again later",
    explanation: {
      en: "A DNS lookup for the name in the reply failed temporarily, so we could not decide. Your server will retry on its own; if this persists, check that the name's DNS servers answer.",
      de: "Eine DNS-Abfrage für den Namen in der Antwort ist vorübergehend fehlgeschlagen, daher konnten wir nicht entscheiden. Ihr Server versucht es von selbst erneut; hält der Fehler an, prüfen Sie, ob die DNS-Server des Namens antworten.",
    },
  },
  dmarcReject: {
    // RFC 7489 §10.3 (refuse in the session), RFC 3463 §3.8 5.7.1 "delivery not authorized".
    code: 550,
    enhanced: "5.7.1",
    text: "Reject, id={id} – DMARC policy of {domain}",
    explanation: {
      en: "The domain in the From header publishes a DMARC policy that asks receivers to refuse mail which neither its SPF record nor a DKIM signature of the domain authenticates — and this message was authenticated by neither. If you sent it, send through a server your domain's SPF record lists and sign with DKIM for the domain of your From address.",
      de: "Die Domain im From-Header veröffentlicht eine DMARC-Richtlinie, nach der Empfänger E-Mails ablehnen sollen, die weder ihr SPF-Eintrag noch eine DKIM-Signatur der Domain bestätigt – und diese Nachricht bestätigte keines von beiden. Wenn Sie sie gesendet haben, versenden Sie über einen Server, den der SPF-Eintrag Ihrer Domain nennt, und signieren Sie per DKIM mit der Domain Ihrer Absenderadresse.",
    },
  },
  spfFail: {
    // RFC 7208 §8.4 (refusing a "fail"), RFC 7372 §3.2 5.7.23 "SPF validation failed".
    code: 550,
    enhanced: "5.7.23",
    text: "Reject, id={id} – SPF of {domain} does not permit this host",
    explanation: {
      en: "The domain of your envelope sender publishes an SPF record that forbids the server which handed us this message to send its mail, and no DKIM signature made up for it. Send through a server the domain's SPF record lists, or ask the domain's administrator to add your server.",
      de: "Die Domain Ihres Umschlag-Absenders veröffentlicht einen SPF-Eintrag, der dem Server, der uns diese Nachricht übergab, das Versenden ihrer E-Mails verbietet, und keine DKIM-Signatur glich das aus. Versenden Sie über einen Server, den der SPF-Eintrag der Domain nennt, oder bitten Sie den Administrator der Domain, Ihren Server aufzunehmen.",
    },
  },
  rfcViolation: {
    // RFC 3463 §3.7 5.6.0 "other or undefined media error": the message itself is malformed.
    code: 554,
    enhanced: "5.6.0",
    text: "Reject, id={id} – message format violates the RFCs ({rule})",
    explanation: {
      en: "The message is not built the way the Internet mail standards (RFC 5322, MIME) require — for example it has two From headers or a broken multipart structure — and such messages are a common way to trick filters and mail programs. The word in brackets names the rule. Send it with a standard mail program.",
      de: "Die Nachricht ist nicht so aufgebaut, wie es die Internet-Mail-Standards (RFC 5322, MIME) verlangen – sie hat etwa zwei From-Header oder eine fehlerhafte Multipart-Struktur –, und solche Nachrichten werden oft genutzt, um Filter und Mailprogramme zu täuschen. Das Wort in Klammern nennt die Regel. Senden Sie sie mit einem üblichen Mailprogramm.",
    },
  },
  // The relay's own protocol replies (relay-node/src/smtp/replies.ts): bounds and DATA framing.
  tooManyRecipients: {
    // RFC 5321 §4.5.3.1.8: the recipients buffer is bounded; RFC 3463 X.5.3 "too many recipients".
    code: 452,
    enhanced: "4.5.3",
    text: "Too many recipients",
    explanation: {
      en: "The message has more recipients than we take in one transaction. The recipients accepted so far get it; a standard mail server sends the same message again for the rest by itself.",
      de: "Die Nachricht hat mehr Empfänger, als wir in einem Vorgang annehmen. Die bis dahin angenommenen Empfänger erhalten sie; ein üblicher Mailserver sendet dieselbe Nachricht für die übrigen von selbst noch einmal.",
    },
  },
  messageTooBig: {
    // RFC 5321 §4.5.3.1.7, RFC 1870 §6.3; RFC 3463 X.3.4 "message too big for system".
    code: 552,
    enhanced: "5.3.4",
    text: "Message size exceeds fixed maximum message size",
    explanation: {
      en: "The message is larger than the size we announce to sending servers (SIZE). Send large files as a download link instead, or split them.",
      de: "Die Nachricht ist größer als die Grenze, die wir sendenden Servern ankündigen (SIZE). Senden Sie große Dateien stattdessen als Download-Link, oder teilen Sie sie auf.",
    },
  },
  bareLineBreak: {
    // RFC 5321 §2.3.8: lines end in CRLF only; RFC 3463 X.5.2 "syntax error". SMTP smuggling.
    code: 554,
    enhanced: "5.5.2",
    text: "Message contains bare CR or bare LF",
    explanation: {
      en: "The message contains a line break that is a lone CR or a lone LF instead of CR LF, as SMTP requires. Such line breaks are used to smuggle a second, forged message past a mail server, so we refuse them. Most often the sending software is at fault; its operator can fix it.",
      de: "Die Nachricht enthält einen Zeilenumbruch aus einem einzelnen CR oder LF statt CR LF, wie SMTP es verlangt. Mit solchen Zeilenumbrüchen wird eine zweite, gefälschte Nachricht an einem Mailserver vorbeigeschmuggelt; darum weisen wir sie ab. Meist liegt der Fehler in der sendenden Software; ihr Betreiber kann ihn beheben.",
    },
  },
  nulCharacters: {
    // RFC 2045 §2.7–2.8: NUL is not allowed in 7bit or 8bit data; RFC 3463 X.6.0, a media error.
    code: 554,
    enhanced: "5.6.0",
    text: "Message contains NUL characters",
    explanation: {
      en: "The message contains NUL bytes, which Internet mail does not allow outside an encoded attachment. Attach binary data as a file; mail programs then encode it.",
      de: "Die Nachricht enthält NUL-Bytes, die Internet-Mail außerhalb eines kodierten Anhangs nicht erlaubt. Hängen Sie binäre Daten als Datei an; Mailprogramme kodieren sie dann.",
    },
  },
  tooManyConnections: {
    // RFC 5321 §3.8: 421 closes the session; RFC 3463 X.7.0, a policy limit.
    code: 421,
    enhanced: "4.7.0",
    text: "{host} Error: too many connections, try again later",
    explanation: {
      en: "The sending server has more connections open to us than we allow from one address, or we are at our limit of connections altogether. This is temporary: the server tries again by itself.",
      de: "Der sendende Server hat mehr Verbindungen zu uns offen, als wir von einer Adresse erlauben, oder wir haben insgesamt so viele Verbindungen, wie wir annehmen. Das ist vorübergehend: Der Server versucht es von selbst erneut.",
    },
  },
  tooManyErrors: {
    // Postfix's smtpd_hard_error_limit: the session is closed after this many refused commands.
    code: 421,
    enhanced: "4.7.0",
    text: "{host} Error: too many errors",
    explanation: {
      en: "The sending server's session got so many error replies that we closed it. This is temporary: the server tries again by itself; if this repeats, its operator should look at the replies before this one in its log.",
      de: "Die Sitzung des sendenden Servers erhielt so viele Fehlerantworten, dass wir sie beendet haben. Das ist vorübergehend: Der Server versucht es von selbst erneut; wiederholt es sich, sollte sein Betreiber die Antworten vor dieser in seinem Protokoll ansehen.",
    },
  },
} as const satisfies Record<string, ReplyDefinition>;

export type ReplyKey = keyof typeof REPLIES;

/** The keys in the order the postmaster page lists them. */
export const REPLY_KEYS = Object.keys(REPLIES) as ReplyKey[];

/** The placeholder names of a template: "<{host}[{ip}]>" → "host" | "ip". */
type PlaceholdersOf<T extends string> = T extends `${string}{${infer Name}}${infer Rest}` ? Name | PlaceholdersOf<Rest> : never;

/** The values a reply needs, e.g. `{ id: string }` for "banned", `{}` for "authBeforeTls". */
export type ReplyValues<K extends ReplyKey> = Record<PlaceholdersOf<(typeof REPLIES)[K]["text"]>, string>;

/** A rendered reply, as the judge's Verdict carries it. */
export interface SmtpReply {
  code: number;
  enhanced: string;
  text: string;
}

export type TemplatePart = { literal: string } | { placeholder: string };

const PLACEHOLDER_RE = /\{([a-z]+)\}/gi;

/** Splits a reply text into its literal pieces and placeholders, in order. */
export function templateParts(text: string): TemplatePart[] {
  const parts: TemplatePart[] = [];
  let at = 0;
  for (const match of text.matchAll(PLACEHOLDER_RE)) {
    if (match.index > at) parts.push({ literal: text.slice(at, match.index) });
    parts.push({ placeholder: match[1] ?? "" });
    at = match.index + match[0].length;
  }
  if (at < text.length) parts.push({ literal: text.slice(at) });
  return parts;
}

/**
 * A value as it may appear in a reply line: RFC 5321 §4.2 reply text is one line, so control
 * characters (CR and LF above all) are replaced; they could otherwise forge further reply lines.
 */
export function replySafe(value: string): string {
  // eslint-disable-next-line no-control-regex -- control characters are exactly what is replaced
  return value.replace(/[\u0000-\u001f\u007f]/g, "?");
}

/** The reply with the real values in place of its placeholders. */
export function buildReply<K extends ReplyKey>(key: K, values: ReplyValues<K>): SmtpReply {
  const { code, enhanced, text } = REPLIES[key];
  const given = values as Record<string, string>;
  const filled = templateParts(text)
    .map((part) => ("literal" in part ? part.literal : replySafe(given[part.placeholder] ?? "")))
    .join("");
  return { code, enhanced, text: filled };
}

/** One reply line: "554 5.7.0 Reject, id=54321-07 – BANNED". */
export function formatReply(reply: SmtpReply): string {
  return `${reply.code} ${reply.enhanced} ${reply.text}`;
}

export function renderReply<K extends ReplyKey>(key: K, values: ReplyValues<K>): string {
  return formatReply(buildReply(key, values));
}
