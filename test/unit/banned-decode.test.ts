// The banned-content judge's transfer decoders (RFC 2045 §6.7, §6.8) and its content that is decoded
// only as far as it is read.
import { Buffer } from "node:buffer";
import { describe, expect, it } from "vitest";
import { decodeBase64, decodeBase64Lenient, decodeQuotedPrintable, transferMechanism } from "../../core/banned/decode.ts";
import { bytesContent, encodedContent } from "../../core/banned/file-content.ts";
import { pseudoRandomOctets } from "../fixtures/banned-content.ts";

const ascii = (text: string): Uint8Array => new TextEncoder().encode(text);
const text = (bytes: Uint8Array): string => new TextDecoder("latin1").decode(bytes);

/** base64 in lines of `width` characters, CRLF between them. */
function base64Lines(data: Uint8Array, width = 76): Uint8Array {
  const encoded = Buffer.from(data).toString("base64");
  const lines: string[] = [];
  for (let i = 0; i < encoded.length; i += width) lines.push(encoded.slice(i, i + width));
  return ascii(lines.join("\r\n"));
}

describe("base64", () => {
  it("decodes clean content of every length as Node's decoder does, whole or only its head", () => {
    for (const length of [0, 1, 2, 3, 4, 5, 57, 58, 59, 1000, 4099, 65_537]) {
      const data = pseudoRandomOctets(length, length + 7);
      const encoded = base64Lines(data, length % 2 === 0 ? 76 : 64);
      expect(decodeBase64(encoded)).toEqual(data);
      expect(decodeBase64Lenient(encoded, Infinity)).toEqual(data);
      for (const limit of [0, 1, 2, 3, 100, 4097]) expect(decodeBase64(encoded, limit)).toEqual(data.subarray(0, Math.min(limit, length)));
    }
  });

  it("skips what is outside the alphabet and lets padding end a group, as mail readers do", () => {
    expect(text(decodeBase64(ascii("QU\r\nJD\t RE*VG!")))).toBe("ABCDEF");
    // Some mailers pad every line: each padded group ends there.
    expect(text(decodeBase64(ascii("QQ==\r\nQg==\r\nQ0Q=")))).toBe("ABCD");
    // A group cut short keeps its whole octets; a lone character carries none.
    expect(text(decodeBase64(ascii("QUJDRA")))).toBe("ABCD");
    expect(text(decodeBase64(ascii("QUJDREU")))).toBe("ABCDE");
    expect(text(decodeBase64(ascii("QUJDR")))).toBe("ABC");
    expect(decodeBase64(ascii("!!!"))).toEqual(new Uint8Array(0));
  });
});

describe("quoted-printable", () => {
  it("decodes escapes in either case, drops soft line breaks and ends lines in LF", () => {
    expect(text(decodeQuotedPrintable(ascii("caf=C3=a9 =\r\nau lait\r\nsecond line")))).toBe("caf\xc3\xa9 au lait\nsecond line\n");
  });

  it("keeps an invalid or cut escape as it is, and stops at the limit", () => {
    expect(text(decodeQuotedPrintable(ascii("a=XYb=4")))).toBe("a=XYb=4\n");
    expect(text(decodeQuotedPrintable(ascii("=41=42=43\r\n=44"), 2))).toBe("AB");
  });
});

describe("the Content-Transfer-Encoding mechanism", () => {
  it("is read as mail readers read it: first token, case and comments aside", () => {
    expect(transferMechanism("Base64")).toBe("base64");
    expect(transferMechanism(" base64 (encoded by a mailer)")).toBe("base64");
    expect(transferMechanism("(old) quoted-printable")).toBe("quoted-printable");
    expect(transferMechanism("7bit")).toBe("identity");
    expect(transferMechanism("x-uuencode")).toBe("identity");
    expect(transferMechanism(undefined)).toBe("identity");
  });
});

describe("content decoded as far as it is read", () => {
  it("decodes a head of a base64 part and tells whether it is the whole", () => {
    const data = pseudoRandomOctets(10_000, 3);
    const content = encodedContent("base64", base64Lines(data));
    expect(content.sizeBound).toBeGreaterThanOrEqual(data.length);
    expect(content.head(100)).toEqual({ bytes: data.subarray(0, 100), complete: false });
    expect(content.head(10_000)).toEqual({ bytes: data, complete: true });
    expect(content.whole()).toEqual(data);
    expect(content.sizeBound).toBe(data.length);
    expect(content.head(20_000)).toEqual({ bytes: data, complete: true });
  });

  it("serves bytes in memory and identity-encoded parts as views, without copying", () => {
    const data = pseudoRandomOctets(1000, 5);
    const part = encodedContent("identity", data);
    expect(part.whole()).toBe(data);
    expect(part.head(10).bytes.buffer).toBe(data.buffer);
    expect(bytesContent(data).head(2000)).toEqual({ bytes: data, complete: true });
  });
});
