// The base64Content rule inside workerd (RFC 2045 §6.8): there, workerd's native decoder
// (Uint8Array.fromBase64, which Node 24 lacks) clears clean content before the loop over the octets
// would. It may clear only what the loop finds clean, and whatever it cannot clear the loop judges, so
// the rule's findings must be the loop's, content for content.
import { describe, expect, it } from "vitest";
import { base64Problem, nativeFromBase64 } from "../../core/mime/base64.ts";

const encoder = new TextEncoder();

/** The content between two octets of other text (a view that starts inside its buffer), and where it lies. */
function embedded(content: string, after = "\r\n--b"): { raw: Uint8Array; start: number; end: number } {
  const whole = encoder.encode(`xx\r\n\r\n${content}${after}`);
  const raw = whole.subarray(2);
  return { raw, start: 4, end: 4 + content.length };
}

function bothWays(content: string, after?: string): { native: string | undefined; loop: string | undefined } {
  const { raw, start, end } = embedded(content, after);
  return { native: base64Problem(raw, start, end), loop: base64Problem(raw, start, end, null) };
}

/** Every string of at most `length` characters over `symbols`, the shorter first. */
function strings(symbols: readonly string[], length: number): string[] {
  const all = [""];
  for (let from = 0; all[from]!.length < length; from++) for (const symbol of symbols) all.push(all[from] + symbol);
  return all;
}

describe("base64Content inside workerd", () => {
  it("has the native decoder", () => {
    expect(typeof nativeFromBase64).toBe("function");
  });

  it("judges lines of 76 characters as the loop does: clean, padded, with an octet outside the alphabet, with data after the padding", () => {
    const line = "QUJD".repeat(19);
    const body = Array.from({ length: 50 }, () => line).join("\r\n");
    const cases: [string, string | undefined][] = [
      [`${body}\r\n`, undefined],
      [`${body}\r\nQUI=\r\n`, undefined],
      [`${body}\r\nQQ==\r\n\r\n`, undefined],
      [`${body}\r\nQQ=\r\n=\r\n`, undefined],
      [`${body}\nQUJD\n`, undefined],
      [`${body}\r\nQUJ\r\n`, "3803 characters, not whole groups of 4"],
      [`${body}\r\nQQ\r\n`, "3802 characters, not whole groups of 4"],
      [`${body}\r\nQQ=\r\n`, "3803 characters, not whole groups of 4"],
      [`${body}\r\nQUI=\r\nQUJD\r\n`, 'line 52 of the content: data after the "=" padding'],
      [`${body}\r\nQ===\r\n`, 'line 51 of the content: more than two "=" of padding'],
      [`${body.replace("QUJD\r\n", "QUJD \r\n")}`, "line 1 of the content: the octet 0x20 is not in the base64 alphabet"],
      [`${body.replace("QUJD\r\n", "QUJD\t\r\n")}`, "line 1 of the content: the octet 0x09 is not in the base64 alphabet"],
      [`${body.replace("QUJD\r\n", "QUJD\f\r\n")}`, "line 1 of the content: the octet 0x0c is not in the base64 alphabet"],
      [`${body.replace("QUJD\r\n", "QUJD\rQ\r\n")}`, "line 1 of the content: the octet 0x0d is not in the base64 alphabet"],
      [`${body}\r\nQU-D\r\n`, 'line 51 of the content: "-" is not in the base64 alphabet'],
    ];
    for (const [content, problem] of cases) {
      const { native, loop } = bothWays(content);
      expect(loop).toBe(problem);
      expect(native).toBe(loop);
    }
  });

  it("takes a CR at the end of the content whose LF follows it, as the loop does", () => {
    expect(bothWays("QUJD\r", "\n--b")).toEqual({ native: undefined, loop: undefined });
    expect(bothWays("QUJD\r", "--b")).toEqual({
      native: "line 1 of the content: the octet 0x0d is not in the base64 alphabet",
      loop: "line 1 of the content: the octet 0x0d is not in the base64 alphabet",
    });
  });

  it("agrees with the loop on every content of up to 5 characters over the alphabet, padding, line ends and white space", () => {
    let compared = 0;
    for (const content of strings(["Q", "=", "\r", "\n", " ", "\t", "\f", "*"], 5)) {
      const { native, loop } = bothWays(content);
      if (native !== loop) expect({ content, native }).toEqual({ content, native: loop });
      compared++;
    }
    expect(compared).toBe(1 + 8 + 8 ** 2 + 8 ** 3 + 8 ** 4 + 8 ** 5);
  });
});
