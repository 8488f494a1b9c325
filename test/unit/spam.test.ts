// The spam filter's pure parts: rspamd's request headers and result, the action → reply mapping and
// the X-Spam fields, the message decision with rspamd, score-gated greylisting, the spamtrap's rate
// limit and blocklist, the header edits, and the relay.rspamd settings.
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { SqliteBlocklistStore, type BlocklistStore } from "../../relay-node/src/spam/blocklist-store.ts";
import { checkSpamtrapBlocklist, isSpamtrap, takeToken } from "../../relay-node/src/spam/spamtrap.ts";
import type { Finding } from "../../core/smtp/finding.ts";
import type { VerdictOutcome } from "../../relay-node/src/verdict/api-client.ts";
import { createRspamdController } from "../../relay-node/src/spam/rspamd-controller.ts";
import {
  describeSpam,
  parseRspamdReply,
  rspamdAction,
  rspamdHeaders,
  spamHeaders,
  type RspamdEnvelope,
  type RspamdScore,
} from "../../relay-node/src/spam/rspamd.ts";
import { removeFields, replaceSubject, unstructuredField } from "../../relay-node/src/smtp/headers.ts";
import { decideMessage, greylistDeferral, isDoubtful } from "../../relay-node/src/smtp/decision.ts";
import { greylistAfterScoring } from "../../relay-node/src/smtp/pipeline.ts";
import { parseConfig, type ConfigError } from "../../core/config/load.ts";
import type { ConfigInput } from "../../core/config/schema.ts";
import { buildReply, formatReply } from "../../core/smtp/replies.ts";

const dir = mkdtempSync(join(tmpdir(), "edgemx-spam-unit-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function configWith(relay: ConfigInput["relay"] = {}) {
  return parseConfig({ hostname: "mx.example.org", domains: [{ name: "example.org", mx: ["mx.example.org"], catchAll: true }], relay });
}

const envelope: RspamdEnvelope = {
  clientIp: "192.0.2.7",
  helo: "mail.sender.example",
  hostname: "mail.sender.example",
  mailFrom: "bob@sender.example",
  rcptTo: ["alice@example.org", "carol@example.org"],
  queueId: "019AC6F3E2A4B7C1D9",
  user: null,
  tls: { version: "TLSv1.3", cipher: "TLS_AES_256_GCM_SHA384" },
  mtaName: "mx.example.org",
};

function scored(action: RspamdScore["action"], score: number, extra: Partial<RspamdScore> = {}): RspamdScore {
  return {
    status: "scanned",
    action,
    score,
    requiredScore: 15,
    symbols: [{ name: "R_SPF_ALLOW", score: -0.2, options: ["+ip4:192.0.2.7"] }],
    subject: null,
    message: null,
    ...extra,
  };
}

describe("rspamd's request headers", () => {
  it("carry the envelope as rspamd's protocol names it, one Rcpt per recipient", () => {
    expect(rspamdHeaders(envelope)).toEqual({
      IP: "192.0.2.7",
      Hostname: "mail.sender.example",
      From: "bob@sender.example",
      Rcpt: ["alice@example.org", "carol@example.org"],
      "Queue-Id": "019AC6F3E2A4B7C1D9",
      "MTA-Name": "mx.example.org",
      Helo: "mail.sender.example",
      "TLS-Version": "TLSv1.3",
      "TLS-Cipher": "TLS_AES_256_GCM_SHA384",
    });
  });

  it("say 'unknown' without a verified name, '<>' for the null sender, and name the authenticated user", () => {
    const headers = rspamdHeaders({ ...envelope, hostname: null, helo: null, mailFrom: "", tls: null, user: "alice@example.org" });
    expect(headers).toMatchObject({ Hostname: "unknown", From: "<>", User: "alice@example.org" });
    expect(headers).not.toHaveProperty("Helo");
    expect(headers).not.toHaveProperty("TLS-Version");
  });

  it("send UTF-8 addresses as their octets and never a line break", () => {
    const headers = rspamdHeaders({ ...envelope, mailFrom: "jürgen@example.de", helo: "evil\r\nX-Injected: 1" });
    expect(headers.From).toBe(Buffer.from("jürgen@example.de", "utf8").toString("latin1"));
    expect(headers.Helo).toBe("evil??X-Injected: 1");
  });
});

describe("rspamd's result", () => {
  it("is read with its symbols, highest absolute score first", () => {
    const result = parseRspamdReply(
      JSON.stringify({
        is_skipped: false,
        score: 5.1,
        required_score: 15,
        action: "no action",
        symbols: { MIME_GOOD: { score: -0.1, options: ["text/plain"] }, HFILTER_HOSTNAME_UNKNOWN: { score: 2.5 }, ARC_NA: { score: 0 } },
        messages: {},
      }),
    );
    expect(result).toEqual({
      status: "scanned",
      action: "no action",
      score: 5.1,
      requiredScore: 15,
      symbols: [
        { name: "HFILTER_HOSTNAME_UNKNOWN", score: 2.5, options: [] },
        { name: "MIME_GOOD", score: -0.1, options: ["text/plain"] },
        { name: "ARC_NA", score: 0, options: [] },
      ],
      subject: null,
      message: null,
    });
  });

  it("keeps the proposed subject and rspamd's SMTP message", () => {
    const result = parseRspamdReply(
      JSON.stringify({ score: 0, required_score: 15, action: "rewrite subject", subject: "***SPAM*** hi", messages: { smtp_message: "Gtube pattern" } }),
    );
    expect(result).toMatchObject({ subject: "***SPAM*** hi", message: "Gtube pattern" });
  });

  it("is an error when it is not JSON, has no score or names an action rspamd does not have", () => {
    expect(parseRspamdReply("<html>")).toEqual({ status: "error", detail: "rspamd: the answer is not JSON" });
    expect(parseRspamdReply(JSON.stringify({ action: "reject", required_score: 15 }))).toMatchObject({
      status: "error",
      detail: "rspamd: the answer has no score",
    });
    expect(parseRspamdReply(JSON.stringify({ action: "quarantine", score: 1, required_score: 15 }))).toMatchObject({
      status: "error",
      detail: 'rspamd: unknown action "quarantine"',
    });
  });
});

describe("rspamd's action, as the session's answer", () => {
  const policy = { onError: "tempfail" as const, relaxed: false };

  it("maps each action", () => {
    expect(rspamdAction(scored("reject", 16), policy)).toEqual({ action: "reject" });
    expect(rspamdAction(scored("soft reject", 0), policy)).toEqual({ action: "soft-reject" });
    expect(rspamdAction(scored("add header", 7), policy)).toMatchObject({
      action: "add-header",
      headers: ["X-Spam-Flag: YES", "X-Spam-Score: 7.00 / 15.00", expect.any(String)],
    });
    expect(rspamdAction(scored("rewrite subject", 8, { subject: "***SPAM*** hi" }), policy)).toMatchObject({
      action: "rewrite-subject",
      subject: "***SPAM*** hi",
    });
    expect(rspamdAction(scored("no action", 1), policy)).toMatchObject({
      action: "accept",
      headers: ["X-Spam-Flag: NO", "X-Spam-Score: 1.00 / 15.00", expect.any(String)],
    });
  });

  it("takes rspamd's greylist as no action: greylisting is the relay's own", () => {
    expect(rspamdAction(scored("greylist", 4.5), policy)).toMatchObject({
      action: "accept",
      headers: ["X-Spam-Flag: NO", "X-Spam-Score: 4.50 / 15.00", expect.any(String)],
    });
  });

  it("marks a rewrite without a proposed subject as add header", () => {
    expect(rspamdAction(scored("rewrite subject", 8), policy)).toMatchObject({ action: "add-header" });
  });

  it("only marks what it would refuse when every recipient's role relaxes spam", () => {
    expect(rspamdAction(scored("reject", 20), { ...policy, relaxed: true })).toMatchObject({
      action: "add-header",
      headers: ["X-Spam-Flag: YES", "X-Spam-Score: 20.00 / 15.00", expect.any(String)],
    });
    expect(rspamdAction(scored("soft reject", 0), { ...policy, relaxed: true })).toMatchObject({ action: "add-header" });
  });

  it("fails closed on an error, or accepts it marked unscanned when configured so", () => {
    const error = { status: "error" as const, detail: "rspamd http://127.0.0.1:11333: connect ECONNREFUSED" };
    expect(rspamdAction(error, policy)).toEqual({ action: "tempfail" });
    expect(rspamdAction(error, { onError: "accept", relaxed: false })).toEqual({
      action: "accept",
      headers: ["X-Edgemx-Spam: not scanned; rspamd unavailable"],
    });
  });

  it("describes the result for the log line", () => {
    const result = scored("add header", 7, {
      message: "Gtube pattern",
      symbols: [
        { name: "A", score: 7, options: [] },
        { name: "B", score: 0, options: [] },
      ],
    });
    expect(describeSpam(result, rspamdAction(result, policy))).toEqual({
      action: "add header",
      decision: "add-header",
      score: 7,
      required: 15,
      symbols: ["A(7.00)"],
      message: "Gtube pattern",
    });
    expect(describeSpam(null, null)).toBe("skipped");
    expect(describeSpam({ status: "error", detail: "down" }, { action: "tempfail" })).toEqual({ decision: "tempfail", error: "down" });
  });
});

describe("the X-Spam fields", () => {
  it("follow rspamd's X-Spamd-Result format, one symbol per folded line", () => {
    const [flag, score, result] = spamHeaders(
      scored("add header", 7.25, {
        symbols: [
          { name: "BAYES_SPAM", score: 5.1, options: ["99.99%"] },
          { name: "MIME_GOOD", score: -0.1, options: ["text/plain"] },
        ],
      }),
      true,
    );
    expect(flag).toBe("X-Spam-Flag: YES");
    expect(score).toBe("X-Spam-Score: 7.25 / 15.00");
    expect(result).toBe("X-Spamd-Result: default: True [7.25 / 15.00];\r\n\tBAYES_SPAM(5.10)[99.99%];\r\n\tMIME_GOOD(-0.10)[text/plain];");
  });

  it("are bounded and printable, whatever the options hold", () => {
    const symbols = Array.from({ length: 500 }, (_, i) => ({
      name: `SYMBOL_${i}`,
      score: 1,
      options: ["ü\r\nInjected: yes", "x".repeat(500), "a", "b", "c", "d", "e"],
    }));
    const [, , result] = spamHeaders(scored("reject", 500, { symbols }), true);
    expect(result!.length).toBeLessThanOrEqual(4096);
    expect(result).toMatch(/\r\n\t\(\d+ more symbols\)$/);
    for (const line of result!.split("\r\n")) {
      expect(line.length).toBeLessThan(998);
      expect(line).toMatch(/^[\x20-\x7e\t]*$/);
    }
    expect(result).toContain("\tSYMBOL_0(1.00)[???Injected: yes,");
    expect(result).toContain(",+2];");
  });
});

describe("the decision with rspamd", () => {
  const accepted: VerdictOutcome = {
    ok: true,
    verdict: {
      action: "accept",
      reply: { code: 250, enhanced: "2.0.0", text: "Ok" },
      id: "11111-11",
      headers: ["Authentication-Results: mx.example.org; none"],
      marks: [],
      checks: [],
    },
  };
  const banned = buildReply("banned", { id: "11111-11" });
  const refused: VerdictOutcome = { ok: true, verdict: { ...accepted.verdict, action: "reject", reply: banned, reason: "BANNED" } };

  it("refuses spam with the spec's reply, after a virus and the judge's own refusal", () => {
    const spam = decideMessage(accepted, { status: "clean" }, "22222-22", { action: "reject" });
    expect(spam.action === "reject" && formatReply(spam.reply)).toBe("554 5.7.0 Reject, id=11111-11 – spam");
    expect(decideMessage(accepted, { status: "infected", signature: "Eicar" }, "22222-22", { action: "reject" })).toMatchObject({ reason: "INFECTED" });
    expect(decideMessage(refused, { status: "clean" }, "22222-22", { action: "reject" })).toMatchObject({ reason: "BANNED" });
    // A refusal needs no scanner: spam is refused even while clamd is down.
    expect(decideMessage(accepted, { status: "error", detail: "down" }, "22222-22", { action: "reject" })).toMatchObject({ reason: "spam" });
  });

  it("answers an rspamd outage 451 4.3.0 and a soft reject 451 4.7.1", () => {
    const down = decideMessage(accepted, { status: "clean" }, "22222-22", { action: "tempfail" });
    expect(down.action === "tempfail" && formatReply(down.reply)).toBe("451 4.3.0 Temporary local problem, id=11111-11, please try again later");
    const soft = decideMessage(accepted, { status: "clean" }, "22222-22", { action: "soft-reject" });
    expect(soft.action === "tempfail" && formatReply(soft.reply)).toBe("451 4.7.1 Deferred, id=11111-11 – suspected spam, please try again later");
  });

  it("accepts with the judge's fields and rspamd's, and the subject to write", () => {
    expect(decideMessage(accepted, { status: "clean" }, "22222-22", { action: "add-header", headers: ["X-Spam-Flag: YES"] })).toEqual({
      action: "accept",
      id: "11111-11",
      headers: ["Authentication-Results: mx.example.org; none", "X-Spam-Flag: YES"],
    });
    expect(decideMessage(accepted, { status: "clean" }, "22222-22", { action: "rewrite-subject", headers: [], subject: "***SPAM*** hi" })).toMatchObject({
      subject: "***SPAM*** hi",
    });
  });
});

describe("greylisting gated by score", () => {
  it("waits for the score only when rspamd scores and a gate is set", () => {
    expect(greylistAfterScoring(configWith({ rspamd: { url: "http://127.0.0.1:11333", greylistScoreGate: 4 } }))).toBe(true);
    expect(greylistAfterScoring(configWith({ rspamd: { url: "http://127.0.0.1:11333" } }))).toBe(false);
    expect(greylistAfterScoring(configWith({ rspamd: { greylistScoreGate: 4 } }))).toBe(false);
  });

  it("holds mail at or above the gate, and mail without a score, as doubtful", () => {
    expect(isDoubtful(scored("no action", 4), 4)).toBe(true);
    expect(isDoubtful(scored("no action", 3.99), 4)).toBe(false);
    expect(isDoubtful({ status: "error", detail: "down" }, 4)).toBe(true);
  });

  it("defers with the first refusing greylist finding", () => {
    const pass: Finding = { check: "greylist", outcome: "pass", detail: "passed" };
    const greylisted = buildReply("greylisted", { address: "alice@example.org", seconds: "300" });
    expect(greylistDeferral([pass, pass])).toBeNull();
    expect(greylistDeferral([pass, { check: "greylist", outcome: "fail", reply: greylisted, detail: "first seen" }])).toEqual(greylisted);
  });
});

describe("the spamtrap", () => {
  it("knows its addresses in any case", () => {
    const { spamtrap } = configWith({ rspamd: { spamtrap: { addresses: ["Trap@Example.org"] } } }).relay.rspamd;
    expect(isSpamtrap("trap@example.org", spamtrap)).toBe(true);
    expect(isSpamtrap("TRAP@EXAMPLE.ORG", spamtrap)).toBe(true);
    expect(isSpamtrap("alice@example.org", spamtrap)).toBe(false);
  });

  it("refuses to start with a trap outside our domains", () => {
    expect(() => configWith({ rspamd: { spamtrap: { addresses: ["trap@example.org", "trap@elsewhere.example"] } } })).toThrow(
      "relay.rspamd.spamtrap.addresses[1]: expected an address at one of our domains (example.org), not trap@elsewhere.example",
    );
  });

  it("learns a burst of perMinute messages, then one per 60/perMinute seconds", () => {
    let bucket = null;
    const allowed: boolean[] = [];
    for (let i = 0; i < 4; i++) {
      const taken = takeToken(bucket, 1_000, 3);
      allowed.push(taken.allowed);
      bucket = taken.bucket;
    }
    expect(allowed).toEqual([true, true, true, false]);
    expect(takeToken(bucket, 1_000 + 19_000, 3).allowed).toBe(false);
    expect(takeToken(bucket, 1_000 + 20_000, 3).allowed).toBe(true);
    // Refilling never goes past the burst.
    expect(takeToken(bucket, 1_000 + 3_600_000, 3).bucket.tokens).toBe(2);
  });

  it("lists a client in our own zone for a lifetime, as a DNSBL finding", async () => {
    let now = 1_000_000;
    const store = new SqliteBlocklistStore(join(dir, "blocklist.sqlite"), { clock: () => now });
    expect(await checkSpamtrapBlocklist("::ffff:192.0.2.7", store, "mx.example.org", now)).toEqual({
      check: "dnsbl",
      outcome: "pass",
      detail: "spamtrap.mx.example.org: not listed",
    });
    await store.add("192.0.2.7", 3600);
    now += 1000;
    const listed = await checkSpamtrapBlocklist("::ffff:192.0.2.7", store, "mx.example.org", now);
    expect(listed).toMatchObject({ check: "dnsbl", outcome: "fail", detail: "spamtrap.mx.example.org: listed for 3599 s more (wrote to a spamtrap)" });
    expect(listed.outcome === "fail" && formatReply(listed.reply)).toBe(
      "554 5.7.1 Service unavailable; Client host [192.0.2.7] blocked using spamtrap.mx.example.org",
    );
    now += 3600 * 1000;
    expect((await checkSpamtrapBlocklist("192.0.2.7", store, "mx.example.org", now)).outcome).toBe("pass");
    await store.close();
  });

  it("fails temporary when the blocklist cannot be read", async () => {
    const broken: BlocklistStore = {
      add: () => Promise.resolve(0),
      listedUntil: async () => Promise.reject(new Error("connection lost")),
      close: async () => {},
    };
    const finding = await checkSpamtrapBlocklist("192.0.2.7", broken, "mx.example.org");
    // eslint-disable-next-line @typescript-eslint/no-unsafe-assignment -- vitest types its asymmetric matchers (expect.stringContaining, …) as any
    expect(finding).toMatchObject({ check: "dnsbl", outcome: "temporary", detail: expect.stringMatching(/blocklist store .*connection lost/) });
    expect(finding.outcome === "temporary" && formatReply(finding.reply)).toMatch(/^451 4\.3\.0 /);
  });
});

describe("header edits for spam", () => {
  const message = Buffer.from(
    "Received: from x\r\nSubject: hi\r\nX-Spam-Flag: NO\r\nx-spam-status: Yes,\r\n score=-10\r\nFrom: a@b.example\r\n\r\nSubject: not a header\r\n",
  );

  it("removes fields by name, folded ones whole, the body untouched", () => {
    expect(removeFields(message, ["X-Spam-Flag", "X-Spam-Status"]).toString()).toBe(
      "Received: from x\r\nSubject: hi\r\nFrom: a@b.example\r\n\r\nSubject: not a header\r\n",
    );
    expect(removeFields(message, ["X-Other"])).toBe(message);
  });

  it("rewrites the Subject where it stood, once", () => {
    const twice = Buffer.from("Received: from x\r\nSubject: one\r\nFrom: a@b.example\r\nSubject: two\r\n\r\nbody\r\n");
    expect(replaceSubject(twice, "***SPAM*** one").toString()).toBe("Received: from x\r\nSubject: ***SPAM*** one\r\nFrom: a@b.example\r\n\r\nbody\r\n");
    expect(replaceSubject(Buffer.from("From: a@b.example\r\n\r\nbody\r\n"), "x").toString()).toBe("From: a@b.example\r\nSubject: x\r\n\r\nbody\r\n");
  });

  it("folds a long subject and encodes one that is not ASCII (RFC 2047)", () => {
    const long = unstructuredField("Subject", `***SPAM*** ${"word ".repeat(30).trim()}`);
    for (const line of long.split("\r\n")) expect(line.length).toBeLessThanOrEqual(78);
    expect(long.replace(/\r\n/g, "")).toBe(`Subject: ***SPAM*** ${"word ".repeat(30).trim()}`);
    const encoded = unstructuredField("Subject", "***SPAM*** Überweisung");
    expect(encoded).toMatch(/^Subject: =\?UTF-8\?B\?[A-Za-z0-9+/=]+\?=$/);
    expect(Buffer.from(/B\?(.+)\?=/.exec(encoded)![1]!, "base64").toString()).toBe("***SPAM*** Überweisung");
  });
});

describe("the relay.rspamd settings", () => {
  it("have safe defaults: off, fail closed, greylisting as before, no traps", () => {
    expect(configWith().relay.rspamd).toEqual({
      timeoutMs: 20_000,
      onError: "tempfail",
      greylistScoreGate: null,
      spamtrap: { addresses: [], blocklistTtlSeconds: 86400, learnRatePerMinute: 10 },
    });
  });

  it("refuse what cannot work, naming the field", () => {
    const bad = (rspamd: NonNullable<ConfigInput["relay"]>["rspamd"]): string => {
      try {
        configWith({ rspamd });
      } catch (err) {
        return (err as ConfigError).message;
      }
      return "accepted";
    };
    expect(bad({ onError: "ignore" as never })).toMatch(/relay\.rspamd\.onError/);
    expect(bad({ spamtrap: { addresses: ["not an address"] } })).toMatch(/relay\.rspamd\.spamtrap\.addresses\[0\]: expected an e-mail address/);
    expect(bad({ url: "127.0.0.1:11333" })).toMatch(/relay\.rspamd\.url/);
    expect(bad({ password: "x" } as never)).toMatch(/relay\.rspamd/);
  });
});

describe("the controller client", () => {
  /** A controller answering each request with these raw bytes, as rspamd 3.4 writes them; the requests' heads are kept. */
  async function controller(answer: string): Promise<{ url: string; heads: string[]; close(): void }> {
    const heads: string[] = [];
    const server = createServer((socket) => {
      let received = "";
      socket.on("data", (chunk) => {
        received += chunk.toString("latin1");
        const end = received.indexOf("\r\n\r\n");
        const length = Number(/content-length: (\d+)/i.exec(received)?.[1] ?? 0);
        if (end >= 0 && received.length >= end + 4 + length) {
          heads.push(received.slice(0, end));
          socket.end(answer);
        }
      });
    });
    await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
    return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, heads, close: () => server.close() };
  }
  const reply = (status: string, body: string): string =>
    `HTTP/1.1 ${status}\r\nConnection: close\r\nServer: rspamd/3.4\r\nContent-Length: ${body.length}\r\nContent-Type: application/json\r\n\r\n${body}`;

  it("reads 200 as learned and 208 as already learned, sending the password when it has one", async () => {
    const learned = await controller(reply("200 OK", '{"success":true}'));
    const client = createRspamdController({ url: learned.url, password: "secret", timeoutMs: 2000 });
    expect(await client.learn("spam", Buffer.from("Subject: x\r\n\r\nbody\r\n"), { IP: "192.0.2.7" })).toEqual({ status: "learned" });
    expect(learned.heads[0]).toMatch(/^POST \/learnspam HTTP\/1\.1\r\n/);
    expect(learned.heads[0]).toMatch(/\r\nPassword: secret\r\n/);
    expect(learned.heads[0]).toMatch(/\r\nIP: 192\.0\.2\.7\r\n/);
    client.close();
    learned.close();

    const again = await controller(
      reply("208 <1@x> has been already learned as spam, ignore it", '{"error":"<1@x> has been already learned as spam, ignore it"}'),
    );
    const second = createRspamdController({ url: again.url, password: undefined, timeoutMs: 2000 });
    expect(await second.learn("spam", Buffer.from("x"))).toEqual({ status: "already-learned", detail: "<1@x> has been already learned as spam, ignore it" });
    expect(again.heads[0]).not.toMatch(/Password/i);
    second.close();
    again.close();
  });

  it("reads rspamd's 204 (which carries a body, unlike HTTP's) as declined", async () => {
    const body = '{"error":"<undef> contains less tokens than required for bayes classifier: 3 < 11"}';
    const declining = await controller(reply("204 <undef> contains less tokens than required for bayes classifier: 3 < 11", body));
    const client = createRspamdController({ url: declining.url, password: undefined, timeoutMs: 2000 });
    expect(await client.learn("ham", Buffer.from("x"))).toEqual({
      status: "declined",
      detail: "<undef> contains less tokens than required for bayes classifier: 3 < 11",
    });
    client.close();
    declining.close();
  });

  it("reports any other answer, and no answer, as an error", async () => {
    const failing = await controller(reply("500 Module disabled", ""));
    const client = createRspamdController({ url: failing.url, password: undefined, timeoutMs: 2000 });
    expect(await client.fuzzyAdd(Buffer.from("x"), 11, 10)).toEqual({
      status: "error",
      detail: `rspamd controller ${failing.url}: fuzzyadd answered 500: Module disabled`,
    });
    expect(failing.heads[0]).toMatch(/\r\nFlag: 11\r\nWeight: 10\r\n/);
    client.close();
    failing.close();
    const nobody = createRspamdController({ url: failing.url, password: undefined, timeoutMs: 2000 });
    // eslint-disable-next-line @typescript-eslint/no-unsafe-assignment -- vitest types its asymmetric matchers (expect.stringContaining, …) as any
    expect(await nobody.learn("spam", Buffer.from("x"))).toMatchObject({ status: "error", detail: expect.stringMatching(/ECONNREFUSED/) });
    nobody.close();
  });
});
