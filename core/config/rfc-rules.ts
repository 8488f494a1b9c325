// What the judge does when a message breaks a rule of the message format (RFC 5322, RFC 2045–2049,
// RFC 6532): refuse it in the SMTP session ("reject"), let it through with a mark for the spam scoring
// and the mailbox ("mark"), or only write the finding to the log ("log").
// Each rule, its RFC section and the reasoning behind its default: docs/rfc-conformance.md.
import { z } from "zod";

const ruleAction = z.enum(["reject", "mark", "log"]);

export const rfcRulesSchema = z
  .object({
    missingFrom: ruleAction.default("reject").describe("RFC 5322 §3.6: exactly one From; without it there is no author to authenticate (RFC 7489 §6.6.1)"),
    duplicateFrom: ruleAction.default("reject").describe("RFC 5322 §3.6: at most one From; two let DMARC judge one author while the reader sees the other"),
    missingDate: ruleAction.default("mark").describe("RFC 5322 §3.6: exactly one Date; scripts and old devices leave it out, so only marked"),
    duplicateField: ruleAction
      .default("reject")
      .describe("RFC 5322 §3.6: Date, Sender, Reply-To, To, Cc, Bcc, Message-ID, In-Reply-To, References, Subject at most once"),
    headerSyntax: ruleAction
      .default("reject")
      .describe("RFC 5322 §2.2: a header line is a field name of printable US-ASCII but `:`, then `:`, or a folded continuation"),
    headerSectionSize: ruleAction
      .default("reject")
      .describe("our bound, not an RFC's: a header section (of the message or of a MIME part) over 1000 fields or 256 KiB"),
    eightBitHeader: ruleAction.default("mark").describe("RFC 6532 §3 with RFC 6531 §3.4: 8-bit octets in the header only in UTF-8 and only under SMTPUTF8"),
    lineLength: ruleAction.default("mark").describe("RFC 5322 §2.1.1: a line is at most 998 octets, CRLF not counted"),
    multipartBoundary: ruleAction
      .default("reject")
      .describe("RFC 2046 §5.1.1: a multipart has one boundary parameter of 1–70 bchars, not begun by an enclosing one"),
    multipartDelimiter: ruleAction
      .default("mark")
      .describe("RFC 2046 §5.1.1: a multipart has at least one body part and a close-delimiter; no line merely begins like one"),
    mimeTreeSize: ruleAction.default("reject").describe("our bound, not an RFC's: multiparts nested at most 10 deep, at most 1000 MIME parts"),
    transferEncoding: ruleAction.default("reject").describe("RFC 2045 §6.1: Content-Transfer-Encoding is 7bit, 8bit, binary, quoted-printable or base64"),
    multipartTransferEncoding: ruleAction.default("reject").describe("RFC 2045 §6.4: a multipart is only 7bit, 8bit or binary"),
    messageTransferEncoding: ruleAction.default("mark").describe("RFC 2046 §5.2.1: a message/rfc822 part is only 7bit, 8bit or binary"),
    base64Content: ruleAction.default("mark").describe("RFC 2045 §6.8: base64 content holds only the base64 alphabet, padded to whole 4-character groups"),
  })
  .strict();

export type RfcRules = z.output<typeof rfcRulesSchema>;
export type RfcRuleName = keyof RfcRules;
export type RfcRuleAction = z.output<typeof ruleAction>;
