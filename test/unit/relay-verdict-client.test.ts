// The relay's client of the verdict API against a scripted HTTP peer on loopback: the request it
// sends, keep-alive, and every way an answer can fail (each an outage: the session answers 451).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createVerdictClient, isVerdict } from "../../relay-node/src/verdict/api-client.ts";
import { VerdictSourceSetupError, createVerdictSource } from "../../relay-node/src/verdict/source.ts";
import { parseConfig } from "../../core/config/load.ts";
import type { VerdictEnvelope, Verdict } from "../../core/verdict/types.ts";
import type { Resolver } from "../../core/dns/resolver.ts";

const VERDICT: Verdict = {
  action: "accept",
  reply: { code: 250, enhanced: "2.0.0", text: "Ok, id=12345-67" },
  id: "12345-67",
  headers: ["Authentication-Results: mx.example.org; none"],
  marks: [],
  checks: [],
};
const ENVELOPE: VerdictEnvelope = {
  clientIp: "192.0.2.1",
  helo: "mail.sender.test",
  mailFrom: "a@sender.test",
  rcptTo: ["alice@example.org"],
  tls: true,
  direction: "inbound",
};
const MESSAGE = new TextEncoder().encode("Subject: hi\r\n\r\nbody\r\n");

interface Seen {
  headers: IncomingMessage["headers"];
  body: string;
  socket: Socket;
}

let server: Server;
let base: string;
const seen: Seen[] = [];
let answer: (res: ServerResponse) => void = (res) => res.end(JSON.stringify(VERDICT));

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      seen.push({ headers: req.headers, body: Buffer.concat(chunks).toString(), socket: req.socket });
      answer(res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/verdict`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

describe("the verdict API client", () => {
  it("sends the message as the body, the envelope as JSON in Edgemx-Envelope and the bearer token, over one kept-alive connection", async () => {
    answer = (res) => res.end(JSON.stringify(VERDICT));
    seen.length = 0;
    const client = createVerdictClient({ url: base, timeoutMs: 2000, token: "s3cret" });
    expect(await client.ask(MESSAGE, ENVELOPE)).toEqual({ ok: true, verdict: VERDICT });
    expect(await client.ask(MESSAGE, ENVELOPE)).toEqual({ ok: true, verdict: VERDICT });
    client.close();
    expect(seen[0]!.headers.authorization).toBe("Bearer s3cret");
    expect(JSON.parse(String(seen[0]!.headers["edgemx-envelope"]))).toEqual(ENVELOPE);
    expect(seen[0]!.headers["content-type"]).toBe("message/rfc822");
    expect(seen[0]!.body).toBe("Subject: hi\r\n\r\nbody\r\n");
    expect(seen[1]!.socket).toBe(seen[0]!.socket);
  });

  it("sends a multipart body when the envelope is too large for a header", async () => {
    answer = (res) => res.end(JSON.stringify(VERDICT));
    seen.length = 0;
    const client = createVerdictClient({ url: base, timeoutMs: 2000, token: "t" });
    const rcptTo = Array.from({ length: 1000 }, (_, i) => `recipient-number-${i}-with-a-long-local-part@example.org`);
    expect(await client.ask(MESSAGE, { ...ENVELOPE, rcptTo })).toMatchObject({ ok: true });
    client.close();
    const request = seen[0]!;
    expect(request.headers["edgemx-envelope"]).toBeUndefined();
    const form = await new Response(request.body, { headers: { "content-type": String(request.headers["content-type"]) } }).formData();
    expect((JSON.parse(form.get("envelope") as string) as { rcptTo: unknown }).rcptTo).toHaveLength(1000);
    expect(await (form.get("message") as Blob).text()).toBe("Subject: hi\r\n\r\nbody\r\n");
  });

  it("reports a non-200, a non-verdict, a non-JSON answer and a timeout as outages", async () => {
    const client = createVerdictClient({ url: base, timeoutMs: 300, token: "t" });
    answer = (res) => {
      res.statusCode = 401;
      res.end("A valid bearer token is required");
    };
    // eslint-disable-next-line @typescript-eslint/no-unsafe-assignment -- vitest types its asymmetric matchers (expect.stringContaining, …) as any
    expect(await client.ask(MESSAGE, ENVELOPE)).toEqual({ ok: false, detail: expect.stringContaining("answered 401: A valid bearer token is required") });
    answer = (res) => res.end(JSON.stringify({ action: "maybe" }));
    // eslint-disable-next-line @typescript-eslint/no-unsafe-assignment -- vitest types its asymmetric matchers (expect.stringContaining, …) as any
    expect(await client.ask(MESSAGE, ENVELOPE)).toEqual({ ok: false, detail: expect.stringContaining("not a verdict") });
    answer = (res) => res.end("<html>");
    // eslint-disable-next-line @typescript-eslint/no-unsafe-assignment -- vitest types its asymmetric matchers (expect.stringContaining, …) as any
    expect(await client.ask(MESSAGE, ENVELOPE)).toEqual({ ok: false, detail: expect.stringContaining("not JSON") });
    answer = () => {};
    // eslint-disable-next-line @typescript-eslint/no-unsafe-assignment -- vitest types its asymmetric matchers (expect.stringContaining, …) as any
    expect(await client.ask(MESSAGE, ENVELOPE)).toEqual({ ok: false, detail: expect.stringContaining("no answer within 300 ms") });
    client.close();
  });

  it("keeps a verdict's DMARC evaluation only when it has the evaluation's shape", async () => {
    const dmarc = {
      policyDomain: "sender.test",
      record: "v=DMARC1; p=reject; rua=mailto:d@sender.test",
      sourceIp: "192.0.2.1",
      headerFrom: "sender.test",
      envelopeFrom: "sender.test",
      disposition: "pass",
      dkim: "fail",
      spf: "pass",
      reasons: [],
      dkimResults: [],
      spfResult: { domain: "sender.test", result: "pass" },
    };
    const client = createVerdictClient({ url: base, timeoutMs: 2000, token: "t" });
    answer = (res) => res.end(JSON.stringify({ ...VERDICT, dmarc }));
    expect(await client.ask(MESSAGE, ENVELOPE)).toEqual({ ok: true, verdict: { ...VERDICT, dmarc } });
    answer = (res) => res.end(JSON.stringify({ ...VERDICT, dmarc: { ...dmarc, sourceIp: "<script>" } }));
    expect(await client.ask(MESSAGE, ENVELOPE)).toEqual({ ok: true, verdict: VERDICT });
    client.close();
  });

  it("reports an unreachable API as an outage", async () => {
    const client = createVerdictClient({ url: "http://127.0.0.1:1/v1/verdict", timeoutMs: 1000, token: "t" });
    // eslint-disable-next-line @typescript-eslint/no-unsafe-assignment -- vitest types its asymmetric matchers (expect.stringContaining, …) as any
    expect(await client.ask(MESSAGE, ENVELOPE)).toEqual({ ok: false, detail: expect.stringContaining("ECONNREFUSED") });
    client.close();
  });
});

describe("choosing the judge", () => {
  const resolver: Resolver = { query: () => Promise.reject(new Error("no DNS in this test")) };
  const configWith = (url?: string) =>
    parseConfig({
      hostname: "mx.example.org",
      domains: [{ name: "example.org", mx: ["mx.example.org"], catchAll: true }],
      relay: { verdict: url ? { url } : {} },
    });

  it("runs in-process without a URL", () => {
    expect(createVerdictSource(configWith(), resolver, {}).where).toBe("in-process");
  });

  it("asks the API with a URL and the token from EDGEMX_VERDICT_TOKEN, and refuses to start without the token", () => {
    expect(createVerdictSource(configWith("https://edge.example.org/v1/verdict"), resolver, { EDGEMX_VERDICT_TOKEN: "t" }).where).toBe(
      "https://edge.example.org",
    );
    expect(() => createVerdictSource(configWith("https://edge.example.org/v1/verdict"), resolver, {})).toThrow(VerdictSourceSetupError);
  });

  it("allows http:// only on loopback", () => {
    expect(configWith("https://edge.example.org/v1/verdict").relay.verdict.url).toBe("https://edge.example.org/v1/verdict");
    expect(configWith("http://127.0.0.1:8787/v1/verdict").relay.verdict.url).toBe("http://127.0.0.1:8787/v1/verdict");
    expect(configWith("http://[::1]:8787/v1/verdict").relay.verdict.url).toBe("http://[::1]:8787/v1/verdict");
    expect(() => configWith("http://edge.example.org/v1/verdict")).toThrow(/relay\.verdict\.url: expected an https:\/\//);
  });

  it("recognises a verdict's shape", () => {
    expect(isVerdict(VERDICT)).toBe(true);
    expect(isVerdict({ ...VERDICT, headers: [1] })).toBe(false);
    expect(isVerdict(null)).toBe(false);
  });
});
