// The dashboard's texts in English and German; {name} slots are filled with escaped values.
import type { Lang } from "../postmaster/language.ts";

export interface DashboardText {
  readInThisLanguage: string;
  title: string;
  indexTitle: string;
  indexLead: string;
  domain: string;
  reports: string;
  messages: string;
  passRate: string;
  lead: string;
  signedInAs: string;
  policyHeading: string;
  policyConfigured: string;
  policySeen: string;
  policySeenNone: string;
  timelineHeading: string;
  timelineChart: string;
  timelineNone: string;
  day: string;
  pass: string;
  failNone: string;
  failQuarantine: string;
  failReject: string;
  sourcesHeading: string;
  sourcesNone: string;
  source: string;
  reverseName: string;
  passed: string;
  reporters: string;
  headerFrom: string;
  failingHeading: string;
  failingNone: string;
  dkimFailed: string;
  spfFailed: string;
  dkimDomains: string;
  spfDomains: string;
  tlsHeading: string;
  tlsChart: string;
  tlsNone: string;
  reporter: string;
  successful: string;
  failed: string;
  failureTypes: string;
  failureReportsHeading: string;
  failureReportsNone: string;
  arrival: string;
  authFailure: string;
  originalFrom: string;
  subject: string;
  refusalsHeading: string;
  refusalsNone: string;
  received: string;
  kind: string;
  sender: string;
  reason: string;
  api: string;
  back: string;
}

export const TEXT: Record<Lang, DashboardText> = {
  en: {
    readInThisLanguage: "English",
    title: "Reports for {domain}",
    indexTitle: "Postmaster dashboard",
    indexLead: "DMARC and TLS reports received for the domains of this gateway.",
    domain: "Domain",
    reports: "Aggregate reports",
    messages: "Messages",
    passRate: "DMARC pass rate",
    lead: "What receivers report about mail sent as {domain}: who sends it, from where, and whether it passes DMARC.",
    signedInAs: "Signed in as {who}.",
    policyHeading: "Policy in force",
    policyConfigured: "Published by this gateway:",
    policySeen: "Found published by {reporter} (report ending {date}):",
    policySeenNone: "No aggregate report has named the published policy yet.",
    timelineHeading: "Messages by DMARC result",
    timelineChart: "Messages per day: passed DMARC, failed and delivered, failed and quarantined, failed and rejected",
    timelineNone: "No aggregate reports yet.",
    day: "Day",
    pass: "Passed",
    failNone: "Failed, delivered",
    failQuarantine: "Failed, quarantined",
    failReject: "Failed, rejected",
    sourcesHeading: "Top sending sources",
    sourcesNone: "No sources reported yet.",
    source: "Source IP",
    reverseName: "Name",
    passed: "Passed",
    reporters: "Reporters",
    headerFrom: "From domain",
    failingHeading: "Sources that fail DKIM or SPF",
    failingNone: "No source fails DKIM or SPF.",
    dkimFailed: "DKIM failed",
    spfFailed: "SPF failed",
    dkimDomains: "DKIM domains",
    spfDomains: "SPF domains",
    tlsHeading: "TLS reports (TLS-RPT)",
    tlsChart: "TLS sessions per day: successful and failed",
    tlsNone: "No TLS reports yet.",
    reporter: "Reporter",
    successful: "Successful sessions",
    failed: "Failed sessions",
    failureTypes: "Failures by type",
    failureReportsHeading: "Failure reports",
    failureReportsNone: "No failure reports yet.",
    arrival: "Arrival",
    authFailure: "Failure",
    originalFrom: "From",
    subject: "Subject",
    refusalsHeading: "Reports that could not be read",
    refusalsNone: "None.",
    received: "Received",
    kind: "Kind",
    sender: "Sender",
    reason: "Reason",
    api: "The same data as JSON: {links}.",
    back: "All domains",
  },
  de: {
    readInThisLanguage: "Deutsch",
    title: "Berichte für {domain}",
    indexTitle: "Postmaster-Übersicht",
    indexLead: "DMARC- und TLS-Berichte, die für die Domains dieses Gateways eingegangen sind.",
    domain: "Domain",
    reports: "Sammelberichte",
    messages: "Nachrichten",
    passRate: "DMARC bestanden",
    lead: "Was Empfänger über Mail melden, die als {domain} gesendet wurde: wer sie sendet, von wo, und ob sie DMARC besteht.",
    signedInAs: "Angemeldet als {who}.",
    policyHeading: "Geltende Richtlinie",
    policyConfigured: "Von diesem Gateway veröffentlicht:",
    policySeen: "Von {reporter} vorgefunden (Bericht bis {date}):",
    policySeenNone: "Noch kein Sammelbericht hat die veröffentlichte Richtlinie genannt.",
    timelineHeading: "Nachrichten nach DMARC-Ergebnis",
    timelineChart: "Nachrichten pro Tag: DMARC bestanden, nicht bestanden und zugestellt, in Quarantäne, abgewiesen",
    timelineNone: "Noch keine Sammelberichte.",
    day: "Tag",
    pass: "Bestanden",
    failNone: "Nicht bestanden, zugestellt",
    failQuarantine: "Nicht bestanden, Quarantäne",
    failReject: "Nicht bestanden, abgewiesen",
    sourcesHeading: "Häufigste Absenderquellen",
    sourcesNone: "Noch keine Quellen gemeldet.",
    source: "Quell-IP",
    reverseName: "Name",
    passed: "Bestanden",
    reporters: "Berichtende",
    headerFrom: "From-Domain",
    failingHeading: "Quellen, bei denen DKIM oder SPF scheitert",
    failingNone: "Keine Quelle scheitert an DKIM oder SPF.",
    dkimFailed: "DKIM gescheitert",
    spfFailed: "SPF gescheitert",
    dkimDomains: "DKIM-Domains",
    spfDomains: "SPF-Domains",
    tlsHeading: "TLS-Berichte (TLS-RPT)",
    tlsChart: "TLS-Sitzungen pro Tag: erfolgreich und gescheitert",
    tlsNone: "Noch keine TLS-Berichte.",
    reporter: "Berichtende Stelle",
    successful: "Erfolgreiche Sitzungen",
    failed: "Gescheiterte Sitzungen",
    failureTypes: "Fehler nach Art",
    failureReportsHeading: "Fehlerberichte",
    failureReportsNone: "Noch keine Fehlerberichte.",
    arrival: "Eingang",
    authFailure: "Fehler",
    originalFrom: "Von",
    subject: "Betreff",
    refusalsHeading: "Berichte, die nicht gelesen werden konnten",
    refusalsNone: "Keine.",
    received: "Empfangen",
    kind: "Art",
    sender: "Absender",
    reason: "Grund",
    api: "Dieselben Daten als JSON: {links}.",
    back: "Alle Domains",
  },
};
