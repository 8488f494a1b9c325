// The submission bounds as pure decisions over an explicit clock: failed logins per IP and per user
// (RFC 4954 §6: 535, then 454), and messages per hour per user.
import { describe, expect, it } from "vitest";
import { afterFailure, decideLogin, failureDelayMs, LoginThrottle, type ThrottlePolicy } from "../../relay-node/src/submission/login-throttle.ts";
import { HOUR_MS, SendQuota, withinQuota } from "../../relay-node/src/submission/send-quota.ts";

const POLICY: ThrottlePolicy = { maxFailures: 3, windowSeconds: 600, baseDelayMs: 500, maxDelayMs: 4000 };

describe("login throttle", () => {
  it("doubles the delay with each failure, up to the maximum", () => {
    expect([1, 2, 3, 4, 5, 6].map((n) => failureDelayMs(n, POLICY))).toEqual([500, 1000, 2000, 4000, 4000, 4000]);
  });

  it("locks after maxFailures within the window and unlocks when the window has passed", () => {
    let record = undefined;
    for (let i = 0; i < 3; i++) record = afterFailure(record, 1000 * i, POLICY);
    expect(record).toEqual({ failures: 3, lastFailureAt: 2000 });
    expect(decideLogin([record], 2000, POLICY)).toEqual({ status: "locked" });
    expect(decideLogin([record], 2000 + 599_999, POLICY)).toEqual({ status: "locked" });
    expect(decideLogin([record], 2000 + 600_000, POLICY)).toEqual({ status: "allowed" });
    expect(afterFailure(record, 2000 + 600_000, POLICY).failures).toBe(1);
  });

  it("counts per IP and per user: either one locks", () => {
    let now = 0;
    const throttle = new LoginThrottle(POLICY, () => now);
    // One IP tries three users: the IP is locked, also for a fourth user.
    for (const user of ["a@x.test", "b@x.test", "c@x.test"]) throttle.failed("192.0.2.1", user);
    expect(throttle.check("192.0.2.1", "d@x.test").status).toBe("locked");
    expect(throttle.check("192.0.2.2", "d@x.test").status).toBe("allowed");
    // Three IPs try one user: the user is locked, also from a fourth IP.
    for (const ip of ["198.51.100.1", "198.51.100.2", "198.51.100.3"]) throttle.failed(ip, "victim@x.test");
    expect(throttle.check("203.0.113.9", "Victim@X.test").status).toBe("locked");
    now += 600_000;
    expect(throttle.check("192.0.2.1", "victim@x.test").status).toBe("allowed");
  });

  it("returns the growing delay from failed() and clears the user (not the IP) on success", () => {
    const throttle = new LoginThrottle(POLICY, () => 0);
    expect(throttle.failed("192.0.2.1", "a@x.test")).toBe(500);
    expect(throttle.failed("192.0.2.1", "a@x.test")).toBe(1000);
    throttle.succeeded("a@x.test");
    expect(throttle.failed("192.0.2.9", "a@x.test")).toBe(500);
    expect(throttle.failed("192.0.2.1", "b@x.test")).toBe(2000);
    expect(throttle.check("192.0.2.1", "c@x.test").status).toBe("locked");
  });
});

describe("messages per hour", () => {
  it("allows fewer than the maximum within the sliding hour", () => {
    expect(withinQuota([0, 1, 2], 3, 3)).toBe(false);
    expect(withinQuota([0, 1, 2], HOUR_MS, 3)).toBe(true);
    expect(withinQuota([], 0, 1)).toBe(true);
  });

  it("tracks each user apart", () => {
    let now = 0;
    const quota = new SendQuota(2, () => now);
    quota.record("a@x.test");
    quota.record("a@x.test");
    expect(quota.allows("a@x.test")).toBe(false);
    expect(quota.allows("b@x.test")).toBe(true);
    now = HOUR_MS - 1;
    expect(quota.allows("a@x.test")).toBe(false);
    now = HOUR_MS;
    expect(quota.allows("a@x.test")).toBe(true);
  });
});
