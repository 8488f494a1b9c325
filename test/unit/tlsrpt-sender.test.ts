// TLS-RPT sending (RFC 8460 §3, §5): sendTlsReports with a fake resolver, spool and https transport
// over a real in-memory TLS-RPT store.
import { generateKeyPairSync } from "node:crypto";
import { gunzipSync } from "node:zlib";
import PostalMime from "postal-mime";
import { describe, expect, it } from "vitest";
import type { Lookup, Resolver } from "../../core/dns/resolver.ts";
import { createLogger } from "../../relay-node/src/log/log.ts";
import type { EnqueueRequest } from "../../relay-node/src/queue/spool.ts";
import { dkimSignerFor, previousUtcDay, sendTlsReports, type TlsRptSenderDeps } from "../../relay-node/src/tlsrpt/sender.ts";
import { msUntilDailyRun } from "../../relay-node/src/schedule/daily.ts";
import { openTlsRptStore, type TlsPolicyFacts } from "../../relay-node/src/tlsrpt/counts.ts";

const DAY = "2026-03-04";
const AT = Date.parse(`${DAY}T10:00:00Z`);
const policy = (domain: string): TlsPolicyFacts => ({ type: "no-policy-found", domain, policyString: [], mxHost: [] });

function lookup(status: Lookup["status"], records: string[] = []): Lookup<"TXT"> {
  return { status, answers: records.map((r) => [r]), ttl: 300, authenticated: false, detail: "" };
}

function setup(txt: Record<string, Lookup<"TXT">>, post: (url: string, body: Buffer) => Promise<number>) {
  const store = openTlsRptStore(":memory:");
  for (const domain of ["a.example", "b.example", "c.example", "d.example"]) store.record({ policy: policy(domain), at: AT });
  store.record({
    policy: policy("a.example"),
    at: AT,
    failure: { resultType: "starttls-not-supported", receivingMxHostname: "mx.a.example", receivingIp: "192.0.2.1", detail: "no STARTTLS" },
  });
  const asked: string[] = [];
  const resolver: Resolver = {
    query: ((name: string) => {
      asked.push(name);
      return Promise.resolve(txt[name] ?? lookup("nxdomain"));
    }) as Resolver["query"],
  };
  const queued: EnqueueRequest[] = [];
  const posts: { url: string; body: Buffer }[] = [];
  const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const deps: TlsRptSenderDeps = {
    store,
    resolver,
    enqueue: (request) => {
      queued.push(request);
      return Promise.resolve(`q${queued.length}`);
    },
    sign: dkimSignerFor(new Map([["example.org", { key: { domain: "example.org", selector: "s1", algorithm: "rsa-sha256" as const, privateKey } }]])),
    post: async (url, body) => {
      posts.push({ url, body });
      return post(url, body);
    },
    reporter: { organization: "mx.example.org", contact: "postmaster@example.org", hostname: "mx.example.org", from: "postmaster@example.org" },
    logger: createLogger("silent"),
    now: () => Date.parse("2026-03-05T00:15:00Z"),
  };
  return { store, deps, asked, queued, posts };
}

describe("sendTlsReports", () => {
  it("mails and posts each domain's report once, skips domains without a record, retries only a failed POST", async () => {
    let failB = true;
    const { store, deps, asked, queued, posts } = setup(
      {
        "_smtp._tls.a.example": lookup("ok", ["v=spf1 -all", "v=TLSRPTv1; rua=mailto:tlsrpt@a.example,https://r.a.example/v1"]),
        "_smtp._tls.b.example": lookup("ok", ["v=TLSRPTv1; rua=https://r.b.example/fail,mailto:reports@b.example"]),
        "_smtp._tls.d.example": lookup("servfail"),
      },
      (url) => Promise.resolve(url.endsWith("/fail") && failB ? 503 : 202),
    );
    const first = await sendTlsReports(DAY, deps);
    expect(asked.sort()).toEqual(["_smtp._tls.a.example", "_smtp._tls.b.example", "_smtp._tls.c.example", "_smtp._tls.d.example"]);
    expect(first.domains.map((d) => [d.domain, d.outcome])).toEqual([
      ["a.example", "sent"],
      ["b.example", "partial"],
      ["c.example", "no-record"],
      ["d.example", "lookup-failed"],
    ]);
    expect(first.domains[1]!.failed).toEqual([{ rua: "https://r.b.example/fail", error: "HTTP status 503" }]);

    // mailto: a message in our spool, from postmaster@example.org, DKIM-signed by example.org.
    expect(queued.map((q) => q.envelope)).toEqual([
      { mailFrom: "postmaster@example.org", rcptTo: ["tlsrpt@a.example"] },
      { mailFrom: "postmaster@example.org", rcptTo: ["reports@b.example"] },
    ]);
    const raw = Buffer.from(queued[0]!.message).toString("latin1");
    expect(raw).toMatch(/^DKIM-Signature: v=1; a=rsa-sha256;[^]*d=example\.org;[^]*s=s1;/);
    const parsed = await PostalMime.parse(raw);
    const attachment = parsed.attachments[0]!;
    expect(attachment.mimeType).toBe("application/tlsrpt+gzip");
    const mailed = JSON.parse(gunzipSync(Buffer.from(attachment.content as ArrayBuffer)).toString()) as {
      "report-id": string;
      policies: { summary: object }[];
    };
    expect(mailed["report-id"]).toBe(`${DAY}_a.example`);
    expect(mailed.policies[0]!.summary).toEqual({ "total-successful-session-count": 1, "total-failure-session-count": 1 });

    // https: the gzipped JSON, the same report.
    const posted = posts.find((p) => p.url === "https://r.a.example/v1")!;
    expect(JSON.parse(gunzipSync(posted.body).toString())).toEqual(mailed);

    expect(store.isSent(DAY, "a.example")).toBe(true);
    expect(store.isSent(DAY, "b.example")).toBe(false);
    expect(store.isSent(DAY, "b.example", "mailto:reports@b.example")).toBe(true);
    expect(store.isSent(DAY, "c.example")).toBe(true);
    expect(store.isSent(DAY, "d.example")).toBe(false);

    // The next run: only the failed POST and the failed lookup again; nothing mailed twice.
    failB = false;
    posts.length = 0;
    asked.length = 0;
    const second = await sendTlsReports(DAY, deps);
    expect(second.domains.map((d) => [d.domain, d.outcome])).toEqual([
      ["a.example", "already-sent"],
      ["b.example", "sent"],
      ["c.example", "already-sent"],
      ["d.example", "lookup-failed"],
    ]);
    expect(posts.map((p) => p.url)).toEqual(["https://r.b.example/fail"]);
    expect(queued).toHaveLength(2);
    expect(asked.sort()).toEqual(["_smtp._tls.b.example", "_smtp._tls.d.example"]);
    expect(store.isSent(DAY, "b.example")).toBe(true);
  });

  it("sends unsigned without a key, and a POST that throws does not block the mailto:", async () => {
    const { deps, queued } = setup({ "_smtp._tls.a.example": lookup("ok", ["v=TLSRPTv1; rua=https://r.a.example/,mailto:x@a.example"]) }, () =>
      Promise.reject(new Error("connect ECONNREFUSED")),
    );
    const result = await sendTlsReports(DAY, { ...deps, sign: undefined });
    expect(result.domains[0]).toMatchObject({
      domain: "a.example",
      outcome: "partial",
      delivered: ["mailto:x@a.example"],
      failed: [{ rua: "https://r.a.example/", error: "connect ECONNREFUSED" }],
    });
    expect(Buffer.from(queued[0]!.message).toString("latin1")).toMatch(/^From: postmaster@example\.org\r\n/);
  });

  it("has nothing to do on a day without counts", async () => {
    const { deps, asked } = setup({}, () => Promise.resolve(200));
    expect(await sendTlsReports("2026-01-01", deps)).toEqual({ day: "2026-01-01", domains: [] });
    expect(asked).toEqual([]);
  });
});

describe("the daily timer's clock", () => {
  it("runs at 00:15 UTC for the previous day", () => {
    expect(msUntilDailyRun(Date.parse("2026-03-05T00:00:00Z"))).toBe(15 * 60_000);
    expect(msUntilDailyRun(Date.parse("2026-03-05T00:15:00Z"))).toBe(86_400_000);
    expect(previousUtcDay(Date.parse("2026-03-01T00:15:00Z"))).toBe("2026-02-28");
    expect(previousUtcDay(Date.parse("2026-03-01T00:15:00Z"), 3)).toBe("2026-02-26");
  });
});
