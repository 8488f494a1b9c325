// Hang and memory guards for the whole judge (conformance, banned content, authentication): messages
// built to make a MIME parser slow or greedy are judged in bounded time and memory. A message of one
// million short lines took postal-mime (the banned-content judge's parser before) about 10 s and 1.8 GB;
// the judge now reads the MIME tree with the conformance check's linear walker. This file runs alone
// in its worker process, so the peak RSS it reads is its own.
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../core/config/load.ts";
import type { VerdictEnvelope } from "../../core/verdict/types.ts";
import { verdict } from "../../core/verdict/verdict.ts";
import { ZoneResolver } from "../fixtures/zone-resolver.ts";

// Guards, not performance targets: the judge takes well under a tenth of each on these messages.
const CPU_BOUND_MS = 5000;
const MEMORY_BOUND_MIB = 256;

const config = parseConfig({ hostname: "mx.example.org", domains: [{ name: "example.org", mx: ["mx.example.org"], catchAll: true }] });
const zone = new ZoneResolver().txt("sender.test", "v=spf1 ip4:192.0.2.10 -all").txt("_dmarc.sender.test", "v=DMARC1; p=none");
const envelope: VerdictEnvelope = {
  clientIp: "192.0.2.10",
  helo: "mail.sender.test",
  mailFrom: "alice@sender.test",
  rcptTo: ["bob@example.org"],
  direction: "inbound",
};

const HEAD = [
  "From: Alice <alice@sender.test>",
  "To: Bob <bob@example.org>",
  "Subject: lines",
  "Date: Mon, 6 Jan 2025 10:00:00 +0000",
  "Message-ID: <lines@sender.test>",
  "MIME-Version: 1.0",
].join("\r\n");

const MILLION_LINES = "a\r\n".repeat(1_000_000);

function attachmentOfLines(encoding: string): string {
  return [
    HEAD,
    'Content-Type: multipart/mixed; boundary="b1"',
    "",
    "--b1",
    "Content-Type: text/plain",
    "",
    "see the attachment",
    "--b1",
    'Content-Type: application/octet-stream; name="lines.bin"',
    'Content-Disposition: attachment; filename="lines.bin"',
    `Content-Transfer-Encoding: ${encoding}`,
    "",
    `${MILLION_LINES}--b1--`,
    "",
  ].join("\r\n");
}

const cases: [string, () => string][] = [
  ["one million short lines of text", () => `${HEAD}\r\nContent-Type: text/plain\r\n\r\n${MILLION_LINES}`],
  ["an attachment of one million short lines", () => attachmentOfLines("7bit")],
  ["a quoted-printable attachment of one million short lines", () => attachmentOfLines("quoted-printable")],
  ["a base64 attachment of one million short lines", () => attachmentOfLines("base64")],
  ["one million boundary lookalike lines", () => attachmentOfLines("7bit").replace(MILLION_LINES, "--b1x\r\n".repeat(1_000_000))],
];

describe("the judge on messages built to be slow to parse", () => {
  it.each(cases)("%s: judged in bounded CPU time and memory", async (_, build) => {
    const raw = new TextEncoder().encode(build());
    expect(raw.byteLength).toBeGreaterThan(3_000_000);
    const rssBefore = process.memoryUsage().rss;
    const cpuBefore = process.cpuUsage();
    const v = await verdict(raw, envelope, config, zone);
    const cpu = process.cpuUsage(cpuBefore);
    const peakIncreaseMiB = (process.resourceUsage().maxRSS * 1024 - rssBefore) / 2 ** 20;
    expect(["accept", "reject"]).toContain(v.action);
    expect(v.checks.map((c) => c.check)).toContain("banned");
    expect((cpu.user + cpu.system) / 1000).toBeLessThan(CPU_BOUND_MS);
    expect(peakIncreaseMiB).toBeLessThan(MEMORY_BOUND_MIB);
  });
});
