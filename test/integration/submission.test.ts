// Submission (587 STARTTLS, 465 implicit TLS), wired: the relay in-process with the harness's resolver,
// clamd with its test signatures, the in-process judge on its outbound path, a users store in a temp
// folder and the domain's DKIM key; driven by swaks (Debian) and, where swaks will not misbehave, a raw
// SMTP client. The signed message in the Maildir is verified by python3-dkim (test/fixtures/dkim-verify.py).
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { UserStore } from "../../relay-node/src/users/store.ts";
import { DKIM_PRIVATE_KEY_PEM, DKIM_PUBLIC_KEY_BASE64, DKIM_SELECTOR } from "../harness/dkim-key.ts";
import { freePort } from "../harness/process.ts";
import { delivered, LOCAL, relayDocument, startTestRelay, testMessage, type TestRelay } from "../harness/relay.ts";
import { startClamd, type ClamdService } from "../harness/services.ts";
import { openSmtp } from "../harness/smtp-client.ts";
import { runSwaks, writeSwaksData, type SwaksRun } from "../harness/swaks.ts";
import { TEST_DNS } from "../harness/zones.ts";

const harness = inject("harness");
const VERIFY = fileURLToPath(new URL("../fixtures/dkim-verify.py", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "edgemx-submission-"));
const ALICE = { user: LOCAL.mailbox, password: "correct horse battery", alias: `info@${LOCAL.domain}` };
const MALLORY = { user: `mallory@${LOCAL.domain}`, password: "right one" };
const MAX_AUTH_FAILURES = 3;
/** A client address of its own for the login-throttling test, so its lock-out touches no other test. */
const GUESSING_IP = "127.0.0.77";

let clamd: ClamdService;
let relay: TestRelay;
let ports: { submission: number; submissions: number };
let files = 0;

beforeAll(async () => {
  clamd = await startClamd();
  const usersPath = join(dir, "users.sqlite");
  const users = new UserStore(usersPath, { N: 2 ** 10, r: 8, p: 1 });
  await users.add(ALICE.user, ALICE.password, [ALICE.alias]);
  await users.add(MALLORY.user, MALLORY.password);
  users.close();
  const keyFile = join(dir, "dkim.pem");
  writeFileSync(keyFile, DKIM_PRIVATE_KEY_PEM, { mode: 0o600 });
  ports = { submission: await freePort(), submissions: await freePort() };
  const document = relayDocument(join(dir, "relay"), harness.dnsPort, {
    clamd: { host: clamd.host, port: clamd.port, timeoutMs: 5000 },
    listeners: {
      mx: { host: "127.0.0.1", port: 25 },
      submission: { host: "127.0.0.1", port: ports.submission },
      submissions: { host: "127.0.0.1", port: ports.submissions },
    },
    users: { path: usersPath },
    submission: { maxAuthFailures: MAX_AUTH_FAILURES, maxRecipientsPerMessage: 2 },
  });
  document.domains[0]!.dkim = { selector: DKIM_SELECTOR, publicKey: DKIM_PUBLIC_KEY_BASE64, privateKeyFile: keyFile };
  relay = await startTestRelay(document);
}, 60_000);

afterAll(async () => {
  await relay?.relay.stop();
  await clamd?.stop();
  rmSync(dir, { recursive: true, force: true });
});

interface Attempt {
  port: number;
  implicitTls?: boolean;
  starttls?: boolean;
  auth?: { user: string; password: string; method?: "PLAIN" | "LOGIN" };
  from?: string;
  to?: string;
  raw?: string;
  ip?: string;
}

function swaks(attempt: Attempt): Promise<SwaksRun> {
  const data = join(dir, `message-${++files}.eml`);
  writeSwaksData(data, attempt.raw ?? testMessage({ from: ALICE.user, to: attempt.to ?? ALICE.user, subject: "submitted" }));
  return runSwaks([
    "--server",
    `127.0.0.1:${attempt.port}`,
    "--local-interface",
    attempt.ip ?? "127.0.0.1",
    "--ehlo",
    "laptop.home.test",
    "--from",
    attempt.from ?? ALICE.user,
    "--to",
    attempt.to ?? ALICE.user,
    "--data",
    `@${data}`,
    ...(attempt.implicitTls ? ["--tlsc"] : attempt.starttls ? ["--tls"] : []),
    ...(attempt.auth ? ["--auth", attempt.auth.method ?? "PLAIN", "--auth-user", attempt.auth.user, "--auth-password", attempt.auth.password] : []),
  ]);
}

/** The reply to the first command matching `command`. */
function replyTo(run: SwaksRun, command: RegExp): string {
  const exchange = run.exchanges.find((e) => command.test(e.command));
  if (!exchange) throw new Error(`no ${command} in:\n${run.transcript}`);
  return exchange.reply;
}

const finalReply = (run: SwaksRun): string => run.exchanges.filter((e) => !/^QUIT$/i.test(e.command)).at(-1)?.reply ?? run.transcript;

function verifyWithPythonDkim(message: string): { status: number | null; output: string } {
  const run = spawnSync("/usr/bin/python3", [VERIFY, DKIM_SELECTOR, LOCAL.domain, `v=DKIM1; k=rsa; p=${DKIM_PUBLIC_KEY_BASE64}`], {
    input: message,
    encoding: "utf8",
  });
  return { status: run.status, output: `${run.stdout}${run.stderr}` };
}

describe("submission in the right order", () => {
  it("takes a message over 587 with STARTTLS and AUTH PLAIN; AUTH is listed only inside TLS", async () => {
    const run = await swaks({ port: ports.submission, starttls: true, auth: { user: ALICE.user, password: ALICE.password } });
    expect(run.status, run.transcript).toBe(0);
    const ehlos = run.exchanges.filter((e) => /^EHLO/i.test(e.command));
    expect(ehlos).toHaveLength(2);
    expect(ehlos[0]!.reply).not.toMatch(/AUTH/);
    expect(ehlos[0]!.reply).toMatch(/STARTTLS/);
    expect(ehlos[1]!.reply).toMatch(/AUTH PLAIN LOGIN/);
    expect(run.tls?.version).toMatch(/TLSv1\.[23]/);
    expect(replyTo(run, /^AUTH PLAIN/)).toMatch(/^235 /);
    expect(finalReply(run)).toMatch(/^250 2\.0\.0 Ok: queued as /);
  });

  it("takes a message over 465 (implicit TLS) with AUTH LOGIN, sent as an alias", async () => {
    const raw = testMessage({ from: ALICE.alias, to: ALICE.user, subject: "from the alias" });
    const run = await swaks({
      port: ports.submissions,
      implicitTls: true,
      auth: { user: ALICE.user, password: ALICE.password, method: "LOGIN" },
      from: ALICE.alias,
      raw,
    });
    expect(run.status, run.transcript).toBe(0);
    expect(finalReply(run)).toMatch(/^250 2\.0\.0 Ok: queued as /);
  });

  it("signs with DKIM and seals with ARC, verified by python3-dkim, and hides the client's address", async () => {
    const messages = await delivered(relay, ALICE.user);
    expect(messages.length).toBeGreaterThanOrEqual(2);
    for (const message of messages) {
      const verified = verifyWithPythonDkim(message);
      expect(verified.output.trim()).toBe("dkim=pass arc=pass");
      expect(verified.status).toBe(0);
      expect(message).toMatch(/^DKIM-Signature: .*\r?\n(?:\t.*\r?\n)*\th=From:(?:[A-Za-z-]+:)*From;/m);
      expect(message).toMatch(/^ARC-Seal: i=1; a=rsa-sha256; t=\d+; cv=none; d=example\.org;/m);
      expect(message).toContain(`ARC-Authentication-Results: i=1; ${LOCAL.hostname}; auth=pass smtp.auth=${ALICE.user}`);
      expect(message).toMatch(/^Received: by mx\.example\.org with ESMTPSA id /m);
      expect(message).not.toContain("127.0.0.1");
      expect(message).not.toContain("laptop.home.test");
    }
    const tampered = messages[0]!.replace("Subject: submitted", "Subject: altered");
    expect(verifyWithPythonDkim(tampered).status).toBe(1);
  });
});

describe("the domainless postmaster", () => {
  it("delivers RCPT TO:<Postmaster> to our postmaster (RFC 5321 §4.1.1.3; RFC 6409 §6.2: the envelope fully qualified)", async () => {
    const postmaster = `postmaster@${LOCAL.domain}`;
    const marker = `domainless-postmaster-${Date.now()}`;
    const smtp = await openSmtp(ports.submission);
    await smtp.reply();
    await smtp.command("EHLO laptop.home.test");
    await smtp.startTls();
    await smtp.command("EHLO laptop.home.test");
    expect(await smtp.command(`AUTH PLAIN ${Buffer.from(`\0${ALICE.user}\0${ALICE.password}`).toString("base64")}`)).toMatch(/^235 /);
    expect(await smtp.command(`MAIL FROM:<${ALICE.user}>`)).toMatch(/^250 /);
    expect(await smtp.command("RCPT TO:<Postmaster>")).toMatch(/^250 /);
    expect(await smtp.command("DATA")).toMatch(/^354 /);
    smtp.write(`${testMessage({ from: ALICE.user, to: postmaster, body: marker })}.\r\n`);
    expect(await smtp.reply()).toMatch(/^250 2\.0\.0 Ok: queued as /);
    smtp.close();
    expect((await delivered(relay, postmaster)).filter((m) => m.includes(marker))).toHaveLength(1);
  });
});

describe("submission in a wrong order", () => {
  it("answers AUTH before STARTTLS with 538 5.7.11", async () => {
    const smtp = await openSmtp(ports.submission);
    await smtp.reply();
    expect(await smtp.command("EHLO laptop.home.test")).not.toMatch(/AUTH/);
    const token = Buffer.from(`\0${ALICE.user}\0${ALICE.password}`).toString("base64");
    expect(await smtp.command(`AUTH PLAIN ${token}`)).toBe("538 5.7.11 Encryption required for requested authentication mechanism");
    smtp.close();
  });

  it("answers MAIL before AUTH with 530 5.7.0 on 587 and on 465", async () => {
    for (const attempt of [
      { port: ports.submission, starttls: true },
      { port: ports.submissions, implicitTls: true },
    ]) {
      const run = await swaks(attempt);
      expect(replyTo(run, /^MAIL FROM/), run.transcript).toBe("530 5.7.0 Authentication required");
    }
  });

  it("refuses a MAIL FROM that is not the user's with 553 5.7.1", async () => {
    const run = await swaks({ port: ports.submission, starttls: true, auth: ALICE, from: MALLORY.user });
    expect(replyTo(run, /^MAIL FROM/)).toBe(`553 5.7.1 <${MALLORY.user}>: Sender address rejected: not owned by user`);
  });

  it("refuses a From: header that is not the user's with 553 5.7.1 after the data", async () => {
    const raw = testMessage({ from: "ceo@bank.test", to: ALICE.user });
    const run = await swaks({ port: ports.submission, starttls: true, auth: ALICE, raw });
    expect(finalReply(run)).toBe("553 5.7.1 <ceo@bank.test>: Sender address rejected: not owned by user");
  });

  it("bounds the recipients of one message with 452 4.5.3", async () => {
    const run = await swaks({ port: ports.submission, starttls: true, auth: ALICE, to: `a@${LOCAL.domain},b@${LOCAL.domain},c@${LOCAL.domain}` });
    expect(run.exchanges.filter((e) => /^RCPT TO/i.test(e.command)).map((e) => e.reply.slice(0, 9))).toEqual(["250 2.1.5", "250 2.1.5", "452 4.5.3"]);
  });

  it("answers a wrong password with 535 5.7.8, and after the limit with 454 4.7.0 even for the right one", async () => {
    for (let i = 0; i < MAX_AUTH_FAILURES; i++) {
      const run = await swaks({ port: ports.submission, starttls: true, ip: GUESSING_IP, auth: { user: MALLORY.user, password: `guess ${i}` } });
      expect(replyTo(run, /^AUTH PLAIN/)).toBe("535 5.7.8 Authentication credentials invalid");
    }
    const run = await swaks({ port: ports.submissions, implicitTls: true, ip: GUESSING_IP, auth: MALLORY });
    expect(replyTo(run, /^AUTH PLAIN/)).toBe("454 4.7.0 Temporary authentication failure");
    const lines = relay.logs.filter((l) => l["event"] === "auth");
    expect(JSON.stringify(lines)).not.toMatch(/guess \d|right one/);
  }, 30_000);
});

describe("no relaying without AUTH", () => {
  const remote = "someone@remote.test";

  it("refuses relaying on the MX listener", async () => {
    const run = await swaks({
      port: relay.port,
      ip: TEST_DNS.sender.authorizedIp,
      from: `bob@${TEST_DNS.sender.domain}`,
      to: remote,
      raw: testMessage({ to: remote }),
    });
    expect(replyTo(run, /^RCPT TO/)).toBe(`554 5.7.1 <${remote}>: Relay access denied`);
  });

  it("refuses an unauthenticated transaction on 587 and 465", async () => {
    for (const attempt of [{ port: ports.submission, starttls: true }, { port: ports.submissions, implicitTls: true }, { port: ports.submission }]) {
      const run = await swaks({ ...attempt, to: remote });
      expect(replyTo(run, /^MAIL FROM/)).toBe("530 5.7.0 Authentication required");
      expect(run.status).not.toBe(0);
    }
  });
});

describe("what the submission listeners log and count", () => {
  const scrape = async (): Promise<string> => (await fetch(`http://127.0.0.1:${relay.relay.metricsPort}/metrics`)).text();
  /** One series of a scrape, 0 when it has no sample yet. */
  function sample(text: string, series: string): number {
    const line = text.split("\n").find((l) => l.startsWith(`${series} `));
    return line === undefined ? 0 : Number(line.slice(series.length + 1));
  }
  const SERIES = [
    'edgemx_auth_total{result="pass"}',
    'edgemx_auth_total{result="failed"}',
    'edgemx_smtp_refusals_total{listener="submission",stage="auth",check="auth",code="535"}',
    'edgemx_smtp_refusals_total{listener="submissions",stage="mail",check="sender-ownership",code="553"}',
    'edgemx_messages_accepted_total{listener="submissions"}',
  ];

  it("a refused login and a refused sender each on a line of their own, and the logins, refusals, messages and TLS sessions counted", async () => {
    const before = await scrape();
    const ip = "127.0.0.78";
    const wrong = await swaks({ port: ports.submission, starttls: true, ip, auth: { user: ALICE.user, password: "not it" } });
    expect(replyTo(wrong, /^AUTH PLAIN/)).toBe("535 5.7.8 Authentication credentials invalid");
    const notOwned = await swaks({ port: ports.submissions, implicitTls: true, ip, auth: { ...ALICE, method: "LOGIN" }, from: MALLORY.user });
    expect(replyTo(notOwned, /^MAIL FROM/)).toMatch(/^553 5\.7\.1 /);
    const sent = await swaks({ port: ports.submissions, implicitTls: true, ip, auth: ALICE });
    expect(finalReply(sent)).toMatch(/^250 2\.0\.0 Ok: queued as /);

    const after = await scrape();
    // Each of the three sessions under the TLS version it negotiated (STARTTLS on 587, implicit on 465).
    const versions = [wrong, notOwned, sent].map((run) => run.tls?.version);
    expect(new Set(versions).size, versions.join(", ")).toBe(1);
    expect(versions[0]).toMatch(/^TLSv1\.[23]$/);
    const series = [...SERIES, `edgemx_tls_sessions_total{direction="in",version="${versions[0]}"}`];
    expect(series.map((s) => sample(after, s) - sample(before, s))).toEqual([2, 1, 1, 1, 1, 3]);
    const refusals = relay.logs.filter((l) => l.event === "refusal" && l.clientIp === ip);
    expect(refusals).toMatchObject([
      { listener: "submission", stage: "auth", check: "auth", reply: "535 5.7.8 Authentication credentials invalid", id: null },
      {
        listener: "submissions",
        stage: "mail",
        check: "sender-ownership",
        user: ALICE.user,
        mailFrom: MALLORY.user,
        reply: `553 5.7.1 <${MALLORY.user}>: Sender address rejected: not owned by user`,
      },
    ]);
    expect(JSON.stringify(refusals)).not.toContain("not it");
  });
});
