// Remote delivery against real DNS and real servers: the harness's DNSSEC-signed zones name test MX
// hosts on loopback addresses (TEST_DNS.dane, TEST_DNS.sts), each an smtp-server with a certificate from a
// test CA made here by openssl (the DANE hosts' certificates carry the key whose digest the zones
// publish as TLSA), and an HTTPS server on the MTA-STS policy address answers per policy host.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer as createHttpsServer, type Server as HttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SMTPServer } from "smtp-server";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { openStsPolicyCache } from "../../relay-node/src/mtasts/cache.ts";
import { remoteDeliverer, resolverValidates } from "../../relay-node/src/deliver/remote.ts";
import { openTlsRptStore, utcDay, type TlsRptStore } from "../../relay-node/src/tlsrpt/counts.ts";
import type { OutgoingMessage } from "../../relay-node/src/queue/deliverer.ts";
import { loadConfigFile } from "../../relay-node/src/config/file.ts";
import { createRelayResolver } from "../../relay-node/src/dns/resolver.ts";
import { RelayMetrics } from "../../relay-node/src/metrics/metrics.ts";
import type { EdgemxConfig } from "../../core/config/schema.ts";
import { makeSelfSignedCertificate } from "../harness/certificate.ts";
import { DANE_MX_KEY_PEM, DANE_TA_KEY_PEM } from "../harness/dane-key.ts";
import { issueCertificate, makeTestCa, type TestCa } from "../harness/test-ca.ts";
import { TEST_DNS } from "../harness/zones.ts";

const { dane, sts } = TEST_DNS;

/** What one test MX server received: the recipients of each message and whether the session was TLS. */
interface Received {
  rcptTo: string[];
  secure: boolean;
}

interface TestMx {
  server: SMTPServer;
  received: Received[];
}

function startMx(address: string, port: number, tls: { key: string; cert: string } | "none"): Promise<TestMx> {
  const received: Received[] = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: tls === "none" ? ["AUTH", "STARTTLS"] : ["AUTH"],
    ...(tls === "none" ? {} : tls),
    logger: false,
    onData(stream, session, callback) {
      stream.resume();
      stream.on("end", () => {
        received.push({ rcptTo: session.envelope.rcptTo.map((r) => r.address), secure: session.secure });
        callback();
      });
    },
  });
  return new Promise((resolve, reject) => {
    server.on("error", reject);
    server.listen(port, address, () => resolve({ server, received }));
  });
}

let dir: string;
let ca: TestCa;
let port: number;
let stsPort: number;
const servers: TestMx[] = [];
let mx: Record<"dane" | "mismatch" | "noStarttls" | "bogusTlsa" | "ta" | "taWrongName" | "sts" | "untrusted", TestMx>;
let policyServer: HttpsServer;
let config: EdgemxConfig;
let tlsRpt: TlsRptStore;

const POLICIES: Record<string, string | undefined> = {
  [`mta-sts.${sts.enforce}`]: `version: STSv1\nmode: enforce\nmx: ${sts.mx}\nmax_age: 86400\n`,
  [`mta-sts.${sts.enforceUntrusted}`]: `version: STSv1\nmode: enforce\nmx: ${sts.untrustedMx}\nmax_age: 86400\n`,
  [`mta-sts.${sts.testing}`]: `version: STSv1\nmode: testing\nmx: elsewhere.${sts.zone}\nmax_age: 86400\n`,
  [`mta-sts.${sts.none}`]: "version: STSv1\nmode: none\nmax_age: 86400\n",
};

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "edgemx-remote-"));
  ca = makeTestCa(dir);
  const daneCert = issueCertificate(ca, { names: [dane.match.mx, dane.mismatch.mx, dane.noStarttls.mx, dane.bogusTlsa.mx], keyPem: DANE_MX_KEY_PEM });
  const daneTls = { key: daneCert.keyPem, cert: daneCert.chainPem };
  // DANE-TA (RFC 7672 §3.1.1): a CA whose key the zones publish as TLSA 2 1 1; nothing else trusts it.
  const taCa = makeTestCa(join(dir, "ta-ca"), { keyPem: DANE_TA_KEY_PEM });
  const taCert = issueCertificate(taCa, { names: [dane.ta.mx] });
  const taOtherName = issueCertificate(taCa, { names: [`other.${dane.match.domain}`] });
  const stsCert = issueCertificate(ca, { names: [sts.mx] });
  const selfSigned = makeSelfSignedCertificate(mkdtempSync(join(dir, "self-")), sts.untrustedMx);

  const first = await startMx(dane.match.mxAddress, 0, daneTls);
  port = (first.server.server.address() as AddressInfo).port;
  mx = {
    dane: first,
    mismatch: await startMx(dane.mismatch.mxAddress, port, daneTls),
    noStarttls: await startMx(dane.noStarttls.mxAddress, port, "none"),
    bogusTlsa: await startMx(dane.bogusTlsa.mxAddress, port, daneTls),
    ta: await startMx(dane.ta.mxAddress, port, { key: taCert.keyPem, cert: taCert.chainPem }),
    taWrongName: await startMx(dane.taWrongName.mxAddress, port, { key: taOtherName.keyPem, cert: taOtherName.chainPem }),
    sts: await startMx(sts.mxAddress, port, { key: stsCert.keyPem, cert: stsCert.chainPem }),
    untrusted: await startMx(sts.untrustedMxAddress, port, { key: readFileSync(selfSigned.keyPath, "utf8"), cert: readFileSync(selfSigned.certPath, "utf8") }),
  };
  servers.push(...Object.values(mx));

  const policyCert = issueCertificate(ca, { names: [sts.enforce, sts.enforceUntrusted, sts.testing, sts.none, sts.fetchFailure].map((d) => `mta-sts.${d}`) });
  policyServer = createHttpsServer({ key: policyCert.keyPem, cert: policyCert.chainPem }, (req, res) => {
    const policy = POLICIES[(req.headers.host ?? "").replace(/:\d+$/, "")];
    if (policy === undefined || req.url !== "/.well-known/mta-sts.txt") return res.writeHead(404).end();
    res.writeHead(200, { "content-type": "text/plain" }).end(policy);
  });
  await new Promise<void>((resolve) => policyServer.listen(0, sts.policyAddress, resolve));
  stsPort = (policyServer.address() as AddressInfo).port;

  const example = loadConfigFile("config/example.yaml");
  config = { ...example, connection: { ...example.connection, mandatoryTls: { domains: [sts.mandatoryTls] } } };
});

afterAll(async () => {
  await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.server.close(() => resolve()))));
  await new Promise((resolve) => policyServer.close(resolve));
  rmSync(dir, { recursive: true, force: true });
});

function deliverer(metrics?: RelayMetrics) {
  const harness = inject("harness");
  const resolver = createRelayResolver({ host: "127.0.0.1", port: harness.dnsPort, timeoutMs: 3000 });
  tlsRpt = openTlsRptStore(":memory:");
  return remoteDeliverer(config, resolver, {
    port,
    stsPort,
    ca: ca.certPem,
    stsCache: openStsPolicyCache(":memory:"),
    tlsRpt,
    dnssecProbeName: TEST_DNS.sender.domain,
    timeouts: { connectMs: 3000, greetingMs: 3000, idleMs: 3000, totalMs: 10_000 },
    metrics,
  });
}

function messageTo(...rcptTo: string[]): OutgoingMessage {
  return {
    id: "TEST",
    envelope: { mailFrom: "alice@example.org", rcptTo },
    message: new TextEncoder().encode("From: alice@example.org\r\nTo: bob\r\nSubject: outbound test\r\n\r\nHello.\r\n"),
  };
}

/** The day's TLS-RPT failure result types for `domain`. */
function failuresOf(domain: string): string[] {
  return tlsRpt
    .rows(utcDay(Date.now()))
    .filter((row) => row.policyDomain === domain && row.resultType !== "")
    .map((row) => row.resultType);
}

describe("remote delivery: DANE (RFC 7672)", () => {
  it("detects that the harness resolver validates", async () => {
    const harness = inject("harness");
    const resolver = createRelayResolver({ host: "127.0.0.1", port: harness.dnsPort, timeoutMs: 3000 });
    expect(await resolverValidates(resolver, TEST_DNS.sender.domain)).toBe(true);
    expect(await resolverValidates(resolver, TEST_DNS.insecure.domain)).toBe(false);
  });

  it("delivers over TLS when the certificate matches DANE-EE 3 1 1", async () => {
    const [result] = await deliverer()(messageTo(`bob@${dane.match.domain}`));
    expect(result).toMatchObject({ status: "delivered", remoteMta: dane.match.mx });
    expect(mx.dane.received.at(-1)).toEqual({ rcptTo: [`bob@${dane.match.domain}`], secure: true });
    const rows = tlsRpt.rows(utcDay(Date.now())).filter((row) => row.policyDomain === dane.match.domain);
    expect(rows).toMatchObject([{ policyType: "tlsa", resultType: "", count: 1 }]);
  });

  it("delivers over TLS when the chain the server sends has the DANE-TA 2 1 1 anchor and names the MX host", async () => {
    const [result] = await deliverer()(messageTo(`bob@${dane.ta.domain}`));
    expect(result).toMatchObject({ status: "delivered", remoteMta: dane.ta.mx });
    expect(mx.ta.received.at(-1)).toEqual({ rcptTo: [`bob@${dane.ta.domain}`], secure: true });
    expect(tlsRpt.rows(utcDay(Date.now())).filter((row) => row.policyDomain === dane.ta.domain)).toMatchObject([
      { policyType: "tlsa", resultType: "", count: 1 },
    ]);
  });

  it("defers when a certificate from the DANE-TA anchor names neither the MX host nor the domain (RFC 7672 §3.2.2)", async () => {
    const [result] = await deliverer()(messageTo(`bob@${dane.taWrongName.domain}`));
    expect(result?.status).toBe("deferred");
    expect(result?.reply).toMatch(/^451 4\.7\.5 DANE: .*the server certificate names none of/);
    expect(mx.taWrongName.received).toEqual([]);
    expect(failuresOf(dane.taWrongName.domain)).toEqual(["tlsa-invalid"]);
  });

  it("defers, and sends nothing, when the certificate does not match", async () => {
    const [result] = await deliverer()(messageTo(`bob@${dane.mismatch.domain}`));
    expect(result?.status).toBe("deferred");
    expect(result?.reply).toMatch(/^451 4\.7\.5 DANE: .*tlsa-invalid/);
    expect(mx.mismatch.received).toEqual([]);
    expect(failuresOf(dane.mismatch.domain)).toEqual(["tlsa-invalid"]);
  });

  it("defers when a DANE host offers no STARTTLS — never a downgrade to plaintext", async () => {
    const [result] = await deliverer()(messageTo(`bob@${dane.noStarttls.domain}`));
    expect(result?.status).toBe("deferred");
    expect(result?.reply).toMatch(/starttls-not-supported/);
    expect(mx.noStarttls.received).toEqual([]);
    expect(failuresOf(dane.noStarttls.domain)).toEqual(["starttls-not-supported"]);
  });

  it("defers when the TLSA answer is bogus, without connecting", async () => {
    const [result] = await deliverer()(messageTo(`bob@${dane.bogusTlsa.domain}`));
    expect(result?.status).toBe("deferred");
    expect(result?.reply).toMatch(/^451 4\.7\.5 DANE: .*TLSA lookup failed \(servfail\)/);
    expect(mx.bogusTlsa.received).toEqual([]);
    expect(failuresOf(dane.bogusTlsa.domain)).toEqual(["dnssec-invalid"]);
  });
});

describe("remote delivery: MTA-STS (RFC 8461) and mandatory TLS", () => {
  it("enforce: delivers over TLS to the MX in the policy with a valid certificate", async () => {
    const [result] = await deliverer()(messageTo(`bob@${sts.enforce}`));
    expect(result).toMatchObject({ status: "delivered", remoteMta: sts.mx });
    expect(mx.sts.received.at(-1)).toEqual({ rcptTo: [`bob@${sts.enforce}`], secure: true });
    expect(tlsRpt.rows(utcDay(Date.now())).filter((row) => row.policyDomain === sts.enforce)).toMatchObject([{ policyType: "sts", resultType: "", count: 1 }]);
  });

  it("enforce: defers when the MX certificate is not trusted", async () => {
    const [result] = await deliverer()(messageTo(`bob@${sts.enforceUntrusted}`));
    expect(result?.status).toBe("deferred");
    expect(result?.reply).toMatch(/^451 4\.7\.5 MTA-STS: .*certificate-not-trusted/);
    expect(mx.untrusted.received).toEqual([]);
    expect(failuresOf(sts.enforceUntrusted)).toEqual(["certificate-not-trusted"]);
  });

  it("testing: delivers to an MX outside the policy and only reports it", async () => {
    const before = mx.sts.received.length;
    const [result] = await deliverer()(messageTo(`bob@${sts.testing}`));
    expect(result?.status).toBe("delivered");
    expect(mx.sts.received.length).toBe(before + 1);
    expect(failuresOf(sts.testing)).toEqual(["validation-failure"]);
  });

  it("none: delivers opportunistically", async () => {
    const [result] = await deliverer()(messageTo(`bob@${sts.none}`));
    expect(result?.status).toBe("delivered");
    expect(tlsRpt.rows(utcDay(Date.now())).filter((row) => row.policyDomain === sts.none)).toMatchObject([{ policyType: "no-policy-found", resultType: "" }]);
  });

  it("fetch failure: delivers as without a policy and counts sts-policy-fetch-error", async () => {
    const [result] = await deliverer()(messageTo(`bob@${sts.fetchFailure}`));
    expect(result?.status).toBe("delivered");
    expect(failuresOf(sts.fetchFailure)).toEqual(["sts-policy-fetch-error"]);
  });

  it("mandatory TLS: defers when the certificate does not verify", async () => {
    const [result] = await deliverer()(messageTo(`bob@${sts.mandatoryTls}`));
    expect(result?.status).toBe("deferred");
    expect(result?.reply).toMatch(/^451 4\.7\.5 Mandatory TLS: .*certificate-not-trusted/);
    expect(mx.untrusted.received).toEqual([]);
  });

  it("Null MX fails at once with 556 5.1.10, recipients grouped by domain", async () => {
    const results = await deliverer()(messageTo(`a@${TEST_DNS.nullMx}`, `b@${sts.none}`));
    expect(results.find((r) => r.rcpt === `a@${TEST_DNS.nullMx}`)).toMatchObject({
      status: "failed",
      reply: expect.stringMatching(/^556 5\.1\.10 /) as unknown,
    });
    expect(results.find((r) => r.rcpt === `b@${sts.none}`)?.status).toBe("delivered");
  });
});

describe("remote delivery counted (relay.metrics)", () => {
  it("counts each session under its policy and result as TLS-RPT does, and its TLS version", async () => {
    const metrics = new RelayMetrics();
    const deliver = deliverer(metrics);
    for (const domain of [dane.match.domain, dane.mismatch.domain, dane.noStarttls.domain, sts.enforce]) await deliver(messageTo(`bob@${domain}`));
    const text = await metrics.registry.metrics();
    const sample = (series: string): number | undefined => {
      const line = text.split("\n").find((l) => l.startsWith(`${series} `));
      return line === undefined ? undefined : Number(line.slice(series.length + 1));
    };
    expect(
      ["success", "tlsa-invalid", "starttls-not-supported"].map((result) => sample(`edgemx_outbound_tls_policy_total{policy="tlsa",result="${result}"}`)),
    ).toEqual([1, 1, 1]);
    expect(sample('edgemx_outbound_tls_policy_total{policy="sts",result="success"}')).toBe(1);
    expect(sample('edgemx_tls_sessions_total{direction="out",version="TLSv1.3"}')).toBe(3);
    expect(sample('edgemx_tls_sessions_total{direction="out",version="none"}')).toBe(1);
  });
});
