// The relay's connection checks on Email Routing's path, inside workerd over the harness's real DNS:
// DNSBL (with an access key, and a list refusing the query), FCrDNS and HELO on the client of the
// topmost Received field in Cloudflare's form, the MAIL FROM checks on the envelope sender, mandatory
// TLS where the trace shows the session's TLS, the configured actions and the role relaxations. Every
// refusal is the relay's reply, through setReject (permanent) or a thrown error (temporary).
import { describe, expect, it } from "vitest";
import worker from "../../workers/src/index.ts";
import { compose, configWith, fromClient, ID, routed, signed, TEST_CONNECTION, testEnv } from "./routed-email.ts";
import { TEST_DNS } from "../harness/zones.ts";

const { sender, dnsbl, clients } = TEST_DNS;

/** The Worker's bindings with the test zones' connection checks and `connection` changed. */
function edgeEnv(connection: Record<string, unknown> = {}, bindings: Record<string, string> = {}) {
  return { ...testEnv, ...bindings, EDGEMX_CONFIG: configWith({ connection: { ...TEST_CONNECTION, ...connection } }) };
}

describe("Email Routing: the connection checks refuse with the relay's replies", () => {
  it("passes a client that passes every check, and the verdict field names nothing skipped", async () => {
    const { message, calls } = await fromClient(sender.authorizedIp);
    await worker.email(message, edgeEnv());
    expect(calls.rejected).toEqual([]);
    expect(calls.forwarded).toHaveLength(1);
    expect(calls.forwarded[0]!.headers!.get("x-edgemx-verdict")).toMatch(new RegExp(`^accept; id=${ID}$`));
  });

  it("DNSBL: refuses a listed client naming the zone", async () => {
    const { message, calls } = await fromClient(dnsbl.listedIp);
    await worker.email(message, edgeEnv());
    expect(calls.forwarded).toEqual([]);
    expect(calls.rejected).toEqual([`554 5.7.1 Service unavailable; Client host [${dnsbl.listedIp}] blocked using ${dnsbl.zone}`]);
  });

  it("DNSBL with an access key (Spamhaus DQS's form): asks under the key from the Worker's secret", async () => {
    const keyed = { dnsbl: { zones: [{ zone: dnsbl.keyed.zone, keySecret: "TEST_DQS_KEY" }] } };
    const { message, calls } = await fromClient(dnsbl.listedIp);
    await worker.email(message, edgeEnv(keyed, { TEST_DQS_KEY: dnsbl.keyed.key }));
    expect(calls.rejected).toEqual([`554 5.7.1 Service unavailable; Client host [${dnsbl.listedIp}] blocked using ${dnsbl.keyed.zone}`]);
  });

  it("FCrDNS: refuses a client without a PTR name as unknown, and one with a dynamic-looking name by that name", async () => {
    const unknown = await fromClient(clients.noPtrIp);
    await worker.email(unknown.message, edgeEnv());
    expect(unknown.calls.rejected).toEqual([`554 5.7.1 <unknown[${clients.noPtrIp}]>: Client host rejected: Access denied`]);
    const dynamic = await fromClient(clients.dynamicIp);
    await worker.email(dynamic.message, edgeEnv());
    expect(dynamic.calls.rejected).toEqual([`554 5.7.1 <${clients.dynamicName}[${clients.dynamicIp}]>: Client host rejected: Access denied`]);
    expect([...unknown.calls.forwarded, ...dynamic.calls.forwarded]).toEqual([]);
  });

  it("HELO: refuses a name that does not exist, and an address literal that is not the client's", async () => {
    const nowhere = await fromClient(sender.authorizedIp, sender.nxdomain);
    await worker.email(nowhere.message, edgeEnv());
    expect(nowhere.calls.rejected).toEqual([`554 5.7.1 <${sender.nxdomain}>: Helo command rejected: Host not found`]);
    const otherLiteral = await fromClient(sender.authorizedIp, "[192.0.2.1]");
    await worker.email(otherLiteral.message, edgeEnv());
    expect(otherLiteral.calls.rejected).toEqual(["554 5.7.1 <[192.0.2.1]>: Helo command rejected: Host not found"]);
    const ownLiteral = await fromClient(sender.authorizedIp, `[${sender.authorizedIp}]`);
    await worker.email(ownLiteral.message, edgeEnv());
    expect(ownLiteral.calls.rejected).toEqual([]);
    expect(ownLiteral.calls.forwarded).toHaveLength(1);
  });

  it("MAIL FROM: refuses a sender domain with a Null MX, and one that does not exist", async () => {
    for (const from of [`alice@${TEST_DNS.nullMx}`, `alice@${sender.nxdomain}`]) {
      const { message, calls } = await fromClient(sender.authorizedIp, sender.mailHost, { from });
      await worker.email(message, edgeEnv());
      expect(calls.rejected, from).toEqual([`554 5.1.8 <${from}>: Sender address rejected: Domain not found`]);
      expect(calls.forwarded, from).toEqual([]);
    }
  });

  it("MAIL FROM is checked without a client too: the envelope sender is the event's", async () => {
    const from = `alice@${TEST_DNS.nullMx}`;
    const { message, calls } = routed(compose(from), { from });
    await worker.email(message, edgeEnv());
    expect(calls.rejected).toEqual([`554 5.1.8 <${from}>: Sender address rejected: Domain not found`]);
  });
});

describe("Email Routing: the configured actions and the role mailboxes", () => {
  it("tempfail throws the check's reply as a 451 with the class-4 code; log lets the message through", async () => {
    const tempfail = await fromClient(dnsbl.listedIp);
    await expect(worker.email(tempfail.message, edgeEnv({ dnsbl: { ...TEST_CONNECTION.dnsbl, action: "tempfail" } }))).rejects.toThrow(
      `451 4.7.1 Service unavailable; Client host [${dnsbl.listedIp}] blocked using ${dnsbl.zone}`,
    );
    expect(tempfail.calls.rejected).toEqual([]);
    // 127.0.0.2 has no PTR name either: both of its checks only log.
    const logged = await fromClient(dnsbl.listedIp);
    await worker.email(logged.message, edgeEnv({ dnsbl: { ...TEST_CONNECTION.dnsbl, action: "log" }, fcrdns: { action: "log" } }));
    expect(logged.calls.rejected).toEqual([]);
    expect(logged.calls.forwarded).toHaveLength(1);
  });

  it("spares postmaster@ the checks its role relaxes: a listed client reaches it, not bob@", async () => {
    const postmaster = await fromClient(dnsbl.listedIp, sender.mailHost, { to: "postmaster@example.org" });
    await worker.email(postmaster.message, edgeEnv());
    expect(postmaster.calls.rejected).toEqual([]);
    expect(postmaster.calls.forwarded.map((f) => f.rcptTo)).toEqual(["mailbox@example.net"]);
    const bob = await fromClient(dnsbl.listedIp);
    await worker.email(bob.message, edgeEnv());
    expect(bob.calls.rejected).toEqual([`554 5.7.1 Service unavailable; Client host [${dnsbl.listedIp}] blocked using ${dnsbl.zone}`]);
  });
});

describe("Email Routing: mandatory TLS, where the trace shows the session's TLS", () => {
  const mandatory = { mandatoryTls: { domains: [sender.domain] } };
  const postfixReceived = (type: string) =>
    `Received: from ${sender.mailHost} (${sender.mailHost} [${sender.authorizedIp}]) by mx.example.org with ${type} id 4fQk2; Mon, 01 Jun 2026 10:00:01 +0000`;

  it("refuses a listed sender domain whose session the trace shows unencrypted (with ESMTP), takes it with ESMTPS", async () => {
    const clear = routed(await signed(compose(`alice@${sender.domain}`, { extraHeaders: [postfixReceived("ESMTP")] })));
    await worker.email(clear.message, edgeEnv(mandatory));
    expect(clear.calls.rejected).toEqual(["530 5.7.0 Must issue a STARTTLS command first"]);
    const secure = routed(await signed(compose(`alice@${sender.domain}`, { extraHeaders: [postfixReceived("ESMTPS")] })));
    await worker.email(secure.message, edgeEnv(mandatory));
    expect(secure.calls.rejected).toEqual([]);
    expect(secure.calls.forwarded).toHaveLength(1);
  });

  it("skips it under Cloudflare's field, which does not show TLS, and says so in the verdict field", async () => {
    const { message, calls } = await fromClient(sender.authorizedIp);
    await worker.email(message, edgeEnv(mandatory));
    expect(calls.rejected).toEqual([]);
    expect(calls.forwarded[0]!.headers!.get("x-edgemx-verdict")).toMatch(new RegExp(`^accept; id=${ID}; skipped=tls$`));
  });
});

describe("Email Routing: the connection checks' temporary failures throw", () => {
  it("throws when DNS does not answer the client's checks (the DoH server is a black hole)", async () => {
    const { message, calls } = await fromClient(sender.authorizedIp);
    const outage = { ...edgeEnv(), DOH_URL: testEnv.HARNESS_BLACKHOLE_URL };
    const config = JSON.parse(outage.EDGEMX_CONFIG) as { judge: Record<string, unknown> };
    outage.EDGEMX_CONFIG = JSON.stringify({ ...config, judge: { ...config.judge, dns: { timeoutMs: 150 } } });
    await expect(worker.email(message, outage)).rejects.toThrow(/^451 4\.4\.3 <[^>]+>: Temporary DNS lookup failure, please try again later$/);
    expect(calls.rejected).toEqual([]);
    expect(calls.forwarded).toEqual([]);
  });

  it("throws when a list refuses the query (Spamhaus's answer to a public resolver)", async () => {
    const { message, calls } = await fromClient(sender.authorizedIp);
    await expect(worker.email(message, edgeEnv({ dnsbl: { zones: [{ zone: dnsbl.refusing.zone }] } }))).rejects.toThrow(
      `451 4.4.3 <11.0.0.127.${dnsbl.refusing.zone}>: Temporary DNS lookup failure, please try again later`,
    );
    expect(calls.rejected).toEqual([]);
  });

  it("throws, naming the field, while the secret of a keyed list is missing", async () => {
    const { message, calls } = await fromClient(sender.authorizedIp);
    await expect(worker.email(message, edgeEnv({ dnsbl: { zones: [{ zone: dnsbl.keyed.zone, keySecret: "TEST_DQS_KEY" }] } }))).rejects.toThrow(
      "connection.dnsbl.zones[0].keySecret: the secret TEST_DQS_KEY is not set",
    );
    expect(calls.rejected).toEqual([]);
    expect(calls.forwarded).toEqual([]);
  });
});
