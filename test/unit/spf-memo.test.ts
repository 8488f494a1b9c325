// A session's SPF results (core/authentication/mailauth-checks.ts, SpfMemo): the same inputs within
// SPF_MEMO_MS give the same result without evaluating again; other inputs, an expired result and a
// temperror are evaluated anew.
import type { SPFResult } from "mailauth";
import { describe, expect, it } from "vitest";
import { SPF_MEMO_MS, SpfMemo } from "../../core/authentication/mailauth-checks.ts";

function spf(result: string): SPFResult {
  return { domain: "sender.example", status: { result } } as unknown as SPFResult;
}

/** An evaluation that counts its calls and resolves with `result`. */
function counted(result: string): { evaluate: () => Promise<SPFResult>; calls: () => number } {
  let calls = 0;
  return {
    evaluate: () => {
      calls++;
      return Promise.resolve(spf(result));
    },
    calls: () => calls,
  };
}

describe("SpfMemo", () => {
  it("evaluates the same inputs once while the result is fresh, and again after SPF_MEMO_MS", async () => {
    let now = 1_000_000;
    const memo = new SpfMemo(() => now);
    const pass = counted("pass");
    const inputs = ["192.0.2.1", "alice@sender.example", "mail.sender.example", "mx.example.org"];
    const first = await memo.result(inputs, pass.evaluate);
    now += SPF_MEMO_MS - 1;
    expect(await memo.result(inputs, pass.evaluate)).toBe(first);
    expect(pass.calls()).toBe(1);
    now += 1;
    await memo.result(inputs, pass.evaluate);
    expect(pass.calls()).toBe(2);
  });

  it("evaluates other inputs on their own: a sender's local part can matter (RFC 7208 §7.3 macros)", async () => {
    const memo = new SpfMemo(() => 0);
    const pass = counted("pass");
    await memo.result(["192.0.2.1", "alice@sender.example", "h", "a"], pass.evaluate);
    await memo.result(["192.0.2.1", "bob@sender.example", "h", "a"], pass.evaluate);
    await memo.result(["192.0.2.1", "", "h", "a"], pass.evaluate);
    expect(pass.calls()).toBe(3);
  });

  it("never keeps a temperror or a failed evaluation", async () => {
    const memo = new SpfMemo(() => 0);
    const temperror = counted("temperror");
    await memo.result(["ip", "s", "h", "a"], temperror.evaluate);
    await memo.result(["ip", "s", "h", "a"], temperror.evaluate);
    expect(temperror.calls()).toBe(2);

    let failures = 0;
    const broken = (): Promise<SPFResult> => {
      failures++;
      return Promise.reject(new Error("resolver gone"));
    };
    await expect(memo.result(["ip", "x", "h", "a"], broken)).rejects.toThrow("resolver gone");
    await expect(memo.result(["ip", "x", "h", "a"], broken)).rejects.toThrow("resolver gone");
    expect(failures).toBe(2);
  });

  it("keeps at most 16 results, dropping the oldest", async () => {
    const memo = new SpfMemo(() => 0);
    const pass = counted("pass");
    for (let i = 0; i < 17; i++) await memo.result(["ip", `s${i}`, "h", "a"], pass.evaluate);
    await memo.result(["ip", "s16", "h", "a"], pass.evaluate);
    expect(pass.calls()).toBe(17);
    await memo.result(["ip", "s0", "h", "a"], pass.evaluate);
    expect(pass.calls()).toBe(18);
  });
});
