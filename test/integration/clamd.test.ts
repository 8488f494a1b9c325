// The clamd INSTREAM client against a real clamd with the harness's signature database.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { CHUNK_BYTES, pingClamd, scanWithClamd } from "../../relay-node/src/scan/clamd.ts";
import { CLAM_TESTFILES, EICAR, SIGNATURES, TEST_PATTERN } from "../harness/clamd.ts";
import { freePort } from "../harness/process.ts";
import type { ClamdService } from "../harness/services.ts";
import { startClamd } from "../harness/services.ts";

const STREAM_MAX = 1024 * 1024;
let clamd: ClamdService;
const settings = (): { host: string; port: number; timeoutMs: number } => ({ host: clamd.host, port: clamd.port, timeoutMs: 5_000 });

/** A message with one base64 attachment, as it arrives over SMTP (CRLF line ends). */
function messageWith(filename: string, content: Uint8Array): Uint8Array {
  const base64 = Buffer.from(content).toString("base64").replace(/.{76}/g, "$&\r\n");
  const lines = [
    "From: alice@sender.test",
    "To: bob@example.org",
    "Subject: see attachment",
    "MIME-Version: 1.0",
    'Content-Type: multipart/mixed; boundary="b1"',
    "",
    "--b1",
    "Content-Type: text/plain",
    "",
    "Please find it attached.",
    "--b1",
    `Content-Type: application/octet-stream; name="${filename}"`,
    "Content-Transfer-Encoding: base64",
    `Content-Disposition: attachment; filename="${filename}"`,
    "",
    base64,
    "--b1--",
    "",
  ];
  return Buffer.from(lines.join("\r\n"));
}

const plain = (body: string): Uint8Array => Buffer.from(`From: alice@sender.test\r\nTo: bob@example.org\r\nSubject: hello\r\n\r\n${body}\r\n`);

beforeAll(async () => {
  const started = performance.now();
  clamd = await startClamd({ streamMaxLength: STREAM_MAX });
  console.log(`clamd ready in ${Math.round(performance.now() - started)} ms`);
});

afterAll(() => clamd.stop());

describe("clamd INSTREAM", () => {
  it("answers PING", async () => {
    expect(await pingClamd(settings())).toEqual({ status: "ok" });
  });

  it("finds EICAR, bare and as a mail attachment, by its signature name", async () => {
    expect(await scanWithClamd(Buffer.from(EICAR, "latin1"), settings())).toEqual({ status: "infected", signature: SIGNATURES.eicar });
    expect(await scanWithClamd(messageWith("eicar.com", Buffer.from(EICAR, "latin1")), settings())).toEqual({
      status: "infected",
      signature: SIGNATURES.eicar,
    });
  });

  it("finds the clamav-testfiles executable inside a zip attachment", async () => {
    const zip = readFileSync(join(CLAM_TESTFILES, "clam.zip"));
    expect(await scanWithClamd(messageWith("invoice.zip", zip), settings())).toEqual({ status: "infected", signature: SIGNATURES.clamExe });
  });

  it("finds the harness's own hex pattern in a message body", async () => {
    expect(await scanWithClamd(plain(`hello ${TEST_PATTERN} world`), settings())).toEqual({ status: "infected", signature: SIGNATURES.pattern });
  });

  it("passes a clean message, also one that spans many chunks", async () => {
    expect(await scanWithClamd(plain("Just saying hello."), settings())).toEqual({ status: "clean" });
    const large = plain("A line of ordinary text.\r\n".repeat(Math.ceil((3 * CHUNK_BYTES) / 26)));
    expect(large.length).toBeGreaterThan(3 * CHUNK_BYTES);
    expect(await scanWithClamd(large, settings())).toEqual({ status: "clean" });
  });

  it("reports a message over StreamMaxLength as an error, not as clean", async () => {
    const result = await scanWithClamd(plain("x".repeat(STREAM_MAX + CHUNK_BYTES)), settings());
    // clamd answers "INSTREAM size limit exceeded. ERROR" and closes; should the reset overtake the
    // reply, the error is the reset — an error either way.
    // eslint-disable-next-line @typescript-eslint/no-unsafe-assignment -- vitest types its asymmetric matchers (expect.stringContaining, …) as any
    expect(result).toMatchObject({ status: "error", detail: expect.stringMatching(/size limit exceeded|ECONNRESET|EPIPE/) });
  });

  it("reports a closed port, a silent peer and a stopped clamd as errors", async () => {
    const closed = { host: "127.0.0.1", port: await freePort(), timeoutMs: 2_000 };
    // eslint-disable-next-line @typescript-eslint/no-unsafe-assignment -- vitest types its asymmetric matchers (expect.stringContaining, …) as any
    expect(await scanWithClamd(plain("hi"), closed)).toMatchObject({ status: "error", detail: expect.stringContaining("ECONNREFUSED") });
    expect(await pingClamd(closed)).toMatchObject({ status: "error" });

    const blackhole = { host: "127.0.0.1", port: Number(new URL(inject("harness").blackholeUrl).port), timeoutMs: 300 };
    const started = performance.now();
    expect(await scanWithClamd(plain("hi"), blackhole)).toEqual({ status: "error", detail: `clamd 127.0.0.1:${blackhole.port}: no reply within 300 ms` });
    expect(performance.now() - started).toBeLessThan(1_000);

    await clamd.stop();
    expect(await scanWithClamd(Buffer.from(EICAR, "latin1"), settings())).toMatchObject({ status: "error" });
  });
});
