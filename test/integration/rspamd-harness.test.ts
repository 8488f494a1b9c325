// The harness's rspamd (with redis-server), as later spam-scoring tests use it: the controller answers
// /ping, the normal worker scores a message, and its DNS is the harness's unbound (SPF of the test zones).
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { RedisService, RspamdService } from "../harness/services.ts";
import { startRedis, startRspamd } from "../harness/services.ts";
import { TEST_DNS } from "../harness/zones.ts";

let redis: RedisService;
let rspamd: RspamdService;

// A cold Hyperscan cache (the first start on a machine) compiles for ~20 s; later starts take ~2 s.
beforeAll(async () => {
  const started = performance.now();
  redis = await startRedis();
  rspamd = await startRspamd({ redisUrl: redis.url, dnsPort: inject("harness").dnsPort });
  console.log(`redis-server and rspamd ready in ${Math.round(performance.now() - started)} ms`);
}, 120_000);

afterAll(async () => {
  await rspamd?.stop();
  await redis?.stop();
});

describe("rspamd in the harness", () => {
  it("answers /ping on the controller", async () => {
    const response = await fetch(`${rspamd.controllerUrl}/ping`);
    expect(response.status).toBe(200);
    expect((await response.text()).trim()).toBe("pong");
  });

  it("scores a message on /checkv2 with a JSON result, resolving through the harness's DNS", async () => {
    const { sender } = TEST_DNS;
    const message = [
      `From: Alice <alice@${sender.domain}>`,
      "To: bob@example.org",
      "Subject: hello",
      "Date: Fri, 27 Nov 2026 10:00:00 +0000",
      `Message-ID: <1@${sender.domain}>`,
      "",
      "Just saying hello.",
      "",
    ].join("\r\n");
    const started = performance.now();
    const response = await fetch(`${rspamd.normalUrl}/checkv2`, {
      method: "POST",
      headers: { IP: sender.authorizedIp, From: `alice@${sender.domain}`, Rcpt: "bob@example.org", Helo: sender.mailHost },
      body: message,
    });
    expect(response.status).toBe(200);
    const result = (await response.json()) as { action: string; score: number; required_score: number; symbols: Record<string, { score: number }> };
    expect(typeof result.score).toBe("number");
    expect(result.required_score).toBeGreaterThan(0);
    expect(result.action).toMatch(/^(no action|add header|rewrite subject|greylist|soft reject|reject)$/);
    expect(result.symbols).toHaveProperty("R_SPF_ALLOW"); // sender.test's SPF record, via unbound
    expect(performance.now() - started).toBeLessThan(3_000); // no DNS waits for the task timeout
  });
});
