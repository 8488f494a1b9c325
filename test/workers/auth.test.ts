// Authentication inside workerd, over the real DNS: the DoH client asks the harness's validating
// resolver for the Knot-served test zones (SPF, DKIM key and DMARC p=reject of sender.test).
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../core/config/load.ts";
import { dohResolver } from "../../core/dns/doh.ts";
import { authenticate } from "../../core/authentication/authenticate.ts";
import { dkimSign } from "../../core/mailauth/internals.ts";
import { DKIM_PRIVATE_KEY_PEM } from "../harness/dkim-key.ts";
import { TEST_DNS } from "../harness/zones.ts";

const { sender } = TEST_DNS;
const config = parseConfig({ hostname: "mx.example.org", domains: [{ name: "example.org", mx: ["mx.example.org"], catchAll: true }] });
const message = (from: string) => [`From: <${from}>`, "To: <bob@example.org>", "Subject: Hello", "", "Hello Bob", ""].join("\r\n");
const bytes = (text: string) => new TextEncoder().encode(text);

describe("authenticate inside workerd, with DNS over HTTPS", () => {
  const resolver = dohResolver({ url: env.HARNESS_DOH_URL });

  it("passes a message DKIM-signed by sender.test although the client is not in its SPF record", async () => {
    const signature = { signingDomain: sender.domain, selector: sender.dkimSelector, privateKey: DKIM_PRIVATE_KEY_PEM };
    const text = message(`alice@${sender.domain}`);
    const signed = (await dkimSign(text, { ...signature, signatureData: [signature] })).signatures + text;
    const outcome = await authenticate(
      bytes(signed),
      { clientIp: sender.unauthorizedIp, helo: sender.mailHost, mailFrom: `alice@${sender.domain}` },
      config,
      resolver,
    );
    expect(outcome.spf.mailFrom?.result).toBe("fail");
    expect(outcome.dkim).toMatchObject([{ result: "pass", domain: sender.domain, aligned: true }]);
    expect(outcome.decision).toBe("pass");
  });

  it("rejects the unsigned message from that client for DMARC p=reject", async () => {
    const outcome = await authenticate(
      bytes(message(`alice@${sender.domain}`)),
      { clientIp: sender.unauthorizedIp, helo: sender.mailHost, mailFrom: `alice@${sender.domain}` },
      config,
      resolver,
    );
    expect(outcome.dmarc).toMatchObject({ result: "fail", policy: "reject" });
    expect(outcome.decision).toBe("reject-dmarc");
  });

  it("tempfails when the sender domain's DNS answers SERVFAIL (DNSSEC bogus)", async () => {
    const from = `alice@${TEST_DNS.bogus}`;
    const outcome = await authenticate(bytes(message(from)), { clientIp: sender.unauthorizedIp, helo: sender.mailHost, mailFrom: from }, config, resolver);
    expect(outcome.dmarc.result).toBe("temperror");
    expect(outcome.decision).toBe("tempfail");
    expect(outcome.temporaryFailures).toContain(`_dmarc.${TEST_DNS.bogus}`);
  });
});
