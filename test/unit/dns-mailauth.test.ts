import { describe, expect, it } from "vitest";
import { DnsError, mailauthResolver, nodeAnswers } from "../../core/dns/mailauth.ts";
import type { Lookup, LookupStatus, RecordType, Resolver } from "../../core/dns/resolver.ts";

function failed<T extends RecordType>(status: LookupStatus): Lookup<T> {
  return { status, answers: [], ttl: 0, authenticated: false, detail: "why" };
}

function ok<T extends RecordType>(answers: Lookup<T>["answers"]): Lookup<T> {
  return { status: "ok", answers, ttl: 60, authenticated: true, detail: "" };
}

function thrown(run: () => unknown): DnsError {
  try {
    run();
  } catch (err) {
    if (err instanceof DnsError) return err;
    throw err;
  }
  throw new Error("expected a DnsError");
}

describe("nodeAnswers: Node's dns.promises.resolve shapes", () => {
  it("gives addresses and names as strings, TXT as string[][], MX as { exchange, priority }", () => {
    expect(nodeAnswers(ok<"A">(["127.0.0.11"]), "A", "sender.test")).toEqual(["127.0.0.11"]);
    expect(nodeAnswers(ok<"PTR">(["mail.sender.test"]), "PTR", "11.0.0.127.in-addr.arpa")).toEqual(["mail.sender.test"]);
    expect(nodeAnswers(ok<"TXT">([["v=spf1 ", "-all"]]), "TXT", "sender.test")).toEqual([["v=spf1 ", "-all"]]);
    expect(nodeAnswers(ok<"MX">([{ preference: 10, exchange: "mx.sender.test" }]), "MX", "sender.test")).toEqual([
      { exchange: "mx.sender.test", priority: 10 },
    ]);
  });

  it("throws Node's error codes: ENOTFOUND, ENODATA (no record), ESERVFAIL, ETIMEOUT (temporary)", () => {
    const statuses = ["nxdomain", "nodata", "servfail", "timeout"] as const;
    const codes = statuses.map((status) => thrown(() => nodeAnswers(failed<"A">(status), "A", "x.test")).code);
    expect(codes).toEqual(["ENOTFOUND", "ENODATA", "ESERVFAIL", "ETIMEOUT"]);
  });

  it("shapes the error like Node's: code, syscall, hostname, message", () => {
    const err = thrown(() => nodeAnswers(failed<"TXT">("nxdomain"), "TXT", "gone.test"));
    expect(err).toMatchObject({ code: "ENOTFOUND", syscall: "queryTxt", hostname: "gone.test", message: "queryTxt ENOTFOUND gone.test (why)" });
    expect(err).toBeInstanceOf(Error);
  });
});

describe("mailauthResolver", () => {
  const resolver: Resolver = {
    query: <T extends RecordType>(_name: string, type: T) =>
      Promise.resolve((type === "MX" ? ok<"MX">([{ preference: 0, exchange: "" }]) : failed<"A">("nodata")) as Lookup<T>),
  };

  it("takes rrtypes in any case, as Node does", async () => {
    await expect(mailauthResolver(resolver)("nullmx.test", "mx")).resolves.toEqual([{ exchange: "", priority: 0 }]);
  });

  it("rejects with the Node code", async () => {
    await expect(mailauthResolver(resolver)("sender.test", "TXT")).rejects.toMatchObject({ code: "ENODATA" });
  });

  it("rejects record types mailauth never asks for with ENOTIMP", async () => {
    await expect(mailauthResolver(resolver)("sender.test", "HINFO")).rejects.toMatchObject({ code: "ENOTIMP" });
  });
});
