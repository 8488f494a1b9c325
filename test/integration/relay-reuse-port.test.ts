// relay.listeners.mx.reusePort: two relays, each with its own spool, on one MX port (SO_REUSEPORT). The
// kernel spreads the connections: both relays take sessions, and each delivers what it accepted. Without
// the setting, the second relay's start fails on the port in use.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, inject, it } from "vitest";
import { freePort } from "../harness/process.ts";
import { LOCAL, maildirMessages, relayDocument, startTestRelay, testMessage } from "../harness/relay.ts";
import { openSmtp } from "../harness/smtp-client.ts";
import { TEST_DNS } from "../harness/zones.ts";

const harness = inject("harness");
const dir = mkdtempSync(join(tmpdir(), "edgemx-reuse-port-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const { sender } = TEST_DNS;
const CONNECTIONS = 40;

it("two relays share one MX port: both take sessions, and every accepted message is delivered once", async () => {
  const port = await freePort();
  const maildir = join(dir, "Maildir");
  const documentOf = (name: string, reusePort: boolean) => {
    const document = relayDocument(join(dir, name), harness.dnsPort, { listeners: { mx: { host: "127.0.0.1", port, reusePort } }, threads: 0 });
    return { ...document, relay: { ...document.relay, nextHop: { type: "maildir" as const, path: maildir } } };
  };
  const listen = { listen: { host: "127.0.0.1", port } };
  const first = await startTestRelay(documentOf("first", true), {}, listen);
  try {
    await expect(startTestRelay(documentOf("refused", false), {}, listen)).rejects.toThrow(`cannot listen on 127.0.0.1 port ${port}`);
    const second = await startTestRelay(documentOf("second", true), {}, listen);
    try {
      for (let n = 0; n < CONNECTIONS; n++) {
        const smtp = await openSmtp(port, { localAddress: sender.authorizedIp });
        await smtp.reply();
        await smtp.command(`EHLO ${sender.mailHost}`);
        expect(await smtp.command(`MAIL FROM:<alice@${sender.domain}>`)).toMatch(/^250 /);
        expect(await smtp.command(`RCPT TO:<${LOCAL.mailbox}>`)).toMatch(/^250 /);
        expect(await smtp.command("DATA")).toMatch(/^354 /);
        smtp.write(`${testMessage({ from: `alice@${sender.domain}`, messageId: `<reuse-${n}@${sender.domain}>` })}.\r\n`);
        expect(await smtp.reply()).toMatch(/^250 /);
        await smtp.command("QUIT");
        smtp.close();
      }
      const accepted = (relay: typeof first): number => relay.logs.filter((line) => line.event === "message" && typeof line.queueId === "string").length;
      // Each connection a new source port: the kernel's hash sends some to each (all 40 to one: a chance of 2^-39).
      expect(accepted(first)).toBeGreaterThan(0);
      expect(accepted(second)).toBeGreaterThan(0);
      expect(accepted(first) + accepted(second)).toBe(CONNECTIONS);
      await expect.poll(() => maildirMessages(maildir, LOCAL.mailbox).length, { timeout: 30_000 }).toBe(CONNECTIONS);
    } finally {
      await second.relay.stop();
    }
  } finally {
    await first.relay.stop();
  }
});
