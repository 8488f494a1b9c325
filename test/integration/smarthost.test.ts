// A smarthost (relay.outbound.relayHost), wired: two relays in-process. The second is the smarthost:
// its submission listeners (STARTTLS and implicit TLS) on smarthost.outbound.test's address with a
// certificate for that name from a test CA, a user in its store, and partner.test as one of its own
// domains, so what it accepts lands in its Maildir. The first relay has a message for partner.test in
// its spool and sends it through the second — or, for domains the smarthost is not configured for,
// to their MX hosts as usual.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { ConfigInput } from "../../core/config/schema.ts";
import { RELAY_HOST_PASSWORD_ENV } from "../../relay-node/src/deliver/smarthost.ts";
import { UserStore } from "../../relay-node/src/users/store.ts";
import { freePort } from "../harness/process.ts";
import { delivered, LOCAL, relayDocument, startTestRelay, testMessage, type RelaySettings, type TestRelay } from "../harness/relay.ts";
import { issueCertificate, makeTestCa, type TestCa } from "../harness/test-ca.ts";
import { TEST_DNS } from "../harness/zones.ts";

const harness = inject("harness");
const { smarthost } = TEST_DNS.outbound;
const dir = mkdtempSync(join(tmpdir(), "edgemx-smarthost-"));
const PARTNER = { domain: "partner.test", mailbox: "bob@partner.test" };
const ACCOUNT = { user: LOCAL.mailbox, password: "smarthost secret" };

let ca: TestCa;
let second: TestRelay;
let ports: { submission: number; submissions: number };
const firsts: TestRelay[] = [];

beforeAll(async () => {
  ca = makeTestCa(join(dir, "ca"));
  const certificate = issueCertificate(ca, { names: [smarthost.host] });
  const tls = { cert: join(dir, "smarthost-cert.pem"), key: join(dir, "smarthost-key.pem") };
  writeFileSync(tls.cert, certificate.chainPem);
  writeFileSync(tls.key, certificate.keyPem, { mode: 0o600 });
  const usersPath = join(dir, "users.sqlite");
  const users = new UserStore(usersPath, { N: 2 ** 10, r: 8, p: 1 });
  await users.add(ACCOUNT.user, ACCOUNT.password);
  users.close();
  ports = { submission: await freePort(), submissions: await freePort() };
  const document = relayDocument(join(dir, "smarthost"), harness.dnsPort, {
    tls,
    users: { path: usersPath },
    listeners: {
      submission: { host: smarthost.address, port: ports.submission },
      submissions: { host: smarthost.address, port: ports.submissions },
    },
  });
  document.domains.push({ name: PARTNER.domain, mx: [LOCAL.hostname], mailboxes: ["bob"] });
  second = await startTestRelay(document);
}, 60_000);

afterAll(async () => {
  await Promise.all(firsts.map((relay) => relay.relay.stop()));
  await second?.relay.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** A first relay whose outbound mail goes through `relayHost`; `trustCa` false leaves it with the system's roots only. */
async function firstRelay(
  name: string,
  relayHost: NonNullable<NonNullable<RelaySettings["outbound"]>["relayHost"]>,
  password: string,
  trustCa = true,
): Promise<TestRelay> {
  const document: ConfigInput = relayDocument(join(dir, name), harness.dnsPort, { outbound: { relayHost } });
  const relay = await startTestRelay(document, { [RELAY_HOST_PASSWORD_ENV]: password }, trustCa ? { remote: { ca: ca.certPem } } : {});
  firsts.push(relay);
  return relay;
}

/** Queues a message from alice@example.org in `relay`'s spool, lets delivery run once, and returns the entry's last results. */
async function sendThrough(relay: TestRelay, rcptTo: string[], subject: string) {
  const raw = testMessage({ from: LOCAL.mailbox, to: rcptTo.join(", "), subject });
  const id = await relay.relay.spool.enqueue({ envelope: { mailFrom: LOCAL.mailbox, rcptTo }, message: Buffer.from(raw) });
  relay.relay.delivery.notify();
  await relay.relay.delivery.idle();
  return relay.logs.filter((line) => line.msg === "delivery attempt" && line.queueId === id).at(-1)?.results as {
    rcpt: string;
    status: string;
    reply: string;
  }[];
}

/** The AUTH lines of the smarthost's log: one per login attempt, with its result. */
function authAttempts(): Record<string, unknown>[] {
  return second.logs.filter((line) => line.event === "auth");
}

describe("relay.outbound.relayHost: a second edgemx relay as the smarthost", () => {
  it("STARTTLS on its submission port and AUTH PLAIN: the message arrives in the smarthost's Maildir", async () => {
    const relay = await firstRelay("starttls", { host: smarthost.host, port: ports.submission, username: ACCOUNT.user }, ACCOUNT.password);
    const results = await sendThrough(relay, [PARTNER.mailbox], "through the smarthost");
    expect(results).toMatchObject([{ rcpt: PARTNER.mailbox, status: "delivered", reply: expect.stringMatching(/^250 /) as unknown }]);
    const messages = await delivered(second, PARTNER.mailbox);
    const message = messages.find((m) => m.includes("Subject: through the smarthost"));
    expect(message).toBeDefined();
    // The smarthost's Received field: submitted over TLS with AUTH (RFC 3848 ESMTPSA).
    expect(message).toMatch(/^Received: by mx\.example\.org with ESMTPSA /m);
    expect(authAttempts().at(-1)).toMatchObject({ user: ACCOUNT.user, method: "PLAIN", result: "pass" });
  });

  it("implicit TLS (RFC 8314) and AUTH LOGIN", async () => {
    const relay = await firstRelay(
      "implicit",
      { host: smarthost.host, port: ports.submissions, tls: "implicit", username: ACCOUNT.user, authMethod: "login" },
      ACCOUNT.password,
    );
    const results = await sendThrough(relay, [PARTNER.mailbox], "over implicit TLS");
    expect(results).toMatchObject([{ status: "delivered" }]);
    expect(authAttempts().at(-1)).toMatchObject({ user: ACCOUNT.user, method: "LOGIN", result: "pass" });
    expect((await delivered(second, PARTNER.mailbox)).some((m) => m.includes("Subject: over implicit TLS"))).toBe(true);
  });

  it("messages one after another go over one session: one login for three messages (connection reuse)", async () => {
    const before = authAttempts().length;
    const document: ConfigInput = relayDocument(join(dir, "reuse"), harness.dnsPort, {
      outbound: { relayHost: { host: smarthost.host, port: ports.submission, username: ACCOUNT.user } },
    });
    // Idle sessions kept far longer than the test, so that each message finds the last one's session.
    const relay = await startTestRelay(
      document,
      { [RELAY_HOST_PASSWORD_ENV]: ACCOUNT.password },
      { remote: { ca: ca.certPem }, outboundSessions: { idleMs: 600_000 } },
    );
    firsts.push(relay);
    for (const subject of ["reused 1", "reused 2", "reused 3"]) {
      expect(await sendThrough(relay, [PARTNER.mailbox], subject)).toMatchObject([{ status: "delivered" }]);
    }
    const arrived = await delivered(second, PARTNER.mailbox);
    for (const subject of ["reused 1", "reused 2", "reused 3"])
      expect(
        arrived.some((m) => m.includes(`Subject: ${subject}`)),
        subject,
      ).toBe(true);
    expect(authAttempts().slice(before)).toMatchObject([{ user: ACCOUNT.user, result: "pass" }]);
  });

  it("a wrong password: deferred with the smarthost's refusal, nothing delivered", async () => {
    const before = authAttempts().length;
    const relay = await firstRelay("wrong-password", { host: smarthost.host, port: ports.submission, username: ACCOUNT.user }, "not the password");
    const results = await sendThrough(relay, [PARTNER.mailbox], "with a wrong password");
    expect(results).toMatchObject([
      { status: "deferred", reply: expect.stringMatching(new RegExp(`^451 4\\.7\\.0 ${smarthost.host} refused our login: 535 `)) as unknown },
    ]);
    expect((await delivered(second, PARTNER.mailbox)).some((m) => m.includes("Subject: with a wrong password"))).toBe(false);
    expect(authAttempts().slice(before)).toMatchObject([{ user: ACCOUNT.user, result: "failed" }]);
  });

  it("a certificate it cannot verify: deferred before AUTH, so the password never leaves", async () => {
    const before = authAttempts().length;
    const relay = await firstRelay("untrusted", { host: smarthost.host, port: ports.submission, username: ACCOUNT.user }, ACCOUNT.password, false);
    const results = await sendThrough(relay, [PARTNER.mailbox], "to an unverified smarthost");
    expect(results).toMatchObject([{ status: "deferred", reply: `451 4.4.1 No answer from ${smarthost.host}: self-signed certificate in certificate chain` }]);
    expect(authAttempts().slice(before)).toEqual([]);
  });

  it("per destination domain: the listed domain goes through the smarthost, another to its own MX (a Null MX fails there at once)", async () => {
    const relay = await firstRelay(
      "per-domain",
      { host: smarthost.host, port: ports.submission, username: ACCOUNT.user, domains: [PARTNER.domain] },
      ACCOUNT.password,
    );
    const nullMx = `nobody@${TEST_DNS.nullMx}`;
    const results = await sendThrough(relay, [PARTNER.mailbox, nullMx], "per domain");
    expect(results.find((r) => r.rcpt === PARTNER.mailbox)?.status).toBe("delivered");
    expect(results.find((r) => r.rcpt === nullMx)).toMatchObject({ status: "failed", reply: expect.stringMatching(/^556 5\.1\.10 /) as unknown });
  });
});

describe("relay.outbound.relayHost: configuration", () => {
  it("refuses to start without the password in the environment", async () => {
    const document = relayDocument(join(dir, "no-password"), harness.dnsPort, {
      outbound: { relayHost: { host: smarthost.host, port: ports.submission, username: ACCOUNT.user } },
    });
    await expect(startTestRelay(document)).rejects.toThrow(
      `relay.outbound.relayHost is set, but ${RELAY_HOST_PASSWORD_ENV} (its password) is not in the environment`,
    );
  });
});
