// The verdict API (POST /v1/verdict) inside workerd: bearer token, envelope and body checks, and real
// verdicts over real DNS — the harness's DoH endpoint in front of unbound validating the Knot-served
// test zones (sender.test: SPF ip4:127.0.0.11 mx -all, DMARC p=reject, DKIM selector "edgemx").
import { SELF } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { parseWorkerConfig } from "../../core/config/load.ts";
import type { Env } from "../../workers/src/runtime/env.ts";
import { serveVerdict } from "../../workers/src/http/verdict.ts";
import { judgeResolver } from "../../workers/src/runtime/verdict.ts";
import { formatReply } from "../../core/smtp/replies.ts";
import { TRACKING_ID_RE } from "../../core/smtp/tracking-id.ts";
import type { VerdictEnvelope, Verdict } from "../../core/verdict/types.ts";
import { dkimSign } from "../../core/mailauth/internals.ts";
import { attachment, mail, peFile } from "../fixtures/banned-content.ts";
import { DKIM_PRIVATE_KEY_PEM } from "../harness/dkim-key.ts";
import { TEST_DNS } from "../harness/zones.ts";

const testEnv = env as Cloudflare.Env & Env;
const { sender } = TEST_DNS;
const API = "https://mx.example.org/v1/verdict";
const TOKEN = "test-verdict-token";
const utf8 = new TextEncoder();

/** The example configuration as a document, to derive variants from. */
const exampleDocument = (): Record<string, unknown> => JSON.parse(testEnv.EDGEMX_CONFIG!) as Record<string, unknown>;

/** A well-formed message: one From, a Date and a Message-ID (RFC 5322 §3.6). */
function message(from: string, options: { to?: string; extraHeaders?: string[]; body?: string } = {}): string {
  return [
    `From: <${from}>`,
    `To: <${options.to ?? "bob@example.org"}>`,
    "Subject: Hello",
    "Date: Mon, 01 Jun 2026 10:00:00 +0000",
    `Message-ID: <${crypto.randomUUID()}@${from.slice(from.indexOf("@") + 1)}>`,
    ...(options.extraHeaders ?? []),
    "",
    options.body ?? "Hello Bob",
    "",
  ].join("\r\n");
}

/** The message DKIM-signed by sender.test with the harness key (RFC 6376). */
async function signed(text: string): Promise<string> {
  const signature = { signingDomain: sender.domain, selector: sender.dkimSelector, privateKey: DKIM_PRIVATE_KEY_PEM };
  return (await dkimSign(text, { ...signature, signatureData: [signature] })).signatures + text;
}

/** A multipart message from sender.test carrying a Windows executable named invoice.exe. */
function exeMessage(to = "bob@example.org"): string {
  return mail([attachment("invoice.exe", "application/octet-stream", peFile())])
    .replace("From: Sender <sender@example.net>", `From: Alice <alice@${sender.domain}>\r\nDate: Mon, 01 Jun 2026 10:00:00 +0000`)
    .replace("To: rcpt@example.org", `To: <${to}>`);
}

function envelopeOf(overrides: Partial<VerdictEnvelope> = {}): VerdictEnvelope {
  return {
    clientIp: sender.authorizedIp,
    helo: sender.mailHost,
    mailFrom: `alice@${sender.domain}`,
    rcptTo: ["bob@example.org"],
    direction: "inbound",
    ...overrides,
  };
}

function post(body: BodyInit | null, headers: Record<string, string>): Promise<Response> {
  return SELF.fetch(API, { method: "POST", headers, body });
}

async function ask(raw: string, envelope: Partial<VerdictEnvelope> = {}): Promise<Verdict> {
  const res = await post(raw, { authorization: `Bearer ${TOKEN}`, "edgemx-envelope": JSON.stringify(envelopeOf(envelope)) });
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toBe("application/json");
  const result = await res.json<Verdict>();
  expect(result.id).toMatch(TRACKING_ID_RE);
  return result;
}

/** The example configuration with a judge that takes messages of at most 2048 bytes. */
function smallLimitConfig() {
  return parseWorkerConfig({ ...exampleDocument(), judge: { maxMessageBytes: 2048 } });
}

describe("verdict API: who may ask", () => {
  it("answers 401 with a Bearer challenge without a token", async () => {
    const res = await post(message(`alice@${sender.domain}`), { "edgemx-envelope": JSON.stringify(envelopeOf()) });
    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toBe('Bearer realm="edgemx verdict"');
    expect(await res.text()).toMatch(/bearer token is required/);
  });

  it("answers 401 for a wrong token, a token of another scheme and an empty one", async () => {
    for (const authorization of [`Bearer ${TOKEN}x`, `Bearer ${TOKEN.slice(1)}`, `Basic ${btoa(`user:${TOKEN}`)}`, "Bearer ", `bearer${TOKEN}`]) {
      const res = await post(message(`alice@${sender.domain}`), { authorization, "edgemx-envelope": JSON.stringify(envelopeOf()) });
      expect(res.status, authorization).toBe(401);
      expect(res.headers.get("www-authenticate")).toBe('Bearer realm="edgemx verdict"');
    }
  });

  it("takes the scheme name in any case (RFC 9110 §11.1), but not the token", async () => {
    const envelope = JSON.stringify(envelopeOf());
    const lower = await post(await signed(message(`alice@${sender.domain}`)), { authorization: `bearer ${TOKEN}`, "edgemx-envelope": envelope });
    expect(lower.status).toBe(200);
    const upperToken = await post(message(`alice@${sender.domain}`), { authorization: `Bearer ${TOKEN.toUpperCase()}`, "edgemx-envelope": envelope });
    expect(upperToken.status).toBe(401);
  });

  it("answers 503 when no token is configured, whatever is sent", async () => {
    const config = parseWorkerConfig(exampleDocument());
    const request = new Request(API, { method: "POST", headers: { authorization: "Bearer anything" }, body: "x" });
    const res = await serveVerdict(request, config, { ...testEnv, VERDICT_TOKEN: undefined }, judgeResolver(config, testEnv));
    expect(res.status).toBe(503);
    expect(await res.text()).toMatch(/VERDICT_TOKEN/);
  });

  it("answers 405 with Allow: POST for GET, on any host", async () => {
    for (const url of [API, "https://edgemx.example.workers.dev/v1/verdict"]) {
      const res = await SELF.fetch(url, { headers: { authorization: `Bearer ${TOKEN}` } });
      expect(res.status).toBe(405);
      expect(res.headers.get("allow")).toBe("POST");
    }
  });
});

describe("verdict API: what a request must carry", () => {
  const auth = { authorization: `Bearer ${TOKEN}` };

  it("answers 400 when the envelope is missing", async () => {
    const res = await post(message(`alice@${sender.domain}`), auth);
    expect(res.status).toBe(400);
    expect(await res.text()).toMatch(/envelope is missing.*edgemx-envelope header/);
  });

  it("answers 400 when the envelope is not JSON", async () => {
    const res = await post(message(`alice@${sender.domain}`), { ...auth, "edgemx-envelope": "{mailFrom: alice}" });
    expect(res.status).toBe(400);
    expect(await res.text()).toBe("Bad verdict request: the envelope is not JSON\n");
  });

  it("answers 400 naming the path of an invalid envelope field", async () => {
    const cases: [unknown, string][] = [
      [{ ...envelopeOf(), rcptTo: ["bob@example.org", "not an address"] }, "rcptTo[1]: expected an address local@domain"],
      [{ ...envelopeOf(), clientIp: "300.1.2.3" }, "clientIp: expected an IPv4 or IPv6 address"],
      [{ ...envelopeOf(), rcptTo: [] }, "rcptTo: "],
      [{ ...envelopeOf(), direction: "sideways" }, "direction: "],
      [{ ...envelopeOf(), mailfrom: "typo@example.org" }, "envelope: "],
    ];
    for (const [envelope, expected] of cases) {
      const res = await post(message(`alice@${sender.domain}`), { ...auth, "edgemx-envelope": JSON.stringify(envelope) });
      expect(res.status).toBe(400);
      expect(await res.text()).toContain(`Bad verdict request: ${expected}`);
    }
  });

  it("answers 431 for an envelope header over 64 KiB", async () => {
    const envelope = { ...envelopeOf(), rcptTo: Array.from({ length: 500 }, (_, i) => `${"r".repeat(200)}${i}@example.org`) };
    expect(JSON.stringify(envelope).length).toBeGreaterThan(64 * 1024);
    const res = await post(message(`alice@${sender.domain}`), { ...auth, "edgemx-envelope": JSON.stringify(envelope) });
    expect(res.status).toBe(431);
  });

  it("answers 413 for a body whose Content-Length is over judge.maxMessageBytes, without reading it", async () => {
    const config = smallLimitConfig();
    const headers = { ...auth, "content-length": "2049", "edgemx-envelope": JSON.stringify(envelopeOf()) };
    const request = new Request(API, { method: "POST", headers, body: "x".repeat(2049) });
    const res = await serveVerdict(request, config, testEnv, judgeResolver(config, testEnv));
    expect(res.status).toBe(413);
    expect(await res.text()).toBe("The message is larger than 2048 bytes\n");
  });

  it("answers 413 for a streamed body over the limit, without a Content-Length", async () => {
    const config = smallLimitConfig();
    let sent = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent++ < 3) controller.enqueue(new Uint8Array(1000).fill(0x78));
        else controller.close();
      },
    });
    const request = new Request(API, { method: "POST", headers: { ...auth, "edgemx-envelope": JSON.stringify(envelopeOf()) }, body: stream });
    expect(request.headers.get("content-length")).toBeNull();
    const res = await serveVerdict(request, config, testEnv, judgeResolver(config, testEnv));
    expect(res.status).toBe(413);
    // The reader stopped at the first chunk over the bound and cancelled the rest.
    expect(sent).toBeLessThanOrEqual(4);
  });

  it("answers 413 for a multipart message part over the limit", async () => {
    const config = smallLimitConfig();
    const form = new FormData();
    form.append("envelope", JSON.stringify(envelopeOf()));
    form.append("message", new File([message(`alice@${sender.domain}`, { body: "x".repeat(3000) })], "message.eml", { type: "message/rfc822" }));
    const res = await serveVerdict(new Request(API, { method: "POST", headers: auth, body: form }), config, testEnv, judgeResolver(config, testEnv));
    expect(res.status).toBe(413);
  });

  it("answers 413 through the Worker for a declared body over the example's 50 MB", async () => {
    const limit = 50 * 1024 * 1024;
    // A stream that would be 50 MB + 1 byte long; only its first chunk is ever made.
    const chunk = new Uint8Array(64 * 1024);
    let made = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (made >= limit + 1) return controller.close();
        const size = Math.min(chunk.byteLength, limit + 1 - made);
        made += size;
        controller.enqueue(chunk.subarray(0, size));
      },
    });
    const { readable, writable } = new FixedLengthStream(limit + 1);
    void stream.pipeTo(writable).catch(() => undefined);
    const res = await post(readable, { ...auth, "edgemx-envelope": JSON.stringify(envelopeOf()) });
    expect(res.status).toBe(413);
    expect(await res.text()).toBe(`The message is larger than ${limit} bytes\n`);
    expect(made).toBeLessThan(limit);
  });

  it("answers 400 for a multipart body without a message part", async () => {
    const form = new FormData();
    form.append("envelope", JSON.stringify(envelopeOf()));
    const res = await post(form, auth);
    expect(res.status).toBe(400);
    expect(await res.text()).toMatch(/"message" file part/);
  });
});

describe("verdict API: real verdicts over real DNS", () => {
  it("accepts a message DKIM-signed by sender.test from its SPF-authorized address, with Authentication-Results", async () => {
    const result = await ask(await signed(message(`alice@${sender.domain}`)));
    expect(result.action).toBe("accept");
    expect(result.reply).toEqual({ code: 250, enhanced: "2.0.0", text: `Ok, id=${result.id}` });
    const ar = result.headers.find((h) => h.startsWith("Authentication-Results:"));
    expect(ar).toBeDefined();
    const unfolded = ar!.replace(/\r\n[ \t]+/g, " ");
    expect(unfolded).toMatch(/^Authentication-Results: mx\.example\.org;/);
    expect(unfolded).toMatch(/\bspf=pass\b[^;]*smtp\.mailfrom=(alice@)?sender\.test/);
    expect(unfolded).toMatch(/\bdkim=pass\b[^;]*header\.d=sender\.test/);
    expect(unfolded).toMatch(/\bdmarc=pass\b[^;]*header\.from=sender\.test/);
    expect(result.headers).toContain(`X-Edgemx-Verdict: accept; id=${result.id}`);
    expect(result.checks).toEqual(
      expect.arrayContaining([
        { check: "rfc", outcome: "pass", detail: "" },
        { check: "banned", outcome: "pass", detail: "" },
        expect.objectContaining({ check: "spf", outcome: "pass" }),
        expect.objectContaining({ check: "dkim", outcome: "pass" }),
        expect.objectContaining({ check: "dmarc", outcome: "pass" }),
      ]),
    );
  });

  it("rejects an unsigned message from an address sender.test's SPF forbids, for its DMARC policy", async () => {
    const result = await ask(message(`alice@${sender.domain}`), { clientIp: sender.unauthorizedIp });
    expect(result.action).toBe("reject");
    expect(result.reason).toBe("dmarc");
    expect(formatReply(result.reply)).toBe(`550 5.7.1 Reject, id=${result.id} – DMARC policy of sender.test`);
    expect(result.headers.join("\n")).toMatch(/dmarc=fail/);
  });

  it("rejects an .exe attachment with the spec's BANNED reply", async () => {
    const result = await ask(exeMessage());
    expect(result.action).toBe("reject");
    expect(result.reason).toBe("BANNED");
    expect(formatReply(result.reply)).toBe(`554 5.7.0 Reject, id=${result.id} – BANNED`);
    expect(result.checks).toContainEqual({ check: "banned", outcome: "fail", detail: 'attachment "invoice.exe": extension .exe' });
  });

  it("accepts the same .exe for postmaster@, relaxing the banned check for the role mailbox", async () => {
    const result = await ask(exeMessage("postmaster@example.org"), { rcptTo: ["postmaster@example.org"] });
    expect(result.action).toBe("accept");
    expect(result.checks).toContainEqual({ check: "banned", outcome: "relaxed", detail: 'attachment "invoice.exe": extension .exe' });
    expect(result.checks).toContainEqual(expect.objectContaining({ check: "dmarc", outcome: "pass" }));
  });

  it("does not relax the banned check when an ordinary user is among the recipients", async () => {
    const result = await ask(exeMessage("postmaster@example.org"), { rcptTo: ["postmaster@example.org", "bob@example.org"] });
    expect(result.action).toBe("reject");
    expect(formatReply(result.reply)).toBe(`554 5.7.0 Reject, id=${result.id} – BANNED`);
  });

  it("rejects a message with two From fields as an RFC violation", async () => {
    const raw = message(`alice@${sender.domain}`, { extraHeaders: ["From: <mallory@example.net>"] });
    const result = await ask(raw);
    expect(result.action).toBe("reject");
    expect(result.reason).toBe("rfc");
    expect(formatReply(result.reply)).toBe(`554 5.6.0 Reject, id=${result.id} – message format violates the RFCs (duplicateFrom)`);
  });

  it("tempfails, never rejects, when the From domain's DNS fails (SERVFAIL)", async () => {
    const result = await ask(message(`alice@${TEST_DNS.bogus}`), { mailFrom: `alice@${TEST_DNS.bogus}` });
    expect(result.action).toBe("tempfail");
    expect(result.reason).toBe("temporary");
    expect(result.reply.code).toBe(451);
    expect(result.reply.enhanced).toBe("4.4.3");
    expect(result.reply.text).toMatch(/bogus\.test>: Temporary DNS lookup failure/);
  });

  it("takes the envelope and message as multipart/form-data parts", async () => {
    const form = new FormData();
    form.append("envelope", JSON.stringify(envelopeOf()));
    form.append("message", new File([await signed(message(`alice@${sender.domain}`))], "message.eml", { type: "message/rfc822" }));
    const res = await post(form, { authorization: `Bearer ${TOKEN}` });
    expect(res.status).toBe(200);
    const result = await res.json<Verdict>();
    expect(result.action).toBe("accept");
    expect(result.id).toMatch(TRACKING_ID_RE);
    expect(result.headers.join("\n")).toMatch(/dkim=pass/);
  });

  it("also takes the envelope as a file part, and the message bytes as they are", async () => {
    const form = new FormData();
    form.append("envelope", new File([JSON.stringify(envelopeOf({ clientIp: sender.unauthorizedIp }))], "envelope.json", { type: "application/json" }));
    form.append("message", new Blob([utf8.encode(message(`alice@${sender.domain}`))]));
    const res = await post(form, { authorization: `Bearer ${TOKEN}` });
    expect(res.status).toBe(200);
    const result = await res.json<Verdict>();
    expect(formatReply(result.reply)).toBe(`550 5.7.1 Reject, id=${result.id} – DMARC policy of sender.test`);
  });
});
