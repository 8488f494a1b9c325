// The message of the mx benchmark: about 10 KiB of plain text from alice@sender.test to
// user@example.org, with the header fields a real client writes (Date of now, so that no server finds
// it stale), CRLF line ends, no line over 78 octets, DKIM-signed by sender.test with the harness's key
// (selector edgemx, rsa-sha256, relaxed/relaxed), so that SPF, DKIM and DMARC pass from 127.0.0.11.
import { randomUUID } from "node:crypto";
import { DKIM_PRIVATE_KEY_PEM } from "../../test/harness/dkim-key.ts";
import { TEST_DNS } from "../../test/harness/zones.ts";
import { dkimSign } from "../../core/mailauth/internals.ts";

const { sender } = TEST_DNS;

export const PROSE = [
  "The quarterly figures are attached as agreed; the totals on page two include the late invoices.",
  "Please check the delivery schedule for the northern warehouses before Thursday's call.",
  "We moved the review to the small meeting room, second floor, at half past ten.",
  "If anything is unclear, reply to this message and I will send the raw data as well.",
];

/** `bytes` of plain text in lines of at most 78 characters, CRLF-terminated (RFC 5322 §2.1.1). */
export function proseText(bytes: number): string {
  const lines: string[] = [];
  let size = 0;
  for (let i = 0; size < bytes; i++) {
    const line = `${String(i + 1).padStart(4, "0")} ${PROSE[i % PROSE.length]!}`.slice(0, 78);
    lines.push(line);
    size += line.length + 2;
  }
  return `${lines.join("\r\n")}\r\n`;
}

/** RFC 5322 §3.3 date-time in UTC, "+0000" rather than the obsolete "GMT". */
function rfc5322Date(date: Date): string {
  return date.toUTCString().replace(/GMT$/, "+0000");
}

function unsigned(bodyBytes: number, recipient: string): string {
  const now = new Date();
  return [
    // As sent by the sender's own MTA: its Received field from the submission, and the client's name.
    `Received: from [192.0.2.25] (client.${sender.domain} [192.0.2.25])`,
    `\tby ${sender.mailHost} with ESMTPSA id 4XbKq71Zz9; ${rfc5322Date(new Date(now.getTime() - 2000))}`,
    `From: Alice Sender <alice@${sender.domain}>`,
    `To: <${recipient}>`,
    "Subject: Quarterly figures",
    `Date: ${rfc5322Date(now)}`,
    `Message-ID: <${randomUUID()}@${sender.domain}>`,
    "MIME-Version: 1.0",
    "User-Agent: Mozilla Thunderbird",
    "Content-Type: text/plain; charset=utf-8",
    "Content-Transfer-Encoding: 7bit",
    "",
    proseText(bodyBytes),
  ].join("\r\n");
}

/** The message DKIM-signed by sender.test with the harness's key (selector edgemx, rsa-sha256, relaxed/relaxed). */
export async function signedBySender(message: string): Promise<Buffer> {
  const signature = { signingDomain: sender.domain, selector: sender.dkimSelector, privateKey: DKIM_PRIVATE_KEY_PEM, canonicalization: "relaxed/relaxed" };
  const raw = Buffer.from(message, "utf8");
  const result = await dkimSign(raw, { ...signature, signatureData: [signature] });
  if (result.errors.length > 0) throw new Error(`DKIM signing failed: ${JSON.stringify(result.errors)}`);
  return Buffer.concat([Buffer.from(result.signatures, "utf8"), raw]);
}

/** The signed message, within a line of `targetBytes` in all. */
export async function buildMxMessage(targetBytes: number, recipient: string): Promise<Buffer> {
  let body = targetBytes - 1000;
  let message = await signedBySender(unsigned(body, recipient));
  for (let pass = 0; pass < 2; pass++) {
    body += targetBytes - message.byteLength;
    message = await signedBySender(unsigned(body, recipient));
  }
  return message;
}
