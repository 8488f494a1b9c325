// RFC 3464 delivery status notifications: a multipart/report (RFC 6522) that a MIME parser (postal-mime)
// takes apart into the human-readable text, the message/delivery-status fields (RFC 3464 §2.2, §2.3)
// and the original header; never one for the null sender.
import PostalMime from "postal-mime";
import { describe, expect, it } from "vitest";
import { buildDsn, rfc5322Date, statusOfReply, type DsnRequest } from "../../core/dsn/dsn.ts";

const ARRIVAL = Date.UTC(2025, 10, 27, 19, 0, 0);
const NOW = Date.UTC(2025, 10, 27, 20, 30, 5);
const ORIGINAL = Buffer.from(
  "Received: from client.example ([192.0.2.1])\r\n\tby mx.example.org; Thu, 27 Nov 2025 19:00:00 +0000\r\nFrom: Alice <alice@sender.example>\r\nSubject: Quarterly report\r\nMessage-ID: <q3@sender.example>\r\n\r\nThe secret body.\r\n",
);

function request(overrides: Partial<DsnRequest> = {}): DsnRequest {
  return {
    id: "019AC6F3A2C0123456",
    reportingMta: "mx.example.org",
    original: { id: "019AC6F0B8C0ABCDEF", mailFrom: "alice@sender.example", createdAt: ARRIVAL, message: ORIGINAL },
    recipients: [
      {
        rcpt: "bob@example.org",
        action: "failed",
        status: "5.1.1",
        reply: "550 5.1.1 <bob@example.org>: Recipient address rejected: User unknown",
        remoteMta: "mailbox.example.org",
      },
      { rcpt: "carol@example.org", action: "delayed", status: "4.2.2", reply: "452 4.2.2 Mailbox full" },
    ],
    now: NOW,
    willRetryUntil: ARRIVAL + 5 * 24 * 3600_000,
    ...overrides,
  };
}

/** RFC 3464 §2.1: groups of fields separated by empty lines, unfolded (RFC 5322 §2.2.3). */
function fieldGroups(text: string): Map<string, string>[] {
  return text
    .replace(/\r\n/g, "\n")
    .trim()
    .split(/\n\n/)
    .map(
      (group) =>
        new Map(
          group
            .replace(/\n[ \t]+/g, " ")
            .split("\n")
            .map((line) => [line.slice(0, line.indexOf(":")), line.slice(line.indexOf(":") + 1).trim()]),
        ),
    );
}

async function parse(message: Uint8Array) {
  const email = await PostalMime.parse(message);
  const part = (mimeType: string) => {
    const found = email.attachments.find((a) => a.mimeType === mimeType);
    return found && (typeof found.content === "string" ? found.content : new TextDecoder().decode(found.content));
  };
  return { email, part };
}

describe("buildDsn", () => {
  it("is a multipart/report of the human text, message/delivery-status and the original header, from MAILER-DAEMON", async () => {
    const dsn = buildDsn(request())!;
    expect(dsn.id).toBe("019AC6F3A2C0123456");
    // RFC 5321 §4.5.5, RFC 3464 §2: the null reverse path, to the original sender.
    expect(dsn.envelope).toEqual({ mailFrom: "", rcptTo: ["alice@sender.example"] });

    const { email, part } = await parse(dsn.message);
    const header = (key: string) => email.headers.find((h) => h.key === key)?.value;
    expect(email.from?.address).toBe("MAILER-DAEMON@mx.example.org");
    expect(email.to?.[0]?.address).toBe("alice@sender.example");
    expect(email.subject).toBe("Undelivered mail returned to sender");
    expect(email.messageId).toBe("<019AC6F3A2C0123456@mx.example.org>");
    expect(header("auto-submitted")).toBe("auto-replied");
    expect(header("content-type")).toMatch(/^multipart\/report; report-type=delivery-status;\s+boundary="=_edgemx_019AC6F3A2C0123456"$/);
    expect(new Date(email.date!).getTime()).toBe(NOW);
    expect(email.attachments.map((a) => a.mimeType)).toEqual(["message/delivery-status", "text/rfc822-headers"]);

    expect(email.text).toContain("This is the mail system at mx.example.org.");
    expect(email.text).toContain("<bob@example.org>: 550 5.1.1 <bob@example.org>: Recipient address rejected:");
    expect(email.text).toContain("019AC6F0B8C0ABCDEF");

    // The header of the original, without its body (RFC 6522 §4: text/rfc822-headers).
    expect(part("text/rfc822-headers")).toContain("Subject: Quarterly report");
    expect(part("text/rfc822-headers")).not.toContain("The secret body");
  });

  it("writes the per-message and per-recipient fields of RFC 3464 §2.2 and §2.3", async () => {
    const { part } = await parse(buildDsn(request())!.message);
    const [perMessage, bob, carol, ...rest] = fieldGroups(part("message/delivery-status")!);
    expect(rest).toEqual([]);
    expect(Object.fromEntries(perMessage!)).toEqual({ "Reporting-MTA": "dns; mx.example.org", "Arrival-Date": "Thu, 27 Nov 2025 19:00:00 +0000" });
    expect(Object.fromEntries(bob!)).toEqual({
      "Final-Recipient": "rfc822; bob@example.org",
      Action: "failed",
      Status: "5.1.1",
      "Remote-MTA": "dns; mailbox.example.org",
      "Diagnostic-Code": "smtp; 550 5.1.1 <bob@example.org>: Recipient address rejected: User unknown",
      "Last-Attempt-Date": "Thu, 27 Nov 2025 20:30:05 +0000",
    });
    expect(Object.fromEntries(carol!)).toEqual({
      "Final-Recipient": "rfc822; carol@example.org",
      Action: "delayed",
      Status: "4.2.2",
      "Diagnostic-Code": "smtp; 452 4.2.2 Mailbox full",
      "Last-Attempt-Date": "Thu, 27 Nov 2025 20:30:05 +0000",
      "Will-Retry-Until": "Tue, 02 Dec 2025 19:00:00 +0000",
    });
  });

  it("is never made for the null sender (no DSN about a DSN)", () => {
    expect(buildDsn(request({ original: { id: "X", mailFrom: "", createdAt: ARRIVAL, message: ORIGINAL } }))).toBeNull();
  });

  it("says 'delayed' in the subject when nothing failed", async () => {
    const { email } = await parse(buildDsn(request({ recipients: [request().recipients[1]!] }))!.message);
    expect(email.subject).toBe("Delayed mail (still being retried)");
    expect(email.text).toContain("keeps trying until Tue, 02 Dec 2025 19:00:00 +0000");
  });

  it("keeps every line within RFC 5322's 998 octets and joins multi-line replies", () => {
    const reply = "550-5.7.1 first line\r\n550-5.7.1 " + "x".repeat(5000) + "\r\n550 5.7.1 " + "word ".repeat(400);
    const text = Buffer.from(buildDsn(request({ recipients: [{ rcpt: "bob@example.org", action: "failed", status: "5.7.1", reply }] }))!.message).toString();
    for (const line of text.split("\r\n")) expect(line.length).toBeLessThanOrEqual(998);
    expect(text).toContain("Diagnostic-Code: smtp; 550-5.7.1 first line 550-5.7.1\r\n xxx");
    expect(text).not.toMatch(/[^\r]\n/);
  });

  it("uses the internationalized report types of RFC 6533 for an SMTPUTF8 address", () => {
    const dsn = buildDsn(request({ recipients: [{ rcpt: "jürgen@example.org", action: "failed", status: "5.1.1", reply: "550 5.1.1 unknown" }] }))!;
    const text = Buffer.from(dsn.message).toString("utf8");
    expect(text).toContain("Content-Type: message/global-delivery-status");
    expect(text).toContain("Content-Type: message/global-headers");
    expect(text).toContain("Final-Recipient: utf-8; jürgen@example.org");
    expect(text).toContain("Content-Transfer-Encoding: 8bit");
  });
});

describe("statusOfReply", () => {
  it("takes the enhanced status code (RFC 3463) when its class agrees with the reply code", () => {
    expect(statusOfReply("550 5.1.1 <bob@example.org>: unknown")).toBe("5.1.1");
    expect(statusOfReply("452-4.2.2 Mailbox full\r\n452 4.2.2 really")).toBe("4.2.2");
    expect(statusOfReply("554 5.7.0")).toBe("5.7.0");
  });

  it("falls back to X.0.0 without one, or with one of the wrong class", () => {
    expect(statusOfReply("550 Mailbox unavailable")).toBe("5.0.0");
    expect(statusOfReply("451 5.1.1 contradicts itself")).toBe("4.0.0");
    expect(statusOfReply("554 5.1.1.7 not a code")).toBe("5.0.0");
    expect(statusOfReply("connection refused")).toBe("4.0.0");
  });
});

describe("rfc5322Date", () => {
  it("formats RFC 5322 §3.3 date-time in UTC", () => {
    expect(rfc5322Date(Date.UTC(2026, 0, 4, 3, 5, 9))).toBe("Sun, 04 Jan 2026 03:05:09 +0000");
  });
});
