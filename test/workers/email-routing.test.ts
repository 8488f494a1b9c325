// Cloudflare Email Routing inside workerd: the Worker's email() handler judges the message over the
// harness's real DNS and either refuses it (setReject, permanent), forwards it to the domain's
// forwardTo with our results as X- fields, or throws (Cloudflare answers the sender temporarily).
import { describe, expect, it } from "vitest";
import worker from "../../workers/src/index.ts";
import { attachment, mail, peFile } from "../fixtures/banned-content.ts";
import { DKIM_PRIVATE_KEY_PEM } from "../harness/dkim-key.ts";
import { sealMessage } from "../../core/mailauth/internals.ts";
import { compose, configVar, configWith, ID, routed, signed, TEST_CONNECTION, testEnv, type Calls } from "./routed-email.ts";
import { TEST_DNS } from "../harness/zones.ts";

const { sender } = TEST_DNS;

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
    // The client's checks and greylisting could not run without a client in the trace, and the verdict field says so.
    expect(headers.get("x-edgemx-verdict")).toMatch(new RegExp(`^accept; id=${ID}; skipped=dnsbl,fcrdns,helo,greylist$`));
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

  it("refuses a message with two From fields as an RFC violation, with the judge's reply", async () => {
    const { message, calls } = routed(await signed(compose(`alice@${sender.domain}`, { extraHeaders: ["From: <mallory@example.net>"] })));
    await worker.email(message, testEnv);
    expect(calls.forwarded).toEqual([]);
    expect(calls.rejected).toHaveLength(1);
    expect(calls.rejected[0]).toMatch(new RegExp(`^554 5\\.6\\.0 Reject, id=${ID} – message format violates the RFCs \\(duplicateFrom\\)$`));
  });

  it("lets the ARC chain of a trusted sealer vouch for a message a list rewrote, whose DMARC fails here; refuses it without that trust", async () => {
    // The list received alice's signed message, found it authenticated, tagged its subject (breaking
    // the DKIM signature) and sealed it (RFC 8617 §5.1) with a key the harness publishes.
    const rewritten = (await signed(compose(`alice@${sender.domain}`))).replace("Subject: Hello", "Subject: [list] Hello");
    const authResults = `${sender.arcSealer}; dkim=pass header.d=${sender.domain}; dmarc=pass header.from=${sender.domain}`;
    const arcSet = await sealMessage(rewritten, {
      signingDomain: sender.arcSealer,
      selector: sender.dkimSelector,
      privateKey: DKIM_PRIVATE_KEY_PEM,
      authResults,
      cv: "none",
    });
    const raw = arcSet.toString() + rewritten;

    const untrusted = routed(raw);
    await worker.email(untrusted.message, testEnv);
    expect(untrusted.calls.rejected).toHaveLength(1);
    expect(untrusted.calls.rejected[0]).toMatch(/DMARC policy of sender\.test$/);

    const trusted = routed(raw);
    await worker.email(trusted.message, { ...testEnv, EDGEMX_CONFIG: configVar({ auth: { trustedArcSealers: [sender.arcSealer] } }) });
    expect(trusted.calls.rejected).toEqual([]);
    expect(trusted.calls.forwarded).toHaveLength(1);
    const results = forwardedResults(trusted.calls);
    expect(results).toMatch(/\barc=pass\b/);
    expect(results).toMatch(/\bdmarc=fail\b[^;]*trusted_forwarder lists\.sender\.test/);
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
    await worker.email(message, { ...testEnv, EDGEMX_CONFIG: configWith({ connection: TEST_CONNECTION }) });
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
