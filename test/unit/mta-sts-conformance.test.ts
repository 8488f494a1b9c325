// The MTA-STS cases of postfix-mta-sts-resolver (../shared/conformance/mta-sts/mta-sts-cases.json, copied
// from its nginx and dnsmasq test setup) through the real discovery: the `_mta-sts` records from a fake
// resolver, the policies from an HTTPS server on loopback with a test CA, which answers each policy host
// as the case says (status, Content-Type, body, over-long bodies, a certificate for the wrong name or an
// expired one). Every case is a test of its own, named by its domain.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createSecureContext } from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openStsPolicyCache } from "../../relay-node/src/mtasts/cache.ts";
import { stsPolicySource } from "../../relay-node/src/mtasts/fetch.ts";
import { mxMatchesPolicy, parseStsPolicy, parseStsRecord } from "../../core/mtasts/policy.ts";
import type { Lookup, RecordType, Resolver } from "../../core/dns/resolver.ts";
import { normalizeName } from "../../core/dns/resolver.ts";
import { issueCertificate, makeTestCa, type TestCa } from "../harness/test-ca.ts";
import { conformanceFile } from "../fixtures/conformance-suites.ts";

interface StsCase {
  domain: string;
  expected: "VALID" | "NONE" | "FETCH_ERROR";
  "txt__mta-sts": string[] | null;
  policy_host: { http_status?: number; body?: string; content_type?: string; extra?: string[] } | null;
}

const CASES_FILE = conformanceFile("mta-sts/mta-sts-cases.json");
const cases = (JSON.parse(readFileSync(CASES_FILE, "utf8")) as { cases: StsCase[] }).cases;

/** The case whose policy host is `host`. */
function caseOfPolicyHost(host: string): StsCase | undefined {
  return cases.find((c) => `mta-sts.${normalizeName(c.domain)}` === host);
}

/** dnsmasq's TXT lines as the resolver returns them: one record, its quoted string unquoted. */
function txtAnswers(lines: readonly string[]): string[][] {
  return lines.map((line) => [line.replace(/^"|"$/g, "")]);
}

function lookup<T extends RecordType>(status: Lookup<T>["status"], answers: Lookup<T>["answers"] = []): Lookup<T> {
  return { status, answers, ttl: 60, authenticated: false, detail: status === "ok" ? "" : status };
}

const resolver: Resolver = {
  query<T extends RecordType>(name: string, type: T): Promise<Lookup<T>> {
    const qname = normalizeName(name);
    if (type === "TXT" && qname.startsWith("_mta-sts.")) {
      const found = cases.find((c) => normalizeName(c.domain) === qname.slice("_mta-sts.".length));
      const lines = found?.["txt__mta-sts"];
      return Promise.resolve(lines ? lookup<T>("ok", txtAnswers(lines) as unknown as Lookup<T>["answers"]) : lookup<T>("nxdomain"));
    }
    if (type === "A" && caseOfPolicyHost(qname) !== undefined) return Promise.resolve(lookup<T>("ok", ["127.0.0.1"] as unknown as Lookup<T>["answers"]));
    return Promise.resolve(lookup<T>("nxdomain"));
  },
};

/** 2049 × 64 octets after the policy: beyond the 64 KiB bound, as the nginx Lua blocks send. */
const OVERLENGTH_TAIL = "a".repeat(64 * 2049);
const POLICY_HEAD = "version: STSv1\nmode: enforce\nmax_age: 86400\nmx: mail.loc\n";

let dir: string;
let server: Server;
let port: number;
let ca: TestCa;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "edgemx-mta-sts-"));
  ca = makeTestCa(dir);
  const names = cases
    .map((c) => normalizeName(c.domain))
    .filter((d) => !d.startsWith("."))
    .map((d) => `mta-sts.${d}`);
  const good = issueCertificate(ca, { names: [...new Set(names)] });
  const wrongName = issueCertificate(ca, { names: ["mta-sts.somewhere-else.loc"] });
  const expired = issueCertificate(ca, { names: ["mta-sts.bad-cert2.loc"], expired: true });
  const context = (cert: { keyPem: string; chainPem: string }) => createSecureContext({ key: cert.keyPem, cert: cert.chainPem });
  server = createServer(
    {
      key: good.keyPem,
      cert: good.chainPem,
      SNICallback: (servername, callback) => {
        if (servername === "mta-sts.bad-cert1.loc") callback(null, context(wrongName));
        else if (servername === "mta-sts.bad-cert2.loc") callback(null, context(expired));
        else callback(null, context(good));
      },
    },
    (req, res) => {
      const policyHost = caseOfPolicyHost((req.headers.host ?? "").replace(/:\d+$/, ""))?.policy_host;
      if (!policyHost || req.url !== "/.well-known/mta-sts.txt") return res.writeHead(404).end();
      if (policyHost.extra !== undefined) {
        const statik = policyHost.extra.some((line) => line.includes("content-length"));
        res.writeHead(200, { "content-type": "text/plain", ...(statik ? { "content-length": String(POLICY_HEAD.length + OVERLENGTH_TAIL.length) } : {}) });
        res.write(POLICY_HEAD);
        return res.end(OVERLENGTH_TAIL);
      }
      res.writeHead(policyHost.http_status ?? 200, { "content-type": policyHost.content_type ?? "text/plain" });
      res.end(policyHost.body ?? "");
    },
  );
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
  rmSync(dir, { recursive: true, force: true });
});

describe("MTA-STS conformance (postfix-mta-sts-resolver cases)", () => {
  it.each(cases.map((c) => [c.domain, c] as const))("%s", async (_name, testCase) => {
    const source = stsPolicySource({ resolver, ca: ca.certPem, port, timeoutMs: 5000, cache: openStsPolicyCache(":memory:") });
    const found = await source.discover(testCase.domain);
    const outcome = found.kind === "policy" ? "VALID" : found.kind === "none" ? "NONE" : "FETCH_ERROR";
    const reason = found.kind === "policy" ? JSON.stringify(found.policy) : found.reason;
    expect(outcome, `${testCase.domain}: ${reason}`).toBe(testCase.expected);
  });
});

describe("MTA-STS parsing (RFC 8461 §3.1, §3.2, §4.1)", () => {
  it("reads the id of the one v=STSv1 record, split strings joined", () => {
    expect(parseStsRecord([["v=STSv1; ", "id=abc123;"], ["v=spf1 -all"]])).toEqual({ id: "abc123" });
    expect(parseStsRecord([["v=STSv1; id=1;"], ["v=STSv1; id=2;"]])).toBeUndefined();
    expect(parseStsRecord([["v=STSv1; id=not-alnum;"]])).toBeUndefined();
  });

  it("takes CRLF lines and several mx patterns", () => {
    const parsed = parseStsPolicy("version: STSv1\r\nmode: testing\r\nmx: mx1.example.com\r\nmx: *.example.net\r\nmax_age: 604800\r\n");
    expect(parsed).toEqual({ ok: true, policy: { mode: "testing", mx: ["mx1.example.com", "*.example.net"], maxAge: 604800 } });
  });

  it("matches a wildcard to exactly one leftmost label", () => {
    const policy = { mode: "enforce" as const, mx: ["mail.example.com", "*.example.net"], maxAge: 86400 };
    expect(mxMatchesPolicy("MAIL.example.com.", policy)).toBe(true);
    expect(mxMatchesPolicy("mx1.example.net", policy)).toBe(true);
    expect(mxMatchesPolicy("a.b.example.net", policy)).toBe(false);
    expect(mxMatchesPolicy("example.net", policy)).toBe(false);
    expect(mxMatchesPolicy("other.example.com", policy)).toBe(false);
  });
});
