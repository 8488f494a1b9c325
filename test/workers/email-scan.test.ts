// Virus scanning and spam scoring on Email Routing's path, inside workerd: email() asks the relay's scan
// endpoint (relay-node/src/scan/endpoint.ts) over real HTTPS on loopback, with real clamd and rspamd
// behind it (test/harness/scan-endpoint.ts, started by test/harness/workers-setup.ts), beside the judge
// over the harness's real DNS. EICAR is refused as INFECTED, GTUBE as spam, rspamd's add-header action
// becomes X-Edgemx-Spam on the forwarded message, and every way of not getting an answer throws.
//
// The endpoints' certificate is the scan harness's test CA's. workerd's global fetch trusts the system's
// CAs only (Miniflare reads NODE_EXTRA_CA_CERTS once, when it is imported, before this run's CA exists),
// so these tests reach the endpoint through a Fetcher binding — workerd's loopback network trusting the
// test CA (HARNESS_SCAN_TLS), or that network presenting the test client certificate (HARNESS_SCAN_MTLS) —
// given to the Worker as SCAN_MTLS, the binding it asks through when it has one, as Cloudflare's
// [[mtls_certificates]] binding is. Without such a binding the global fetch refuses the test CA's
// certificate, and the message is deferred: that is tested too.
import { describe, expect, it, vi } from "vitest";
import worker from "../../workers/src/index.ts";
import { EICAR } from "../harness/clamd.ts";
import { GTUBE, GTUBE_PATTERNS } from "../harness/gtube.ts";
import { TEST_DNS } from "../harness/zones.ts";
import { cloudflareReceived, compose, configWith, ID, routed, signed, TEST_CONNECTION, testEnv, type Calls } from "./routed-email.ts";

const { sender } = TEST_DNS;

/** The example configuration with `scan` set (and sections changed), as the EDGEMX_CONFIG var. */
function withScan(scan: unknown, sections: Record<string, Record<string, unknown>> = {}): string {
  return JSON.stringify({ ...(JSON.parse(configWith(sections)) as Record<string, unknown>), scan });
}

/** The Worker's bindings: `scan` in the configuration, the scan endpoint asked through `fetcher` (SCAN_MTLS) or the global fetch. */
function scanEnv(scan: unknown, fetcher: Fetcher | "global fetch" = testEnv.HARNESS_SCAN_TLS, extra: Record<string, unknown> = {}) {
  return { ...testEnv, EDGEMX_CONFIG: withScan(scan, { connection: TEST_CONNECTION }), SCAN_MTLS: fetcher === "global fetch" ? undefined : fetcher, ...extra };
}

const endpoint = () => ({ url: testEnv.HARNESS_SCAN_URL, timeoutMs: 20_000 });

/** A DKIM-signed message of sender.test (DMARC passes: only the scan can refuse it) whose body is `body`. */
async function signedWithBody(body: string) {
  return routed(await signed(compose(`alice@${sender.domain}`).replace("Hello Bob", body)));
}

/** The same with an attachment (base64, RFC 2045 §6.8) named so that the judge's banned-content rules pass it. */
async function signedWithAttachment(filename: string, content: string, to = "bob@example.org") {
  const boundary = "edgemx-scan-test";
  const base64 = btoa(content)
    .match(/.{1,76}/g)!
    .join("\r\n");
  const text = compose(`alice@${sender.domain}`, {
    to,
    extraHeaders: ["MIME-Version: 1.0", `Content-Type: multipart/mixed; boundary="${boundary}"`],
  }).replace(
    "Hello Bob\r\n",
    [
      `--${boundary}`,
      "Content-Type: text/plain; charset=utf-8",
      "",
      "See the attachment.",
      `--${boundary}`,
      `Content-Type: application/octet-stream; name="${filename}"`,
      `Content-Disposition: attachment; filename="${filename}"`,
      "Content-Transfer-Encoding: base64",
      "",
      base64,
      `--${boundary}--`,
      "",
    ].join("\r\n"),
  );
  return routed(await signed(text), { to });
}

const spamField = (calls: Calls) => calls.forwarded[0]?.headers?.get("x-edgemx-spam") ?? null;
const SPAM_FIELD = (flag: "yes" | "no", action: string) => new RegExp(`^${flag}; score=-?\\d+\\.\\d\\d; required=\\d+\\.\\d\\d; action="${action}"$`);

/**
 * email() must throw the temporary reply, and neither forward nor refuse; the scan's detail in the
 * message's log line (the sender sees only Cloudflare's temporary failure) must say why.
 */
async function expectDeferred(message: ForwardableEmailMessage, calls: Calls, env: ReturnType<typeof scanEnv>, why: RegExp): Promise<void> {
  const lines = vi.spyOn(console, "log");
  try {
    await expect(worker.email(message, env)).rejects.toThrow(new RegExp(`^451 4\\.3\\.0 Temporary local problem, id=${ID}, please try again later$`));
    const routedLine = lines.mock.calls.map(
      ([line]) => JSON.parse(String(line)) as { msg: string; checks: { check: string; outcome: string; detail: string }[] },
    );
    const scan = routedLine.find((line) => line.msg === "email routed")?.checks.find((check) => check.check === "scan");
    expect(scan?.outcome).toBe("temporary");
    expect(scan?.detail).toMatch(why);
  } finally {
    lines.mockRestore();
  }
  expect(calls.forwarded).toEqual([]);
  expect(calls.rejected).toEqual([]);
}

describe("Email Routing: the relay's scan endpoint over HTTPS (clamd and rspamd)", () => {
  it("forwards a clean message with rspamd's result as X-Edgemx-Spam beside the judge's fields", async () => {
    const { message, calls } = await signedWithBody("Hello Bob, the minutes of Monday's meeting are attached to the wiki page.");
    await worker.email(message, scanEnv(endpoint()));
    expect(calls.rejected).toEqual([]);
    expect(calls.forwarded).toHaveLength(1);
    expect(spamField(calls)).toMatch(SPAM_FIELD("no", "no action"));
    expect(calls.forwarded[0]!.headers!.get("x-edgemx-verdict")).toMatch(new RegExp(`^accept; id=${ID}; `));
    expect(calls.forwarded[0]!.headers!.get("x-edgemx-authentication-results")).toMatch(/\bdmarc=pass\b/);
  });

  it("refuses EICAR as INFECTED with the spec's reply", async () => {
    const { message, calls } = await signedWithAttachment("readme.txt", EICAR);
    await worker.email(message, scanEnv(endpoint()));
    expect(calls.forwarded).toEqual([]);
    expect(calls.rejected).toHaveLength(1);
    expect(calls.rejected[0]).toMatch(new RegExp(`^554 5\\.7\\.0 Reject, id=${ID} – INFECTED$`));
  });

  it("refuses GTUBE as spam with the spec's reply", async () => {
    const { message, calls } = await signedWithBody(`Hello Bob\r\n${GTUBE}`);
    await worker.email(message, scanEnv(endpoint()));
    expect(calls.forwarded).toEqual([]);
    expect(calls.rejected).toHaveLength(1);
    expect(calls.rejected[0]).toMatch(new RegExp(`^554 5\\.7\\.0 Reject, id=${ID} – spam$`));
  });

  it("forwards a message rspamd wants marked (add header) with X-Edgemx-Spam: yes", async () => {
    const { message, calls } = await signedWithBody(`Hello Bob\r\n${GTUBE_PATTERNS["add header"]}`);
    await worker.email(message, scanEnv(endpoint()));
    expect(calls.rejected).toEqual([]);
    expect(spamField(calls)).toMatch(SPAM_FIELD("yes", "add header"));
  });

  it("spares a role mailbox whose role relaxes spam: GTUBE is forwarded, marked; a virus never is", async () => {
    const to = "postmaster@example.org";
    const env = { ...scanEnv(endpoint()), EDGEMX_CONFIG: withScan(endpoint(), { connection: TEST_CONNECTION, roles: { postmaster: { relax: ["spam"] } } }) };
    const spam = routed(await signed(compose(`alice@${sender.domain}`, { to }).replace("Hello Bob", GTUBE)), { to });
    await worker.email(spam.message, env);
    expect(spam.calls.rejected).toEqual([]);
    expect(spamField(spam.calls)).toMatch(SPAM_FIELD("yes", "reject"));
    const virus = await signedWithAttachment("readme.txt", EICAR, to);
    await worker.email(virus.message, env);
    expect(virus.calls.forwarded).toEqual([]);
    expect(virus.calls.rejected).toEqual([expect.stringMatching(new RegExp(`^554 5\\.7\\.0 Reject, id=${ID} – INFECTED$`))]);
  });

  it("hands rspamd the client of the trace field and refuses GTUBE once the connection checks passed", async () => {
    const raw = await signed(
      compose(`alice@${sender.domain}`, { extraHeaders: [cloudflareReceived(sender.mailHost, sender.authorizedIp)] }).replace("Hello Bob", GTUBE),
    );
    const { message, calls } = routed(raw);
    await worker.email(message, scanEnv(endpoint()));
    expect(calls.forwarded).toEqual([]);
    expect(calls.rejected).toEqual([expect.stringMatching(new RegExp(`^554 5\\.7\\.0 Reject, id=${ID} – spam$`))]);
  });

  it("mutual TLS: the endpoint that requires a client certificate answers through the binding that presents one, and defers without it", async () => {
    const mtls = { url: testEnv.HARNESS_SCAN_MTLS_URL, timeoutMs: 20_000 };
    const infected = await signedWithAttachment("readme.txt", EICAR);
    await worker.email(infected.message, scanEnv(mtls, testEnv.HARNESS_SCAN_MTLS));
    expect(infected.calls.rejected[0]).toMatch(new RegExp(`^554 5\\.7\\.0 Reject, id=${ID} – INFECTED$`));
    const clean = await signedWithBody("Hello Bob");
    await worker.email(clean.message, scanEnv(mtls, testEnv.HARNESS_SCAN_MTLS));
    expect(spamField(clean.calls)).toMatch(SPAM_FIELD("no", "no action"));
    const noCertificate = await signedWithBody("Hello Bob");
    await expectDeferred(noCertificate.message, noCertificate.calls, scanEnv(mtls, testEnv.HARNESS_SCAN_TLS), /internal error/);
  });
});

describe("Email Routing: no scan answer is never a pass", () => {
  it("throws when the endpoint's certificate is not trusted (the global fetch, which trusts public CAs only)", async () => {
    const { message, calls } = await signedWithBody("Hello Bob");
    await expectDeferred(message, calls, scanEnv(endpoint(), "global fetch"), /internal error/);
  });

  it("throws when the endpoint does not answer within scan.timeoutMs", async () => {
    const blackhole = new URL(testEnv.HARNESS_BLACKHOLE_URL);
    const { message, calls } = await signedWithBody("Hello Bob");
    await expectDeferred(message, calls, scanEnv({ url: `https://127.0.0.1:${blackhole.port}/v1/scan`, timeoutMs: 300 }), /no answer within 300 ms/);
  });

  it("throws when the endpoint refuses the token (401), and when the Worker has no SCAN_TOKEN secret", async () => {
    const wrong = await signedWithBody("Hello Bob");
    await expectDeferred(
      wrong.message,
      wrong.calls,
      scanEnv(endpoint(), testEnv.HARNESS_SCAN_TLS, { SCAN_TOKEN: "not-the-token" }),
      /answered 401: .*bearer token/,
    );
    const none = await signedWithBody("Hello Bob");
    await expectDeferred(none.message, none.calls, scanEnv(endpoint(), testEnv.HARNESS_SCAN_TLS, { SCAN_TOKEN: undefined }), /SCAN_TOKEN .* is not set/);
  });

  it("throws for every message while the configuration names no scan, and forwards unscanned with `scan: none`", async () => {
    const unset = await signedWithBody("Hello Bob");
    const env = { ...testEnv, EDGEMX_CONFIG: withScan(undefined, { connection: TEST_CONNECTION }) };
    await expect(worker.email(unset.message, env)).rejects.toThrow(/^scan is not configured: set scan\.url/);
    expect(unset.calls.forwarded).toEqual([]);
    const none = await signedWithBody(GTUBE);
    await worker.email(none.message, scanEnv("none"));
    expect(none.calls.forwarded).toHaveLength(1);
    expect(spamField(none.calls)).toBeNull();
  });
});
