// Cloudflare Email Routing inside workerd: the Worker's email() handler judges the message over the
// harness's real DNS and either refuses it (setReject, permanent), forwards it to the domain's
// forwardTo with our results as X- fields, or throws (Cloudflare answers the sender temporarily).
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { Env } from "../../workers/src/runtime/env.ts";
import worker from "../../workers/src/index.ts";
import { attachment, mail, peFile } from "../fixtures/banned-content.ts";
import { DKIM_PRIVATE_KEY_PEM } from "../harness/dkim-key.ts";
import { TEST_DNS } from "../harness/zones.ts";
import { dkimSign } from "../../core/mailauth/internals.ts";

const testEnv = env as Cloudflare.Env & Env;
const { sender } = TEST_DNS;
const utf8 = new TextEncoder();
const ID = String.raw`\d{5}-\d{2}`;

/** The example configuration with some of its judge settings changed, as the EDGEMX_CONFIG var. */
function configVar(judge: Record<string, unknown>): string {
  const document = JSON.parse(testEnv.EDGEMX_CONFIG!) as Record<string, unknown>;
  return JSON.stringify({ ...document, judge: { ...(document["judge"] as Record<string, unknown> | undefined), ...judge } });
}

function compose(from: string, options: { to?: string; extraHeaders?: string[] } = {}): string {
  return [
    ...(options.extraHeaders ?? []),
    `From: <${from}>`,
    `To: <${options.to ?? "bob@example.org"}>`,
    "Subject: Hello",
    "Date: Mon, 01 Jun 2026 10:00:00 +0000",
    `Message-ID: <${crypto.randomUUID()}@${from.slice(from.indexOf("@") + 1)}>`,
    "",
    "Hello Bob",
    "",
  ].join("\r\n");
}

async function signed(text: string): Promise<string> {
  const signature = { signingDomain: sender.domain, selector: sender.dkimSelector, privateKey: DKIM_PRIVATE_KEY_PEM };
  return (await dkimSign(text, { ...signature, signatureData: [signature] })).signatures + text;
}

/** The header section as Email Routing hands it over: unfolded fields, repeated ones appended. */
function headersOf(raw: string): Headers {
  const headers = new Headers();
  const section = raw.slice(0, raw.indexOf("\r\n\r\n")).replace(/\r\n[ \t]+/g, " ");
  for (const line of section.split("\r\n")) {
    const colon = line.indexOf(":");
    headers.append(line.slice(0, colon), line.slice(colon + 1).trim());
  }
  return headers;
}

interface Calls {
  rejected: string[];
  forwarded: { rcptTo: string; headers: Headers | undefined }[];
}

/** A ForwardableEmailMessage as workerd hands it to email(), recording what the handler does with it. */
function routed(raw: string, options: { from?: string; to?: string; rawSize?: number } = {}): { message: ForwardableEmailMessage; calls: Calls } {
  const bytes = utf8.encode(raw);
  const calls: Calls = { rejected: [], forwarded: [] };
  const message: ForwardableEmailMessage = {
    from: options.from ?? `alice@${sender.domain}`,
    to: options.to ?? "bob@example.org",
    headers: headersOf(raw),
    raw: new Blob([bytes]).stream() as ReadableStream<Uint8Array>,
    rawSize: options.rawSize ?? bytes.byteLength,
    canBeForwarded: true,
    setReject(reason: string) {
      calls.rejected.push(reason);
    },
    forward(rcptTo: string, headers?: Headers) {
      calls.forwarded.push({ rcptTo, headers });
      return Promise.resolve({ messageId: "<forwarded@example.net>" });
    },
    reply() {
      return Promise.reject(new Error("the handler never replies"));
    },
  };
  return { message, calls };
}

/** The X-Edgemx-Authentication-Results field forwarded, unfolded. */
function forwardedResults(calls: Calls): string {
  return calls.forwarded[0]?.headers?.get("x-edgemx-authentication-results") ?? "";
}

const receivedSpf = (ip: string) =>
  `Received-SPF: pass (mx.cloudflare.net: domain of alice@${sender.domain} designates ${ip} as permitted sender) client-ip=${ip}; envelope-from=alice@${sender.domain}; helo=${sender.mailHost};`;

describe("Email Routing: email() judges and forwards or refuses", () => {
  it("forwards a clean DKIM-signed message to the domain's forwardTo with our results as X- fields", async () => {
    const { message, calls } = routed(await signed(compose(`alice@${sender.domain}`)));
    await worker.email(message, testEnv);
    expect(calls.rejected).toEqual([]);
    expect(calls.forwarded).toHaveLength(1);
    expect(calls.forwarded[0]!.rcptTo).toBe("mailbox@example.net");
    const headers = calls.forwarded[0]!.headers!;
    // forward() takes X- fields only: Authentication-Results travels under our prefix, unfolded.
    expect(headers.has("authentication-results")).toBe(false);
    const results = forwardedResults(calls);
    expect(results).toMatch(/^mx\.example\.org; /);
    expect(results).not.toMatch(/[\r\n]/);
    expect(results).toMatch(/\bdkim=pass\b[^;]*header\.d=sender\.test/);
    expect(results).toMatch(/\bdmarc=pass\b[^;]*header\.from=sender\.test/);
    // No client IP without a trace field: SPF is not evaluated at all.
    expect(results).not.toMatch(/\bspf=/);
    expect(headers.get("x-edgemx-verdict")).toMatch(new RegExp(`^accept; id=${ID}$`));
    for (const [name] of headers) expect(name.startsWith("x-")).toBe(true);
  });

  it("does not ARC-seal on this path even with judge.arcSeal enabled and a key: forward() carries X- fields only", async () => {
    const sealing = { ...testEnv, ARC_PRIVATE_KEY: DKIM_PRIVATE_KEY_PEM, EDGEMX_CONFIG: configVar({ arcSeal: { enabled: true } }) };
    const { message, calls } = routed(await signed(compose(`alice@${sender.domain}`)));
    await worker.email(message, sealing);
    expect(calls.forwarded).toHaveLength(1);
    const names = [...calls.forwarded[0]!.headers!.keys()];
    expect(names.sort()).toEqual(["x-edgemx-authentication-results", "x-edgemx-verdict"]);
  });

  it("refuses an .exe attachment with the exact BANNED reply and forwards nothing", async () => {
    const raw = mail([attachment("invoice.exe", "application/octet-stream", peFile())]).replace(
      "From: Sender <sender@example.net>",
      `From: <alice@${sender.domain}>`,
    );
    const { message, calls } = routed(raw);
    await worker.email(message, testEnv);
    expect(calls.forwarded).toEqual([]);
    expect(calls.rejected).toHaveLength(1);
    expect(calls.rejected[0]).toMatch(new RegExp(`^554 5\\.7\\.0 Reject, id=${ID} – BANNED$`));
  });

  it("refuses an unsigned message of sender.test for its DMARC policy when no trace shows an authorized client", async () => {
    const { message, calls } = routed(compose(`alice@${sender.domain}`));
    await worker.email(message, testEnv);
    expect(calls.forwarded).toEqual([]);
    expect(calls.rejected).toHaveLength(1);
    expect(calls.rejected[0]).toMatch(new RegExp(`^550 5\\.7\\.1 Reject, id=${ID} – DMARC policy of sender\\.test$`));
  });

  it("does not take the client from a Received-SPF field, which the sender may have written", async () => {
    const { message, calls } = routed(compose(`alice@${sender.domain}`, { extraHeaders: [receivedSpf(sender.authorizedIp)] }));
    await worker.email(message, testEnv);
    expect(calls.forwarded).toEqual([]);
    expect(calls.rejected[0]).toMatch(/DMARC policy of sender\.test$/);
  });

  it("takes the client from the topmost Received field, so SPF passes for the unsigned message from 127.0.0.11", async () => {
    const received = [
      `Received: from ${sender.mailHost} (${sender.mailHost} [${sender.authorizedIp}]) by mx.cloudflare.net with ESMTPS id abc; Mon, 01 Jun 2026 10:00:01 +0000`,
      "Received: from workstation (workstation [192.0.2.55]) by mail.sender.test with ESMTPSA id def; Mon, 01 Jun 2026 10:00:00 +0000",
    ];
    const { message, calls } = routed(compose(`alice@${sender.domain}`, { extraHeaders: received }));
    await worker.email(message, testEnv);
    expect(calls.rejected).toEqual([]);
    expect(forwardedResults(calls)).toMatch(/\bspf=pass\b/);
  });

  it("refuses with 552 5.3.4 a message whose rawSize is over judge.maxMessageBytes, without reading it", async () => {
    const { message, calls } = routed(compose(`alice@${sender.domain}`), { rawSize: 50 * 1024 * 1024 + 1 });
    await worker.email(message, testEnv);
    expect(calls.forwarded).toEqual([]);
    expect(calls.rejected).toEqual([`552 5.3.4 Message size exceeds fixed maximum message size (${50 * 1024 * 1024} bytes)`]);
  });

  it("refuses with 552 5.3.4 a message whose stream turns out larger than the limit", async () => {
    const raw = compose(`alice@${sender.domain}`) + "x".repeat(3000) + "\r\n";
    const { message: routedMessage, calls } = routed(raw, { rawSize: 100 });
    await worker.email(routedMessage, { ...testEnv, EDGEMX_CONFIG: configVar({ maxMessageBytes: 2048 }) });
    expect(calls.forwarded).toEqual([]);
    expect(calls.rejected).toEqual(["552 5.3.4 Message size exceeds fixed maximum message size (2048 bytes)"]);
  });
});

describe("Email Routing: temporary failures throw", () => {
  it("throws, rejecting nothing, when DNS does not answer (the DoH server is a black hole)", async () => {
    const outage = { ...testEnv, DOH_URL: testEnv.HARNESS_BLACKHOLE_URL, EDGEMX_CONFIG: configVar({ dns: { timeoutMs: 150 } }) };
    const { message, calls } = routed(await signed(compose(`alice@${sender.domain}`)));
    await expect(worker.email(message, outage)).rejects.toThrow(/^451 4\.4\.3 <[^>]+>: Temporary DNS lookup failure/);
    expect(calls.rejected).toEqual([]);
    expect(calls.forwarded).toEqual([]);
  });

  it("throws for a From domain whose DNS answers SERVFAIL", async () => {
    const from = `alice@${TEST_DNS.bogus}`;
    const { message, calls } = routed(compose(from), { from });
    await expect(worker.email(message, testEnv)).rejects.toMatchObject({ name: "TemporaryFailure" });
    expect(calls.rejected).toEqual([]);
    expect(calls.forwarded).toEqual([]);
  });

  it("throws for a recipient of a domain that is not configured", async () => {
    const { message, calls } = routed(compose(`alice@${sender.domain}`, { to: "bob@example.com" }), { to: "bob@example.com" });
    await expect(worker.email(message, testEnv)).rejects.toThrow(/no forwardTo is configured for the domain of bob@example\.com/);
    expect(calls.rejected).toEqual([]);
    expect(calls.forwarded).toEqual([]);
  });

  it("throws for a configured domain without forwardTo", async () => {
    const document = JSON.parse(testEnv.EDGEMX_CONFIG!) as { domains: Record<string, unknown>[] };
    const withoutForward = { ...document, domains: document.domains.map(({ forwardTo: _unused, ...domain }) => domain) };
    const { message, calls } = routed(compose(`alice@${sender.domain}`));
    await expect(worker.email(message, { ...testEnv, EDGEMX_CONFIG: JSON.stringify(withoutForward) })).rejects.toThrow(/no forwardTo/);
    expect(calls.rejected).toEqual([]);
  });
});
